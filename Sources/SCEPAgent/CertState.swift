import CSCEPShim
import DER

/// What the daemon remembers about one certificate between runs, in `state_dir/NAME.state`
/// (`key=value` lines, written atomically: temporary file, fsync, rename, directory fsync).
public struct CertState: Equatable {
    /// When to act next (Unix seconds); nil: derive from the installed certificate.
    public var nextDue: Int64?
    /// The serial of the installed certificate `nextDue` was planned for. When another certificate is
    /// installed (a run killed between installing and saving this state, or an operator's hand), the
    /// schedule is planned again from it.
    public var scheduledFor: String?
    public var lastAttempt: Int64?
    /// `issued`, `pending`, or `failed: REASON`.
    public var lastResult: String?
    public var lastSuccess: Int64?
    /// Consecutive failures (resets on success).
    public var consecutiveFailures: Int = 0
    /// All failures ever (the metrics counter).
    public var totalFailures: Int = 0
    /// A PENDING transaction: its ID, when it began and how often it was polled.
    public var pendingTransaction: String?
    public var pendingSince: Int64?
    public var pendingPolls: Int = 0

    public init() {}

    /// Certificate `serial` is installed: no failure streak, nothing pending.
    mutating func recordIssued(serial: String) {
        lastResult = "issued serial " + serial
        consecutiveFailures = 0
        pendingTransaction = nil
        pendingSince = nil
        pendingPolls = 0
    }

    public static func path(stateDirectory: String, name: String) -> String { stateDirectory + "/" + name + ".state" }

    /// Reads a state file; a missing file is an empty state, a damaged one is reported and replaced.
    public static func load(_ path: String) throws(SCEPError) -> CertState {
        guard FileSystem.exists(path) else { return CertState() }
        let bytes = try FileSystem.read(path, limit: 64 * 1024)
        var state = CertState()
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = String(decoding: line[line.startIndex..<equals], as: UTF8.self)
            // A file written by an older version may hold a server's control bytes: status prints these.
            let value = ASCII.printable(line[(equals + 1)...], limit: ASCII.lineLimit)
            switch key {
            case "next_due": state.nextDue = Int64(value)
            case "scheduled_for_serial": state.scheduledFor = value
            case "last_attempt": state.lastAttempt = Int64(value)
            case "last_result": state.lastResult = value
            case "last_success": state.lastSuccess = Int64(value)
            case "consecutive_failures": state.consecutiveFailures = Int(value) ?? 0
            case "total_failures": state.totalFailures = Int(value) ?? 0
            case "pending_transaction": state.pendingTransaction = value
            case "pending_since": state.pendingSince = Int64(value)
            case "pending_polls": state.pendingPolls = Int(value) ?? 0
            default: continue
            }
        }
        return state
    }

    public func save(_ path: String) throws(SCEPError) {
        var text = ""
        func put(_ key: String, _ value: String?) {
            if let value { text += key + "=" + ASCII.printable(value, limit: ASCII.lineLimit) + "\n" }
        }
        put("next_due", nextDue.map { String($0) })
        put("scheduled_for_serial", scheduledFor)
        put("last_attempt", lastAttempt.map { String($0) })
        put("last_result", lastResult)
        put("last_success", lastSuccess.map { String($0) })
        put("consecutive_failures", String(consecutiveFailures))
        put("total_failures", String(totalFailures))
        put("pending_transaction", pendingTransaction)
        put("pending_since", pendingSince.map { String($0) })
        put("pending_polls", String(pendingPolls))
        try FileSystem.replaceAtomically(path, Array(text.utf8), mode: 0o600, faultPoint: "daemon.state")
    }
}
