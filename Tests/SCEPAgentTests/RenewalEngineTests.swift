import DER
import Foundation
import SystemSupport
import Testing
import SCEPAgent
import SCEPClient
import SCEPCrypto
import SCEPMessages

/// Years of a gateway's life in milliseconds: the engine with a twin clock and a simulated CA.
@Suite struct RenewalEngineTests {
    /// Runs the engine the way the daemon does: act on what is due, jump to the next due time.
    func live(_ engine: RenewalEngine, clock: TwinClock, until end: Int64) {
        while clock.current < end {
            let next = engine.runDue(now: clock.current)
            clock.current = max(next, clock.current + 1)
        }
    }

    @Test func oneSleepIsCappedSoAClockJumpOrSuspendDelaysARenewalByAtMostTheCap() {
        let now: Int64 = 1_800_000_000
        let cap = DaemonRunner.maxSleepSeconds
        #expect(cap == 6 * 3600)
        #expect(DaemonRunner.sleepMilliseconds(until: now + 90, now: now) == 90_000)
        #expect(DaemonRunner.sleepMilliseconds(until: now + cap, now: now) == cap * 1000)
        #expect(DaemonRunner.sleepMilliseconds(until: now + cap + 1, now: now) == cap * 1000)
        #expect(DaemonRunner.sleepMilliseconds(until: now + 365 * 86_400, now: now) == cap * 1000)
        #expect(DaemonRunner.sleepMilliseconds(until: Int64.max, now: now) == cap * 1000, "nothing due: wake up and plan again")
        #expect(DaemonRunner.sleepMilliseconds(until: Int64.max, now: -1) == cap * 1000, "no overflow")
        #expect(DaemonRunner.sleepMilliseconds(until: now, now: now) == 0)
        #expect(DaemonRunner.sleepMilliseconds(until: now - 600, now: now) == 0, "overdue: act at once")
        #expect(DaemonRunner.sleepMilliseconds(until: Int64.min, now: now) == 0)
    }

    @Test func tenYearsOfYearLongCertificatesNeverLapse() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + 10 * year)
        // Each renewal between (1 - jitter) × 0.66 and 0.66 of the lifetime after the previous issue.
        for (previous, next) in zip(ca.issued, ca.issued.dropFirst()) {
            let fraction = Double(next.notBefore - previous.notBefore) / Double(year)
            #expect(fraction >= 0.66 * 0.9 - 0.0001 && fraction <= 0.66 + 0.0001, "renewed at \(fraction) of the lifetime")
            #expect(next.notBefore < previous.notAfter, "never lapses")
        }
        #expect(ca.issued.count >= 15 && ca.issued.count <= 17)
        #expect(ca.attempts.filter { $0.reenroll }.count == 1, "only the first attempt enrolls")
    }

    @Test func jitterZeroRenewsExactlyAtRenewAt() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 100 * day)
        let engine = RenewalEngine(config: try config("jitter = 0\nrenew_at = 0.5"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + 200 * day)
        #expect(ca.issued.map { $0.notBefore - start } == [0, 50 * day, 100 * day, 150 * day])
    }

    @Test func outageIsRetriedWithCappedExponentialBackoff() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        let engine = RenewalEngine(config: try config("retry_min = 60\nretry_max = 1h"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        ca.downUntil = start + 2 * day
        live(engine, clock: clock, until: start + 3 * day)
        let failed = ca.attempts.filter { $0.time < ca.downUntil }
        let gaps = zip(failed, failed.dropFirst()).map { $1.time - $0.time }
        // 60 s doubling up to the 1 h cap, each jittered into [half, full].
        var expected: Int64 = 60
        for gap in gaps {
            #expect(gap >= expected / 2 && gap <= expected, "gap \(gap) for a backoff of \(expected)")
            expected = min(expected * 2, 3600)
        }
        #expect(gaps.count > 40, "two days of hourly retries")
        #expect(ca.issued.count == 1, "the first attempt after the outage succeeds")
        #expect(engine.states[0].consecutiveFailures == 0 && engine.states[0].totalFailures == failed.count)
    }

    @Test func pendingIsPolledOnItsOwnScheduleThenIssued() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        let engine = RenewalEngine(config: try config("poll_min = 5m\npoll_max = 20m"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        ca.pendingAnswers = 6
        live(engine, clock: clock, until: start + 1 * day)
        let gaps = zip(ca.attempts, ca.attempts.dropFirst()).prefix(6).map { $1.time - $0.time }
        let caps: [Int64] = [300, 600, 1200, 1200, 1200, 1200]
        for (gap, cap) in zip(gaps, caps) { #expect(gap >= cap / 2 && gap <= cap) }
        #expect(ca.issued.count == 1)
        #expect(engine.states[0].pendingTransaction == nil && engine.states[0].pendingPolls == 0)
    }

    @Test func expiredWhileOfflineIsEnrolledAgainWithTheChallenge() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 30 * day)
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        engine.runDue(now: clock.current)
        clock.current = start + 90 * day  // the device was switched off for three months
        engine.runDue(now: clock.current)
        #expect(ca.attempts.last?.reenroll == true)
        #expect(ca.issued.count == 2 && ca.issued[1].notBefore == clock.current)
    }

    @Test func expiredWithoutAChallengeIsReportedNotRetriedInALoop() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 30 * day)
        ca.installedCertificate = InstalledCertificate(notBefore: start - 60 * day, notAfter: start - 30 * day, serial: "1")
        let engine = RenewalEngine(config: try config(challenge: false), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + day)
        #expect(ca.attempts.isEmpty, "nothing can be sent without a challenge")
        #expect(engine.states[0].lastResult?.kind == .failed && engine.states[0].lastResult?.code == .config)
        #expect(engine.states[0].lastResult?.reason.contains("no challenge_file") == true)
        #expect(engine.states[0].consecutiveFailures < 20, "backoff keeps the retries few")
    }

    @Test func aClockBeforeTheBuildOrBeforeNotBeforeIsNotActedOn() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        #expect(engine.insaneClockReason(now: 0) != nil, "1970: no real-time clock yet")
        ca.installedCertificate = InstalledCertificate(notBefore: start + day, notAfter: start + year, serial: "1")
        #expect(engine.notYetValidReason(0, now: start) != nil, "a day before the certificate's notBefore")
        #expect(engine.runDue(now: start) == start + day - Certificate.clockSkewSeconds && ca.attempts.isEmpty, "waits for it")
        #expect(engine.notYetValidReason(0, now: start + day) == nil)
    }

    @Test func aCertificateInstalledBehindTheStatesBackIsPlannedFromNotRenewedAgain() throws {
        // A run killed after installing serial 2 but before saving the state: the state still says serial 1
        // is due now. The restart plans from serial 2 instead of renewing a certificate issued a moment ago.
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        ca.installedCertificate = InstalledCertificate(notBefore: start, notAfter: start + year, serial: "2")
        var stale = CertState()
        stale.nextDue = start - day
        stale.scheduledFor = "1"
        stale.lastResult = AttemptResult(kind: .pending)
        stale.pendingTransaction = "ABCD"
        let engine = RenewalEngine(config: try config("jitter = 0\nrenew_at = 0.5"), source: ca, states: [stale], clock: clock, random: try RandomGenerator(), log: .discarding())
        let next = engine.runDue(now: start)
        #expect(ca.attempts.isEmpty)
        #expect(next == start + year / 2)
        #expect(engine.states[0].scheduledFor == "2" && engine.states[0].pendingTransaction == nil)
        #expect(engine.states[0].lastResult == .issued(ca.installedCertificate!))
        #expect(engine.states[0].lastResult?.description == "issued serial 2")
    }

    @Test func aScheduleForTheInstalledCertificateIsKept() throws {
        // A retry after a failure keeps its time: the certificate it was planned for is still the one installed.
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        ca.installedCertificate = InstalledCertificate(notBefore: start - 300 * day, notAfter: start + 65 * day, serial: "1")
        var retrying = CertState()
        retrying.nextDue = start + 3600
        retrying.scheduledFor = "1"
        retrying.consecutiveFailures = 2
        let engine = RenewalEngine(config: try config(), source: ca, states: [retrying], clock: clock, random: try RandomGenerator(), log: .discarding())
        #expect(engine.runDue(now: start) == start + 3600)
        #expect(ca.attempts.isEmpty && engine.states[0].consecutiveFailures == 2)
    }

    @Test func tenYearsWithTwoCARolloversMissNeitherAndNoRenewalFailsThePin() throws {
        let clock = TwinClock(start)
        let first = SimulatedCACertificate(fingerprint: pinnedFingerprint, notAfter: start + 3 * year, publishedFrom: 0, servedFrom: 0)
        // Published 60 days ahead: the first check (30 days ahead by default) finds it.
        let second = SimulatedCACertificate(fingerprint: [UInt8](repeating: 2, count: 32), notAfter: start + 8 * year,
                                            publishedFrom: first.notAfter - 60 * day, servedFrom: first.notAfter - 7 * day)
        // Published only 20 days ahead: the daily checks inside the window find it.
        let third = SimulatedCACertificate(fingerprint: [UInt8](repeating: 3, count: 32), notAfter: start + 13 * year,
                                           publishedFrom: second.notAfter - 20 * day, servedFrom: second.notAfter - 5 * day)
        let ca = SimulatedCA(clock: clock, lifetime: year, cas: [first, second, third])
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        var pins: [(time: Int64, pin: String)] = []
        engine.onStateChange = { _, state in
            if let pin = state.caPin, pin != pins.last?.pin { pins.append((clock.current, pin)) }
        }
        live(engine, clock: clock, until: start + 10 * year)

        #expect(ca.pinFailures.count == 0, "no exchange met a CA it did not trust")
        #expect(ca.unpreparedSwitches.count == 0, "the ca file held each successor before the server switched to it")
        #expect(pins.map { $0.pin } == [Hex.encode(second.fingerprint), Hex.encode(third.fingerprint)], "both switches recorded, in order")
        #expect(pins[0].time >= second.servedFrom && pins[0].time <= first.notAfter, "the first switch is recorded by the old CA's end")
        #expect(pins[1].time >= third.servedFrom && pins[1].time <= second.notAfter, "the second too")
        for (previous, next) in zip(ca.issued, ca.issued.dropFirst()) { #expect(next.notBefore < previous.notAfter, "never lapses") }
        #expect(ca.issued.count >= 15, "renewals went on across both switches")
        #expect(ca.caFile == [third.fingerprint], "each old CA was dropped from ca when it expired")
        #expect(engine.states[0].nextCA == nil && engine.states[0].previousCA == nil)
        // Checks: one a year or so outside the windows, daily only while a successor is awaited.
        #expect(ca.caChecks.count < 60, "\(ca.caChecks.count) CA checks in ten years")
    }

    @Test func theCACheckAfterAnAttemptIsHandedItsResultToReuseItsDiscovery() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 30 * day)
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        engine.runDue(now: start)
        #expect(ca.attempts.count == 1 && ca.checkedAfter == [.issued], "the first pass enrolls, then checks the CA with the enrollment's result")
        engine.runDue(now: start + 1, force: ["wifi"])
        #expect(ca.checkedAfter == [.issued, .issued])
        // A check due on its own (the CA's schedule, no attempt in the pass) discovers for itself.
        var checkOnly = CertState()
        checkOnly.nextDue = start + year
        checkOnly.caCheckDue = start
        let alone = SimulatedCA(clock: clock, lifetime: 30 * day)
        RenewalEngine(config: try config(), source: alone, states: [checkOnly], clock: clock, random: try RandomGenerator(), log: .discarding()).runDue(now: start)
        #expect(alone.attempts.isEmpty && alone.checkedAfter == [nil])
    }

    @Test func theCAsWishForTheChallengeIsLearnedOnceAndKeptInTheState() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 30 * day)
        ca.wantsTheChallenge = true
        let engine = RenewalEngine(config: try config("renew_with_challenge = auto"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(),
                                   log: .discarding())
        live(engine, clock: clock, until: start + 70 * day)
        #expect(ca.renewalsToldTheChallengeIsNeeded == [false, false, true, true], "enrolled, renewed (learning it), renewed twice knowing it")
        #expect(engine.states[0].renewNeedsChallenge == Hex.encode(pinnedFingerprint))
    }

    @Test func aFailedCACheckIsRetriedDailyAndDoesNotDelayRenewals() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 30 * day)
        ca.downUntil = start + 3 * day
        let engine = RenewalEngine(config: try config("retry_min = 1h\nretry_max = 1h"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + 4 * day)
        let failedChecks = ca.caChecks.filter { $0 < ca.downUntil }
        for (earlier, later) in zip(failedChecks, failedChecks.dropFirst()) { #expect(later - earlier >= day / 2 && later - earlier <= day) }
        #expect(engine.states[0].caNotAfter == start + 100 * year && engine.states[0].caCheckResult == .checked(ca: pinnedFingerprint, successor: nil))
        #expect(ca.issued.count == 1)
    }
}

/// 10,000 agents enrolled in the same second: the jitter must spread their renewals.
@Suite struct FleetTests {
    @Test func busiestMinuteStaysUnderThreeTimesTheMean() throws {
        let random = try RandomGenerator()
        let policy = RenewalPolicy(renewAt: 0.66, jitter: 0.1)
        func uniform() throws -> Double {
            let bytes = try random.bytes(8)
            return Double(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 11) / Double(UInt64(1) << 53)
        }
        // One-day certificates (scepserver -crtvalid 1), three generations of renewals.
        var renewals: [Int64] = []
        for _ in 0..<10_000 {
            var notBefore = start
            for _ in 0..<3 {
                let due = RenewalPlanner.renewalTime(notBefore: notBefore, notAfter: notBefore + day, policy: policy, uniform: try uniform())
                renewals.append(due)
                notBefore = due
            }
        }
        let firstGeneration = Array(renewals.enumerated().filter { $0.offset % 3 == 0 }.map { $0.element })
        let minutes = Dictionary(grouping: firstGeneration, by: { $0 / 60 }).mapValues { $0.count }
        let span = (firstGeneration.max()! - firstGeneration.min()!) / 60 + 1
        let mean = Double(firstGeneration.count) / Double(span)
        let busiest = minutes.values.max()!
        print("fleet: 10000 agents enrolled at once, first renewals spread over \(span) min; mean \(String(format: "%.1f", mean))/min, busiest minute \(busiest) (\(String(format: "%.2f", Double(busiest) / mean))x)")
        #expect(Double(busiest) < 3 * mean)
        // Without jitter they would all renew in the same second.
        let unjittered = RenewalPlanner.renewalTime(notBefore: start, notAfter: start + day, policy: RenewalPolicy(renewAt: 0.66, jitter: 0), uniform: 0.5)
        #expect(unjittered == start + Int64(Double(day) * 0.66))
    }
}

/// Issue 19: a clock or a CA that is wrong never makes the daemon storm, and one certificate's wait
/// never holds up another's.
@Suite struct RenewalFloorTests {
    func live(_ engine: RenewalEngine, clock: TwinClock, until end: Int64) {
        while clock.current < end {
            let next = engine.runDue(now: clock.current)
            clock.current = max(next, clock.current + 1)
        }
    }

    @Test func aClockFarAheadGetsOneCertificateThenTheFloorNotAStorm() throws {
        // The device's clock is 300 days ahead of the CA's: every year-long certificate is past its
        // renew_at the moment it is issued. The old engine renewed again at once, in a loop.
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        ca.behind = 300 * day
        let engine = RenewalEngine(config: try config(), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + 30 * day)
        #expect(ca.issued.count == 1, "one certificate in 30 days, not one per loop")
        let state = engine.states[0]
        #expect(state.issuedAlreadyDue == 1)
        #expect(state.lastResult?.kind == .issued && state.lastResult?.backingOffUntil == state.nextDue && state.lastResult?.systemTime != nil)
        #expect(state.lastResult?.description.contains("the clock or the CA is wrong") == true)
        #expect(state.nextDue! >= start + year / 10, "never more often than 10% of the lifetime")
        let metrics = Metrics.render(config: engine.config, states: engine.states, installed: [ca.installedCertificate])
        #expect(metrics.contains("scep_agent_issued_already_due{name=\"wifi\"} 1"))
        live(engine, clock: clock, until: start + 2 * year)
        let gaps = zip(ca.issued, ca.issued.dropFirst()).map { $1.notBefore - $0.notBefore }
        #expect(gaps.allSatisfy { $0 >= year / 10 }, "gaps \(gaps)")
    }

    @Test func aCertificateIsNeverRenewedMoreOftenThanTheMinimumInterval() throws {
        // renew_at of a thousandth of an hour-long certificate would renew every 3.6 s: the floor is an hour.
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: 3600)
        let engine = RenewalEngine(config: try config("renew_at = 0.001\njitter = 0"), source: ca, states: [CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        live(engine, clock: clock, until: start + day)
        #expect(ca.issued.count == 24 || ca.issued.count == 25)
        #expect(zip(ca.issued, ca.issued.dropFirst()).allSatisfy { $1.notBefore - $0.notBefore >= 3600 })
        #expect(RenewalPlanner.minimumInterval(notBefore: 0, notAfter: year, policy: RenewalPolicy()) == year / 10)
        #expect(RenewalPlanner.minimumInterval(notBefore: 0, notAfter: day, policy: RenewalPolicy()) == 8640)
        #expect(RenewalPlanner.minimumInterval(notBefore: 0, notAfter: 600, policy: RenewalPolicy()) == 3600)
        let configured = try config("min_renewal_interval = 5s")
        #expect(configured.certificates[0].renewal.minInterval == 5)
    }

    @Test func pendingMaxEndsAPendingRequestAndANewOneFollows() throws {
        let clock = TwinClock(start)
        let ca = SimulatedCA(clock: clock, lifetime: year)
        ca.pendingAnswers = 1_000_000
        let engine = RenewalEngine(config: try config("poll_min = 1h\npoll_max = 1h\npending_max = 1d\nretry_min = 1h\nretry_max = 1h"), source: ca, states: [CertState()],
                                   clock: clock, random: try RandomGenerator(), log: .discarding())
        #expect(engine.config.certificates[0].renewal.pendingMax == day)
        live(engine, clock: clock, until: start + day + 2 * 3600)
        #expect(ca.abandoned == 1)
        let ended = engine.states[0]
        #expect(ended.lastResult?.reason.contains("pending_max") == true || ended.pendingPolls > 0, "\(ended.lastResult?.description ?? "")")
        // After pending_max: given up once, then a new request (and its own pending_max) starts.
        let pollsInFirstDay = ca.attempts.filter { $0.time < start + day }.count
        #expect(pollsInFirstDay >= 24 && pollsInFirstDay <= 48)
        #expect(RenewalPolicy().pendingMax == 7 * day, "documented default")
        live(engine, clock: clock, until: start + 3 * day)
        #expect(ca.abandoned == 2 || ca.abandoned == 3)
    }

    @Test func aCertificateNotValidYetWaitsAloneWhileTheOtherRenews() throws {
        let clock = TwinClock(start)
        let future = SimulatedCA(clock: clock, lifetime: year)
        future.installedCertificate = InstalledCertificate(notBefore: start + 30 * day, notAfter: start + year, serial: "9")
        final class Two: CertificateSource {
            let a: SimulatedCA, b: SimulatedCA
            init(_ a: SimulatedCA, _ b: SimulatedCA) { self.a = a; self.b = b }
            func pick(_ config: CertConfig) -> SimulatedCA { config.name == "wifi" ? a : b }
            func installed(_ config: CertConfig) -> InstalledCertificate? { pick(config).installed(config) }
            func obtain(_ config: CertConfig, reenroll: Bool, trust: CATrust, challengeLearned: Bool) -> AttemptResult {
                pick(config).obtain(config, reenroll: reenroll, trust: trust, challengeLearned: challengeLearned)
            }
            func checkCA(_ config: CertConfig, trust: CATrust, after attempt: AttemptResult?) -> CACheck { pick(config).checkCA(config, trust: trust, after: attempt) }
            func abandonPending(_ config: CertConfig) {}
            func finishInterrupted(_ config: CertConfig, filesRolledForward: Bool) {}
        }
        let other = SimulatedCA(clock: clock, lifetime: day)
        let text = try config("""
            [cert vpn]
            url = http://127.0.0.1:1/scep
            ca_fingerprint = \(String(repeating: "ab", count: 32))
            subject = CN=gw-0042
            key = /nonexistent/vpn.pem
            cert = /nonexistent/vpn-cert.pem
            challenge_file = /nonexistent/challenge
            """)
        let engine = RenewalEngine(config: text, source: Two(future, other), states: [CertState(), CertState()], clock: clock, random: try RandomGenerator(), log: .discarding())
        #expect(engine.insaneClockReason(now: start) == nil, "a certificate ahead of the clock pauses only itself")
        live(engine, clock: clock, until: start + 10 * day)
        #expect(future.attempts.isEmpty)
        #expect(engine.states[0].lastResult?.kind == .waiting && engine.states[0].lastResult?.notBefore == start + 30 * day)
        #expect(engine.states[0].lastResult?.description.contains("notBefore") == true)
        #expect(other.issued.count >= 10, "the other certificate renews every ~0.66 day")
    }
}

/// The daemon's wait: a wall-clock timer that a clock set wakes (TFD_TIMER_CANCEL_ON_SET).
@Suite(.serialized) struct SignalWaiterTests {
    /// adjtimex(2) with ADJ_SETOFFSET of one nanosecond forward: a clock set that nothing else on this
    /// machine notices (a zero offset is not reported to timers: the kernel sees no change). Glibc's
    /// Swift module lacks <sys/timex.h>: a zeroed struct timex (208 bytes on 64-bit Linux) with `modes`
    /// (offset 0) and `time.tv_usec` (offset 80, nanoseconds with ADJ_NANO) set.
    static func stepClockOneNanosecond() -> Bool {
        typealias AdjTimex = @convention(c) (UnsafeMutableRawPointer) -> Int32
        guard let symbol = dlsym(nil, "adjtimex") else { return false }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        buffer.storeBytes(of: UInt32(0x0100 | 0x2000), as: UInt32.self)  // ADJ_SETOFFSET | ADJ_NANO
        buffer.storeBytes(of: Int(1), toByteOffset: 80, as: Int.self)
        return unsafeBitCast(symbol, to: AdjTimex.self)(buffer) >= 0
    }

    @Test func aClockSetWakesTheWaitAtOnce() throws {
        guard MemoryLayout<Int>.size == 8, Self.stepClockOneNanosecond() else {
            print("skipped: setting the clock needs CAP_SYS_TIME")
            return
        }
        let waiter = try SignalWaiter(fallbackWaitMilliseconds: DaemonRunner.maxSleepSeconds * 1000)
        let setter = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            _ = Self.stepClockOneNanosecond()
        }
        let started = Date()
        setter.start()
        // An hour away: only the clock set can end this wait within the test.
        let event = waiter.wait(until: SystemClock().now() + 3600)
        #expect(event == .clockChanged)
        #expect(Date().timeIntervalSince(started) < 60)
    }

    @Test func aPastDeadlineWakesAtOnceAndTheMonotonicLimitAlsoEndsTheWait() throws {
        let waiter = try SignalWaiter(fallbackWaitMilliseconds: DaemonRunner.maxSleepSeconds * 1000)
        #expect(waiter.wait(until: SystemClock().now() - 10) == .timeout)
        #expect(waiter.wait(until: SystemClock().now() + 3600, milliseconds: 50) == .timeout)
    }
}
