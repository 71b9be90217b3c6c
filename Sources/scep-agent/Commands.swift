import DER
import SCEPAgent
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// What one command run needs from the outside world.
struct Environment {
    let arguments: Arguments
    let log: Log
    let clock: SystemClock
    let random: RandomGenerator

    init(_ arguments: Arguments) throws(SCEPError) {
        self.arguments = arguments
        log = Console.log(verbose: arguments.has("--verbose"), quiet: arguments.has("--quiet"))
        clock = SystemClock()
        random = try RandomGenerator()
    }

    var json: Bool { arguments.has("--json") }

    /// A malformed --url is a usage error (exit 2), not a transport failure.
    func url() throws(SCEPError) -> URL {
        do throws(SCEPError) {
            return try URL(parsing: try arguments.required("--url"))
        } catch {
            throw SCEPError(.usage, error.code == .usage ? error.reason : "--url: " + error.reason)
        }
    }

    func transport() throws(SCEPError) -> HTTPClient {
        var options = HTTPClientOptions()
        options.tlsCAFile = arguments.value("--tls-ca")
        options.proxy = arguments.value("--proxy")
        // Every network command takes both, with their defaults in the command table.
        options.totalTimeoutMs = Int(try arguments.seconds("--timeout", minimum: 1)! * 1000)
        options.connectTimeoutMs = Int(try arguments.seconds("--connect-timeout", minimum: 1)! * 1000)
        if let bundle = options.tlsCAFile, !FileSystem.exists(bundle) {
            throw SCEPError(.usage, "--tls-ca " + bundle + " does not exist")
        }
        return HTTPClient(options: options)
    }

    func oneShot() throws(SCEPError) -> OneShot {
        let oneShot = OneShot(transport: try transport(), clock: clock, random: random, log: log)
        oneShot.tokenOptions = tokens()
        return oneShot
    }

    func tokens() -> TokenOptions {
        TokenOptions(pkcs11Module: arguments.value("--pkcs11-module"), pinFile: arguments.value("--pin-file"))
    }

    /// The pin, or nil after an explicit, loud opt-out.
    func policy() throws(SCEPError) -> EnrollmentPolicy {
        let pin: [UInt8]?
        if let text = arguments.value("--ca-fingerprint") {
            guard !arguments.has("--insecure-skip-ca-pin") else {
                throw SCEPError(.usage, "--ca-fingerprint and --insecure-skip-ca-pin contradict each other: give one")
            }
            pin = try CAPin.parse(text)
        } else if arguments.has("--insecure-skip-ca-pin") {
            log.warning("INSECURE: --insecure-skip-ca-pin: any server on the path can issue this device's certificate")
            pin = nil
        } else {
            throw SCEPError(.usage, "'scep-agent " + arguments.command + "' needs --ca-fingerprint SHA256 (run 'scep-agent getca --url URL' to see it) or, for tests only, --insecure-skip-ca-pin")
        }
        var policy = EnrollmentPolicy(caFingerprint: pin, pollMaxIntervalSeconds: 300)
        // Only enroll and renew poll (getcert, getcrl and getnextca take no polling options).
        if let interval = try arguments.seconds("--poll-interval", minimum: 1) { policy.pollIntervalSeconds = interval }
        if let limit = try arguments.seconds("--max-poll-time") { policy.maxPollSeconds = limit }
        policy.strict = arguments.has("--strict")
        return policy
    }

    /// The challenge from a file, the environment or (with a warning) argv; never logged.
    func challenge() throws(SCEPError) -> String? {
        let sources = ["--challenge-file", "--challenge-env", "--challenge"].filter { arguments.has($0) }
        guard sources.count <= 1 else {
            throw SCEPError(.usage, "give the challenge once: " + sources.joined(separator: ", ") + " were all given")
        }
        if let path = arguments.value("--challenge-file") {
            return try CredentialFiles.naming("challenge file", setBy: "--challenge-file") { () throws(SCEPError) in try CredentialFiles.loadChallenge(path) }
        }
        if let name = arguments.value("--challenge-env") {
            guard let value = Syscall.environment(name), !value.isEmpty else {
                throw SCEPError(.usage, "--challenge-env " + name + ": that environment variable is not set or empty")
            }
            return value
        }
        if let value = arguments.value("--challenge") {
            log.warning("--challenge puts the challenge password in argv, where other users can read it; use --challenge-file or --challenge-env")
            return value
        }
        return nil
    }

    /// `--key-type`, else the command's default (none for renew: the current key's type).
    func keyType() throws(SCEPError) -> KeyType? {
        guard let text = arguments.value("--key-type") else { return nil }
        guard let type = KeyType(parsing: text) else {
            throw SCEPError(.usage, "--key-type " + text + " is not one of rsa:2048, rsa:3072, rsa:4096, ec:p256, ec:p384")
        }
        return type
    }

    /// The outputs the command line names: --key and --cert, and --chain and --p12 where the command takes
    /// them (the command table refuses them elsewhere, so they are simply absent).
    func paths() throws(SCEPError) -> OutputPaths {
        var paths = OutputPaths(key: try KeyLocation(try arguments.required("--key")), certificate: try arguments.required("--cert"), chain: arguments.value("--chain"))
        paths.p12 = arguments.value("--p12")
        paths.p12PassphraseFile = arguments.value("--p12-passphrase-file")
        if paths.p12 != nil && !paths.key.isExportable { throw SCEPError(.usage, "--p12 needs a key file: a token key never leaves its token") }
        if paths.p12 != nil && (paths.p12PassphraseFile != nil) == arguments.has("--p12-unencrypted") {
            throw SCEPError(.usage, "--p12 needs --p12-passphrase-file FILE, or --p12-unencrypted")
        }
        return paths
    }
}

enum Commands {
    static func enroll(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let args = environment.arguments
        let url = try environment.url()
        let policy = try environment.policy()
        let subject = try DistinguishedName(parsing: try args.required("--subject"))
        var sans: [SubjectAltName] = []
        for text in args.all("--san") { sans.append(try SubjectAltName(parsing: text)) }
        // The table gives --key-type a default for enroll.
        let keyType = try environment.keyType()!
        let paths = try environment.paths()
        let challenge = try environment.challenge()
        let outcome = try environment.oneShot().enroll(
            url: url, policy: policy, subject: subject, subjectAltNames: sans, challenge: challenge, keyType: keyType,
            existingKey: args.has("--existing-key"), paths: paths)
        report(outcome, json: environment.json)
    }

    static func renew(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let args = environment.arguments
        let url = try environment.url()
        let policy = try environment.policy()
        let paths = try environment.paths()
        let keyType = try environment.keyType()
        if keyType != nil && args.has("--reuse-key") { throw SCEPError(.usage, "--key-type and --reuse-key contradict each other") }
        let outcome = try environment.oneShot().renew(
            url: url, policy: policy, challenge: try environment.challenge(), sendChallenge: .auto, reuseKey: args.has("--reuse-key"), keyType: keyType,
            paths: paths)
        report(outcome, json: environment.json)
    }

    static func getcaps(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let url = try environment.url()
        let service = SCEPService(url: url, transport: try environment.transport(), log: environment.log)
        let caps = try service.getCACaps()
        if environment.json {
            var object = JSONObject()
            object.set("url", url.description)
            object.set("capabilities", strings: caps.keywords)
            object.set("cipher", caps.isEmpty ? ContentCipher.tripleDESCBC.description : caps.contentCipher.description)
            object.set("digest", caps.digest.description)
            object.set("post", caps.postPKIOperation)
            object.set("renewal", caps.renewal)
            Console.out(object.text)
            return
        }
        for keyword in caps.keywords { Console.out(keyword) }
        if caps.isEmpty { Console.err("scep-agent: no capabilities announced (a legacy server): 3DES and SHA-1 would be used") }
    }

    static func getca(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let args = environment.arguments
        let url = try environment.url()
        var pin: [UInt8]? = nil
        if let text = args.value("--ca-fingerprint") { pin = try CAPin.parse(text) }
        if let out = args.value("--out") { try FileSystem.requireWritableDirectory(for: out) }
        let service = SCEPService(url: url, transport: try environment.transport(), log: environment.log)
        let certificates = try service.getCACert()
        let ca: Certificate
        if let pin {
            ca = try CAPin.select(certificates, pin: pin, url: url)
        } else {
            ca = try CAPin.unpinnedCA(certificates)
        }
        let roles = CARoles(pinnedCA: ca, all: certificates, now: environment.clock.now())
        var entries: [JSONObject] = []
        for certificate in certificates {
            let verified = roles.trusted.contains { $0 === certificate }
            let role = certificate === ca ? "CA" : (!verified ? "unverified" : certificate.isCA ? "intermediate" : "RA")
            let trust = certificate === ca ? (pin != nil ? "pinned" : "not pinned") : (verified ? "verified under the CA" : "does not verify under the CA: not used")
            if environment.json {
                var entry = JSONObject()
                entry.set("role", role)
                entry.set("verified", verified && (certificate !== ca || pin != nil))
                entry.set("subject", certificate.subjectText)
                entry.set("sha256", Hex.encode(certificate.sha256Fingerprint))
                entry.set("notAfter", CivilTime(unixSeconds: certificate.notAfter).description)
                entries.append(entry)
            } else {
                Console.out(role + "  " + (certificate.subjectText.isEmpty ? "(empty subject)" : certificate.subjectText) + "  (" + trust + ")")
                Console.out("    sha256 " + Hex.encode(certificate.sha256Fingerprint, separator: ":"))
                Console.out("    valid until " + CivilTime(unixSeconds: certificate.notAfter).description)
            }
        }
        for ignored in roles.unverified {
            environment.log.warning("no role, left out of --out: " + ignored.certificate.subjectText + ": " + ignored.reason)
        }
        if let out = args.value("--out") {
            // What users will treat as a trust bundle: the CA and the CA certificates that verify under it.
            try CredentialStore(certificatePath: out).install([CredentialFile(path: out, contents: CredentialFiles.pem(roles.authorities), mode: FileSystem.publicFileMode)])
        }
        if environment.json {
            var object = JSONObject()
            object.set("url", url.description)
            object.set("pinned", pin != nil)
            object.set("certificates", objects: entries)
            Console.out(object.text)
        } else if pin == nil {
            Console.out("\nPin the CA with: --ca-fingerprint " + Hex.encode(ca.sha256Fingerprint))
        }
    }

    static func getnextca(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let url = try environment.url()
        let policy = try environment.policy()
        let out = environment.arguments.value("--out")
        if let out { try FileSystem.requireWritableDirectory(for: out) }
        let successor = try environment.oneShot().nextCA(url: url, policy: policy)
        if let out {
            try CredentialStore(certificatePath: out).install([CredentialFile(path: out, contents: CredentialFiles.pem([successor]), mode: FileSystem.publicFileMode)])
        }
        if environment.json {
            var object = JSONObject()
            object.set("url", url.description)
            object.set("subject", successor.subjectText)
            object.set("sha256", Hex.encode(successor.sha256Fingerprint))
            object.set("notBefore", CivilTime(unixSeconds: successor.notBefore).description)
            object.set("notAfter", CivilTime(unixSeconds: successor.notAfter).description)
            if let out { object.set("written", strings: [out]) }
            Console.out(object.text)
            return
        }
        Console.out("next CA  " + (successor.subjectText.isEmpty ? "(empty subject)" : successor.subjectText))
        Console.out("    sha256 " + Hex.encode(successor.sha256Fingerprint, separator: ":"))
        Console.out("    valid " + CivilTime(unixSeconds: successor.notBefore).description + " to " + CivilTime(unixSeconds: successor.notAfter).description)
        if let out { Console.out("written: " + out) }
    }

    static func getcert(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let args = environment.arguments
        let url = try environment.url()
        let policy = try environment.policy()
        let serialText = try args.required("--serial")
        guard let serial = Hex.decode(serialText), !serial.isEmpty else {
            throw SCEPError(.usage, "--serial " + serialText + " is not a hex serial number")
        }
        let out = try args.required("--out")
        let certificates = try environment.oneShot().getCert(
            url: url, policy: policy, serial: serial, paths: try environment.paths(), output: out)
        for certificate in certificates { Console.out(certificate.subjectText + "  serial " + Hex.encode(certificate.serial)) }
        Console.out("written: " + out)
    }

    static func getcrl(_ arguments: Arguments) throws(SCEPError) {
        let environment = try Environment(arguments)
        let args = environment.arguments
        let url = try environment.url()
        let policy = try environment.policy()
        let out = try args.required("--out")
        let count = try environment.oneShot().getCRL(
            url: url, policy: policy, paths: try environment.paths(), output: out)
        Console.out("written: " + out + " (" + String(count) + " CRL)")
    }

    static func csr(_ args: Arguments) throws(SCEPError) {
        let environment = try Environment(args)
        let subject = try DistinguishedName(parsing: try args.required("--subject"))
        var sans: [SubjectAltName] = []
        for text in args.all("--san") { sans.append(try SubjectAltName(parsing: text)) }
        let location = try KeyLocation(try args.required("--key"))
        let out = try args.required("--out")
        let challenge = try environment.challenge()
        let existing = args.has("--existing-key")
        if existing && args.has("--key-type") { throw SCEPError(.usage, "--key-type and --existing-key contradict each other") }
        // The table gives --key-type a default for csr.
        let keyType = try environment.keyType()!
        // The request carries the challenge password in clear: then it is as secret as a key.
        let requestMode = challenge == nil ? FileSystem.publicFileMode : FileSystem.privateKeyMode
        try FileSystem.requireWritableDirectory(for: out)
        // No certificate set here: a token would keep a PENDING request beside the request, but csr has none.
        let slot = location.open(tokenOptions: environment.tokens(), certificatePath: out, log: environment.log)
        let key: PrivateKey
        if existing {
            key = try CredentialFiles.naming("key", setBy: "--key") { () throws(SCEPError) in try slot.current() }
        } else {
            try slot.requireVacant(replacing: false, use: "use it")
            key = try slot.newKey(keyType, random: environment.random)
        }
        let request = try CertificationRequest.build(
            .device(subject: subject, subjectAltNames: sans, challengePassword: challenge, keyType: key.keyType), key: key)
        let body = args.has("--der") ? request : Array(PEM.encode(label: "CERTIFICATE REQUEST", der: request).utf8)
        // A new key file and the request are installed as one set; a token key is on its token already.
        let files = try slot.installedFiles(ownership: FileOwnership(mode: FileSystem.privateKeyMode))
        try CredentialStore(certificatePath: out).install(files + [CredentialFile(path: out, contents: body, mode: requestMode)])
        reportRequest(out, subject: subject, key: location.description + (existing ? " (existing)" : " (new, " + slot.newKeyNote + ")"))
    }

    /// What `csr` wrote, on stdout like every command's result.
    static func reportRequest(_ out: String, subject: DistinguishedName, key: String) {
        Console.out("request  " + out + "  for " + subject.description)
        Console.out("key      " + key)
    }

    /// The result of enroll or renew: a human summary, or one JSON object.
    static func report(_ outcome: Outcome, json: Bool) {
        let certificate = outcome.certificate
        if json {
            var object = JSONObject()
            object.set("status", ExitCode.ok.status)
            object.set("subject", certificate.subjectText)
            object.set("issuer", certificate.issuerText)
            object.set("serial", Hex.encode(certificate.serial))
            object.set("notBefore", CivilTime(unixSeconds: certificate.notBefore).description)
            object.set("notAfter", CivilTime(unixSeconds: certificate.notAfter).description)
            object.set("certificateSHA256", Hex.encode(certificate.sha256Fingerprint))
            object.set("publicKeySHA256", Hex.encode(outcome.keyFingerprint))
            object.set("caSHA256", Hex.encode(outcome.chain.last?.sha256Fingerprint ?? []))
            object.set("transactionID", outcome.transactionID)
            object.set("messageType", outcome.messageType)
            object.set("polls", Int64(outcome.polls))
            object.set("written", strings: outcome.written)
            object.set("key", outcome.key.description)
            var timings = JSONObject()
            for (phase, milliseconds) in outcome.timings { timings.set(phase, milliseconds) }
            object.set("timingsMs", timings)
            Console.out(object.text)
            return
        }
        Console.out("issued: " + certificate.subjectText)
        Console.out("  serial      " + Hex.encode(certificate.serial))
        Console.out("  issuer      " + certificate.issuerText)
        Console.out("  valid       " + CivilTime(unixSeconds: certificate.notBefore).description + " to " + CivilTime(unixSeconds: certificate.notAfter).description)
        Console.out("  sha256      " + Hex.encode(certificate.sha256Fingerprint))
        for path in outcome.written { Console.out("  written     " + path) }
        Console.out("  key         " + outcome.key.description)
    }

    /// JSON for a failure, so a factory script reading stdout always gets one object.
    static func reportFailure(_ error: SCEPError, code: ExitCode) {
        var object = JSONObject()
        object.set("status", code.status)
        object.set("exitCode", Int64(code.rawValue))
        object.set("error", error.code.description)
        object.set("message", error.reason)
        Console.out(object.text)
    }
}
