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

/// How one attempt ended (a struct, not an enum with payloads: see SubjectAltName).
public struct AttemptResult {
    public enum Kind: String, Sendable { case issued, pending, failed }
    public var kind: Kind
    public var certificate: InstalledCertificate?
    public var reason: String
    /// Why a failed attempt failed, when an SCEPError said so (the exit code of an in-process renew-now).
    public var code: SCEPError.Code? = nil

    public static func issued(_ certificate: InstalledCertificate) -> AttemptResult { AttemptResult(kind: .issued, certificate: certificate, reason: "") }
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
    /// Enrolls with the challenge (`reenroll`: no usable certificate) or renews; installs on success.
    func obtain(_ config: CertConfig, reenroll: Bool) -> AttemptResult
    /// Gives up a PENDING request (`pending_max`): its saved key and transactionID are discarded.
    func abandonPending(_ config: CertConfig)
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

    public init(config: AgentConfig, source: CertificateSource, states: [CertState], clock: Clock, random: RandomGenerator, log: Log) {
        precondition(states.count == config.certificates.count, "one state per certificate")
        self.config = config
        self.source = source
        self.states = states
        self.lastFailureCodes = Array(repeating: nil, count: states.count)
        self.clock = clock
        self.random = random
        self.log = log
    }

    func uniform() -> Double {
        guard let bytes = try? random.bytes(8) else { return 0.5 }
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        return Double(value >> 11) / Double(UInt64(1) << 53)
    }

    /// Why the clock cannot be trusted at `now`, or nil when it can: before the build, nothing is acted on.
    public func insaneClockReason(now: Int64) -> String? {
        guard now < earliestSaneTime else { return nil }
        return "system time " + CivilTime(unixSeconds: now).description + " is before this build: waiting for the clock to be set"
    }

    /// Why certificate `index` waits at `now`: its installed certificate is not valid yet (beyond the
    /// clock skew). Only that certificate waits; the others go on.
    public func notYetValidReason(_ index: Int, now: Int64) -> (reason: String, until: Int64)? {
        let certificate = config.certificates[index]
        guard let installed = source.installed(certificate), now + Certificate.clockSkewSeconds < installed.notBefore else { return nil }
        return ("waiting: system time " + CivilTime(unixSeconds: now).description + " is before the installed certificate's notBefore "
            + CivilTime(unixSeconds: installed.notBefore).description + " (is the clock behind?)", installed.notBefore - Certificate.clockSkewSeconds)
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
        var due = RenewalPlanner.renewalTime(notBefore: installed.notBefore, notAfter: installed.notAfter, policy: certificate.renewal, uniform: uniform())
        if let last = states[index].lastSuccess {
            due = max(due, last + RenewalPlanner.minimumInterval(notBefore: installed.notBefore, notAfter: installed.notAfter, policy: certificate.renewal))
        }
        states[index].nextDue = due
        states[index].scheduledFor = installed.serial
        onStateChange(certificate.name, states[index])
        return due
    }

    /// Acts on every certificate due at `now` (and on those named in `force`), then returns the
    /// earliest time anything is due next. A certificate whose installed one is not valid yet waits
    /// alone (until its notBefore, or until the clock is set).
    @discardableResult
    public func runDue(now: Int64, force: [String] = []) -> Int64 {
        var next = Int64.max
        for index in config.certificates.indices {
            let name = config.certificates[index].name
            if let (reason, until) = notYetValidReason(index, now: now) {
                if states[index].lastResult != reason {
                    log.warning(name + ": " + reason)
                    states[index].lastResult = reason
                    onStateChange(name, states[index])
                }
                next = min(next, until)
                continue
            }
            if force.contains(name) || due(index, now: now) <= now { attempt(index, now: now) }
            next = min(next, due(index, now: now))
        }
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
        if let since = state.pendingSince, now - since >= policy.pendingMax {
            // The CA never decided: a new request (new key, new transaction) follows on the failure schedule.
            source.abandonPending(certificate)
            state.pendingTransaction = nil
            state.pendingSince = nil
            state.pendingPolls = 0
            fail(&state, index, "the request was still PENDING after pending_max (" + String(policy.pendingMax) + " s, since "
                + CivilTime(unixSeconds: since).description + "): gave it up and discarded its key; a new request follows")
        } else if reenroll && certificate.challengeFile == nil {
            let what = installed == nil ? "no certificate is installed" : "the certificate expired at " + CivilTime(unixSeconds: installed!.notAfter).description
            fail(&state, index, what + " and no challenge_file is configured to enroll again")
        } else {
            log.notice(certificate.name + ": " + (reenroll ? (installed == nil ? "enrolling" : "certificate expired, enrolling again") : "renewing"))
            let result = source.obtain(certificate, reenroll: reenroll)
            // Every time below counts from the end of the attempt, which may have taken minutes.
            let after = clock.now()
            switch result.kind {
            case .issued:
                let issued = result.certificate!
                state.recordIssued(serial: issued.serial)
                state.lastSuccess = after
                state.scheduledFor = issued.serial
                let planned = RenewalPlanner.renewalTime(notBefore: issued.notBefore, notAfter: issued.notAfter, policy: policy, uniform: uniform())
                let floor = after + RenewalPlanner.minimumInterval(notBefore: issued.notBefore, notAfter: issued.notAfter, policy: policy)
                if planned <= after {
                    // Due the moment it was issued: the clock (or the CA) is wrong. Renewing again would
                    // only repeat it: back off on the failure schedule, and never below the floor.
                    state.issuedAlreadyDue += 1
                    state.nextDue = max(RenewalPlanner.retryTime(now: after, failures: state.issuedAlreadyDue, policy: policy, uniform: uniform()), floor)
                    state.lastResult = "issued serial " + issued.serial + " (valid " + CivilTime(unixSeconds: issued.notBefore).description + " to "
                        + CivilTime(unixSeconds: issued.notAfter).description + ") but it was due for renewal at once at system time "
                        + CivilTime(unixSeconds: after).description + ": the clock or the CA is wrong; backing off until " + CivilTime(unixSeconds: state.nextDue!).description
                    log.warning(certificate.name + ": " + state.lastResult!)
                } else {
                    state.issuedAlreadyDue = 0
                    state.nextDue = max(planned, floor)
                    log.notice(certificate.name + ": issued serial " + issued.serial + ", valid until " + CivilTime(unixSeconds: issued.notAfter).description
                        + "; next renewal " + CivilTime(unixSeconds: state.nextDue!).description)
                }
            case .pending:
                state.lastResult = "pending"
                if state.pendingSince == nil { state.pendingSince = after }
                state.pendingTransaction = result.reason
                state.pendingPolls += 1
                state.nextDue = RenewalPlanner.pollTime(now: after, polls: state.pendingPolls, policy: policy, uniform: uniform())
                log.notice(certificate.name + ": PENDING; polling again at " + CivilTime(unixSeconds: state.nextDue!).description)
            case .failed:
                lastFailureCodes[index] = result.code
                if result.code == .serverFailure {
                    // The CA's FAILURE ends a PENDING transaction: its key is gone (see OneShot).
                    state.pendingTransaction = nil
                    state.pendingSince = nil
                    state.pendingPolls = 0
                }
                fail(&state, index, result.reason, now: after)
            }
        }
        states[index] = state
        onStateChange(certificate.name, state)
    }

    /// Records a failed attempt and plans the retry on the failure schedule.
    func fail(_ state: inout CertState, _ index: Int, _ reason: String, now: Int64? = nil) {
        let certificate = config.certificates[index]
        state.lastResult = "failed: " + reason
        state.consecutiveFailures += 1
        state.totalFailures += 1
        state.nextDue = RenewalPlanner.retryTime(now: now ?? clock.now(), failures: state.consecutiveFailures, policy: certificate.renewal, uniform: uniform())
        log.error(certificate.name + ": " + reason + "; retrying at " + CivilTime(unixSeconds: state.nextDue!).description)
    }
}
