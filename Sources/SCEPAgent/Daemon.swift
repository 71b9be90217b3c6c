import CSCEPShim
import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages

/// The installed certificate's validity, as the daemon schedules by it.
public struct InstalledCertificate: Equatable {
    public var notBefore: Int64
    public var notAfter: Int64
    public var serial: String

    public init(notBefore: Int64, notAfter: Int64, serial: String) {
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.serial = serial
    }
}

/// A CA certificate as the rollover schedule tracks it.
public struct CAStatus: Equatable {
    public var fingerprint: [UInt8]
    public var notAfter: Int64

    public init(fingerprint: [UInt8], notAfter: Int64) {
        self.fingerprint = fingerprint
        self.notAfter = notAfter
    }
}

/// What the rollover state trusts for one certificate, handed to the source for each exchange.
public struct CATrust: Equatable {
    /// The pin in force: the configured one, or the successor a switch accepted (nil: not pinned).
    public var pin: [UInt8]?
    /// The verified successor, accepted in place of `pin` once GetCACert stops sending `pin`.
    public var next: [UInt8]?
    /// The CA a switch replaced, kept in `ca` until it expires.
    public var previous: [UInt8]?

    public init(pin: [UInt8]?, next: [UInt8]? = nil, previous: [UInt8]? = nil) {
        self.pin = pin
        self.next = next
        self.previous = previous
    }

    /// The CAs the `ca` file keeps beside the one in use while they are valid.
    public var kept: [[UInt8]] { [pin, next, previous].compactMap { $0 } }
}

/// How one CA check ended: the CA in use and, inside the rollover window, its verified successor.
public struct CACheck {
    public var ca: CAStatus?
    public var successor: CAStatus?
    public var reason: String
    public var code: SCEPError.Code?

    public static func checked(_ ca: CAStatus, successor: CAStatus?) -> CACheck { CACheck(ca: ca, successor: successor, reason: "", code: nil) }
    public static func failed(_ reason: String, code: SCEPError.Code?) -> CACheck { CACheck(ca: nil, successor: nil, reason: reason, code: code) }
}

/// How one attempt ended (a struct, not an enum with payloads: see SubjectAltName).
public struct AttemptResult {
    public enum Kind: String, Sendable { case issued, pending, failed }
    public var kind: Kind
    public var certificate: InstalledCertificate?
    public var reason: String
    /// Why a failed attempt failed, when an SCEPError said so (the exit code of an in-process renew-now).
    public var code: SCEPError.Code? = nil
    /// The CA that issued (the pin in force, or the successor it switched to).
    public var ca: CAStatus? = nil

    public static func issued(_ certificate: InstalledCertificate, ca: CAStatus? = nil) -> AttemptResult {
        AttemptResult(kind: .issued, certificate: certificate, reason: "", ca: ca)
    }
    public static func pending(_ reason: String) -> AttemptResult { AttemptResult(kind: .pending, certificate: nil, reason: reason) }
    public static func failed(_ reason: String, code: SCEPError.Code? = nil) -> AttemptResult {
        AttemptResult(kind: .failed, certificate: nil, reason: reason, code: code)
    }
}

/// Where certificates come from and go to: the real one reads the installed files and talks SCEP;
/// the clock-twin tests supply one that issues in simulated time.
public protocol CertificateSource: AnyObject {
    /// The certificate installed now, or nil when there is none (or it cannot be read).
    func installed(_ config: CertConfig) -> InstalledCertificate?
    /// Enrolls with the challenge (`reenroll`: no usable certificate) or renews, trusting `trust`;
    /// installs on success.
    func obtain(_ config: CertConfig, reenroll: Bool, trust: CATrust) -> AttemptResult
    /// Asks which CA is in use and, once it ends within `ca_rollover`, for its successor (GetNextCACert,
    /// verified); installs `ca` anew (and runs post_renew) when what it should hold changed.
    func checkCA(_ config: CertConfig, trust: CATrust) -> CACheck
}

/// Before this time (2026-11-01) the system clock is certainly wrong: a board without a real-time
/// clock that has not synchronised yet. The daemon waits instead of acting on such a clock.
public let earliestSaneTime: Int64 = 1_793_491_200

/// The renewal logic of the daemon, free of signals and sleeping: given the time, it acts on what is
/// due and says when to wake next.
public final class RenewalEngine {
    public let config: AgentConfig
    let source: CertificateSource
    let clock: Clock
    let random: RandomGenerator
    let log: Log
    /// Called after each attempt with the certificate's name and its new state (persisting, metrics).
    public var onStateChange: (String, CertState) -> Void = { _, _ in }
    public private(set) var states: [CertState]
    /// The error code of each certificate's last attempt when it failed with one (not persisted).
    public private(set) var lastFailureCodes: [SCEPError.Code?]
    /// The same for each certificate's last CA check.
    public private(set) var lastCAFailureCodes: [SCEPError.Code?]

    public init(config: AgentConfig, source: CertificateSource, states: [CertState], clock: Clock, random: RandomGenerator, log: Log) {
        precondition(states.count == config.certificates.count, "one state per certificate")
        self.config = config
        self.source = source
        self.states = states
        self.lastFailureCodes = Array(repeating: nil, count: states.count)
        self.lastCAFailureCodes = Array(repeating: nil, count: states.count)
        self.clock = clock
        self.random = random
        self.log = log
        for (index, certificate) in config.certificates.enumerated() {
            guard let from = self.states[index].rolloverFrom, from != certificate.caFingerprint.map({ Hex.encode($0) }) else { continue }
            log.notice(certificate.name + ": ca_fingerprint changed since the CA rollover state was made; starting over from the configured pin")
            self.states[index].clearRollover()
        }
    }

    /// What certificate `index` trusts: the configured pin or the one a switch accepted, the successor, the predecessor.
    public func trust(_ index: Int) -> CATrust {
        let state = states[index]
        return CATrust(pin: state.caPin.flatMap { Hex.decode($0) } ?? config.certificates[index].caFingerprint,
                       next: state.nextCA.flatMap { Hex.decode($0) }, previous: state.previousCA.flatMap { Hex.decode($0) })
    }

    /// When certificate `index`'s CA is next checked: now when its CA is not known yet.
    public func caDue(_ index: Int, now: Int64) -> Int64 { states[index].caCheckDue ?? now }

    /// Records the CA in use (from a check or an issuance): a switch to the known successor, its end,
    /// a newly verified successor, a predecessor that expired. Only a check plans the next check: one
    /// planned earlier stays due (at the old CA's end it also drops the predecessor), so renewals, however
    /// often they come, never put it off.
    func recordCA(_ ca: CAStatus, successor: CAStatus?, state: inout CertState, certificate: CertConfig, now: Int64, checked: Bool) {
        let configured = certificate.caFingerprint.map { Hex.encode($0) }
        let fingerprint = Hex.encode(ca.fingerprint)
        if fingerprint == state.nextCA {
            state.previousCA = state.caPin ?? configured
            state.previousCANotAfter = state.caNotAfter
            state.caPin = fingerprint
            state.nextCA = nil
            state.caSwitchedAt = now
            log.notice(certificate.name + ": the CA switched to its successor sha256 " + fingerprint + "; it is the pin from now on")
        }
        state.caNotAfter = ca.notAfter
        if let successor, successor.fingerprint != ca.fingerprint, Hex.encode(successor.fingerprint) != state.nextCA {
            state.nextCA = Hex.encode(successor.fingerprint)
            log.notice(certificate.name + ": the CA's successor is known: sha256 " + state.nextCA! + ", valid until "
                + CivilTime(unixSeconds: successor.notAfter).description)
        }
        if let end = state.previousCANotAfter, end <= now {
            state.previousCA = nil
            state.previousCANotAfter = nil
        }
        state.rolloverFrom = configured
        guard checked else { return }
        state.caCheckDue = RenewalPlanner.caCheckTime(now: now, caNotAfter: ca.notAfter, window: certificate.caRollover, successorKnown: state.nextCA != nil,
                                                      previousNotAfter: state.previousCANotAfter, policy: certificate.renewal, uniform: uniform())
    }

    func checkCA(_ index: Int, now: Int64) {
        let certificate = config.certificates[index]
        var state = states[index]
        let result = source.checkCA(certificate, trust: trust(index))
        lastCAFailureCodes[index] = result.code
        if let ca = result.ca {
            recordCA(ca, successor: result.successor, state: &state, certificate: certificate, now: now, checked: true)
            state.caCheckResult = "checked: CA sha256 " + Hex.encode(ca.fingerprint) + (state.nextCA == nil ? ", no successor known" : ", successor " + state.nextCA!)
        } else {
            state.caCheckResult = "failed: " + result.reason
            state.caCheckDue = now + RenewalPlanner.jittered(RenewalPlanner.caCheckInterval, uniform())
            log.warning(certificate.name + ": CA rollover check failed: " + result.reason + "; checking again at " + CivilTime(unixSeconds: state.caCheckDue!).description)
        }
        states[index] = state
        onStateChange(certificate.name, state)
    }

    func uniform() -> Double {
        guard let bytes = try? random.bytes(8) else { return 0.5 }
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        return Double(value >> 11) / Double(UInt64(1) << 53)
    }

    /// Why the clock cannot be trusted at `now`, or nil when it can.
    public func insaneClockReason(now: Int64) -> String? {
        if now < earliestSaneTime {
            return "system time " + CivilTime(unixSeconds: now).description + " is before this build: waiting for the clock to be set"
        }
        for certificate in config.certificates {
            if let installed = source.installed(certificate), now + 300 < installed.notBefore {
                return "system time " + CivilTime(unixSeconds: now).description + " is before certificate " + certificate.name
                    + "'s notBefore " + CivilTime(unixSeconds: installed.notBefore).description + ": waiting for the clock to be set"
            }
        }
        return nil
    }

    /// The time certificate `index` is next due, planned from the installed certificate when unknown or
    /// when the schedule belongs to a certificate that is no longer installed.
    public func due(_ index: Int, now: Int64) -> Int64 {
        let certificate = config.certificates[index]
        let plannedFor = states[index].scheduledFor
        if let due = states[index].nextDue, plannedFor == nil { return due }
        let installed = source.installed(certificate)
        if let due = states[index].nextDue, let plannedFor {
            guard let installed, installed.serial != plannedFor else { return due }
            log.notice(certificate.name + ": the installed certificate is serial " + installed.serial + ", not serial " + plannedFor
                + " the schedule was made for (installed by a run that stopped before saving its state, or by hand); planning from it")
            states[index].recordIssued(serial: installed.serial)
        }
        guard let installed else { return now }
        let due = RenewalPlanner.renewalTime(notBefore: installed.notBefore, notAfter: installed.notAfter, policy: certificate.renewal, uniform: uniform())
        states[index].nextDue = due
        states[index].scheduledFor = installed.serial
        onStateChange(certificate.name, states[index])
        return due
    }

    /// Acts on every certificate due at `now` (and on those named in `force`), then returns the
    /// earliest time anything is due next.
    @discardableResult
    public func runDue(now: Int64, force: [String] = []) -> Int64 {
        for index in config.certificates.indices {
            let name = config.certificates[index].name
            if force.contains(name) || due(index, now: now) <= now { attempt(index, now: now) }
            if force.contains(name) || caDue(index, now: now) <= now { checkCA(index, now: now) }
        }
        var next = Int64.max
        for index in config.certificates.indices { next = min(next, due(index, now: now), caDue(index, now: now)) }
        return next
    }

    func attempt(_ index: Int, now: Int64) {
        let certificate = config.certificates[index]
        let policy = certificate.renewal
        var state = states[index]
        let installed = source.installed(certificate)
        let reenroll = installed == nil || installed!.notAfter <= now
        state.lastAttempt = now
        lastFailureCodes[index] = nil
        if reenroll && certificate.challengeFile == nil {
            let what = installed == nil ? "no certificate is installed" : "the certificate expired at " + CivilTime(unixSeconds: installed!.notAfter).description
            state.lastResult = "failed: " + what + " and no challenge_file is configured to enroll again"
            state.consecutiveFailures += 1
            state.totalFailures += 1
            state.nextDue = RenewalPlanner.retryTime(now: now, failures: state.consecutiveFailures, policy: policy, uniform: uniform())
            log.error(certificate.name + ": " + state.lastResult!)
        } else {
            log.notice(certificate.name + ": " + (reenroll ? (installed == nil ? "enrolling" : "certificate expired, enrolling again") : "renewing"))
            let result = source.obtain(certificate, reenroll: reenroll, trust: trust(index))
            switch result.kind {
            case .issued:
                let issued = result.certificate!
                if let ca = result.ca { recordCA(ca, successor: nil, state: &state, certificate: certificate, now: now, checked: false) }
                state.recordIssued(serial: issued.serial)
                state.lastSuccess = now
                state.nextDue = RenewalPlanner.renewalTime(notBefore: issued.notBefore, notAfter: issued.notAfter, policy: policy, uniform: uniform())
                state.scheduledFor = issued.serial
                log.notice(certificate.name + ": issued serial " + issued.serial + ", valid until " + CivilTime(unixSeconds: issued.notAfter).description
                    + "; next renewal " + CivilTime(unixSeconds: state.nextDue!).description)
            case .pending:
                state.lastResult = "pending"
                if state.pendingSince == nil { state.pendingSince = now }
                state.pendingTransaction = result.reason
                state.pendingPolls += 1
                state.nextDue = RenewalPlanner.pollTime(now: now, polls: state.pendingPolls, policy: policy, uniform: uniform())
                log.notice(certificate.name + ": PENDING; polling again at " + CivilTime(unixSeconds: state.nextDue!).description)
            case .failed:
                state.lastResult = "failed: " + result.reason
                lastFailureCodes[index] = result.code
                state.consecutiveFailures += 1
                state.totalFailures += 1
                state.nextDue = RenewalPlanner.retryTime(now: now, failures: state.consecutiveFailures, policy: policy, uniform: uniform())
                log.error(certificate.name + ": " + result.reason + "; retrying at " + CivilTime(unixSeconds: state.nextDue!).description)
            }
        }
        states[index] = state
        onStateChange(certificate.name, state)
    }
}
