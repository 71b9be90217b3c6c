import CSCEPShim
import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages

/// Who owns an output file and its mode (docs/config.md `*_owner`, `*_group`, `*_mode`).
public struct FileOwnership: Equatable {
    public var owner: uid_t?
    public var group: gid_t?
    public var mode: mode_t

    public init(owner: uid_t? = nil, group: gid_t? = nil, mode: mode_t) {
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
    /// - Throws: `config` naming file, line and key; `fileIO` when the file cannot be read.
    public static func load(_ path: String) throws(SCEPError) -> AgentConfig {
        let bytes = try FileSystem.read(path, limit: ConfigFile.maxBytes)
        return try AgentConfig(file: ConfigFile(path: path, text: bytes))
    }

    public init(file: ConfigFile) throws(SCEPError) {
        path = file.path
        var stateDirectory = Self.defaultStateDirectory
        var log = LogTarget.stderr
        var metricsFile: String? = nil
        var certificates: [CertConfig] = []
        var board: BoardConfig? = nil
        for section in file.sections {
            var reader = SectionReader(file: file, section: section)
            switch section.kind {
            case "agent":
                stateDirectory = try reader.absolutePath("state_dir") ?? stateDirectory
                if let entry = reader.take("log") {
                    guard let target = LogTarget(rawValue: entry.value) else {
                        throw ConfigFile.error(file.path, entry.line, "log", "'" + entry.value + "' is not stderr or syslog")
                    }
                    log = target
                }
                metricsFile = try reader.absolutePath("metrics_file")
            case "board":
                board = BoardConfig(
                    name: try reader.required("name").value, arch: try reader.oneOf("arch", ["aarch64", "armhf", "x86_64"]),
                    toolchain: try reader.required("toolchain").value, keyBackend: try reader.oneOf("key_backend", ["file", "pkcs11", "tpm"]),
                    notes: reader.take("notes")?.value ?? "")
            default:
                certificates.append(try Self.certificate(&reader, name: section.name ?? ""))
            }
            try reader.rejectUnknown()
        }
        guard !certificates.isEmpty else {
            throw ConfigFile.error(file.path, 1, nil, "no [cert NAME] section: nothing to enroll")
        }
        self.stateDirectory = stateDirectory
        self.log = log
        self.metricsFile = metricsFile
        self.certificates = certificates
        self.board = board
    }

    static func outputPaths(_ reader: inout SectionReader, key: String, certificate: String) throws(SCEPError) -> OutputPaths {
        var paths = OutputPaths(key: key, certificate: certificate, chain: try reader.absolutePath("chain"), ca: try reader.absolutePath("ca"))
        paths.keyOwnership = try reader.ownership("key", defaultMode: FileSystem.privateKeyMode)
        paths.certificateOwnership = try reader.ownership("cert", defaultMode: FileSystem.publicFileMode)
        paths.chainOwnership = try reader.ownership("chain", defaultMode: FileSystem.publicFileMode)
        paths.caOwnership = try reader.ownership("ca", defaultMode: FileSystem.publicFileMode)
        return paths
    }

    static func certificate(_ reader: inout SectionReader, name: String) throws(SCEPError) -> CertConfig {
        let urlEntry = try reader.required("url")
        let url: URL
        do throws(SCEPError) { url = try URL(parsing: urlEntry.value) } catch { throw reader.error(urlEntry, error.reason) }
        let skipPin = try reader.flag("insecure_skip_ca_pin")
        var pin: [UInt8]? = nil
        if let entry = reader.take("ca_fingerprint") {
            do throws(SCEPError) { pin = try CAPin.parse(entry.value) } catch { throw reader.error(entry, error.reason) }
        } else if !skipPin {
            throw ConfigFile.error(reader.file.path, reader.section.line, "ca_fingerprint", "missing: pin the CA (scep-agent getca --url URL prints it)")
        }
        let subjectEntry = try reader.required("subject")
        let subject: DistinguishedName
        do throws(SCEPError) { subject = try DistinguishedName(parsing: subjectEntry.value) } catch { throw reader.error(subjectEntry, error.reason) }
        var sans: [SubjectAltName] = []
        if let entry = reader.take("sans") {
            for word in entry.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                do throws(SCEPError) { sans.append(try SubjectAltName(parsing: String(word))) } catch { throw reader.error(entry, error.reason) }
            }
        }
        var keyType = KeyType.rsa(bits: 2048)
        if let entry = reader.take("key_type") {
            guard let parsed = KeyType(parsing: entry.value) else {
                throw reader.error(entry, "'" + entry.value + "' is not rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384")
            }
            keyType = parsed
        }
        let keyEntry = try reader.required("key")
        guard keyEntry.value.hasPrefix("pkcs11:") || keyEntry.value.hasPrefix("/") else {
            throw reader.error(keyEntry, "give an absolute path or a pkcs11: URI")
        }
        let certPath = try reader.absolutePath("cert") ?? ""
        guard !certPath.isEmpty else { throw ConfigFile.error(reader.file.path, reader.section.line, "cert", "missing: where the certificate goes") }
        let renewAt = try reader.fraction("renew_at", default: 0.66, openInterval: true)
        let jitter = try reader.fraction("jitter", default: 0.1, openInterval: false)
        let (retryMin, retryMax) = try reader.durationRange("retry_min", "retry_max", defaults: (60, 6 * 3600))
        let (pollMin, pollMax) = try reader.durationRange("poll_min", "poll_max", defaults: (60, 3600))
        let minInterval = reader.section.value("min_renewal_interval") == nil ? nil : try reader.duration("min_renewal_interval", default: 0)
        let pendingMax = try reader.duration("pending_max", default: RenewalPlanner.defaultPendingMax)
        var hook: [String] = []
        if let entry = reader.take("post_renew") {
            guard let argv = ConfigFile.splitArguments(entry.value), let program = argv.first else {
                throw reader.error(entry, "unbalanced quotes or empty command")
            }
            guard program.hasPrefix("/") else { throw reader.error(entry, "the program must be an absolute path (there is no shell and no PATH search)") }
            hook = argv
        }
        return CertConfig(
            name: name, url: url, caFingerprint: pin, strict: try reader.flag("strict"), subject: subject, subjectAltNames: sans,
            challengeFile: try reader.absolutePath("challenge_file"), renewWithChallenge: try reader.renewalChallenge("renew_with_challenge"), keyType: keyType,
            paths: try Self.outputPaths(&reader, key: keyEntry.value, certificate: certPath),
            renewal: RenewalPolicy(renewAt: renewAt, jitter: jitter, retryMin: retryMin, retryMax: retryMax, pollMin: pollMin, pollMax: pollMax,
                                  minInterval: minInterval, pendingMax: pendingMax),
            postRenew: hook, postRenewTimeout: try reader.duration("post_renew_timeout", default: 30),
            tlsCA: try reader.absolutePath("tls_ca"), proxy: reader.take("proxy")?.value, timeout: try reader.duration("timeout", default: 60),
            caRollover: try reader.duration("ca_rollover", default: 30 * 86_400))
    }
}

/// Takes the keys of one section, each at most once, and rejects what is left.
struct SectionReader {
    let file: ConfigFile
    let section: ConfigFile.Section
    private var used: [String] = []

    init(file: ConfigFile, section: ConfigFile.Section) {
        self.file = file
        self.section = section
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
    mutating func ownership(_ prefix: String, defaultMode: mode_t) throws(SCEPError) -> FileOwnership {
        var result = FileOwnership(mode: defaultMode)
        if let entry = take(prefix + "_owner") {
            guard let user = getpwnam(entry.value) else { throw error(entry, "no user '" + entry.value + "' on this system") }
            result.owner = user.pointee.pw_uid
        }
        if let entry = take(prefix + "_group") {
            guard let group = getgrnam(entry.value) else { throw error(entry, "no group '" + entry.value + "' on this system") }
            result.group = group.pointee.gr_gid
        }
        if let entry = take(prefix + "_mode") {
            guard let mode = Int(entry.value, radix: 8), mode >= 0, mode <= 0o777, entry.value.utf8.count <= 4 else {
                throw error(entry, "'" + entry.value + "' is not an octal mode such as 0640")
            }
            if prefix == "key" && mode & 0o007 != 0 {
                throw error(entry, "a private key must not be accessible to others (drop the last digit's bits)")
            }
            result.mode = mode_t(mode)
        }
        return result
    }

    func rejectUnknown() throws(SCEPError) {
        for entry in section.entries where !used.contains(entry.key) {
            throw error(entry, "unknown in [" + section.kind + "]; docs/config.md lists the keys")
        }
    }
}
