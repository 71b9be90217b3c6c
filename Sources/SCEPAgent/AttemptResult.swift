import DER
import SCEPClient
import SCEPMessages
import SystemSupport

/// How one attempt ended: what `CertificateSource.obtain` reports, and what `CertState` keeps
/// (`last_result` and the `last_result_*` keys of the state file). `status`, sd_notify's STATUS and
/// `renew-now` derive their text and exit code from these fields; nothing parses the text.
/// A struct, not an enum with payloads: see SubjectAltName.
public struct AttemptResult: Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case issued, pending, failed
        /// Not attempted: the installed certificate is not valid yet at the system time (`runDue`).
        case waiting
    }
    public var kind: Kind
    /// issued: the new certificate's serial (hex), validity and, from a state file written before typed
    /// results, the serial alone; waiting: the installed certificate's notBefore.
    public var serial: String? = nil
    public var notBefore: Int64? = nil
    public var notAfter: Int64? = nil
    /// failed: why.
    public var reason: String = ""
    /// failed: the SCEPError code when one said why (`renew-now`'s exit code); nil: the attempt's own verdict.
    public var code: SCEPError.Code? = nil
    /// The system time the result was judged at: waiting, and issued but due for renewal at once.
    public var systemTime: Int64? = nil
    /// issued but due for renewal at once (the clock or the CA is wrong): the end of its backoff.
    public var backingOffUntil: Int64? = nil

    // Not kept in the state: what the engine passes on within one pass.
    /// The CA that issued (the pin in force, or the successor it switched to).
    public var ca: CAStatus? = nil
    /// The discovery (GetCACaps, GetCACert, pin verified) the attempt made: the CA check that follows
    /// it in the same pass uses it rather than asking again.
    public var discovery: ServerProfile? = nil
    /// issued: `renew_with_challenge = auto` learned that this CA (SHA-256) wants the challenge on
    /// renewals; the engine keeps it in `CertState.renewNeedsChallenge`.
    public var challengeNeededBy: [UInt8]? = nil

    public init(kind: Kind) { self.kind = kind }

    public static func issued(_ certificate: InstalledCertificate, ca: CAStatus? = nil) -> AttemptResult {
        var result = AttemptResult(kind: .issued)
        result.serial = certificate.serial
        result.notBefore = certificate.notBefore
        result.notAfter = certificate.notAfter
        result.ca = ca
        return result
    }
    public static func pending(_ reason: String) -> AttemptResult {
        var result = AttemptResult(kind: .pending)
        result.reason = reason
        return result
    }
    public static func failed(_ reason: String, code: SCEPError.Code? = nil) -> AttemptResult {
        var result = AttemptResult(kind: .failed)
        result.reason = reason
        result.code = code
        return result
    }
    public static func waiting(systemTime: Int64, notBefore: Int64) -> AttemptResult {
        var result = AttemptResult(kind: .waiting)
        result.systemTime = systemTime
        result.notBefore = notBefore
        return result
    }

    /// The issued certificate (nil unless issued with its validity).
    public var certificate: InstalledCertificate? {
        guard kind == .issued, let serial, let notBefore, let notAfter else { return nil }
        return InstalledCertificate(notBefore: notBefore, notAfter: notAfter, serial: serial)
    }

    /// The text `status`, `status --json` (`lastResult`), sd_notify and `renew-now` print.
    public var description: String {
        func time(_ seconds: Int64?) -> String { seconds.map { CivilTime(unixSeconds: $0).description } ?? "?" }
        switch kind {
        case .issued:
            var text = "issued serial " + (serial ?? "?")
            if let backingOffUntil {
                text += " (valid " + time(notBefore) + " to " + time(notAfter) + ") but it was due for renewal at once at system time "
                    + time(systemTime) + ": the clock or the CA is wrong; backing off until " + time(backingOffUntil)
            }
            return text
        case .pending:
            return "pending"
        case .failed:
            return "failed: " + reason
        case .waiting:
            return "waiting: system time " + time(systemTime) + " is before the installed certificate's notBefore " + time(notBefore)
                + " (is the clock behind?)"
        }
    }

    /// Equal as `lastResult` keeps them: `ca`, `discovery` and `challengeNeededBy` are left out.
    public static func == (lhs: AttemptResult, rhs: AttemptResult) -> Bool {
        lhs.kind == rhs.kind && lhs.serial == rhs.serial && lhs.notBefore == rhs.notBefore && lhs.notAfter == rhs.notAfter
            && lhs.reason == rhs.reason && lhs.code == rhs.code && lhs.systemTime == rhs.systemTime && lhs.backingOffUntil == rhs.backingOffUntil
    }

    /// The `last_result` text of a version before typed results, for an upgrade: `issued serial X…`
    /// (the serial is kept; the rest was a clock warning the next renewal repeats if it still holds),
    /// `pending`, `failed: REASON`. Nil for anything else (`waiting: …`, which the daemon's next pass
    /// judges again before anything else, or garbage).
    static func upgrading(_ text: String) -> AttemptResult? {
        if let serial = remainder(of: text, after: "issued serial ") {
            var result = AttemptResult(kind: .issued)
            result.serial = String(decoding: serial.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
            return result
        }
        if let reason = remainder(of: text, after: "failed: ") { return .failed(String(decoding: reason, as: UTF8.self)) }
        return text == "pending" ? AttemptResult(kind: .pending) : nil
    }
}

/// The bytes of `text` after `prefix`, nil when it does not start with it. Bytes, not Characters:
/// Character slicing brings grapheme breaking into the firmware.
func remainder(of text: String, after prefix: String) -> Substring.UTF8View? {
    text.utf8.starts(with: prefix.utf8) ? text.utf8.dropFirst(prefix.utf8.count) : nil
}

/// How the last CA rollover check ended, as `CertState` keeps it (`ca_check_result` and the
/// `ca_check_*` keys): the CA it found in use and the successor known after it, or why it failed.
public struct CACheckResult: Equatable, CustomStringConvertible {
    /// SHA-256 of the CA in use; nil: the check failed.
    public var ca: [UInt8]?
    /// SHA-256 of the verified successor known after the check (this check's or an earlier one's).
    public var successor: [UInt8]? = nil
    /// failed: why.
    public var reason: String = ""
    /// failed: the SCEPError code when one said why (`renew-now`'s exit code after a renewal).
    public var code: SCEPError.Code? = nil

    public static func checked(ca: [UInt8], successor: [UInt8]?) -> CACheckResult { CACheckResult(ca: ca, successor: successor) }
    public static func failed(_ reason: String, code: SCEPError.Code?) -> CACheckResult { CACheckResult(ca: nil, reason: reason, code: code) }

    /// The text `status` (`CA check … ; last …`) and `status --json` (`lastCheck`) print.
    public var description: String {
        guard let ca else { return "failed: " + reason }
        return "checked: CA sha256 " + Hex.encode(ca) + (successor.map { ", successor " + Hex.encode($0) } ?? ", no successor known")
    }

    /// The `ca_check_result` text of a version before typed results, for an upgrade; nil for garbage.
    static func upgrading(_ text: String) -> CACheckResult? {
        if let reason = remainder(of: text, after: "failed: ") { return .failed(String(decoding: reason, as: UTF8.self), code: nil) }
        guard let rest = remainder(of: text, after: "checked: CA sha256 "),
              let ca = Hex.decode(String(decoding: rest.prefix { $0 != UInt8(ascii: ",") }, as: UTF8.self)) else { return nil }
        let successor = remainder(of: String(decoding: rest.drop { $0 != UInt8(ascii: ",") }, as: UTF8.self), after: ", successor ")
        return .checked(ca: ca, successor: successor.flatMap { Hex.decode(String(decoding: $0, as: UTF8.self)) })
    }
}
