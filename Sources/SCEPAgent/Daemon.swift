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
    /// Whether a failed attempt is logged here. `renew-now` reports failures itself, each once, with
    /// its exit code; the daemon has nobody else to tell.
    public var logsFailures = true

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
        }
        var next = Int64.max
        for index in config.certificates.indices { next = min(next, due(index, now: now)) }
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
            let what = installed == nil ? "no certificate is installed at " + certificate.paths.certificate
                : "the certificate expired at " + CivilTime(unixSeconds: installed!.notAfter).description
            state.lastResult = "failed: " + what + " and no challenge_file is configured to enroll: add challenge_file to [cert "
                + certificate.name + "] in " + config.path + " (no CA was contacted)"
            // Nothing a CA said: the configuration lacks what enrolling needs.
            lastFailureCodes[index] = .config
            state.consecutiveFailures += 1
            state.totalFailures += 1
            state.nextDue = RenewalPlanner.retryTime(now: now, failures: state.consecutiveFailures, policy: policy, uniform: uniform())
            if logsFailures { log.error(certificate.name + ": " + state.lastResult!) }
        } else {
            log.notice(certificate.name + ": " + (reenroll ? (installed == nil ? "enrolling" : "certificate expired, enrolling again") : "renewing"))
            let result = source.obtain(certificate, reenroll: reenroll)
            switch result.kind {
            case .issued:
                let issued = result.certificate!
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
                if logsFailures { log.error(certificate.name + ": " + result.reason + "; retrying at " + CivilTime(unixSeconds: state.nextDue!).description) }
            }
        }
        states[index] = state
        onStateChange(certificate.name, state)
    }
}
