// Thin wrappers over the POSIX calls of sockets, descriptors and the environment: EINTR is retried,
// failures carry the call's name and errno. The modules above call these, never the C functions.
import CSCEPShim

/// A failed system call: its name and errno.
public struct SystemCallError: Error, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// `connect: Connection refused (errno 111)`
    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "unknown error"
        return call + ": " + text + " (errno " + String(errno) + ")"
    }
}

public enum Syscall {
    /// clock_gettime(CLOCK_MONOTONIC) in milliseconds.
    public static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        _ = clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// socket(2) with SOCK_CLOEXEC for `address`'s family and type, then fcntl(2) O_NONBLOCK.
    public static func nonBlockingSocket(for address: Address) throws(SystemCallError) -> Int32 {
        let fd = socket(address.family, address.socketType | Int32(SOCK_CLOEXEC.rawValue), address.proto)
        guard fd >= 0 else { throw SystemCallError(call: "socket", errno: CSCEPShim_errno()) }
        let flags = CSCEPShim_fcntl(fd, F_GETFL, 0)
        if flags < 0 || CSCEPShim_fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 {
            let e = CSCEPShim_errno()
            Syscall.close(fd)
            throw SystemCallError(call: "fcntl(O_NONBLOCK)", errno: e)
        }
        return fd
    }

    /// connect(2) on a non-blocking socket. Returns true when connected at once, false when in
    /// progress (EINPROGRESS, or EINTR: the connection then continues asynchronously).
    public static func connect(_ fd: Int32, to address: Address) throws(SystemCallError) -> Bool {
        let result = address.storage.withUnsafeBytes { raw in
            CSCEPShim.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if result == 0 { return true }
        let e = CSCEPShim_errno()
        if e == EINPROGRESS || e == EINTR { return false }
        throw SystemCallError(call: "connect", errno: e)
    }

    /// getsockopt(2) SO_ERROR: the outcome of a non-blocking connect.
    public static func pendingSocketError(_ fd: Int32) throws(SystemCallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else {
            throw SystemCallError(call: "getsockopt(SO_ERROR)", errno: CSCEPShim_errno())
        }
        return value
    }

    /// poll(2)'s POLLIN: data (or the end of the stream) can be read.
    public static let readable = Int16(POLLIN)
    /// poll(2)'s POLLOUT: data can be written (a non-blocking connect has finished).
    public static let writable = Int16(POLLOUT)

    /// poll(2) on one descriptor for `events` (`readable`, `writable`). Returns the revents, or 0 on timeout. EINTR is retried with the
    /// same timeout cap (the caller re-derives it from its deadline on the next round anyway).
    public static func poll(_ fd: Int32, events: Int16, timeoutMs: Int32) throws(SystemCallError) -> Int16 {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let n = CSCEPShim.poll(&pfd, 1, timeoutMs)
            if n > 0 { return pfd.revents }
            if n == 0 { return 0 }
            let e = CSCEPShim_errno()
            if e == EINTR { continue }
            throw SystemCallError(call: "poll", errno: e)
        }
    }

    /// send(2) with MSG_NOSIGNAL (a closed peer never raises SIGPIPE). Returns the bytes written, or
    /// nil when the socket would block.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> Int? {
        while true {
            let n = CSCEPShim.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n }
            let e = CSCEPShim_errno()
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemCallError(call: "send", errno: e)
        }
    }

    /// recv(2). Returns the bytes read (0 at end of stream), or nil when the socket would block.
    public static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        while true {
            let n = CSCEPShim.recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            let e = CSCEPShim_errno()
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemCallError(call: "recv", errno: e)
        }
    }

    /// close(2); EINTR is not retried (Linux has already released the descriptor).
    public static func close(_ fd: Int32) {
        _ = CSCEPShim.close(fd)
    }

    /// write(2) of all of `bytes`, retrying EINTR and short writes.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { CSCEPShim.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                let e = CSCEPShim_errno()
                if e == EINTR { continue }
                throw SystemCallError(call: "write", errno: e)
            }
            offset += written
        }
    }

    /// isatty(3): whether `fd` is a terminal (a person may be watching).
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// getenv(3).
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// One resolved address, copied out of getaddrinfo's list.
    public struct Address: CustomStringConvertible {
        var family: Int32
        var socketType: Int32
        var proto: Int32
        var storage: [UInt8]   // the sockaddr bytes
        var text: String       // numeric form for messages

        public var description: String { family == AF_INET6 ? "[" + text + "]" : text }
    }

    /// getaddrinfo(3) for a TCP service. Returns every address (IPv6 and IPv4, in resolver order).
    /// getaddrinfo has no timeout of its own; the caller checks its deadline afterwards.
    /// - Throws: the resolver's message (gai_strerror) with its code.
    public static func resolve(host: String, port: Int) throws(ResolveError) -> [Address] {
        if let literal = numericAddress(host: host, port: port) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>? = nil
        var status: Int32 = 0
        repeat {
            status = getaddrinfo(host, String(port), &hints, &list)
        } while status == EAI_SYSTEM && CSCEPShim_errno() == EINTR
        guard status == 0 else {
            let text = gai_strerror(status).map { String(cString: $0) } ?? "unknown resolver error"
            throw ResolveError(code: status, text: status == EAI_SYSTEM ? SystemCallError(call: "getaddrinfo", errno: CSCEPShim_errno()).description : text)
        }
        defer { freeaddrinfo(list) }
        var result: [Address] = []
        var node = list
        while let entry = node {
            let info = entry.pointee
            if let sa = info.ai_addr, info.ai_addrlen > 0 {
                let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(sa), count: Int(info.ai_addrlen))
                var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                var text = "?"
                if getnameinfo(sa, info.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST) == 0 {
                    text = String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
                result.append(Address(family: info.ai_family, socketType: info.ai_socktype, proto: info.ai_protocol,
                                      storage: Array(raw), text: text))
            }
            node = info.ai_next
        }
        return result
    }

    /// An IPv4 or IPv6 literal (inet_pton(3)) as its address, without the resolver: glibc's getaddrinfo
    /// reads /etc/gai.conf and asks the kernel for the interfaces' addresses even for a literal: about
    /// 190 KB more resident in an enrollment that must stay under 2.5 MB (Tests/integration/test_firmware.py).
    /// Nil for a name (or a scoped IPv6 address, which getaddrinfo handles).
    static func numericAddress(host: String, port: Int) -> Address? {
        let networkPort = UInt16(truncatingIfNeeded: port).bigEndian
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = networkPort
            return literalAddress(AF_INET, v4, text: host)
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = networkPort
            return literalAddress(AF_INET6, v6, text: host)
        }
        return nil
    }

    private static func literalAddress<SocketAddress>(_ family: Int32, _ address: SocketAddress, text: String) -> Address {
        var copy = address
        let storage = withUnsafeBytes(of: &copy) { Array($0) }
        return Address(family: family, socketType: Int32(SOCK_STREAM.rawValue), proto: Int32(IPPROTO_TCP), storage: storage, text: text)
    }

    public struct ResolveError: Error, CustomStringConvertible {
        public var code: Int32
        public var text: String
        public var description: String { text }
    }
}
