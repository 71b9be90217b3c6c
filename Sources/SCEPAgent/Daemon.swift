import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

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

/// Where certificates come from and go to: the real one reads the installed files and talks SCEP;
/// the clock-twin tests supply one that issues in simulated time.
public protocol CertificateSource: AnyObject {
    /// The certificate installed now, or nil when there is none (or it cannot be read).
    func installed(_ config: CertConfig) -> InstalledCertificate?
    /// Enrolls with the challenge (`reenroll`: no usable certificate) or renews, trusting `trust`;
    /// installs on success. `challengeLearned`: `renew_with_challenge = auto` learned that the CA wants
    /// the challenge on renewals (`CertState.renewNeedsChallenge`); a result that learns it says so.
    func obtain(_ config: CertConfig, reenroll: Bool, trust: CATrust, challengeLearned: Bool) -> AttemptResult
    /// Asks which CA is in use and, once it ends within `ca_rollover`, for its successor (GetNextCACert,
    /// verified); installs `ca` anew (and runs post_renew) when what it should hold changed.
    /// `attempt`: the attempt made just before in the same pass, whose discovery (GetCACaps, GetCACert,
    /// verified under the same trust) is used rather than asked again.
    func checkCA(_ config: CertConfig, trust: CATrust, after attempt: AttemptResult?) -> CACheck
    /// Gives up a PENDING request (`pending_max`): its saved key and transactionID are discarded.
    func abandonPending(_ config: CertConfig)
    /// At start-up, before anything else: finishes what a killed run left (a token key's relabel; the
    /// files were rolled forward already when `filesRolledForward`) and runs post_renew when either
    /// installed a new set, so services reload it now rather than at the next renewal.
    func finishInterrupted(_ config: CertConfig, filesRolledForward: Bool)
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
    /// Whether a failed attempt is logged here. `renew-now` reports failures itself, each once, with
    /// its exit code; the daemon has nobody else to tell.
    public var logsFailures = true

    public init(config: AgentConfig, source: CertificateSource, states: [CertState], clock: Clock, random: RandomGenerator, log: Log) {
        precondition(states.count == config.certificates.count, "one state per certificate")
        self.config = config
        self.source = source
        self.states = states
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
        // GetCACert serving the successor proves nothing (the successor is public, GetCACert unsigned): the
        // switch is recorded once the successor has issued us a certificate that verified under it, or
        // once the current CA has expired (then nothing else could be trusted anyway). Until then a
        // forged GetCACert cannot move the pin.
        let switching = fingerprint == state.nextCA
        if switching && checked && !(state.caNotAfter.map { now >= $0 } ?? false) {
            log.info(certificate.name + ": GetCACert served the CA's successor; the pin moves to it once it issues a certificate or the current CA ends")
            state.caCheckDue = RenewalPlanner.caCheckTime(now: now, caNotAfter: state.caNotAfter ?? ca.notAfter, window: certificate.caRollover,
                                                          successorKnown: true, previousNotAfter: state.previousCANotAfter, policy: certificate.renewal,
                                                          uniform: uniform())
            return
        }
        if switching {
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

    func checkCA(_ index: Int, now: Int64, after attempt: AttemptResult?) {
        let certificate = config.certificates[index]
        var state = states[index]
        let result = source.checkCA(certificate, trust: trust(index), after: attempt)
        if let ca = result.ca {
            recordCA(ca, successor: result.successor, state: &state, certificate: certificate, now: now, checked: true)
            state.caCheckResult = .checked(ca: ca.fingerprint, successor: state.nextCA.flatMap { Hex.decode($0) })
        } else {
            state.caCheckResult = .failed(result.reason, code: result.code)
            state.caCheckDue = now + RenewalPlanner.jittered(RenewalPlanner.caCheckInterval, uniform())
            if logsFailures {
                log.warning(certificate.name + ": CA rollover check failed: " + result.reason + "; checking again at " + CivilTime(unixSeconds: state.caCheckDue!).description)
            }
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

    /// Why the clock cannot be trusted at `now`, or nil when it can: before the build, nothing is acted on.
    public func insaneClockReason(now: Int64) -> String? {
        guard now < earliestSaneTime else { return nil }
        return "system time " + CivilTime(unixSeconds: now).description + " is before this build: waiting for the clock to be set"
    }

    /// Why certificate `index` waits at `now`: its installed certificate is not valid yet (beyond the
    /// clock skew). Only that certificate waits; the others go on.
    public func notYetValidReason(_ index: Int, now: Int64) -> (reason: AttemptResult, until: Int64)? {
        let certificate = config.certificates[index]
        guard let installed = source.installed(certificate), now + Certificate.clockSkewSeconds < installed.notBefore else { return nil }
        return (.waiting(systemTime: now, notBefore: installed.notBefore), installed.notBefore - Certificate.clockSkewSeconds)
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
            states[index].recordIssued(installed)
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
                    log.warning(name + ": " + reason.description)
                    states[index].lastResult = reason
                    onStateChange(name, states[index])
                }
                next = min(next, until)
                continue
            }
            let attempt = force.contains(name) || due(index, now: now) <= now ? attempt(index, now: now) : nil
            if force.contains(name) || caDue(index, now: now) <= now { checkCA(index, now: now, after: attempt) }
            next = min(next, due(index, now: now), caDue(index, now: now))
        }
        return next
    }

    /// Attempts certificate `index` and records the result. Returns what the source reported (nil when no
    /// CA was asked), for the CA check that may follow in the same pass.
    @discardableResult
    func attempt(_ index: Int, now: Int64) -> AttemptResult? {
        let certificate = config.certificates[index]
        let policy = certificate.renewal
        var state = states[index]
        let installed = source.installed(certificate)
        let reenroll = installed == nil || installed!.notAfter <= now
        state.lastAttempt = now
        var obtained: AttemptResult? = nil
        if let since = state.pendingSince, now - since >= policy.pendingMax {
            // The CA never decided: a new request (new key, new transaction) follows on the failure schedule.
            source.abandonPending(certificate)
            state.pendingTransaction = nil
            state.pendingSince = nil
            state.pendingPolls = 0
            fail(&state, index, "the request was still PENDING after pending_max (" + String(policy.pendingMax) + " s, since "
                + CivilTime(unixSeconds: since).description + "): gave it up and discarded its key; a new request follows")
        } else if reenroll && certificate.challengeFile == nil {
            let what = installed == nil ? "no certificate is installed at " + certificate.paths.certificate
                : "the certificate expired at " + CivilTime(unixSeconds: installed!.notAfter).description
            // Nothing a CA said: the configuration lacks what enrolling needs.
            fail(&state, index, what + " and no challenge_file is configured to enroll: add challenge_file to [cert "
                + certificate.name + "] in " + config.path + " (no CA was contacted)", code: .config)
        } else {
            log.notice(certificate.name + ": " + (reenroll ? (installed == nil ? "enrolling" : "certificate expired, enrolling again") : "renewing"))
            let result = source.obtain(certificate, reenroll: reenroll, trust: trust(index), challengeLearned: state.renewNeedsChallenge != nil)
            obtained = result
            // Every time below counts from the end of the attempt, which may have taken minutes.
            let after = clock.now()
            switch result.kind {
            case .issued:
                let issued = result.certificate!
                if let ca = result.ca { recordCA(ca, successor: nil, state: &state, certificate: certificate, now: after, checked: false) }
                state.recordIssued(issued)
                if let ca = result.challengeNeededBy { state.renewNeedsChallenge = Hex.encode(ca) }
                state.lastSuccess = after
                state.scheduledFor = issued.serial
                let planned = RenewalPlanner.renewalTime(notBefore: issued.notBefore, notAfter: issued.notAfter, policy: policy, uniform: uniform())
                let floor = after + RenewalPlanner.minimumInterval(notBefore: issued.notBefore, notAfter: issued.notAfter, policy: policy)
                if planned <= after {
                    // Due the moment it was issued: the clock (or the CA) is wrong. Renewing again would
                    // only repeat it: back off on the failure schedule, and never below the floor.
                    state.issuedAlreadyDue += 1
                    state.nextDue = max(RenewalPlanner.retryTime(now: after, failures: state.issuedAlreadyDue, policy: policy, uniform: uniform()), floor)
                    state.lastResult?.systemTime = after
                    state.lastResult?.backingOffUntil = state.nextDue
                    log.warning(certificate.name + ": " + state.lastResult!.description)
                } else {
                    state.issuedAlreadyDue = 0
                    state.nextDue = max(planned, floor)
                    log.notice(certificate.name + ": issued serial " + issued.serial + ", valid until " + CivilTime(unixSeconds: issued.notAfter).description
                        + "; next renewal " + CivilTime(unixSeconds: state.nextDue!).description)
                }
            case .pending:
                // The request's own words go to pendingTransaction.
                state.lastResult = AttemptResult(kind: .pending)
                if state.pendingSince == nil { state.pendingSince = after }
                state.pendingTransaction = result.reason
                state.pendingPolls += 1
                state.nextDue = RenewalPlanner.pollTime(now: after, polls: state.pendingPolls, policy: policy, uniform: uniform())
                log.notice(certificate.name + ": PENDING; polling again at " + CivilTime(unixSeconds: state.nextDue!).description)
            case .failed:
                if result.code == .serverFailure {
                    // The CA's FAILURE ends a PENDING transaction: its key is gone (see OneShot).
                    state.pendingTransaction = nil
                    state.pendingSince = nil
                    state.pendingPolls = 0
                }
                fail(&state, index, result.reason, code: result.code, now: after)
            case .waiting:
                preconditionFailure("a source never waits: the engine does, before asking it")
            }
        }
        states[index] = state
        onStateChange(certificate.name, state)
        return obtained
    }

    /// Records a failed attempt and plans the retry on the failure schedule.
    func fail(_ state: inout CertState, _ index: Int, _ reason: String, code: SCEPError.Code? = nil, now: Int64? = nil) {
        let certificate = config.certificates[index]
        state.lastResult = .failed(reason, code: code)
        state.consecutiveFailures += 1
        state.totalFailures += 1
        state.nextDue = RenewalPlanner.retryTime(now: now ?? clock.now(), failures: state.consecutiveFailures, policy: certificate.renewal, uniform: uniform())
        if logsFailures { log.error(certificate.name + ": " + reason + "; retrying at " + CivilTime(unixSeconds: state.nextDue!).description) }
    }
}
