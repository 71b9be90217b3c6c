/// Where diagnostics go. The executable decides (stderr, syslog, systemd priority prefixes); libraries
/// only call it. Secrets (challenge passwords, keys) are never passed here.
public final class Log {
    public enum Level: Int, CustomStringConvertible, Comparable, Sendable {
        case error = 3, warning = 4, notice = 5, info = 6, debug = 7
        public var description: String {
            switch self {
            case .error: "error"
            case .warning: "warning"
            case .notice: "notice"
            case .info: "info"
            case .debug: "debug"
            }
        }
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var threshold: Level
    /// Progress is shown without the rest of info (the executable sets it when stderr is a terminal).
    public var showsProgress = false
    private let sink: (Level, String) -> Void

    public init(threshold: Level = .notice, sink: @escaping (Level, String) -> Void) {
        self.threshold = threshold
        self.sink = sink
    }

    /// A log that drops everything (tests, benchmarks).
    public static func discarding() -> Log { Log(threshold: .error) { _, _ in } }

    /// Every message leaves as one line of printable ASCII, whatever it quotes: a message can never
    /// start a second journal or syslog record, forge a priority, or drive the terminal.
    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        if level <= threshold { sink(level, ASCII.printable(message(), limit: ASCII.lineLimit)) }
    }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    /// A wait of about a second or more (key generation, PENDING polls): info level, and shown at a
    /// lower threshold too when `showsProgress`, so a person at a terminal knows the agent is not stuck.
    public func progress(_ message: @autoclosure () -> String) {
        if showsProgress && threshold < .info { sink(.info, ASCII.printable(message(), limit: ASCII.lineLimit)) } else { info(message()) }
    }
}

/// Time as the agent sees it. The real clock is `SystemClock`; tests drive a twin, since time is the
/// one thing that cannot be driven for real.
public protocol Clock: AnyObject {
    /// Seconds since the Unix epoch.
    func now() -> Int64
    /// Milliseconds from a monotonic source, for timings.
    func monotonicMilliseconds() -> Int64
    /// Waits `milliseconds`; returns early (false) when interrupted by a signal the caller cares about.
    func sleep(milliseconds: Int64) -> Bool
}
