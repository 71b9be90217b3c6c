import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// Where the outputs of one certificate go, and who owns them.
public struct OutputPaths {
    public var key: KeyLocation
    public var certificate: String
    public var chain: String?
    /// The pinned CA certificate (the daemon's `ca`), installed with the set.
    public var ca: String?
    public var keyOwnership = FileOwnership(mode: FileSystem.privateKeyMode)
    public var certificateOwnership = FileOwnership(mode: FileSystem.publicFileMode)
    public var chainOwnership = FileOwnership(mode: FileSystem.publicFileMode)
    public var caOwnership = FileOwnership(mode: FileSystem.publicFileMode)
    /// The config section that set these paths; nil: the command line.
    public var section: String? = nil
    /// The key, certificate and chain again as one PKCS#12 file (`p12`), 0600 like the key, for readers
    /// that must get key and certificate in one open (wpa_supplicant).
    public var p12: String? = nil
    /// The first line of this file encrypts the PKCS#12 file; nil: unencrypted (`p12_unencrypted`).
    public var p12PassphraseFile: String? = nil
    /// SHA-256 of other CA certificates `ca` keeps beside the CA in use while they are valid (a CA
    /// rollover's successor, the predecessor a switch replaced).
    public var keptCAs: [[UInt8]] = []

    public init(key: KeyLocation, certificate: String, chain: String?, ca: String? = nil) {
        self.key = key
        self.certificate = certificate
        self.chain = chain
        self.ca = ca
    }

    /// What set a path, for errors: the option on the command line, else the key in its config section.
    func setting(_ option: String, _ key: String) -> String {
        section.map { key + " in [cert " + $0 + "]" } ?? option
    }

    /// The key in `slot` (this set's), which must exist.
    func loadKey(from slot: KeySlot) throws(SCEPError) -> PrivateKey {
        try CredentialFiles.naming("key", setBy: setting("--key", "key")) { () throws(SCEPError) in try slot.current() }
    }

    func loadCertificate() throws(SCEPError) -> Certificate {
        try CredentialFiles.naming("certificate", setBy: setting("--cert", "cert")) { () throws(SCEPError) in try CredentialFiles.loadCertificate(certificate) }
    }

    /// Each file's directory must exist and be writable before anything is sent; an error names the file's role.
    func requireWritableDirectories() throws(SCEPError) {
        let files: [(path: String?, role: String, option: String, key: String)] = [
            (key.filePath, "key", "--key", "key"), (certificate, "certificate", "--cert", "cert"),
            (chain, "chain", "--chain", "chain"), (ca, "CA file", "ca", "ca"),
        ]
        for file in files {
            guard let path = file.path else { continue }
            try CredentialFiles.naming(file.role, setBy: setting(file.option, file.key)) { () throws(SCEPError) in try FileSystem.requireWritableDirectory(for: path) }
        }
    }

    /// The files of the set (a token key is none of them).
    var all: [String] { (key.filePath.map { [$0] } ?? []) + [certificate] + (chain.map { [$0] } ?? []) + (ca.map { [$0] } ?? []) + (p12.map { [$0] } ?? []) }
}

/// Whether a renewal's CSR carries the challenge (`renew_with_challenge`, and `renew` given one).
/// RFC 8894 §3.3.1.2: a RenewalReq SHOULD omit it; scepserver 2.1.0 and other CAs refuse one without.
public enum RenewalChallenge: String, CustomStringConvertible, Sendable {
    case yes, no
    /// Without first; after FAILURE badRequest or badMessageCheck once more with it.
    case auto
    public var description: String { rawValue }
}

/// What an enrollment or renewal did, for the human summary and `--json`.
public struct Outcome {
    public let certificate: Certificate
    public let chain: [Certificate]
    public let written: [String]
    /// Where the key is (printed as its file path, or its `pkcs11:` URI without pin-value).
    public let key: KeyLocation
    public let keyFingerprint: [UInt8]
    public let transactionID: String
    public let messageType: String
    public let polls: Int
    /// (phase, milliseconds)
    public let timings: [(String, Int64)]
    /// The CSR that was issued carried the challenge.
    public var sentChallenge = false
}

/// The one-shot operations of the command line, shared with the daemon: each validates its local
/// inputs first, talks to the CA, verifies, and only then installs.
public final class OneShot {
    let transport: Transport
    let clock: Clock
    let random: RandomGenerator
    let log: Log
    /// How to reach a token when a key is a `pkcs11:` URI.
    public var tokenOptions = TokenOptions()
    /// The discovery `enroll` or `renew` made, or was handed (set it before, for the same URL and
    /// policy): used rather than asked again, and kept, also when the operation throws after it, so the
    /// daemon's CA check of the same pass need not ask either.
    public var discovery: ServerProfile? = nil

    public init(transport: Transport, clock: Clock, random: RandomGenerator, log: Log) {
        self.transport = transport
        self.clock = clock
        self.random = random
        self.log = log
    }

    func enrollment(url: URL, policy: EnrollmentPolicy) -> Enrollment {
        Enrollment(service: SCEPService(url: url, transport: transport, log: log), policy: policy, clock: clock, random: random, log: log)
    }

    /// `discovery`, or a new one that becomes it.
    func discovered(_ enrollment: Enrollment) throws(SCEPError) -> ServerProfile {
        if let discovery { return discovery }
        let profile = try enrollment.discover()
        discovery = profile
        return profile
    }

    /// Enrolls a new (or, with `existingKey`, the present) key and installs key, certificate and chain.
    /// `replaceExistingKey`: a re-enrollment (the daemon's, after its certificate expired or went) makes
    /// a new key where one is; the old key goes only once the new certificate is installed.
    public func enroll(url: URL, policy: EnrollmentPolicy, subject: DistinguishedName, subjectAltNames: [SubjectAltName], challenge: String?,
                       keyType: KeyType, existingKey: Bool, replaceExistingKey: Bool = false, paths: OutputPaths) throws(SCEPError) -> Outcome {
        var timer = PhaseTimer(clock: clock)
        let store = CredentialStore(certificatePath: paths.certificate)
        let slot = try prepare(paths, store: store, discardingUnsaved: false)
        let key: PrivateKey
        var resumedTransaction: TransactionID? = nil
        if existingKey {
            key = try paths.loadKey(from: slot)
        } else {
            try slot.requireVacant(replacing: replaceExistingKey, use: "enroll that key")
            (key, resumedTransaction) = try slot.pendingOrNewKey(keyType, random: random)
            timer.mark("keygen")
        }

        let enrollment = enrollment(url: url, policy: policy)
        let profile = try discovered(enrollment)
        timer.mark("discover")
        let template = CertificationRequestTemplate.device(subject: subject, subjectAltNames: subjectAltNames, challengePassword: challenge, keyType: key.keyType)
        let transactionID = try transactionID(resuming: resumedTransaction)
        let result: EnrollmentResult
        do throws(SCEPError) {
            var request = CertificateRequest(template: template, key: key, transactionID: transactionID, challenge: challenge)
            request.resumesPending = resumedTransaction != nil
            result = try enrollment.enroll(request, profile: profile)
        } catch {
            if error.code == .serverPending { try slot.keepPending(transactionID: transactionID) }
            if error.code == .serverFailure && !existingKey { slot.forgetPendingRequest(log: log) }
            throw error
        }
        FaultInjection.point("oneshot.issued")
        timer.mark("enroll")
        let written = try install(result, slot: slot, ca: profile.roles.ca, paths: paths, store: store)
        timer.mark("install")
        return outcome(result, key: key, written: written, timer: timer, location: paths.key)
    }

    /// Renews the certificate at `paths` (RenewalReq when offered, signed by the current certificate),
    /// with a new key of the same type unless `reuseKey`. `challenge` decrypts a password-encrypted
    /// reply whatever `sendChallenge` says; `sendChallenge` says whether the CSR carries it.
    public func renew(url: URL, policy: EnrollmentPolicy, challenge: String?, sendChallenge: RenewalChallenge, reuseKey: Bool, keyType: KeyType?,
                      paths: OutputPaths) throws(SCEPError) -> Outcome {
        var timer = PhaseTimer(clock: clock)
        let store = CredentialStore(certificatePath: paths.certificate)
        // A pending key that never got a certificate is replaced by a new one, unless it waits for a
        // PENDING request's answer.
        let slot = try prepare(paths, store: store, discardingUnsaved: !reuseKey)
        let currentKey = try paths.loadKey(from: slot)
        let current = try paths.loadCertificate()
        guard current.publicKey.subjectPublicKeyInfo == currentKey.publicKeyInfo else {
            throw SCEPError(.verifyKeyMismatch, "certificate " + paths.certificate + " does not belong to key " + paths.key.description)
        }
        let key: PrivateKey
        var resumedTransaction: TransactionID? = nil
        if reuseKey {
            key = currentKey
        } else {
            (key, resumedTransaction) = try slot.pendingOrNewKey(keyType ?? currentKey.keyType, random: random)
        }
        timer.mark("keygen")

        let enrollment = enrollment(url: url, policy: policy)
        let profile = try discovered(enrollment)
        timer.mark("discover")
        var withChallenge = challenge != nil && sendChallenge == .yes
        var transactionID = try transactionID(resuming: resumedTransaction)
        var result: EnrollmentResult? = nil
        while result == nil {
            let template = CertificationRequestTemplate.device(
                subject: DistinguishedName(der: current.subjectDER, text: current.subjectText),
                subjectAltNames: try CertificateExtensions.subjectAltNames(certificate: current.der),
                challengePassword: withChallenge ? challenge : nil, keyType: key.keyType)
            var request = CertificateRequest(template: template, key: key, currentCertificate: current, currentKey: currentKey,
                                             transactionID: transactionID, challenge: challenge)
            request.resumesPending = resumedTransaction == transactionID
            do throws(SCEPError) {
                result = try enrollment.enroll(request, profile: profile)
            } catch {
                if error.code == .serverPending { try slot.keepPending(transactionID: transactionID) }
                guard sendChallenge == .auto, !withChallenge, challenge != nil, Self.mayWantTheChallenge(error) else {
                    if error.code == .serverFailure && !reuseKey { slot.forgetPendingRequest(log: log) }
                    throw error
                }
                // RFC 8894 says a renewal SHOULD omit the challenge; CAs that want it refuse like this.
                log.notice("the CA refused the renewal without the challenge (" + error.reason + "); sending it again with the challenge")
                withChallenge = true
                transactionID = try TransactionID.random(random)
            }
        }
        FaultInjection.point("oneshot.issued")
        timer.mark("enroll")
        let written = try install(result!, slot: slot, ca: profile.roles.ca, paths: paths, store: store)
        timer.mark("install")
        var done = outcome(result!, key: key, written: written, timer: timer, location: paths.key)
        done.sentChallenge = withChallenge
        return done
    }

    /// FAILURE badRequest or badMessageCheck: what a CA that wants the challenge on a renewal answers
    /// to one without it (scepserver 2.1.0: badRequest, "invalid challenge").
    static func mayWantTheChallenge(_ error: SCEPError) -> Bool {
        error.code == .serverFailure
            && (error.detail == FailInfo.badRequest.number || error.detail == FailInfo.badMessageCheck.number)
    }

    /// Discovery alone: capabilities, CA certificates and the pin check.
    public func discover(url: URL, policy: EnrollmentPolicy) throws(SCEPError) -> ServerProfile {
        try enrollment(url: url, policy: policy).discover()
    }

    /// GetNextCACert: the verified successor of the pinned CA.
    /// - Throws: `messageUnsupported` when the server does not offer GetNextCACert; `verify*` when the
    ///   reply is not signed for the pinned CA or holds no acceptable successor.
    public func nextCA(url: URL, policy: EnrollmentPolicy) throws(SCEPError) -> Certificate {
        let enrollment = enrollment(url: url, policy: policy)
        let profile = try enrollment.discover()
        guard let successor = try enrollment.nextCACertificate(profile: profile) else {
            throw SCEPError(.messageUnsupported, url.description + " does not offer GetNextCACert (GetCACaps: " + profile.capabilities.description
                + "): it publishes no successor of its CA")
        }
        return successor
    }

    /// GetCert: fetches the certificate with `serial`, asking with the certificate and key at `paths`.
    public func getCert(url: URL, policy: EnrollmentPolicy, serial: [UInt8], paths: OutputPaths, output: String) throws(SCEPError) -> [Certificate] {
        try FileSystem.requireWritableDirectory(for: output)
        let key = try paths.loadKey(from: openSlot(paths))
        let certificate = try paths.loadCertificate()
        let enrollment = enrollment(url: url, policy: policy)
        let certificates = try enrollment.getCert(serial: serial, certificate: certificate, key: key, profile: try enrollment.discover())
        try CredentialStore(certificatePath: output).install([CredentialFile(path: output, contents: CredentialFiles.pem(certificates), mode: FileSystem.publicFileMode)])
        return certificates
    }

    /// GetCRL: fetches the CRL covering the certificate at `paths` and writes it as PEM.
    public func getCRL(url: URL, policy: EnrollmentPolicy, paths: OutputPaths, output: String) throws(SCEPError) -> Int {
        try FileSystem.requireWritableDirectory(for: output)
        let key = try paths.loadKey(from: openSlot(paths))
        let certificate = try paths.loadCertificate()
        let enrollment = enrollment(url: url, policy: policy)
        let crls = try enrollment.getCRL(certificate: certificate, key: key, profile: try enrollment.discover())
        var text = ""
        for crl in crls { text += PEM.encode(label: "X509 CRL", der: crl) }
        try CredentialStore(certificatePath: output).install([CredentialFile(path: output, contents: Array(text.utf8), mode: FileSystem.publicFileMode)])
        return crls.count
    }

    /// The slot of `paths.key`, with this OneShot's token options; nothing is opened yet.
    public func openSlot(_ paths: OutputPaths) -> KeySlot {
        paths.key.open(tokenOptions: tokenOptions, certificatePath: paths.certificate, log: log)
    }

    /// Before a request: every output's directory is writable, and what a killed run left is finished,
    /// the set's files first (`CredentialStore.recoverLocked`), then the key's slot (`KeySlot.recover`).
    func prepare(_ paths: OutputPaths, store: CredentialStore, discardingUnsaved: Bool) throws(SCEPError) -> KeySlot {
        try paths.requireWritableDirectories()
        try store.recoverLocked(targets: paths.all)
        let slot = openSlot(paths)
        try slot.recover(discardingUnsaved: discardingUnsaved)
        return slot
    }

    /// The saved transactionID of a PENDING request, else a fresh one.
    func transactionID(resuming saved: TransactionID?) throws(SCEPError) -> TransactionID {
        if let saved { return saved }
        return try TransactionID.random(random)
    }

    /// Installs certificate, chain, CA and the slot's files (a new key file) as one set, then commits the
    /// slot's new key. A token key is not part of the set: it never leaves the token.
    func install(_ result: EnrollmentResult, slot: KeySlot, ca: Certificate, paths: OutputPaths, store: CredentialStore) throws(SCEPError) -> [String] {
        var files: [CredentialFile] = []
        if let p12 = paths.p12 {
            guard let software = slot.exportableKey() else { preconditionFailure("p12 is refused for a key that never leaves its slot when the paths are read") }
            var passphrase = try paths.p12PassphraseFile.map { path throws(SCEPError) in Array(try CredentialFiles.loadChallenge(path).utf8) }
            defer { if passphrase != nil { SecureMemory.wipe(&passphrase!) } }
            var keyDER = try PEM.decode(try software.pem())[0].der
            defer { SecureMemory.wipe(&keyDER) }
            let bundle = try PKCS12.build(key: keyDER, publicKeyInfo: software.publicKeyInfo, certificates: [result.certificate.der] + result.chain.map { $0.der },
                                          passphrase: passphrase, random: random)
            files.append(CredentialFile(path: p12, contents: bundle, ownership: paths.keyOwnership))
        }
        files += try slot.installedFiles(ownership: paths.keyOwnership)
        files.append(CredentialFile(path: paths.certificate, contents: CredentialFiles.pem([result.certificate]), ownership: paths.certificateOwnership))
        if let chain = paths.chain {
            files.append(CredentialFile(path: chain, contents: CredentialFiles.pem(result.chain), ownership: paths.chainOwnership))
        }
        if let caPath = paths.ca {
            let certificates = Self.caFileCertificates(current: ca, fetched: [], kept: paths.keptCAs, path: caPath, now: clock.now())
            files.append(CredentialFile(path: caPath, contents: CredentialFiles.pem(certificates), ownership: paths.caOwnership))
        }
        try store.withLock { () throws(SCEPError) in try store.install(files) }
        // A crash here leaves what `KeySlot.recover` finishes next time.
        FaultInjection.point("oneshot.installed")
        try slot.commit()
        return files.map { $0.path }
    }

    /// What the `ca` file holds: the CA in use, then each CA in `kept` that has not expired at `now`, from
    /// `fetched` or from the file at `path`. The file contributes only certificates whose fingerprint is in
    /// `kept`: whoever can write it can take a CA out, never put one in.
    static func caFileCertificates(current: Certificate, fetched: [Certificate], kept: [[UInt8]], path: String, now: Int64) -> [Certificate] {
        let installed = kept.isEmpty || !FileSystem.exists(path) ? [] : (try? CredentialFiles.loadCertificates(path)) ?? []
        var certificates = [current]
        for certificate in fetched + installed where certificate.notAfter > now && kept.contains(certificate.sha256Fingerprint)
            && !certificates.contains(where: { $0.der == certificate.der }) {
            certificates.append(certificate)
        }
        return certificates
    }

    func outcome(_ result: EnrollmentResult, key: PrivateKey, written: [String], timer: PhaseTimer, location: KeyLocation) -> Outcome {
        return Outcome(certificate: result.certificate, chain: result.chain, written: written, key: location, keyFingerprint: SHA256.hash(key.publicKeyInfo),
                transactionID: result.transactionID.value, messageType: result.messageType.description, polls: result.polls,
                timings: timer.phases + [("total", timer.total)])
    }
}

/// Milliseconds spent in each phase of one operation.
struct PhaseTimer {
    let clock: Clock
    let start: Int64
    var last: Int64
    var phases: [(String, Int64)] = []

    init(clock: Clock) {
        self.clock = clock
        start = clock.monotonicMilliseconds()
        last = start
    }

    mutating func mark(_ phase: String) {
        let now = clock.monotonicMilliseconds()
        phases.append((phase, now - last))
        last = now
    }

    var total: Int64 { last - start }
}
