import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// `scep-agent run`: keeps every configured certificate valid until SIGTERM.
public final class DaemonRunner {
    let config: AgentConfig
    let clock: Clock
    let random: RandomGenerator
    let log: Log
    let source: CertificateSource

    /// For people and scripts only: `renew-now` learns the daemon's pid from its lock, which a crash
    /// cannot leave behind held (see `runningDaemon`).
    public var pidFilePath: String { config.stateDirectory + "/scep-agent.pid" }
    /// Held (flock) by the daemon for its lifetime, and carrying its pid.
    public static func lockPath(stateDirectory: String) -> String { stateDirectory + "/daemon.lock" }
    public static func renewRequestPath(stateDirectory: String) -> String { stateDirectory + "/renew-now.request" }
    /// How often to look again while the clock is not sane (a clock set also wakes the wait).
    static let clockRecheckMilliseconds: Int64 = 60_000
    /// The longest one sleep lasts (6 h). The wait is on the wall clock and wakes when the clock is set
    /// (see `SignalWaiter`); the cap is a belt and braces for what the kernel may not report (a clock
    /// that drifts rather than steps): on waking the daemon plans again.
    public static let maxSleepSeconds: Int64 = 6 * 3600

    /// Milliseconds to sleep at `now` (Unix seconds) when the next thing is due at `next` (`Int64.max`:
    /// nothing is due): the time left, at most `maxSleepSeconds`, never negative.
    public static func sleepMilliseconds(until next: Int64, now: Int64) -> Int64 {
        let (left, overflow) = next.subtractingReportingOverflow(now)
        let seconds = overflow ? (next < now ? 0 : maxSleepSeconds) : min(max(left, 0), maxSleepSeconds)
        return seconds * 1000
    }

    public init(config: AgentConfig, source: CertificateSource, clock: Clock, random: RandomGenerator, log: Log) {
        self.config = config
        self.source = source
        self.clock = clock
        self.random = random
        self.log = log
    }

    /// Loads every certificate's state (creating the state directory, 0700, and refusing one that is
    /// not ours alone), after finishing any install a crash interrupted, so what the daemon reads is
    /// always one complete set. Recovery holds the set's lock: it must not race another agent's install.
    /// `rolledForward` is told each certificate whose set was rolled forward.
    public static func loadStates(_ config: AgentConfig, log: Log, rolledForward: (CertConfig) -> Void = { _ in }) throws(SCEPError) -> [CertState] {
        try requireStateDirectory(config.stateDirectory)
        var states: [CertState] = []
        for certificate in config.certificates {
            let store = CredentialStore(certificatePath: certificate.paths.certificate)
            let statePath = CertState.path(stateDirectory: config.stateDirectory, name: certificate.name)
            if try store.recoverLocked(targets: certificate.paths.all) {
                // The state may predate the set it describes.
                try FileSystem.remove(statePath)
                rolledForward(certificate)
            }
            // A state write killed before its rename: the state file itself is the old one, whole.
            try FileSystem.remove(statePath + ".tmp")
            var state = try CertState.load(statePath, log: log)
            try state.adoptRenewNeedsChallengeFile(stateDirectory: config.stateDirectory, name: certificate.name, savingTo: statePath)
            states.append(state)
        }
        return states
    }

    /// The state directory holds trust material (the next CA's pin, schedules, pending requests).
    static func requireStateDirectory(_ stateDirectory: String) throws(SCEPError) {
        try FileSystem.requireTrustedDirectory(stateDirectory, what: "state_dir")
    }

    /// The pid of the daemon running with `stateDirectory`, or nil when none runs: a non-blocking
    /// probe of the daemon's lock, which dies with the daemon, unlike a pid file that a crash leaves
    /// naming whatever process gets that pid next.
    /// - Throws: `fileIO` for a lock file that is not ours (see `FileSystem.openTrusted`), or held
    ///   by a daemon that has not written its pid yet.
    public static func runningDaemon(stateDirectory: String) throws(SCEPError) -> Int32? {
        try requireStateDirectory(stateDirectory)
        let path = lockPath(stateDirectory: stateDirectory)
        guard FileSystem.exists(path) else { return nil }
        guard let text = try LockFile.holderContents(path, limit: 64, what: "daemon lock") else { return nil }
        guard let pid = ASCII.signed(ASCII.trimmed(String(decoding: text, as: UTF8.self))).flatMap(Int32.init(exactly:)), pid > 0 else {
            throw SCEPError(.fileIO, "a daemon holds " + path + " but has not written its pid there yet (it is starting): try again in a moment")
        }
        return pid
    }

    /// Runs until SIGTERM or SIGINT. Returns normally after a clean stop.
    public func run() throws(SCEPError) {
        let waiter = try SignalWaiter(fallbackWaitMilliseconds: Self.maxSleepSeconds * 1000)
        // The lock first: a second daemon must not recover (or remove the temporaries of) an install
        // the running one is in the middle of.
        try Self.requireStateDirectory(config.stateDirectory)
        let lockPath = Self.lockPath(stateDirectory: config.stateDirectory)
        let lock = try LockFile(exclusive: lockPath, what: "daemon lock") { [config] _ in
            SCEPError(.fileIO, "another scep-agent daemon already runs with state_dir " + config.stateDirectory)
        }
        defer { lock.release() }
        // The pid goes into the lock it is tied to: renew-now reads it only while the lock is held.
        try lock.replaceContents(Array((String(ProcessControl.currentID) + "\n").utf8))
        var rolledForward: [String] = []
        let states = try Self.loadStates(config, log: log) { rolledForward.append($0.name) }
        for certificate in config.certificates {
            source.finishInterrupted(certificate, filesRolledForward: rolledForward.contains(certificate.name))
        }
        try FileSystem.replaceAtomically(pidFilePath, Array((String(ProcessControl.currentID) + "\n").utf8), mode: 0o644)
        defer { try? FileSystem.remove(pidFilePath) }

        let engine = RenewalEngine(config: config, source: source, states: states, clock: clock, random: random, log: log)
        engine.onStateChange = { [config, log] name, state in
            do throws(SCEPError) {
                try state.save(CertState.path(stateDirectory: config.stateDirectory, name: name))
            } catch {
                log.error("cannot save state of " + name + ": " + error.reason)
            }
        }
        let notifier = SystemdNotifier()
        notifier.send("READY=1")
        log.notice("daemon started: " + String(config.certificates.count) + " certificate(s), state in " + config.stateDirectory)
        var force: [String] = []
        // systemd's reload (ExecReload sends SIGHUP) lasts from RELOADING=1 until the next READY=1.
        var reloading = false
        var clockWarned = false
        while true {
            let now = clock.now()
            let sleepMilliseconds: Int64
            if let reason = engine.insaneClockReason(now: now) {
                if !clockWarned { log.warning(reason) }
                clockWarned = true
                notifier.send("STATUS=" + reason)
                sleepMilliseconds = Self.clockRecheckMilliseconds
            } else {
                clockWarned = false
                let next = engine.runDue(now: now, force: force)
                force = []
                Metrics.write(config: config, engine: engine, source: source, log: log)
                notifier.send("STATUS=" + Self.summary(engine, next: next))
                sleepMilliseconds = Self.sleepMilliseconds(until: next, now: clock.now())
            }
            if reloading {
                notifier.send("READY=1")
                reloading = false
            }
            let watchdog = notifier.watchdogIntervalMilliseconds
            if watchdog != nil { notifier.send("WATCHDOG=1") }
            switch waiter.wait(until: clock.now() + (sleepMilliseconds + 999) / 1000, milliseconds: watchdog) {
            case .timeout:
                continue
            case .clockChanged:
                log.notice("the system clock was set: planning again")
            case .reload:
                force = readRenewRequest()
                log.notice("SIGHUP: renewing " + force.joined(separator: ", ") + " now")
                notifier.send("RELOADING=1")
                reloading = true
            case .stop:
                notifier.send("STOPPING=1")
                log.notice("stopping")
                return
            }
        }
    }

    /// The names `renew-now` asked for (all when none were named), consuming the request.
    func readRenewRequest() -> [String] {
        let path = Self.renewRequestPath(stateDirectory: config.stateDirectory)
        let all = config.certificates.map { $0.name }
        guard let bytes = try? FileSystem.readTrusted(path, limit: 64 * 1024, what: "renew request") else { return all }
        try? FileSystem.remove(path)
        let names = bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }.filter { all.contains($0) }
        return names.isEmpty ? all : names
    }

    static func summary(_ engine: RenewalEngine, next: Int64) -> String {
        var parts: [String] = []
        for (index, certificate) in engine.config.certificates.enumerated() {
            parts.append(certificate.name + ": " + (engine.states[index].lastResult?.description ?? "waiting"))
        }
        return parts.joined(separator: "; ") + (next == Int64.max ? "" : "; next " + CivilTime(unixSeconds: next).description)
    }
}

/// The optional Prometheus text file for node_exporter's textfile collector.
public enum Metrics {
    public static func render(config: AgentConfig, states: [CertState], installed: [InstalledCertificate?]) -> String {
        var text = ""
        let names = config.certificates.map { $0.name }
        family(&text, names, "scep_agent_certificate_expiry_timestamp_seconds", "gauge", "notAfter of the installed certificate.",
               installed.map { CertState.text($0?.notAfter) })
        family(&text, names, "scep_agent_last_success_timestamp_seconds", "gauge", "When a certificate was last issued.", states.map { CertState.text($0.lastSuccess) })
        family(&text, names, "scep_agent_next_renewal_timestamp_seconds", "gauge", "When the agent acts next.", states.map { CertState.text($0.nextDue) })
        family(&text, names, "scep_agent_failures_total", "counter", "Failed enrollment or renewal attempts.", states.map { String($0.totalFailures) })
        family(&text, names, "scep_agent_consecutive_failures", "gauge", "Failures since the last success.", states.map { String($0.consecutiveFailures) })
        family(&text, names, "scep_agent_issued_already_due", "gauge", "Certificates issued in a row that were due at once (clock or CA wrong).",
               states.map { String($0.issuedAlreadyDue) })
        family(&text, names, "scep_agent_ca_not_after_timestamp_seconds", "gauge", "notAfter of the CA in use.", states.map { CertState.text($0.caNotAfter) })
        family(&text, names, "scep_agent_next_ca_known", "gauge", "1 when the CA's successor (GetNextCACert) is known and verified.",
               states.map { $0.nextCA == nil ? "0" : "1" })
        return text
    }

    /// One metric family: a value per certificate (nil: none). Values, not closures: a closure per
    /// family would be a copy of this function per family in the firmware.
    static func family(_ text: inout String, _ names: [String], _ name: String, _ type: String, _ help: String, _ values: [String?]) {
        text += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n"
        for (certificate, value) in zip(names, values) {
            if let value { text += name + "{name=\"" + certificate + "\"} " + value + "\n" }
        }
    }

    static func write(config: AgentConfig, engine: RenewalEngine, source: CertificateSource, log: Log) {
        guard let path = config.metricsFile else { return }
        let text = render(config: config, states: engine.states, installed: config.certificates.map { source.installed($0) })
        do throws(SCEPError) {
            try FileSystem.replaceAtomically(path, Array(text.utf8), mode: 0o644, faultPoint: "daemon.metrics")
        } catch {
            log.warning("cannot write metrics file: " + error.reason)
        }
    }
}
