import DER
import SCEPClient
import SCEPMessages
import SystemSupport

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
    /// How the last attempt ended (or why none was made: waiting for the installed certificate's notBefore).
    public var lastResult: AttemptResult?
    public var lastSuccess: Int64?
    /// Consecutive failures (resets on success).
    public var consecutiveFailures: Int = 0
    /// All failures ever (the metrics counter).
    public var totalFailures: Int = 0
    /// A PENDING transaction: its ID, when it began and how often it was polled.
    public var pendingTransaction: String?
    public var pendingSince: Int64?
    public var pendingPolls: Int = 0
    /// Certificates issued in a row that were due for renewal the moment they were issued (the clock
    /// or the CA is wrong): the step of their backoff.
    public var issuedAlreadyDue: Int = 0

    // CA rollover (RFC 8894 §4.7), on a schedule of its own. Fingerprints are hex SHA-256.
    /// The configured `ca_fingerprint` the fields below were built from: when the configuration names
    /// another, an operator re-pinned and they are dropped.
    public var rolloverFrom: String?
    /// The CA trusted in place of the configured pin since a switch; nil: the configured one.
    public var caPin: String?
    /// notAfter of the CA in use.
    public var caNotAfter: Int64?
    /// The successor GetNextCACert delivered, verified under the CA in use.
    public var nextCA: String?
    /// The CA a switch replaced, kept in `ca` until it expires.
    public var previousCA: String?
    public var previousCANotAfter: Int64?
    public var caSwitchedAt: Int64?
    /// When to check the CA next; nil: now.
    public var caCheckDue: Int64?
    /// How the last check ended.
    public var caCheckResult: CACheckResult?

    /// `renew_with_challenge = auto` learned that this CA (hex SHA-256) refuses renewals without the
    /// challenge: later renewals send it at once.
    public var renewNeedsChallenge: String?

    public init() {}

    /// Forgets everything rollover learned (the operator pinned another CA).
    mutating func clearRollover() {
        rolloverFrom = nil
        caPin = nil
        caNotAfter = nil
        nextCA = nil
        previousCA = nil
        previousCANotAfter = nil
        caSwitchedAt = nil
        caCheckDue = nil
        caCheckResult = nil
    }

    /// Certificate `certificate` is installed: no failure streak, nothing pending.
    mutating func recordIssued(_ certificate: InstalledCertificate) {
        lastResult = .issued(certificate)
        consecutiveFailures = 0
        pendingTransaction = nil
        pendingSince = nil
        pendingPolls = 0
    }

    public static func path(stateDirectory: String, name: String) -> String { stateDirectory + "/" + name + ".state" }

    /// Latest time a state file may hold (9999-12-31T23:59:59Z, X.509's last): the daemon's arithmetic
    /// on times (milliseconds to sleep) must never overflow, whatever the file says.
    static let latestTime: Int64 = 253_402_300_799
    /// Most failures or polls a state file may count; the counters only ever grow by one.
    static let largestCount = 1_000_000_000

    /// Reads a state file; a missing file is an empty state. Only our own file is read (see
    /// `FileSystem.openTrusted`): it decides when the agent acts. A value out of range (a damaged or
    /// edited file) is ignored with a warning, so the schedule is planned again from the certificate.
    /// A file written before results were typed (`last_result=issued serial X`, `ca_check_result=failed: …`)
    /// loads as the typed results it describes (see `AttemptResult.upgrading`).
    public static func load(_ path: String, log: Log) throws(SCEPError) -> CertState {
        guard FileSystem.exists(path) else { return CertState() }
        let bytes = try FileSystem.readTrusted(path, limit: 64 * 1024, what: "state file")
        var state = CertState()
        // The result's fields come in any order: collected here, kept once `last_result` named its kind.
        var result = AttemptResult(kind: .failed), resultKind: AttemptResult.Kind? = nil, upgradedResult: AttemptResult? = nil
        var check = CACheckResult(ca: nil), checkKind: String? = nil, upgradedCheck: CACheckResult? = nil
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = String(decoding: line[line.startIndex..<equals], as: UTF8.self)
            // Keys of other versions are left alone.
            guard let field = Key.allCases.first(where: { $0.rawValue == key }) else { continue }
            // A file written by an older version may hold a server's control bytes: status prints these.
            let value = ASCII.printable(line[(equals + 1)...], limit: ASCII.lineLimit)
            func time() -> Int64? {
                guard let time = ASCII.signed(value), time >= 0, time <= latestTime else {
                    log.warning(path + ": ignoring " + key + ": not a time between 1970 and 9999 in Unix seconds")
                    return nil
                }
                return time
            }
            func count() -> Int {
                guard let count = ASCII.signed(value).flatMap(Int.init(exactly:)), count >= 0, count <= largestCount else {
                    log.warning(path + ": ignoring " + key + ": not a count between 0 and " + String(largestCount))
                    return 0
                }
                return count
            }
            func code() -> SCEPError.Code? {
                // Not Code(rawValue:): its string switch brings a hashed table cache into the firmware.
                guard let code = SCEPError.Code.allCases.first(where: { $0.rawValue == value }) else {
                    log.warning(path + ": ignoring " + key + ": not an error code of this version")
                    return nil
                }
                return code
            }
            func fingerprint() -> [UInt8]? {
                guard let fingerprint = Hex.decode(value), fingerprint.count == 32 else {
                    log.warning(path + ": ignoring " + key + ": not a SHA-256 fingerprint in hex")
                    return nil
                }
                return fingerprint
            }
            switch field {
            case .nextDue: state.nextDue = time()
            case .scheduledForSerial: state.scheduledFor = value
            case .lastAttempt: state.lastAttempt = time()
            case .lastResult:
                if let kind = AttemptResult.Kind(rawValue: value) {
                    resultKind = kind
                } else if let upgraded = AttemptResult.upgrading(value) {
                    upgradedResult = upgraded
                } else if !value.hasPrefix("waiting: ") {
                    log.warning(path + ": ignoring last_result: not a result of this version")
                }
            case .lastResultSerial: result.serial = value
            case .lastResultNotBefore: result.notBefore = time()
            case .lastResultNotAfter: result.notAfter = time()
            case .lastResultReason: result.reason = value
            case .lastResultCode: result.code = code()
            case .lastResultSystemTime: result.systemTime = time()
            case .lastResultBackingOffUntil: result.backingOffUntil = time()
            case .lastSuccess: state.lastSuccess = time()
            case .consecutiveFailures: state.consecutiveFailures = count()
            case .totalFailures: state.totalFailures = count()
            case .pendingTransaction: state.pendingTransaction = value
            case .pendingSince: state.pendingSince = time()
            case .pendingPolls: state.pendingPolls = count()
            case .issuedAlreadyDue: state.issuedAlreadyDue = count()
            case .rolloverFrom: state.rolloverFrom = value
            case .caPin: state.caPin = value
            case .caNotAfter: state.caNotAfter = time()
            case .nextCa: state.nextCA = value
            case .previousCa: state.previousCA = value
            case .previousCaNotAfter: state.previousCANotAfter = time()
            case .caSwitchedAt: state.caSwitchedAt = time()
            case .caCheckDue: state.caCheckDue = time()
            case .caCheckResult:
                if value == "checked" || value == "failed" {
                    checkKind = value
                } else if let upgraded = CACheckResult.upgrading(value) {
                    upgradedCheck = upgraded
                } else {
                    log.warning(path + ": ignoring ca_check_result: not a result of this version")
                }
            case .caCheckCa: check.ca = fingerprint()
            case .caCheckSuccessor: check.successor = fingerprint()
            case .caCheckReason: check.reason = value
            case .caCheckCode: check.code = code()
            case .renewNeedsChallenge: state.renewNeedsChallenge = fingerprint().map { Hex.encode($0) }
            }
        }
        if let resultKind {
            result.kind = resultKind
            state.lastResult = result
        } else {
            state.lastResult = upgradedResult
        }
        switch checkKind {
        case "checked" where check.ca != nil: state.caCheckResult = check
        case "failed": state.caCheckResult = .failed(check.reason, code: check.code)
        case nil: state.caCheckResult = upgradedCheck
        default: log.warning(path + ": ignoring ca_check_result: checked, but no valid ca_check_ca")
        }
        return state
    }

    /// The state file's keys, in the order `save` writes them. Matched as a table, then switched on as
    /// an enum: a string switch would be code per key in the firmware.
    enum Key: String, CaseIterable {
        case nextDue = "next_due"
        case scheduledForSerial = "scheduled_for_serial"
        case lastAttempt = "last_attempt"
        case lastResult = "last_result"
        case lastResultSerial = "last_result_serial"
        case lastResultNotBefore = "last_result_not_before"
        case lastResultNotAfter = "last_result_not_after"
        case lastResultReason = "last_result_reason"
        case lastResultCode = "last_result_code"
        case lastResultSystemTime = "last_result_system_time"
        case lastResultBackingOffUntil = "last_result_backing_off_until"
        case lastSuccess = "last_success"
        case consecutiveFailures = "consecutive_failures"
        case totalFailures = "total_failures"
        case pendingTransaction = "pending_transaction"
        case pendingSince = "pending_since"
        case pendingPolls = "pending_polls"
        case issuedAlreadyDue = "issued_already_due"
        case rolloverFrom = "rollover_from"
        case caPin = "ca_pin"
        case caNotAfter = "ca_not_after"
        case nextCa = "next_ca"
        case previousCa = "previous_ca"
        case previousCaNotAfter = "previous_ca_not_after"
        case caSwitchedAt = "ca_switched_at"
        case caCheckDue = "ca_check_due"
        case caCheckResult = "ca_check_result"
        case caCheckCa = "ca_check_ca"
        case caCheckSuccessor = "ca_check_successor"
        case caCheckReason = "ca_check_reason"
        case caCheckCode = "ca_check_code"
        case renewNeedsChallenge = "renew_needs_challenge"
    }

    public func save(_ path: String) throws(SCEPError) {
        // One table and one loop: a call per field would be code per field in the firmware.
        let fields: [(Key, String?)] = [
            (.nextDue, Self.text(nextDue)),
            (.scheduledForSerial, scheduledFor),
            (.lastAttempt, Self.text(lastAttempt)),
            (.lastResult, lastResult?.kind.rawValue),
            (.lastResultSerial, lastResult?.serial),
            (.lastResultNotBefore, Self.text(lastResult?.notBefore)),
            (.lastResultNotAfter, Self.text(lastResult?.notAfter)),
            (.lastResultReason, lastResult.flatMap { $0.reason.isEmpty ? nil : $0.reason }),
            (.lastResultCode, lastResult?.code?.rawValue),
            (.lastResultSystemTime, Self.text(lastResult?.systemTime)),
            (.lastResultBackingOffUntil, Self.text(lastResult?.backingOffUntil)),
            (.lastSuccess, Self.text(lastSuccess)),
            (.consecutiveFailures, String(consecutiveFailures)),
            (.totalFailures, String(totalFailures)),
            (.pendingTransaction, pendingTransaction),
            (.pendingSince, Self.text(pendingSince)),
            (.pendingPolls, String(pendingPolls)),
            (.issuedAlreadyDue, String(issuedAlreadyDue)),
            (.rolloverFrom, rolloverFrom),
            (.caPin, caPin),
            (.caNotAfter, Self.text(caNotAfter)),
            (.nextCa, nextCA),
            (.previousCa, previousCA),
            (.previousCaNotAfter, Self.text(previousCANotAfter)),
            (.caSwitchedAt, Self.text(caSwitchedAt)),
            (.caCheckDue, Self.text(caCheckDue)),
            (.caCheckResult, caCheckResult.map { $0.ca == nil ? "failed" : "checked" }),
            (.caCheckCa, caCheckResult?.ca.map { Hex.encode($0) }),
            (.caCheckSuccessor, caCheckResult?.successor.map { Hex.encode($0) }),
            (.caCheckReason, caCheckResult.flatMap { $0.reason.isEmpty ? nil : $0.reason }),
            (.caCheckCode, caCheckResult?.code?.rawValue),
            (.renewNeedsChallenge, renewNeedsChallenge),
        ]
        var text = ""
        for (key, value) in fields {
            if let value { text += key.rawValue + "=" + ASCII.printable(value, limit: ASCII.lineLimit) + "\n" }
        }
        try FileSystem.replaceAtomically(path, Array(text.utf8), mode: 0o600, faultPoint: "daemon.state")
    }

    static func text(_ time: Int64?) -> String? { time.map { String($0) } }

    /// Takes over `renewNeedsChallenge` from `state_dir/NAME.renew-needs-challenge`, the file of its own
    /// it had before it was a state field, and removes that file once the state at `path` holds it.
    mutating func adoptRenewNeedsChallengeFile(stateDirectory: String, name: String, savingTo path: String) throws(SCEPError) {
        let legacy = stateDirectory + "/" + name + ".renew-needs-challenge"
        guard FileSystem.exists(legacy) else { return }
        if renewNeedsChallenge == nil, let bytes = try? FileSystem.readTrusted(legacy, limit: 256, what: "state file"),
           let ca = Hex.decode(ASCII.trimmed(String(decoding: bytes, as: UTF8.self))), ca.count == 32 {
            renewNeedsChallenge = Hex.encode(ca)
            try save(path)
        }
        try FileSystem.remove(legacy)
    }
}
