import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// Who owns an output file and its mode (docs/config.md `*_owner`, `*_group`, `*_mode`).
public struct FileOwnership: Equatable {
    /// A user id (looked up from `*_owner`); nil keeps the agent's.
    public var owner: UInt32?
    /// A group id (from `*_group`); nil keeps the agent's.
    public var group: UInt32?
    /// Permission bits (`*_mode`, octal).
    public var mode: UInt32

    public init(owner: UInt32? = nil, group: UInt32? = nil, mode: UInt32) {
        self.owner = owner
        self.group = group
        self.mode = mode
    }
}

/// One `[cert NAME]` section, validated.
public struct CertConfig {
    public var name: String
    public var url: URL
    public var caFingerprint: [UInt8]?
    /// Refuse CAs that offer or answer only weak algorithms (`EnrollmentPolicy.strict`).
    public var strict: Bool
    public var subject: DistinguishedName
    public var subjectAltNames: [SubjectAltName]
    public var challengeFile: String?
    /// Whether renewals carry the challenge (`renew_with_challenge`; default `auto`).
    public var renewWithChallenge: RenewalChallenge
    public var keyType: KeyType
    /// Key, cert, chain and ca paths with their owners and modes.
    public var paths: OutputPaths
    /// renew_at, jitter, retry and poll backoff.
    public var renewal: RenewalPolicy
    public var postRenew: [String]
    public var postRenewTimeout: Int64
    public var tlsCA: String?
    public var proxy: String?
    public var timeout: Int64
    /// Fetch the next CA (GetNextCACert) once the current one expires within this many seconds.
    public var caRollover: Int64
}

/// The `[board]` section of a board profile.
public struct BoardConfig {
    public var name: String
    public var arch: String
    public var toolchain: String
    public var keyBackend: String
    public var notes: String
}

/// A validated configuration file (docs/config.md).
public struct AgentConfig {
    public enum LogTarget: String, Sendable { case stderr, syslog }

    public var path: String
    public var stateDirectory: String
    public var log: LogTarget
    public var metricsFile: String?
    public var certificates: [CertConfig]
    public var board: BoardConfig?

    public static let defaultStateDirectory = "/var/lib/scep-agent"

    /// Reads and validates `path`.
    /// - Throws: `config` naming file, line and key (the first error); `fileIO` when the file cannot be read.
    public static func load(_ path: String) throws(SCEPError) -> AgentConfig {
        try AgentConfig(file: ConfigFile(path: path, collecting: try read(path)))
    }

    /// Every error of the file at `path`, in file order: what `check-config` prints.
    /// - Throws: `fileIO` when the file cannot be read.
    public static func check(_ path: String) throws(SCEPError) -> [SCEPError] {
        validate(ConfigFile(path: path, collecting: try read(path))).problems
    }

    static func read(_ path: String) throws(SCEPError) -> [UInt8] {
        try CredentialFiles.naming("config file", setBy: "--config") { () throws(SCEPError) in try FileSystem.read(path, limit: ConfigFile.maxBytes) }
    }

    init(path: String, stateDirectory: String, log: LogTarget, metricsFile: String?, certificates: [CertConfig], board: BoardConfig?) {
        self.path = path
        self.stateDirectory = stateDirectory
        self.log = log
        self.metricsFile = metricsFile
        self.certificates = certificates
        self.board = board
    }

    /// - Throws: the first error of the file, in file order.
    public init(file: ConfigFile) throws(SCEPError) {
        let (config, problems) = Self.validate(file)
        guard let config, problems.isEmpty else { throw problems[0] }
        self = config
    }

    /// The configuration when the file has no error, and every error (syntax first found, all sorted by line).
    static func validate(_ file: ConfigFile) -> (config: AgentConfig?, problems: [SCEPError]) {
        var problems = file.problems
        var stateDirectory = Self.defaultStateDirectory
        var log = LogTarget.stderr
        var metricsFile: String? = nil
        var certificates: [CertConfig] = []
        var board: BoardConfig? = nil
        for section in file.sections {
            var reader = SectionReader(file: file, section: section)
            switch section.kind {
            case "agent":
                stateDirectory = reader.check(nil) { r throws(SCEPError) in try r.absolutePath("state_dir") } ?? stateDirectory
                if let entry = reader.take("log") {
                    if let target = LogTarget(rawValue: entry.value) { log = target } else { reader.problems.append(reader.error(entry, "'" + entry.value + "' is not stderr or syslog")) }
                }
                metricsFile = reader.check(nil) { r throws(SCEPError) in try r.absolutePath("metrics_file") }
            case "board":
                let name = reader.check(nil) { r throws(SCEPError) -> String? in try r.required("name").value }
                let arch = reader.check(nil) { r throws(SCEPError) -> String? in try r.oneOf("arch", ["aarch64", "armhf", "x86_64"]) }
                let toolchain = reader.check(nil) { r throws(SCEPError) -> String? in try r.required("toolchain").value }
                let backend = reader.check(nil) { r throws(SCEPError) -> String? in try r.oneOf("key_backend", ["file", "pkcs11", "tpm"]) }
                if let name, let arch, let toolchain, let backend {
                    board = BoardConfig(name: name, arch: arch, toolchain: toolchain, keyBackend: backend, notes: reader.take("notes")?.value ?? "")
                }
                _ = reader.take("notes")
            default:
                if let certificate = Self.certificate(&reader, name: section.name ?? "") { certificates.append(certificate) }
            }
            reader.rejectUnknown()
            problems += reader.problems
        }
        if certificates.isEmpty && !file.sections.contains(where: { $0.kind == "cert" }) {
            problems.append(ConfigFile.error(file.path, 1, nil, "no [cert NAME] section: nothing to enroll"))
        }
        // In file order, a line's own errors in the order found. By hand: the standard library's stable
        // sort costs 4 KB of firmware, and a file has a handful of errors.
        var ordered: [SCEPError] = []
        var lines: [Int] = []
        for problem in problems {
            let line = ConfigFile.line(of: problem, path: file.path)
            var at = lines.count
            while at > 0 && lines[at - 1] > line { at -= 1 }
            lines.insert(line, at: at)
            ordered.insert(problem, at: at)
        }
        guard ordered.isEmpty else { return (nil, ordered) }
        return (AgentConfig(path: file.path, stateDirectory: stateDirectory, log: log, metricsFile: metricsFile, certificates: certificates, board: board), [])
    }

    static func outputPaths(_ reader: inout SectionReader, key: KeyLocation, certificate: String) throws(SCEPError) -> OutputPaths {
        var paths = OutputPaths(key: key, certificate: certificate, chain: try reader.absolutePath("chain"), ca: try reader.absolutePath("ca"))
        paths.section = reader.section.name
        paths.keyOwnership = try reader.ownership("key", defaultMode: FileSystem.privateKeyMode)
        paths.certificateOwnership = try reader.ownership("cert", defaultMode: FileSystem.publicFileMode)
        paths.chainOwnership = try reader.ownership("chain", defaultMode: FileSystem.publicFileMode)
        paths.caOwnership = try reader.ownership("ca", defaultMode: FileSystem.publicFileMode)
        paths.p12 = try reader.absolutePath("p12")
        paths.p12PassphraseFile = try reader.absolutePath("p12_passphrase_file")
        let unencrypted = try reader.flag("p12_unencrypted")
        if paths.p12 != nil && !paths.key.isExportable {
            throw ConfigFile.error(reader.file.path, reader.section.line, "p12", "a token key never leaves its token: p12 needs a key file")
        }
        if paths.p12 != nil && (paths.p12PassphraseFile != nil) == unencrypted {
            throw ConfigFile.error(reader.file.path, reader.section.line, "p12", "give p12_passphrase_file (its first line encrypts the file), or p12_unencrypted = yes")
        }
        return paths
    }

    /// One `[cert NAME]`; nil when any of its keys is wrong (each error is in `reader.problems`).
    static func certificate(_ reader: inout SectionReader, name: String) -> CertConfig? {
        let known = reader.problems.count
        let url = reader.check(nil) { r throws(SCEPError) -> URL? in
            let entry = try r.required("url")
            do throws(SCEPError) { return try URL(parsing: entry.value) } catch { throw r.error(entry, error.reason) }
        }
        let skipPin = reader.check(false) { r throws(SCEPError) in try r.flag("insecure_skip_ca_pin") }
        let pin = reader.check(nil) { r throws(SCEPError) -> [UInt8]? in
            if let entry = r.take("ca_fingerprint") {
                do throws(SCEPError) { return try CAPin.parse(entry.value) } catch { throw r.error(entry, error.reason) }
            } else if !skipPin {
                throw ConfigFile.error(r.file.path, r.section.line, "ca_fingerprint", "missing: pin the CA (scep-agent getca --url URL prints it)")
            }
            return nil
        }
        let subject = reader.check(nil) { r throws(SCEPError) -> DistinguishedName? in
            let entry = try r.required("subject")
            do throws(SCEPError) { return try DistinguishedName(parsing: entry.value) } catch { throw r.error(entry, error.reason) }
        }
        let sans = reader.check([]) { r throws(SCEPError) -> [SubjectAltName] in
            guard let entry = r.take("sans") else { return [] }
            var sans: [SubjectAltName] = []
            for word in entry.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                do throws(SCEPError) { sans.append(try SubjectAltName(parsing: String(word))) } catch { throw r.error(entry, error.reason) }
            }
            return sans
        }
        let keyType = reader.check(KeyType.rsa(bits: 2048)) { r throws(SCEPError) -> KeyType in
            guard let entry = r.take("key_type") else { return .rsa(bits: 2048) }
            guard let parsed = KeyType(parsing: entry.value) else {
                throw r.error(entry, "'" + entry.value + "' is not rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384")
            }
            return parsed
        }
        // Read with the parser enroll and renew use: a URI it refuses fails here, not at the first renewal.
        let key = reader.check(nil) { r throws(SCEPError) -> KeyLocation? in
            let entry = try r.required("key")
            let location: KeyLocation
            do throws(SCEPError) { location = try KeyLocation(entry.value) } catch { throw r.error(entry, error.reason) }
            guard location.filePath?.hasPrefix("/") ?? true else { throw r.error(entry, "give an absolute path or a pkcs11: URI") }
            return location
        }
        let certPath = reader.check(nil) { r throws(SCEPError) -> String? in
            guard let path = try r.absolutePath("cert"), !path.isEmpty else {
                throw ConfigFile.error(r.file.path, r.section.line, "cert", "missing: where the certificate goes")
            }
            return path
        }
        let renewAt = reader.check(0.66) { r throws(SCEPError) in try r.fraction("renew_at", default: 0.66, openInterval: true) }
        let jitter = reader.check(0.1) { r throws(SCEPError) in try r.fraction("jitter", default: 0.1, openInterval: false) }
        let retry = reader.check((60, 6 * 3600)) { r throws(SCEPError) in try r.durationRange("retry_min", "retry_max", defaults: (60, 6 * 3600)) }
        let poll = reader.check((60, 3600)) { r throws(SCEPError) in try r.durationRange("poll_min", "poll_max", defaults: (60, 3600)) }
        let minInterval = reader.check(nil) { r throws(SCEPError) -> Int64? in
            r.section.value("min_renewal_interval") == nil ? nil : try r.duration("min_renewal_interval", default: 0)
        }
        let pendingMax = reader.check(RenewalPlanner.defaultPendingMax) { r throws(SCEPError) in try r.duration("pending_max", default: RenewalPlanner.defaultPendingMax) }
        let hook = reader.check([]) { r throws(SCEPError) -> [String] in
            guard let entry = r.take("post_renew") else { return [] }
            guard let argv = ConfigFile.splitArguments(entry.value), let program = argv.first else {
                throw r.error(entry, "unbalanced quotes or empty command")
            }
            guard program.hasPrefix("/") else { throw r.error(entry, "the program must be an absolute path (there is no shell and no PATH search)") }
            return argv
        }
        let strict = reader.check(false) { r throws(SCEPError) in try r.flag("strict") }
        let challengeFile = reader.check(nil) { r throws(SCEPError) in try r.absolutePath("challenge_file") }
        let renewal = reader.check(RenewalChallenge.auto) { r throws(SCEPError) in try r.renewalChallenge("renew_with_challenge") }
        let paths = reader.check(nil) { r throws(SCEPError) -> OutputPaths? in try Self.outputPaths(&r, key: key ?? KeyLocation(filePath: ""), certificate: certPath ?? "") }
        let hookTimeout = reader.check(30) { r throws(SCEPError) in try r.duration("post_renew_timeout", default: 30) }
        let tlsCA = reader.check(nil) { r throws(SCEPError) in try r.absolutePath("tls_ca") }
        let proxy = reader.take("proxy")?.value
        let timeout = reader.check(60) { r throws(SCEPError) in try r.duration("timeout", default: 60) }
        let caRollover = reader.check(30 * 86_400) { r throws(SCEPError) in try r.duration("ca_rollover", default: 30 * 86_400) }
        guard reader.problems.count == known, let url, let subject, let paths else { return nil }
        return CertConfig(
            name: name, url: url, caFingerprint: pin, strict: strict, subject: subject, subjectAltNames: sans,
            challengeFile: challengeFile, renewWithChallenge: renewal, keyType: keyType, paths: paths,
            renewal: RenewalPolicy(renewAt: renewAt, jitter: jitter, retryMin: retry.0, retryMax: retry.1, pollMin: poll.0, pollMax: poll.1,
                                   minInterval: minInterval, pendingMax: pendingMax),
            postRenew: hook, postRenewTimeout: hookTimeout, tlsCA: tlsCA, proxy: proxy, timeout: timeout, caRollover: caRollover)
    }
}

/// Takes the keys of one section, each at most once, and rejects what is left.
struct SectionReader {
    let file: ConfigFile
    let section: ConfigFile.Section
    private var used: [String] = []
    /// What `check` and `rejectUnknown` found wrong.
    var problems: [SCEPError] = []

    init(file: ConfigFile, section: ConfigFile.Section) {
        self.file = file
        self.section = section
    }

    /// Runs one key's check; its error is kept in `problems` and `fallback` returned, so one pass finds every error.
    mutating func check<T>(_ fallback: T, _ body: (inout SectionReader) throws(SCEPError) -> T) -> T {
        do throws(SCEPError) {
            return try body(&self)
        } catch {
            problems.append(error)
            return fallback
        }
    }

    func error(_ entry: ConfigFile.Entry, _ reason: String) -> SCEPError {
        ConfigFile.error(file.path, entry.line, entry.key, reason)
    }

    mutating func take(_ key: String) -> ConfigFile.Entry? {
        used.append(key)
        return section.value(key)
    }

    mutating func required(_ key: String) throws(SCEPError) -> ConfigFile.Entry {
        guard let entry = take(key), !entry.value.isEmpty else {
            throw ConfigFile.error(file.path, section.line, key, "missing in [" + section.kind + (section.name.map { " " + $0 } ?? "") + "]")
        }
        return entry
    }

    mutating func absolutePath(_ key: String) throws(SCEPError) -> String? {
        guard let entry = take(key) else { return nil }
        guard entry.value.hasPrefix("/") else { throw error(entry, "'" + entry.value + "' must be an absolute path") }
        return entry.value
    }

    mutating func flag(_ key: String) throws(SCEPError) -> Bool {
        guard let entry = take(key) else { return false }
        guard let value = Self.yesOrNo(entry.value) else { throw error(entry, "'" + entry.value + "' is not yes or no") }
        return value
    }

    static func yesOrNo(_ text: String) -> Bool? {
        switch text {
        case "yes", "true", "1": true
        case "no", "false", "0": false
        default: nil
        }
    }

    /// `yes`, `no` (spelled as `flag` takes them) or `auto`; absent: `auto`.
    mutating func renewalChallenge(_ key: String) throws(SCEPError) -> RenewalChallenge {
        guard let entry = take(key), entry.value != "auto" else { return .auto }
        guard let value = Self.yesOrNo(entry.value) else { throw error(entry, "'" + entry.value + "' is not yes, no or auto") }
        return value ? .yes : .no
    }

    mutating func oneOf(_ key: String, _ allowed: [String]) throws(SCEPError) -> String {
        let entry = try required(key)
        guard allowed.contains(entry.value) else { throw error(entry, "'" + entry.value + "' is not one of " + allowed.joined(separator: ", ")) }
        return entry.value
    }

    mutating func duration(_ key: String, default fallback: Int64) throws(SCEPError) -> Int64 {
        guard let entry = take(key) else { return fallback }
        guard let seconds = ConfigFile.parseDuration(entry.value) else {
            throw error(entry, "'" + entry.value + "' is not a duration such as 90, 90s, 15m, 6h or 2d")
        }
        return seconds
    }

    /// A fraction in (0, 1) when `openInterval`, else in [0, 1].
    mutating func fraction(_ key: String, default fallback: Double, openInterval: Bool) throws(SCEPError) -> Double {
        guard let entry = take(key) else { return fallback }
        guard let value = ConfigFile.parseFraction(entry.value), openInterval ? value > 0 && value < 1 : value <= 1 else {
            throw error(entry, "'" + entry.value + "' is not a fraction " + (openInterval ? "above 0 and below 1" : "from 0 to 1") + " such as 0.66")
        }
        return value
    }

    /// A minimum and a maximum duration, the minimum above 0 and at most the maximum.
    mutating func durationRange(_ minimumKey: String, _ maximumKey: String, defaults: (Int64, Int64)) throws(SCEPError) -> (Int64, Int64) {
        let minimum = try duration(minimumKey, default: defaults.0)
        let maximum = try duration(maximumKey, default: defaults.1)
        guard minimum > 0, minimum <= maximum else {
            let entry = section.value(minimumKey) ?? section.value(maximumKey)!
            throw error(entry, minimumKey + " must be above 0 and at most " + maximumKey)
        }
        return (minimum, maximum)
    }

    /// `PREFIX_owner`, `PREFIX_group` (names looked up now, so a typo fails at load) and `PREFIX_mode` (octal).
    mutating func ownership(_ prefix: String, defaultMode: UInt32) throws(SCEPError) -> FileOwnership {
        var result = FileOwnership(mode: defaultMode)
        if let entry = take(prefix + "_owner") {
            guard let user = FileSystem.userID(named: entry.value) else { throw error(entry, "no user '" + entry.value + "' on this system") }
            result.owner = user
        }
        if let entry = take(prefix + "_group") {
            guard let group = FileSystem.groupID(named: entry.value) else { throw error(entry, "no group '" + entry.value + "' on this system") }
            result.group = group
        }
        if let entry = take(prefix + "_mode") {
            guard let mode = ASCII.signed(entry.value, radix: 8), mode >= 0, mode <= 0o777, entry.value.utf8.count <= 4 else {
                throw error(entry, "'" + entry.value + "' is not an octal mode such as 0640")
            }
            if prefix == "key" && mode & 0o007 != 0 {
                throw error(entry, "a private key must not be accessible to others (drop the last digit's bits)")
            }
            result.mode = UInt32(mode)
        }
        return result
    }

    mutating func rejectUnknown() {
        for entry in section.entries where !used.contains(entry.key) {
            problems.append(error(entry, "unknown in [" + section.kind + "]; docs/config.md lists the keys"))
        }
    }
}
