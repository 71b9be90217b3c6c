import DER
import SCEPAgent
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// `run`, `status`, `check-config` and `renew-now`: the commands that read a configuration file.
enum DaemonCommands {
    static let syslogIdentity: StaticString = "scep-agent"

    static func load(_ args: Arguments) throws(SCEPError) -> AgentConfig {
        try AgentConfig.load(try args.required("--config"))
    }

    /// The log the configuration asks for: stderr (journal priorities under systemd) or syslog.
    static func log(_ config: AgentConfig, _ args: Arguments) -> Log {
        let console = Console.log(verbose: args.has("--verbose"), quiet: args.has("--quiet"))
        guard config.log == .syslog else { return console }
        return Log.syslog(identity: syslogIdentity, threshold: console.threshold)
    }

    static func transport(for certificate: CertConfig) -> Transport {
        var options = HTTPClientOptions()
        options.tlsCAFile = certificate.tlsCA
        options.proxy = certificate.proxy
        options.totalTimeoutMs = Int(certificate.timeout * 1000)
        return HTTPClient(options: options)
    }

    static func source(_ config: AgentConfig, _ log: Log, _ clock: SystemClock, _ random: RandomGenerator) -> SCEPCertificateSource {
        SCEPCertificateSource(clock: clock, random: random, log: log, makeTransport: transport(for:))
    }

    static func run(_ args: Arguments) throws(SCEPError) {
        let config = try load(args)
        let log = log(config, args)
        let clock = SystemClock()
        let random = try RandomGenerator()
        try DaemonRunner(config: config, source: source(config, log, clock, random), clock: clock, random: random, log: log).run()
    }

    static func checkConfig(_ args: Arguments) throws(SCEPError) {
        let path = try args.required("--config")
        // Every error at once, in file order: the last one is thrown, so it too is printed once and sets the exit code.
        let problems = try AgentConfig.check(path)
        for problem in problems.dropLast() { Console.report(problem) }
        if let last = problems.last { throw last }
        let config = try AgentConfig.load(path)
        for certificate in config.certificates {
            Console.out("[cert " + certificate.name + "] " + certificate.subject.description + " from " + certificate.url.description
                + (certificate.caFingerprint == nil ? " (CA NOT PINNED)" : "") + ", renew at " + fraction(certificate.renewal.renewAt)
                + " of the lifetime, jitter " + fraction(certificate.renewal.jitter))
        }
        if let board = config.board { Console.out("[board] " + board.name + " (" + board.arch + ", " + board.keyBackend + " keys)") }
        Console.out(config.path + ": OK")
    }

    static func fraction(_ value: Double) -> String {
        let hundredths = Int(value * 100 + 0.5)
        return String(hundredths / 100) + "." + (hundredths % 100 < 10 ? "0" : "") + String(hundredths % 100)
    }

    static func status(_ args: Arguments) throws(SCEPError) {
        let config = try load(args)
        let now = SystemClock().now()
        let log = log(config, args)
        var objects: [JSONObject] = []
        for certificate in config.certificates {
            let state = try CertState.load(CertState.path(stateDirectory: config.stateDirectory, name: certificate.name), log: log)
            let installed = FileSystem.exists(certificate.paths.certificate) ? try? CredentialFiles.loadCertificate(certificate.paths.certificate) : nil
            var object = JSONObject()
            object.set("name", certificate.name)
            object.set("key", certificate.paths.key.description)
            object.set("cert", certificate.paths.certificate)
            if let installed {
                object.set("subject", installed.subjectText)
                object.set("serial", Hex.encode(installed.serial))
                object.set("notAfter", CivilTime(unixSeconds: installed.notAfter).description)
                object.set("expired", installed.notAfter <= now)
            } else {
                object.set("subject", certificate.subject.description)
                object.set("installed", false)
            }
            if let due = state.nextDue { object.set("nextRenewal", CivilTime(unixSeconds: due).description) }
            if let attempt = state.lastAttempt { object.set("lastAttempt", CivilTime(unixSeconds: attempt).description) }
            if let result = state.lastResult { object.set("lastResult", result.description) }
            if let success = state.lastSuccess { object.set("lastSuccess", CivilTime(unixSeconds: success).description) }
            if let pending = state.pendingTransaction { object.set("pendingTransaction", pending) }
            object.set("consecutiveFailures", Int64(state.consecutiveFailures))
            object.set("totalFailures", Int64(state.totalFailures))
            object.set("issuedAlreadyDue", Int64(state.issuedAlreadyDue))
            object.set("ca", rolloverObject(state))
            objects.append(object)
            if !args.has("--json") {
                Console.out("[cert " + certificate.name + "]")
                if let installed {
                    Console.out("  subject       " + installed.subjectText)
                    Console.out("  serial        " + Hex.encode(installed.serial))
                    Console.out("  valid until   " + CivilTime(unixSeconds: installed.notAfter).description + (installed.notAfter <= now ? "  EXPIRED" : ""))
                } else {
                    Console.out("  no certificate installed at " + certificate.paths.certificate)
                }
                Console.out("  next renewal  " + (state.nextDue.map { CivilTime(unixSeconds: $0).description } ?? "when the daemon starts"))
                Console.out("  last attempt  " + (state.lastAttempt.map { CivilTime(unixSeconds: $0).description + ": " + (state.lastResult?.description ?? "") } ?? "none"))
                if state.consecutiveFailures > 0 { Console.out("  failures      " + String(state.consecutiveFailures) + " in a row") }
                if let end = state.caNotAfter {
                    Console.out("  CA until      " + CivilTime(unixSeconds: end).description + (state.nextCA.map { "; successor sha256 " + $0 } ?? "; successor not known"))
                }
                if let due = state.caCheckDue { Console.out("  CA check      " + CivilTime(unixSeconds: due).description + (state.caCheckResult.map { "; last " + $0.description } ?? "")) }
            }
        }
        if args.has("--json") {
            var root = JSONObject()
            root.set("config", config.path)
            root.set("certificates", objects: objects)
            Console.out(root.text)
        }
    }

    /// The CA rollover part of a certificate's state, for `status --json`.
    static func rolloverObject(_ state: CertState) -> JSONObject {
        var object = JSONObject()
        if let end = state.caNotAfter { object.set("notAfter", CivilTime(unixSeconds: end).description) }
        if let pin = state.caPin { object.set("pin", pin) }
        object.set("nextKnown", state.nextCA != nil)
        if let next = state.nextCA { object.set("next", next) }
        if let previous = state.previousCA { object.set("previous", previous) }
        if let switched = state.caSwitchedAt { object.set("switchedAt", CivilTime(unixSeconds: switched).description) }
        if let due = state.caCheckDue { object.set("nextCheck", CivilTime(unixSeconds: due).description) }
        if let result = state.caCheckResult { object.set("lastCheck", result.description) }
        return object
    }

    static func renewNow(_ args: Arguments) throws(SCEPError) {
        let config = try load(args)
        var names = config.certificates.map { $0.name }
        if let name = args.value("--name") {
            guard names.contains(name) else {
                // The same mistake as wpa-config's: the configuration has no such section (exit 3).
                throw SCEPError(.config, "--name " + name + ": no [cert " + name + "] in " + config.path + " (it has " + names.joined(separator: ", ") + ")")
            }
            names = [name]
        }
        let log = log(config, args)
        if let pid = try DaemonRunner.runningDaemon(stateDirectory: config.stateDirectory) {
            try FileSystem.replaceAtomically(DaemonRunner.renewRequestPath(stateDirectory: config.stateDirectory),
                                             Array((names.joined(separator: "\n") + "\n").utf8), mode: 0o600)
            guard ProcessControl.sendHangup(to: pid) else { throw SCEPError(.fileIO, "cannot signal the daemon (pid " + String(pid) + ")") }
            Console.out("asked the daemon (pid " + String(pid) + ") to renew " + names.joined(separator: ", "))
            return
        }
        // No daemon (whatever a pid file left by a crash says): do it here, with the same engine and state.
        log.notice("no daemon is running (nothing holds " + DaemonRunner.lockPath(stateDirectory: config.stateDirectory) + "): renewing here")
        let clock = SystemClock()
        let random = try RandomGenerator()
        let engine = RenewalEngine(config: config, source: source(config, log, clock, random), states: try DaemonRunner.loadStates(config, log: log), clock: clock, random: random, log: log)
        engine.logsFailures = false
        engine.onStateChange = { name, state in
            try? state.save(CertState.path(stateDirectory: config.stateDirectory, name: name))
        }
        engine.runDue(now: clock.now(), force: names)
        // Each certificate's result once: issued on stdout, a failure on stderr; the last failure is
        // thrown so its code is the exit code (still PENDING 6, a full disk 8, nothing to enroll with 3).
        var failure: SCEPError? = nil
        for (index, certificate) in config.certificates.enumerated() where names.contains(certificate.name) {
            let state = engine.states[index]
            let result = state.lastResult?.description ?? ""
            if state.lastResult?.kind == .issued {
                Console.out(certificate.name + ": " + result)
                // The forced pass also checked the CA: a refused check (a forged GetNextCACert) is its code.
                guard let check = state.caCheckResult, let code = check.code else { continue }
                if let earlier = failure { Console.report(earlier) }
                failure = SCEPError(code, certificate.name + ": " + check.description)
                continue
            }
            if let earlier = failure { Console.report(earlier) }
            failure = state.lastResult?.kind == .pending
                ? SCEPError(.serverPending, certificate.name + ": pending: the CA has not decided yet; the new key is kept, and the next renew-now or the daemon's next poll resumes the same request")
                : SCEPError(state.lastResult?.code ?? .serverFailure, certificate.name + ": " + result)
        }
        if let failure { throw failure }
    }

    static func wpaConfig(_ args: Arguments) throws(SCEPError) {
        let config = try load(args)
        let name = try args.required("--name")
        guard let certificate = config.certificates.first(where: { $0.name == name }) else {
            throw SCEPError(.config, config.path + ": no [cert " + name + "] (it has " + config.certificates.map { $0.name }.joined(separator: ", ") + ")")
        }
        let block = try WPASupplicant.networkBlock(for: certificate, identity: args.value("--identity"), includePIN: args.has("--include-pin"))
        guard let iface = args.value("--iface") else {
            Console.out(String(block.dropLast()))
            return
        }
        guard !iface.isEmpty, iface.utf8.count < 16, !iface.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") }) else {
            throw SCEPError(.usage, "--iface " + iface + ": not an interface name")
        }
        Console.out("# wpa_supplicant -D wired -i " + iface + " -c THIS_FILE; after a renewal: wpa_cli -i " + iface + " reconfigure")
        Console.out("ap_scan=0")
        Console.out(String(block.dropLast()))
    }
}
