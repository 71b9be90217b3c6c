import CSCEPShim

/// sd_notify without libsystemd: datagrams to `$NOTIFY_SOCKET` (READY=1, STATUS=, WATCHDOG=1, STOPPING=1).
public final class SystemdNotifier {
    private let address: [UInt8]?
    /// Half of `$WATCHDOG_USEC` in milliseconds, when systemd expects keep-alives.
    public let watchdogIntervalMilliseconds: Int64?

    public init() {
        if let socketPath = Syscall.environment("NOTIFY_SOCKET") {
            var bytes = Array(socketPath.utf8)
            // A leading '@' names an abstract socket: a NUL byte on the wire.
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            address = bytes.isEmpty ? nil : bytes
        } else {
            address = nil
        }
        if let text = Syscall.environment("WATCHDOG_USEC"), let microseconds = ASCII.signed(text), microseconds > 0 {
            watchdogIntervalMilliseconds = max(microseconds / 2000, 1)
        } else {
            watchdogIntervalMilliseconds = nil
        }
    }

    public var isActive: Bool { address != nil }

    /// Sends one notification; failures are ignored (systemd may be gone, the agent goes on). The
    /// message is one `KEY=value` line: a line break in it would add assignments (`WATCHDOG=trigger`),
    /// so it is sent as `ASCII.printable` text.
    public func send(_ message: String) {
        guard let address else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { _ = close(fd) }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        guard address.count < capacity else { return }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            for (index, byte) in address.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count)
        let payload = Array(ASCII.printable(message, limit: ASCII.lineLimit).utf8)
        _ = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL), generic, length)
            }
        }
    }
}
