// The built-in Transport: HTTP/1.1 over POSIX sockets, https through mbedTLS, poll-based deadlines,
// redirects, and HTTP proxies (absolute-form for http, CONNECT tunnels for https).
import DER
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// Options of `HTTPClient`.
public struct HTTPClientOptions {
    /// Per-address TCP connect timeout, capped by the total timeout.
    public var connectTimeoutMs: Int = 10_000
    /// The whole exchange, redirects and TLS included; a slow server hits it, never a hang.
    public var totalTimeoutMs: Int = 60_000
    /// The body cap after transfer decoding.
    public var maxResponseBytes: Int = HTTPResponseParser.defaultMaxResponseBytes
    /// Redirects followed at most (301, 302, 303, 307, 308).
    public var maxRedirects: Int = 3
    /// PEM file of CA certificates for https; nil uses `HTTPClientOptions.systemCABundle`.
    public var tlsCAFile: String? = nil
    /// An explicit `http://host:port` proxy (used for http and https URLs); "" means no proxy.
    /// When nil and `useEnvironmentProxy`, `http_proxy`/`https_proxy` (and upper-case forms) apply.
    public var proxy: String? = nil
    /// Whether `http_proxy`, `https_proxy`, `HTTP_PROXY`, `HTTPS_PROXY` and `no_proxy` are read.
    public var useEnvironmentProxy: Bool = true
    /// Hosts reached without a proxy (comma list, suffix match, `*` for all); nil reads `no_proxy`
    /// from the environment when `useEnvironmentProxy`.
    public var noProxy: String? = nil
    /// The User-Agent header.
    public var userAgent: String = "scep-agent"

    /// Debian's CA bundle, used when `tlsCAFile` is nil.
    public static let systemCABundle = "/etc/ssl/certs/ca-certificates.crt"

    public init() {}
}

/// HTTP/1.1 client on POSIX sockets with mbedTLS for https. One connection per request
/// (`Connection: close`); every wait is a poll(2) bounded by the connect and total deadlines.
/// Name resolution (getaddrinfo) has no timeout of its own; the deadline is checked after it.
/// Not thread-safe (it caches the TLS configuration): use one client per thread.
public final class HTTPClient: Transport {
    public let options: HTTPClientOptions
    private var tlsConfiguration: TLSConfiguration? = nil

    /// The size of one socket read.
    static let readChunkBytes = 16 * 1024

    /// - Parameter options: timeouts, limits, TLS trust, proxy.
    public init(options: HTTPClientOptions = HTTPClientOptions()) {
        precondition(options.connectTimeoutMs > 0 && options.totalTimeoutMs > 0, "timeouts must be positive")
        precondition(options.maxRedirects >= 0 && options.maxResponseBytes >= 0, "limits must not be negative")
        self.options = options
    }

    /// Sends the request, follows redirects, and returns the final response whatever its status
    /// (see `HTTPResponse.requireSuccess(for:)`).
    /// - Throws: a `transport*` error: URL, resolve, connect, timeout, I/O, TLS, protocol, too large,
    ///   redirects.
    public func send(_ request: HTTPRequest) throws(SCEPError) -> HTTPResponse {
        let deadline = Deadline(atMs: Syscall.monotonicMilliseconds() + Int64(options.totalTimeoutMs), budgetMs: options.totalTimeoutMs, option: "--timeout")
        var current = request
        var visited = [current.url.description]
        var followed = 0
        while true {
            let response = try exchange(current, deadline: deadline)
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.header("Location") else {
                return response
            }
            guard followed < options.maxRedirects else {
                throw SCEPError(.transportRedirects, "too many redirects from " + request.url.description + ": more than \(options.maxRedirects) (last to '" + ASCII.printable(location) + "'); point the URL at the final location or raise maxRedirects")
            }
            let next = try current.url.resolving(location)
            if current.url.scheme == "https" && next.scheme != "https" {
                throw SCEPError(.transportRedirects, "refusing redirect from " + current.url.description + " to " + next.description + ": https must not be downgraded to http; fix the server or use the http URL explicitly")
            }
            if visited.contains(next.description) {
                throw SCEPError(.transportRedirects, "redirect loop: " + current.url.description + " sends back to " + next.description + "; fix the server's redirects")
            }
            visited.append(next.description)
            followed += 1
            if response.status == 303 && current.method != .get {
                let kept = current.headers.filter { ASCII.lowercased($0.name) != "content-type" }
                current = HTTPRequest(method: .get, url: next, headers: kept, body: [])
            } else {
                current.url = next
            }
        }
    }

    // MARK: - one exchange

    private func exchange(_ request: HTTPRequest, deadline: Deadline) throws(SCEPError) -> HTTPResponse {
        let url = request.url
        let proxy = try HTTPClient.proxyURL(for: url, options: options, environment: { name in Syscall.environment(name) })
        let hop = proxy ?? url
        let connection = try TCPConnection(host: hop.host, port: hop.port, connectTimeoutMs: options.connectTimeoutMs,
                                           deadline: deadline, purpose: proxy == nil ? url.description : "proxy " + hop.description + " for " + url.description)
        let stream: ByteStream
        if url.scheme == "https" {
            if proxy != nil { try openTunnel(connection, to: url, via: hop, deadline: deadline) }
            let session = try TLSSession(configuration: try tls(), fd: connection.fd, hostname: url.host, addressNamed: HTTPClient.certificateNamesAddress)
            let tlsStream = TLSStream(connection: connection, session: session)
            try tlsStream.handshake(deadline: deadline)
            stream = tlsStream
        } else {
            stream = PlainStream(connection: connection)
        }
        let head = try HTTPClient.serialize(request, absoluteForm: proxy != nil && url.scheme == "http", userAgent: options.userAgent)
        try stream.write(head + request.body, deadline: deadline)
        var parser = HTTPResponseParser(maxResponseBytes: options.maxResponseBytes, source: url.description)
        var buffer = [UInt8](repeating: 0, count: HTTPClient.readChunkBytes)
        while !parser.isComplete {
            let n = try stream.read(into: &buffer, deadline: deadline)
            if n == 0 { try parser.finishAtEndOfStream(); break }
            try parser.feed(buffer[0..<n])
        }
        stream.close()
        guard let response = parser.response else {
            throw SCEPError(.transportProtocol, "no complete HTTP response from " + url.description)
        }
        return response
    }

    /// Whether a certificate carries an iPAddress subjectAltName of exactly `address` (RFC 6125 §6.2.1):
    /// how an https URL with an IP literal host is matched.
    static func certificateNamesAddress(_ certificateDER: [UInt8], _ address: [UInt8]) -> Bool {
        let names = (try? CertificateExtensions.subjectAltNames(certificate: certificateDER)) ?? []
        return names.contains { $0.kind == .ip && $0.value == address }
    }

    private func tls() throws(SCEPError) -> TLSConfiguration {
        if let existing = tlsConfiguration { return existing }
        let made = try TLSConfiguration(caFile: options.tlsCAFile ?? HTTPClientOptions.systemCABundle)
        tlsConfiguration = made
        return made
    }

    /// Sends CONNECT to the proxy and checks for a 2xx answer before TLS starts.
    private func openTunnel(_ connection: TCPConnection, to url: URL, via proxy: URL, deadline: Deadline) throws(SCEPError) {
        let stream = PlainStream(connection: connection)
        let text = "CONNECT " + url.hostAndPort + " HTTP/1.1\r\nHost: " + url.hostAndPort + "\r\nUser-Agent: " + options.userAgent + "\r\n\r\n"
        try stream.write(Array(text.utf8), deadline: deadline)
        var parser = HTTPResponseParser(maxResponseBytes: 0, bodyless: true, source: "proxy " + proxy.description)
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !parser.isComplete {
            let n = try stream.read(into: &buffer, deadline: deadline)
            if n == 0 { try parser.finishAtEndOfStream(); break }
            try parser.feed(buffer[0..<n])
        }
        guard let response = parser.response else { throw SCEPError(.transportProtocol, "no answer to CONNECT from proxy " + proxy.description) }
        guard response.status >= 200 && response.status < 300 else {
            throw SCEPError(.transportConnect, "proxy " + proxy.description + " refused to tunnel to " + url.hostAndPort + ": \(response.status) " + ASCII.printable(response.reason) + "; check the proxy setting and its access rules", detail: Int32(response.status))
        }
        guard parser.surplusBytes == 0 else {
            throw SCEPError(.transportProtocol, "proxy " + proxy.description + " sent data after its CONNECT answer before TLS started")
        }
    }

    // MARK: - pieces exposed for tests

    /// The request head: request line, Host, User-Agent, Accept, Connection: close, Content-Length
    /// (for POST or a non-empty body), then the caller's headers. The caller's Host, Content-Length,
    /// Connection and Transfer-Encoding are ignored; a caller's User-Agent or Accept replaces ours.
    /// - Throws: `transportProtocol` when a header name or value could split the request.
    static func serialize(_ request: HTTPRequest, absoluteForm: Bool, userAgent: String) throws(SCEPError) -> [UInt8] {
        let url = request.url
        let target = absoluteForm ? url.scheme + "://" + url.hostHeader + url.requestTarget : url.requestTarget
        var text = request.method.rawValue + " " + target + " HTTP/1.1\r\nHost: " + url.hostHeader + "\r\n"
        var custom = ""
        var hasUserAgent = false
        var hasAccept = false
        for header in request.headers {
            for b in header.name.utf8 where b <= 0x20 || b >= 0x7F || b == UInt8(ascii: ":") {
                throw SCEPError(.transportProtocol, "request header name '" + header.name + "' has a space, colon or control character")
            }
            for b in header.value.utf8 where b == 13 || b == 10 || b == 0 {
                throw SCEPError(.transportProtocol, "request header '" + header.name + "' has a CR, LF or NUL in its value")
            }
            switch ASCII.lowercased(header.name) {
            case "host", "content-length", "connection", "transfer-encoding": continue
            case "user-agent": hasUserAgent = true
            case "accept": hasAccept = true
            default: break
            }
            custom += header.name + ": " + header.value + "\r\n"
        }
        if !hasUserAgent { text += "User-Agent: " + userAgent + "\r\n" }
        if !hasAccept { text += "Accept: */*\r\n" }
        text += "Connection: close\r\n"
        if request.method == .post || !request.body.isEmpty { text += "Content-Length: " + String(request.body.count) + "\r\n" }
        text += custom + "\r\n"
        return Array(text.utf8)
    }

    /// The proxy to use for `url`, or nil for a direct connection.
    /// - Parameters:
    ///   - url: the request URL.
    ///   - options: `proxy`, `noProxy`, `useEnvironmentProxy`.
    ///   - environment: reads an environment variable (getenv in production, a table in tests).
    /// - Throws: `transportURL` when the proxy setting is not an `http://host[:port]` URL.
    static func proxyURL(for url: URL, options: HTTPClientOptions, environment: (String) -> String?) throws(SCEPError) -> URL? {
        func nonEmpty(_ s: String?) -> String? { guard let s, !ASCII.trimmed(s).isEmpty else { return nil }; return ASCII.trimmed(s) }
        var setting: String? = nil
        var source = "proxy option"
        if let explicit = options.proxy {
            setting = nonEmpty(explicit)
        } else if options.useEnvironmentProxy {
            let names = url.scheme == "https" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"]
            for name in names {
                if let value = nonEmpty(environment(name)) { setting = value; source = name; break }
            }
        }
        guard let text = setting else { return nil }
        var exclusions = options.noProxy
        if exclusions == nil && options.useEnvironmentProxy { exclusions = environment("no_proxy") ?? environment("NO_PROXY") }
        if let list = exclusions, noProxyMatches(host: url.host, list: list) { return nil }
        // "host:port" without a scheme means an http proxy, as curl reads it.
        let bytes = Array(text.utf8)
        let hasScheme = bytes.firstIndex(of: UInt8(ascii: ":")).map { bytes[$0...].starts(with: "://".utf8) } ?? false
        let withScheme = hasScheme ? text : "http://" + text
        let proxy: URL
        do throws(SCEPError) {
            proxy = try URL(parsing: withScheme)
        } catch {
            throw SCEPError(.transportURL, "bad proxy setting in " + source + ": " + error.reason)
        }
        guard proxy.scheme == "http" else {
            throw SCEPError(.transportURL, "proxy '" + text + "' from " + source + " is not an http:// proxy; only plain HTTP proxies (with CONNECT for https) are supported")
        }
        return proxy
    }

    /// no_proxy matching: comma-separated entries, case-insensitive, a leading "." ignored, an entry
    /// matches the host itself or any subdomain, `*` matches every host, brackets around IPv6 ignored.
    static func noProxyMatches(host: String, list: String) -> Bool {
        let hostBytes = Array(ASCII.lowercased(host).utf8)
        for rawEntry in list.split(separator: ",") {
            var entry = Array(ASCII.lowercased(ASCII.trimmed(rawEntry)).utf8)
            if entry == [UInt8(ascii: "*")] { return true }
            if entry.first == UInt8(ascii: "[") {
                if let close = entry.firstIndex(of: UInt8(ascii: "]")) { entry = Array(entry[1..<close]) }
            } else if entry.filter({ $0 == UInt8(ascii: ":") }).count == 1, let colon = entry.firstIndex(of: UInt8(ascii: ":")) {
                entry = Array(entry[0..<colon])  // host:port: the port is not compared
            }
            while entry.first == UInt8(ascii: ".") { entry.removeFirst() }
            if entry.isEmpty { continue }
            if hostBytes == entry { return true }
            if hostBytes.count > entry.count, hostBytes[hostBytes.count - entry.count - 1] == UInt8(ascii: "."),
               Array(hostBytes[(hostBytes.count - entry.count)...]) == entry { return true }
        }
        return false
    }
}

extension HTTPResponse {
    /// Returns when the status is 2xx.
    /// - Parameter request: the request that was sent, named in the message.
    /// - Throws: `transportHTTPStatus` with the status, reason and the start of a text body.
    public func requireSuccess(for request: HTTPRequest) throws(SCEPError) {
        guard status < 200 || status >= 300 else { return }
        var text = ""
        let type = contentType ?? ""
        if type.utf8.starts(with: "text/".utf8) || type.isEmpty {
            text = ASCII.printable(ASCII.trimmed(body))
        }
        throw SCEPError(.transportHTTPStatus, request.method.rawValue + " " + request.url.description + " answered \(status) " + ASCII.printable(reason)
            + (text.isEmpty ? "" : ": '" + text + "'") + "; check the SCEP URL and the server's log", detail: Int32(clamping: status))
    }
}

// MARK: - deadlines, sockets, streams

/// An absolute monotonic deadline and the command-line option that sets it (named in the timeout message).
struct Deadline {
    var atMs: Int64
    var budgetMs: Int
    var option: String

    /// Milliseconds left; 0 or less when passed.
    var remainingMs: Int64 { atMs - Syscall.monotonicMilliseconds() }

    func earlier(_ other: Deadline) -> Deadline { other.atMs < atMs ? other : self }
}

/// A connected, non-blocking TCP socket; closes in deinit.
final class TCPConnection {
    let fd: Int32
    let peer: String
    let purpose: String

    /// Resolves `host` and tries each address in turn, each bounded by `connectTimeoutMs` and all by
    /// `deadline`.
    /// - Throws: `transportResolve`, `transportConnect` or `transportTimeout`.
    init(host: String, port: Int, connectTimeoutMs: Int, deadline: Deadline, purpose: String) throws(SCEPError) {
        self.purpose = purpose
        let addresses: [Syscall.Address]
        do throws(Syscall.ResolveError) {
            addresses = try Syscall.resolve(host: host, port: port)
        } catch {
            throw SCEPError(.transportResolve, "cannot resolve host '" + host + "' (for " + purpose + "): " + error.text + "; check the host name and DNS", detail: error.code)
        }
        guard deadline.remainingMs > 0 else {
            throw SCEPError(.transportTimeout, "resolving '" + host + "' used up the total timeout of \(deadline.budgetMs) ms (" + deadline.option + ")")
        }
        var failures: [String] = []
        var timedOut = false
        var lastErrno: Int32 = 0
        for address in addresses {
            let connectDeadline = Deadline(atMs: Syscall.monotonicMilliseconds() + Int64(connectTimeoutMs), budgetMs: connectTimeoutMs, option: "--connect-timeout").earlier(deadline)
            if connectDeadline.remainingMs <= 0 { timedOut = true; break }
            do throws(SystemCallError) {
                let fd = try Syscall.nonBlockingSocket(for: address)
                var connected = false
                do throws(SystemCallError) {
                    connected = try Syscall.connect(fd, to: address)
                    while !connected {
                        let remaining = connectDeadline.remainingMs
                        if remaining <= 0 { break }
                        let revents = try Syscall.poll(fd, events: Syscall.writable, timeoutMs: Int32(clamping: remaining))
                        if revents == 0 { continue }
                        let pending = try Syscall.pendingSocketError(fd)
                        if pending != 0 { throw SystemCallError(call: "connect", errno: pending) }
                        connected = true
                    }
                } catch {
                    Syscall.close(fd)
                    throw error
                }
                if connected {
                    self.fd = fd
                    self.peer = address.description + ":" + String(port)
                    return
                }
                Syscall.close(fd)
                timedOut = true
                failures.append(address.description + ": no answer within \(connectDeadline.budgetMs) ms (" + connectDeadline.option + ")")
            } catch {
                lastErrno = error.errno
                failures.append(address.description + ": " + error.description)
            }
        }
        let summary = failures.isEmpty ? "no usable address" : failures.joined(separator: "; ")
        if timedOut {
            throw SCEPError(.transportTimeout, "connecting to " + host + ":" + String(port) + " (for " + purpose + ") timed out: " + summary + "; check that the server is reachable or raise the timeout")
        }
        throw SCEPError(.transportConnect, "cannot connect to " + host + ":" + String(port) + " (for " + purpose + "): " + summary + "; check the URL and that the server is running", detail: lastErrno)
    }

    deinit { Syscall.close(fd) }

    /// Waits with poll(2) until the socket is ready for `events` or the deadline passes.
    /// - Throws: `transportTimeout` naming what was awaited, `transportIO` when poll fails.
    func wait(for events: Int16, deadline: Deadline, doing what: String) throws(SCEPError) {
        while true {
            let remaining = deadline.remainingMs
            guard remaining > 0 else {
                throw SCEPError(.transportTimeout, "timed out " + what + " " + peer + " (for " + purpose + "): the " + deadline.option + " of \(deadline.budgetMs) ms passed; the server is too slow or stalled")
            }
            do throws(SystemCallError) {
                if try Syscall.poll(fd, events: events, timeoutMs: Int32(clamping: remaining)) != 0 { return }
            } catch {
                throw SCEPError(.transportIO, "waiting on " + peer + " failed: " + error.description, detail: error.errno)
            }
        }
    }

    func ioError(_ error: SystemCallError, _ what: String) -> SCEPError {
        SCEPError(.transportIO, what + " " + peer + " (for " + purpose + ") failed: " + error.description + "; the server or network dropped the connection", detail: error.errno)
    }
}

/// A byte stream with deadlines: plain TCP or TLS.
protocol ByteStream: AnyObject {
    func write(_ bytes: [UInt8], deadline: Deadline) throws(SCEPError)
    /// Reads into `buffer`; returns 0 at end of stream.
    func read(into buffer: inout [UInt8], deadline: Deadline) throws(SCEPError) -> Int
    func close()
}

final class PlainStream: ByteStream {
    let connection: TCPConnection
    init(connection: TCPConnection) { self.connection = connection }

    func write(_ bytes: [UInt8], deadline: Deadline) throws(SCEPError) {
        var offset = 0
        while offset < bytes.count {
            let written: Int?
            do throws(SystemCallError) {
                written = try bytes.withUnsafeBytes { raw in
                    Result { () throws(SystemCallError) -> Int? in
                        try Syscall.send(connection.fd, UnsafeRawBufferPointer(rebasing: raw[offset...]))
                    }
                }.get()
            } catch {
                throw connection.ioError(error, "sending to")
            }
            if let n = written { offset += n } else {
                try connection.wait(for: Syscall.writable, deadline: deadline, doing: "sending to")
            }
        }
    }

    func read(into buffer: inout [UInt8], deadline: Deadline) throws(SCEPError) -> Int {
        while true {
            let got: Int?
            do throws(SystemCallError) {
                got = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemCallError) -> Int? in try Syscall.recv(connection.fd, raw) }
                }.get()
            } catch {
                throw connection.ioError(error, "receiving from")
            }
            if let n = got { return n }
            try connection.wait(for: Syscall.readable, deadline: deadline, doing: "waiting for data from")
        }
    }

    func close() {}
}

final class TLSStream: ByteStream {
    let connection: TCPConnection
    let session: TLSSession
    init(connection: TCPConnection, session: TLSSession) { self.connection = connection; self.session = session }

    private func waitFor(_ step: TLSSession.Step, deadline: Deadline, doing what: String) throws(SCEPError) {
        switch step {
        case .wantRead: try connection.wait(for: Syscall.readable, deadline: deadline, doing: what)
        case .wantWrite: try connection.wait(for: Syscall.writable, deadline: deadline, doing: what)
        default: break
        }
    }

    func handshake(deadline: Deadline) throws(SCEPError) {
        while true {
            let step = try session.handshakeStep()
            switch step {
            case .done: return
            case .endOfStream:
                throw SCEPError(.transportTLS, "TLS handshake with " + connection.peer + " (for " + connection.purpose + ") failed: the server closed the connection; is it really https?")
            default: try waitFor(step, deadline: deadline, doing: "in the TLS handshake with")
            }
        }
    }

    func write(_ bytes: [UInt8], deadline: Deadline) throws(SCEPError) {
        var offset = 0
        while offset < bytes.count {
            let step = try bytes.withUnsafeBytes { raw in
                Result { () throws(SCEPError) -> TLSSession.Step in try session.writeStep(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            }.get()
            switch step {
            case .done(let n): offset += n
            case .endOfStream: throw SCEPError(.transportIO, "TLS peer " + connection.peer + " closed the connection while we were sending")
            default: try waitFor(step, deadline: deadline, doing: "sending to")
            }
        }
    }

    func read(into buffer: inout [UInt8], deadline: Deadline) throws(SCEPError) -> Int {
        while true {
            let step = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SCEPError) -> TLSSession.Step in try session.readStep(raw) }
            }.get()
            switch step {
            case .done(let n): return n
            case .endOfStream: return 0
            default: try waitFor(step, deadline: deadline, doing: "waiting for data from")
            }
        }
    }

    func close() { session.closeNotify() }
}
