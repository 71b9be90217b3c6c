import CSCEPShim
import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SCEPPKCS11

/// Where the outputs of one certificate go, and who owns them.
public struct OutputPaths {
    public var key: String
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

    public init(key: String, certificate: String, chain: String?, ca: String? = nil) {
        self.key = key
        self.certificate = certificate
        self.chain = chain
        self.ca = ca
    }

    /// What set a path, for errors: the option on the command line, else the key in its config section.
    func setting(_ option: String, _ key: String) -> String {
        section.map { key + " in [cert " + $0 + "]" } ?? option
    }

    func loadKey(_ oneShot: OneShot) throws(SCEPError) -> PrivateKey {
        try CredentialFiles.naming("key", setBy: setting("--key", "key")) { () throws(SCEPError) in try oneShot.loadKey(key) }
    }

    func loadCertificate() throws(SCEPError) -> Certificate {
        try CredentialFiles.naming("certificate", setBy: setting("--cert", "cert")) { () throws(SCEPError) in try CredentialFiles.loadCertificate(certificate) }
    }

    /// Each file's directory must exist and be writable before anything is sent; an error names the file's role.
    func requireWritableDirectories() throws(SCEPError) {
        let files: [(path: String?, role: String, option: String, key: String)] = [
            (keyIsToken ? nil : key, "key", "--key", "key"), (certificate, "certificate", "--cert", "cert"),
            (chain, "chain", "--chain", "chain"), (ca, "CA file", "ca", "ca"),
        ]
        for file in files {
            guard let path = file.path else { continue }
            try CredentialFiles.naming(file.role, setBy: setting(file.option, file.key)) { () throws(SCEPError) in try FileSystem.requireWritableDirectory(for: path) }
        }
    }

    /// True when `key` is a `pkcs11:` URI: the key is then no file and never written.
    public var keyIsToken: Bool { PKCS11URI.isPKCS11(key) }

    /// The files of the set (a token key is none of them).
    var all: [String] { (keyIsToken ? [] : [key]) + [certificate] + (chain.map { [$0] } ?? []) + (ca.map { [$0] } ?? []) + (p12.map { [$0] } ?? []) }

    /// A generated key waits here while its request is PENDING, with the transaction's ID (see
    /// `PendingRequest`), so a rerun resumes the same transaction.
    var pendingKey: String { FileSystem.directory(of: key) + "/." + FileSystem.baseName(of: key) + ".scep-pending" }
    /// Where `FileSystem.replaceAtomically` writes the pending key before renaming it to `pendingKey`.
    var pendingKeyTemporary: String { pendingKey + ".tmp" }
    /// A token key's PENDING transaction is named here, beside the certificate (the key itself waits on
    /// the token as a pending pair).
    var pendingTransaction: String { FileSystem.directory(of: certificate) + "/." + FileSystem.baseName(of: certificate) + ".scep-pending" }
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
    /// Where the key is: its file path, or its `pkcs11:` URI (without pin-value).
    public let key: String
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
    public func enroll(url: URL, policy: EnrollmentPolicy, subject: DistinguishedName, subjectAltNames: [SubjectAltName], challenge: String?,
                       keyType: KeyType, existingKey: Bool, replaceExistingKey: Bool = false, paths: OutputPaths) throws(SCEPError) -> Outcome {
        var timer = PhaseTimer(clock: clock)
        let store = CredentialStore(certificatePath: paths.certificate)
        try paths.requireWritableDirectories()
        try store.recoverLocked(targets: paths.all)
        try discardInstalledPendingKey(paths: paths)

        let key: PrivateKey
        var keyIsNew = false
        var resumedTransaction: TransactionID? = nil
        var token: TokenKeySlot? = nil
        var tokenKey: PKCS11PrivateKey? = nil
        // The token pair a re-enrollment replaces (the daemon's, after its certificate expired or went):
        // destroyed by commit() only once the new certificate is installed.
        var replacedTokenKey: PKCS11PrivateKey? = nil
        if paths.keyIsToken {
            let slot = try openRecoveredToken(paths, discardPending: false)
            let current = existingKey ? nil : try slot.current()
            if existingKey {
                tokenKey = try slot.existing()
            } else if current != nil && !replaceExistingKey {
                throw SCEPError(.fileExists, "key " + slot.uri.description + " already exists on token " + slot.store.session.tokenLabel + ": pass --existing-key to enroll that key, or delete it to make a new one")
            } else if let pending = try slot.pending().first {
                replacedTokenKey = current
                tokenKey = pending
                keyIsNew = true
                log.notice("resuming with the key made on the token by an earlier run")
                resumedTransaction = FileSystem.exists(paths.pendingTransaction)
                    ? PendingRequest.transactionID(in: try FileSystem.read(paths.pendingTransaction)) : nil
            } else {
                replacedTokenKey = current
                log.generatingKey(keyType, onToken: true)
                tokenKey = try slot.generatePending(keyType, random: random)
                keyIsNew = true
                timer.mark("keygen")
            }
            token = slot
            key = tokenKey!
        } else if existingKey {
            key = try paths.loadKey(self)
        } else if FileSystem.exists(paths.key) && !replaceExistingKey {
            throw SCEPError(.fileExists, "key file " + paths.key + " exists: pass --existing-key to enroll that key, or remove it to make a new one")
        } else {
            (key, resumedTransaction) = try pendingOrNewKey(keyType, paths: paths)
            keyIsNew = true
            FaultInjection.point("oneshot.key-generated")
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
            if error.code == .serverPending && keyIsNew { try keepPendingKey(key, transactionID: transactionID, paths: paths) }
            if error.code == .serverFailure && keyIsNew { discardPendingRequest(paths: paths, token: token) }
            throw error
        }
        FaultInjection.point("oneshot.issued")
        timer.mark("enroll")
        let written = try install(result, key: keyIsNew ? key : nil, certifiedKey: key, ca: profile.roles.ca, paths: paths, store: store)
        if let token, let tokenKey, keyIsNew { try token.commit(new: tokenKey, old: replacedTokenKey) }
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
        try paths.requireWritableDirectories()
        try store.recoverLocked(targets: paths.all)
        try discardInstalledPendingKey(paths: paths)
        var token: TokenKeySlot? = nil
        let currentKey: PrivateKey
        if paths.keyIsToken {
            // A pending pair left after recover() never got its certificate: a new key replaces it,
            // unless it waits for a PENDING request's answer.
            let slot = try openRecoveredToken(paths, discardPending: !reuseKey)
            currentKey = try slot.existing()
            token = slot
        } else {
            currentKey = try paths.loadKey(self)
        }
        let current = try paths.loadCertificate()
        guard current.publicKey.subjectPublicKeyInfo == currentKey.publicKeyInfo else {
            throw SCEPError(.verifyKeyMismatch, "certificate " + paths.certificate + " does not belong to key " + paths.key)
        }
        var tokenKey: PKCS11PrivateKey? = nil
        let key: PrivateKey
        var resumedTransaction: TransactionID? = nil
        if reuseKey {
            key = currentKey
        } else if let token {
            if let pending = try token.pending().first {
                log.notice("resuming the pending request with the key made on the token by an earlier run")
                tokenKey = pending
                resumedTransaction = PendingRequest.transactionID(in: try FileSystem.read(paths.pendingTransaction))
            } else {
                log.generatingKey(keyType ?? currentKey.keyType, onToken: true)
                tokenKey = try token.generatePending(keyType ?? currentKey.keyType, random: random)
            }
            key = tokenKey!
        } else {
            (key, resumedTransaction) = try pendingOrNewKey(keyType ?? currentKey.keyType, paths: paths)
            FaultInjection.point("oneshot.key-generated")
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
                if error.code == .serverPending && !reuseKey { try keepPendingKey(key, transactionID: transactionID, paths: paths) }
                guard sendChallenge == .auto, !withChallenge, challenge != nil, Self.mayWantTheChallenge(error) else {
                    if error.code == .serverFailure && !reuseKey { discardPendingRequest(paths: paths, token: token) }
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
        let written = try install(result!, key: reuseKey ? nil : key, certifiedKey: key, ca: profile.roles.ca, paths: paths, store: store)
        if let token, let tokenKey, let old = currentKey as? PKCS11PrivateKey { try token.commit(new: tokenKey, old: old) }
        timer.mark("install")
        var done = outcome(result!, key: key, written: written, timer: timer, location: paths.key)
        done.sentChallenge = withChallenge
        return done
    }

    /// FAILURE badRequest or badMessageCheck: what a CA that wants the challenge on a renewal answers
    /// to one without it (scepserver 2.1.0: badRequest, "invalid challenge").
    static func mayWantTheChallenge(_ error: SCEPError) -> Bool {
        error.code == .serverFailure
            && (error.detail == Int32(FailInfo.badRequest.rawValue) || error.detail == Int32(FailInfo.badMessageCheck.rawValue))
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
        let key = try paths.loadKey(self)
        let certificate = try paths.loadCertificate()
        let enrollment = enrollment(url: url, policy: policy)
        let certificates = try enrollment.getCert(serial: serial, certificate: certificate, key: key, profile: try enrollment.discover())
        try CredentialStore(certificatePath: output).install([CredentialFile(path: output, contents: CredentialFiles.pem(certificates), mode: FileSystem.publicFileMode)])
        return certificates
    }

    /// GetCRL: fetches the CRL covering the certificate at `paths` and writes it as PEM.
    public func getCRL(url: URL, policy: EnrollmentPolicy, paths: OutputPaths, output: String) throws(SCEPError) -> Int {
        try FileSystem.requireWritableDirectory(for: output)
        let key = try paths.loadKey(self)
        let certificate = try paths.loadCertificate()
        let enrollment = enrollment(url: url, policy: policy)
        let crls = try enrollment.getCRL(certificate: certificate, key: key, profile: try enrollment.discover())
        var text = ""
        for crl in crls { text += PEM.encode(label: "X509 CRL", der: crl) }
        try CredentialStore(certificatePath: output).install([CredentialFile(path: output, contents: Array(text.utf8), mode: FileSystem.publicFileMode)])
        return crls.count
    }

    /// Opens the token a `pkcs11:` key names, with this OneShot's token options.
    func openToken(_ text: String) throws(SCEPError) -> TokenKeySlot {
        let location = try KeyLocation(text)
        guard let uri = location.uri else { preconditionFailure("openToken needs a pkcs11: URI") }
        return try TokenKeySlot(uri: uri, options: tokenOptions)
    }

    /// The token for `paths.key`, with what a killed run left on it finished (recover()) and, with
    /// `discardPending`, pending pairs that never got a certificate destroyed. When anything was destroyed
    /// the token is opened again (C_Finalize, C_Initialize, a login with the PIN it has just accepted)
    /// before a new pair can be made: tpm2-pkcs11 (1.9) fills handle gaps counting from 2 whatever the
    /// lowest handle is, so once the oldest objects are destroyed a pair made in the same C_Initialize gets
    /// handles that objects still on the token have, and the key that signs, is certified and is relabeled
    /// is not the new one. A fresh C_Initialize numbers the objects from 1 again.
    /// A pending pair whose PENDING transaction is saved (`pendingTransaction`, one pair) is kept: it
    /// waits for the CA's answer.
    func openRecoveredToken(_ paths: OutputPaths, discardPending: Bool) throws(SCEPError) -> TokenKeySlot {
        var slot: TokenKeySlot? = try openToken(paths.key)
        var destroyed = try slot!.recover(certificatePath: paths.certificate)
        if discardPending, try slot!.pending().count != 1 || !FileSystem.exists(paths.pendingTransaction) {
            destroyed = try slot!.discardPending() || destroyed
            try FileSystem.remove(paths.pendingTransaction)
        }
        if destroyed {
            // Released first: its session closes and the module is finalized before it is initialized again.
            slot = nil
            slot = try openToken(paths.key)
        }
        return slot!
    }

    /// The existing key at a file path or `pkcs11:` URI.
    public func loadKey(_ text: String) throws(SCEPError) -> PrivateKey {
        PKCS11URI.isPKCS11(text) ? try openToken(text).existing() : try CredentialFiles.loadPrivateKey(text)
    }

    /// The saved transactionID of a PENDING request, else a fresh one.
    func transactionID(resuming saved: TransactionID?) throws(SCEPError) -> TransactionID {
        if let saved { return saved }
        return try TransactionID.random(random)
    }

    /// The key and transactionID saved while a request was PENDING, or a new key (and nil).
    func pendingOrNewKey(_ type: KeyType, paths: OutputPaths) throws(SCEPError) -> (PrivateKey, TransactionID?) {
        if FileSystem.exists(paths.pendingKey) {
            log.notice("resuming the pending request with the key saved in " + paths.pendingKey)
            let key = try CredentialFiles.loadPrivateKey(paths.pendingKey)
            let transactionID = PendingRequest.transactionID(in: try FileSystem.read(paths.pendingKey))
            if transactionID == nil { log.warning(paths.pendingKey + " names no transactionID: the pending key is sent as a new transaction") }
            return (key, transactionID)
        }
        log.generatingKey(type, onToken: false)
        return (try SoftwarePrivateKey.generate(type, random: random), nil)
    }

    /// Removes the pending key when it is the installed key already: a run that installed it was killed
    /// before removing it. Resuming with it would "renew" to the same key (and transactionID).
    /// Also removes a pending key's temporary that a run killed while saving it left behind.
    func discardInstalledPendingKey(paths: OutputPaths) throws(SCEPError) {
        guard !paths.keyIsToken else { return }
        if FileSystem.exists(paths.pendingKeyTemporary) {
            log.notice("removing " + paths.pendingKeyTemporary + ": a run was stopped while saving its pending key there")
            try FileSystem.remove(paths.pendingKeyTemporary)
            try FileSystem.syncDirectory(FileSystem.directory(of: paths.pendingKeyTemporary))
        }
        guard FileSystem.exists(paths.pendingKey), FileSystem.exists(paths.key),
              let pending = try? CredentialFiles.loadPrivateKey(paths.pendingKey),
              let installed = try? CredentialFiles.loadPrivateKey(paths.key),
              pending.publicKeyInfo == installed.publicKeyInfo else { return }
        log.notice("removing " + paths.pendingKey + ": it is the installed key " + paths.key + " already")
        try FileSystem.remove(paths.pendingKey)
        try FileSystem.syncDirectory(FileSystem.directory(of: paths.pendingKey))
    }

    /// Forgets a PENDING request (the CA refused it, or `pending_max` passed): its saved key (a token's
    /// pending pair) and transactionID, so the next attempt is a new request. Failures are logged: the
    /// request is over either way.
    func discardPendingRequest(paths: OutputPaths, token: TokenKeySlot? = nil) {
        do throws(SCEPError) {
            if paths.keyIsToken { _ = try (token != nil ? token! : openToken(paths.key)).discardPending() }
            let path = paths.keyIsToken ? paths.pendingTransaction : paths.pendingKey
            guard FileSystem.exists(path) else { return }
            try FileSystem.remove(path)
            try FileSystem.syncDirectory(FileSystem.directory(of: path))
            log.notice("removed " + path + ": the request it waited for is over")
        } catch {
            log.warning("cannot discard the pending request's key: " + error.reason)
        }
    }

    /// Keeps a PENDING request's new software key (0600) and its transactionID so the next run polls
    /// the same transaction; a token key stays on its token as a pending pair, its transactionID in
    /// `pendingTransaction`.
    func keepPendingKey(_ key: PrivateKey, transactionID: TransactionID, paths: OutputPaths) throws(SCEPError) {
        let path: String
        let contents: [UInt8]
        if paths.keyIsToken {
            (path, contents) = (paths.pendingTransaction, PendingRequest.contents(keyPEM: "", transactionID: transactionID))
        } else {
            guard let software = key as? SoftwarePrivateKey else { return }
            (path, contents) = (paths.pendingKey, PendingRequest.contents(keyPEM: try software.pem(), transactionID: transactionID))
        }
        // Rewritten only when it changes (a retry with the challenge is a new transaction).
        if FileSystem.exists(path), (try? FileSystem.read(path)) == contents { return }
        // Atomically: a crash mid-write must not leave a truncated pending key, which every later run
        // would try to resume and fail to read.
        try FileSystem.replaceAtomically(path, contents, mode: FileSystem.privateKeyMode, faultPoint: "oneshot.pending")
    }

    /// Installs certificate, chain, CA and (for a new software key) the key file as one set. A token
    /// key is not part of the set: it never leaves the token.
    func install(_ result: EnrollmentResult, key: PrivateKey?, certifiedKey: PrivateKey, ca: Certificate, paths: OutputPaths, store: CredentialStore) throws(SCEPError) -> [String] {
        var files: [CredentialFile] = []
        if let p12 = paths.p12 {
            guard let software = certifiedKey as? SoftwarePrivateKey else { preconditionFailure("p12 is refused for a token key when the config is read") }
            var passphrase = try paths.p12PassphraseFile.map { path throws(SCEPError) in Array(try CredentialFiles.loadChallenge(path).utf8) }
            defer { if passphrase != nil { SecureMemory.wipe(&passphrase!) } }
            var keyDER = try PEM.decode(try software.pem())[0].der
            defer { SecureMemory.wipe(&keyDER) }
            let bundle = try PKCS12.build(key: keyDER, publicKeyInfo: software.publicKeyInfo, certificates: [result.certificate.der] + result.chain.map { $0.der },
                                          passphrase: passphrase, random: random)
            files.append(CredentialFile(path: p12, contents: bundle, ownership: paths.keyOwnership))
        }
        if let key, !paths.keyIsToken {
            guard let software = key as? SoftwarePrivateKey else { preconditionFailure("a key file is only ever written for a software key") }
            files.append(CredentialFile(path: paths.key, contents: Array(try software.pem().utf8), ownership: paths.keyOwnership))
        }
        files.append(CredentialFile(path: paths.certificate, contents: CredentialFiles.pem([result.certificate]), ownership: paths.certificateOwnership))
        if let chain = paths.chain {
            files.append(CredentialFile(path: chain, contents: CredentialFiles.pem(result.chain), ownership: paths.chainOwnership))
        }
        if let caPath = paths.ca {
            let certificates = Self.caFileCertificates(current: ca, fetched: [], kept: paths.keptCAs, path: caPath, now: clock.now())
            files.append(CredentialFile(path: caPath, contents: CredentialFiles.pem(certificates), ownership: paths.caOwnership))
        }
        try store.withLock { () throws(SCEPError) in try store.install(files) }
        // A crash here leaves a software key both installed and pending; discardInstalledPendingKey
        // removes it next time. A token key still has its temporary label; TokenKeySlot.recover renames it.
        FaultInjection.point("oneshot.installed")
        try FileSystem.remove(paths.keyIsToken ? paths.pendingTransaction : paths.pendingKey)
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

    func outcome(_ result: EnrollmentResult, key: PrivateKey, written: [String], timer: PhaseTimer, location: String) -> Outcome {
        return Outcome(certificate: result.certificate, chain: result.chain, written: written, key: PKCS11URI.redacted(location), keyFingerprint: SHA256.hash(key.publicKeyInfo),
                transactionID: result.transactionID.value, messageType: result.messageType.description, polls: result.polls,
                timings: timer.phases + [("total", timer.total)])
    }
}

extension Log {
    /// Progress before a key is made: an RSA key takes seconds on a board, any key on a token (1 s on a
    /// TPM here); an EC key in software is instant and needs no word.
    public func generatingKey(_ type: KeyType, onToken: Bool) {
        if onToken {
            progress("generating " + type.description + " key on the token...")
        } else if case .rsa = type {
            progress("generating " + type.description + " key...")
        }
    }
}

/// The `.KEY.scep-pending` file: the key's PEM, then one line naming the transaction, so a rerun
/// resumes the same transaction (RFC 8894 §3.2.1.1: a resend or a poll keeps its transactionID).
/// PEM readers (mbedTLS, OpenSSL) ignore text after the END line.
enum PendingRequest {
    static let transactionLabel = "scep-transaction-id: "

    static func contents(keyPEM: String, transactionID: TransactionID) -> [UInt8] {
        Array((keyPEM + transactionLabel + transactionID.value + "\n").utf8)
    }

    /// The transactionID line's value; nil when there is none (a file from an older version).
    static func transactionID(in bytes: [UInt8]) -> TransactionID? {
        let label = Array(transactionLabel.utf8)
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: label) {
            let value = line.dropFirst(label.count)
            // Ours are hex (TransactionID.random; older versions wrote 64 hex digits of a key hash).
            let text = String(decoding: value, as: UTF8.self)
            guard !value.isEmpty, value.count <= 64, Hex.decode(text) != nil, !value.contains(UInt8(ascii: ":")) else { return nil }
            return TransactionID(text)
        }
        return nil
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
