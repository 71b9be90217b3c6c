import DER
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// How hard to try, and what to trust.
public struct EnrollmentPolicy {
    /// SHA-256 of the CA certificate; nil only when the user opted out of pinning.
    public var caFingerprint: [UInt8]?
    /// First wait between CertPolls after PENDING, and the cap of the exponential backoff.
    public var pollIntervalSeconds: Int64
    public var pollMaxIntervalSeconds: Int64
    /// Give up polling after this long (exit code "still pending").
    public var maxPollSeconds: Int64
    /// The successor of the pinned CA, fetched earlier with GetNextCACert and verified to be signed by
    /// it: accepted as the CA once the server switches over (RFC 8894 §3.6).
    public var nextCAFingerprint: [UInt8]? = nil
    /// Refuse what scepserver-class CAs still send (`strict = yes`, `--strict`): a GetCACaps without AES
    /// and SHA-256, and single-DES or SHA-1 CertReps. Off by default, which warns instead.
    public var strict = false

    public init(caFingerprint: [UInt8]?, pollIntervalSeconds: Int64 = 10, pollMaxIntervalSeconds: Int64 = 300, maxPollSeconds: Int64 = 600) {
        self.caFingerprint = caFingerprint
        self.pollIntervalSeconds = pollIntervalSeconds
        self.pollMaxIntervalSeconds = pollMaxIntervalSeconds
        self.maxPollSeconds = maxPollSeconds
    }
}

/// What GetCACaps and GetCACert told us, after the pin check. A class of constants: handing a
/// discovery on (OneShot, the daemon's pass) copies one reference, not every field's.
public final class ServerProfile {
    public let capabilities: Capabilities
    public let roles: CARoles
    public let caCertificates: [Certificate]
    public let cipher: ContentCipher
    public let digest: DigestAlgorithm
    public let usePOST: Bool

    init(capabilities: Capabilities, roles: CARoles, caCertificates: [Certificate], cipher: ContentCipher, digest: DigestAlgorithm, usePOST: Bool) {
        self.capabilities = capabilities
        self.roles = roles
        self.caCertificates = caCertificates
        self.cipher = cipher
        self.digest = digest
        self.usePOST = usePOST
    }
}

/// One certificate request: the key to certify and who signs the request.
public struct CertificateRequest {
    public var template: CertificationRequestTemplate
    /// The key the certificate is for.
    public var key: PrivateKey
    /// For a renewal: the current certificate and its key sign the request (RFC 8894 §3.3.1.2).
    /// Nil: a transient self-signed certificate of `key` signs it (§2.3).
    public var currentCertificate: Certificate?
    public var currentKey: PrivateKey?
    /// This transaction's ID (RFC 8894 §3.2.1.1: unique per transaction): a fresh random one, or the
    /// saved one of a PENDING request being resumed.
    public var transactionID: TransactionID
    /// The challenge password, whether or not the CSR carries it: the key of PasswordRecipientInfo
    /// envelopes, which a CA uses for a key that cannot decrypt (EC) and we use for an EC CA (§3.1).
    public var challenge: String?
    /// `transactionID` is a saved PENDING transaction: ask for its result with CertPoll (§3.3.3)
    /// instead of sending the request again.
    public var resumesPending = false

    public init(template: CertificationRequestTemplate, key: PrivateKey, currentCertificate: Certificate? = nil, currentKey: PrivateKey? = nil,
                transactionID: TransactionID, challenge: String? = nil) {
        self.template = template
        self.key = key
        self.currentCertificate = currentCertificate
        self.currentKey = currentKey
        self.transactionID = transactionID
        self.challenge = challenge
    }
}

/// An issued certificate that passed every check: our key, chaining to the pinned CA.
public struct EnrollmentResult {
    public let certificate: Certificate
    /// Certificates between the issued one and the CA (often empty), then the CA.
    public let chain: [Certificate]
    public let transactionID: TransactionID
    public let messageType: MessageType
    public let polls: Int
    public let replyCipher: ContentCipher
    public let replyDigest: DigestAlgorithm
}

/// Enrollment, renewal, GetCert and GetCRL with every check RFC 8894 and our policy require.
public final class Enrollment {
    let service: SCEPService
    let clock: Clock
    let random: RandomGenerator
    let log: Log
    public let policy: EnrollmentPolicy

    public init(service: SCEPService, policy: EnrollmentPolicy, clock: Clock, random: RandomGenerator, log: Log) {
        self.service = service
        self.policy = policy
        self.clock = clock
        self.random = random
        self.log = log
    }

    /// GetCACaps, GetCACert, the pin check and algorithm negotiation. Sends nothing of ours.
    public func discover() throws(SCEPError) -> ServerProfile {
        var capabilities = Capabilities()
        var capabilitiesError: SCEPError? = nil
        do throws(SCEPError) {
            capabilities = try service.getCACaps()
        } catch {
            guard error.code == .transportHTTPStatus else { throw error }
            capabilitiesError = error
        }
        let certificates: [Certificate]
        do throws(SCEPError) {
            certificates = try service.getCACert()
        } catch {
            // Both failing is a wrong URL, not a legacy server: the first failure says so.
            throw capabilitiesError ?? error
        }
        if let capabilitiesError {
            log.warning(capabilitiesError.reason + "; GetCACert works there: treating it as a legacy server without GetCACaps")
        }
        guard !certificates.isEmpty else { throw SCEPError(.messageMalformed, "GetCACert returned no certificate") }
        let ca: Certificate
        if let pin = policy.caFingerprint {
            if let next = policy.nextCAFingerprint, let successor = certificates.first(where: { $0.sha256Fingerprint == next }),
                !certificates.contains(where: { $0.sha256Fingerprint == pin }), successor.notBefore <= clock.now() + Certificate.clockSkewSeconds {
                log.notice("the CA has rolled over to " + successor.subjectText + " (sha256 " + Hex.encode(next) + "), fetched earlier with GetNextCACert")
                ca = successor
            } else {
                ca = try CAPin.select(certificates, pin: pin, url: service.url)
            }
        } else {
            ca = try CAPin.unpinnedCA(certificates)
            log.warning("INSECURE: CA not pinned; trusting " + ca.subjectText + " sha256 " + Hex.encode(ca.sha256Fingerprint) + " as sent by " + service.url.description)
        }
        let roles = CARoles(pinnedCA: ca, all: certificates, now: clock.now())
        for ignored in roles.unverified {
            log.warning("GetCACert: ignoring " + ignored.certificate.subjectText + " (sha256 " + Hex.encode(ignored.certificate.sha256Fingerprint)
                + "): it does not verify under the pinned CA: " + ignored.reason)
        }
        let cipher: ContentCipher
        let digest: DigestAlgorithm
        if capabilities.isEmpty {
            if policy.strict {
                throw SCEPError(.messageUnsupported, "strict mode: " + service.url.description
                    + " answered GetCACaps with nothing, which means 3DES and SHA-1; the CA must offer AES and SHA-256 (or turn strict off)")
            }
            log.warning("server sent no GetCACaps: assuming a legacy server, using 3DES and SHA-1")
            cipher = .tripleDESCBC
            digest = .sha1
        } else {
            cipher = capabilities.contentCipher
            digest = capabilities.digest
            if policy.strict && (cipher == .tripleDESCBC || digest == .sha1) {
                throw SCEPError(.messageUnsupported, "strict mode: " + service.url.description + " offers " + capabilities.description
                    + " in GetCACaps, without AES and SHA-256; the CA must offer both (or turn strict off: strict = no, no --strict)")
            }
            if !capabilities.aes && !capabilities.aes256 {
                // README: 3DES only when nothing better is offered, and then with a warning.
                log.warning(capabilities.des3 ? "server offers no AES, only DES3: sending 3DES (weak)"
                                              : "server offers neither AES nor DES3; sending 3DES (never single DES)")
            }
            if digest == .sha1 { log.warning("server offers only SHA-1 for signatures") }
        }
        log.info("server capabilities: " + capabilities.description + "; using " + cipher.description + ", " + digest.description
            + (capabilities.postPKIOperation ? ", POST" : ", GET"))
        return ServerProfile(capabilities: capabilities, roles: roles, caCertificates: certificates, cipher: cipher, digest: digest,
                             usePOST: capabilities.postPKIOperation)
    }

    /// Sends PKCSReq (or RenewalReq when renewing and the server offers Renewal), polls while PENDING,
    /// and returns the verified certificate.
    public func enroll(_ request: CertificateRequest, profile: ServerProfile) throws(SCEPError) -> EnrollmentResult {
        // The CSR carries the challenge password in clear: wiped once the encrypted request is built.
        var csr = try CertificationRequest.build(request.template, key: request.key)
        defer { SecureMemory.wipe(&csr) }
        let signerCertificate: Certificate
        let signerKey: PrivateKey
        let type: MessageType
        if let current = request.currentCertificate, let currentKey = request.currentKey {
            signerCertificate = current
            signerKey = currentKey
            type = profile.capabilities.renewal ? .renewalReq : .pkcsReq
        } else {
            let selfSigned = try SignerCertificate.selfSigned(subject: request.template.subject, key: request.key, now: clock.now(), random: random)
            signerCertificate = try Certificate(der: selfSigned)
            signerKey = request.key
            type = .pkcsReq
        }
        let transactionID = request.transactionID
        var context = RequestContext(
            signerCertificate: signerCertificate, signerKey: signerKey, recipient: profile.roles.encryption,
            cipher: profile.cipher, digest: profile.digest, transactionID: transactionID, senderNonce: Nonce(try random.bytes(16)), random: random,
            password: request.challenge)
        log.info(type.description + " transaction " + transactionID.value + " to " + service.url.description)
        func certPoll() throws(SCEPError) -> CertRep {
            context.senderNonce = Nonce(try random.bytes(16))
            return try exchange(try PKIMessage.certPoll(issuer: profile.roles.ca.subjectDER, subject: request.template.subject.der, context: context),
                                context: context, profile: profile)
        }
        var reply = request.resumesPending ? try certPoll()
            : try exchange(try PKIMessage.certificateRequest(csr, type: type, context: context), context: context, profile: profile)

        var polls = 0
        let pollStart = clock.monotonicMilliseconds()
        var wait = policy.pollIntervalSeconds
        while reply.status == .pending {
            let elapsedMs = clock.monotonicMilliseconds() - pollStart
            guard elapsedMs / 1000 + wait <= policy.maxPollSeconds else {
                throw SCEPError(.serverPending, "request " + transactionID.value + " is still PENDING after " + Self.seconds(elapsedMs)
                    + " and " + String(polls) + " poll(s) (--max-poll-time " + String(policy.maxPollSeconds) + "); run the same command again to keep polling with the same key")
            }
            let jittered = try Backoff.jittered(seconds: wait, random: random)
            log.progress("waiting for approval: poll " + String(polls + 1) + ", next in " + Self.roughly((jittered + 999) / 1000)
                + ", gives up in " + Self.roughly(policy.maxPollSeconds - elapsedMs / 1000))
            _ = clock.sleep(milliseconds: jittered)
            polls += 1
            reply = try certPoll()
            wait = min(wait * 2, policy.pollMaxIntervalSeconds)
        }
        try Self.requireSuccess(reply, operation: type.description)

        let decrypted = try decrypt(reply, keys: [signerKey, request.key], password: request.challenge)
        let (certificate, chain) = try Self.verifyIssued(decrypted.certificates, key: request.key, ca: profile.roles.ca, now: clock.now())
        if certificate.notBefore > clock.now() {
            log.warning("issued certificate is valid only from " + CivilTime(unixSeconds: certificate.notBefore).description + ": is this device's clock behind?")
        }
        return EnrollmentResult(certificate: certificate, chain: chain, transactionID: transactionID, messageType: type, polls: polls,
                                replyCipher: decrypted.cipher, replyDigest: reply.digest)
    }

    /// GetNextCACert (RFC 8894 §4.7.1): the verified successor of the CA in use, signed by one of
    /// `profile.roles.signers`. Nil when the server does not offer it.
    public func nextCACertificate(profile: ServerProfile) throws(SCEPError) -> Certificate? {
        guard profile.capabilities.getNextCACert else { return nil }
        return try NextCACertificate(parsing: try service.getNextCACert(), signers: profile.roles.signers, current: profile.roles.ca).successor
    }

    /// GetCert: the certificate with `serial` issued by the pinned CA, asked for with our certificate and key.
    /// - Returns: that certificate first, then its path up to the pinned CA, all verified under it;
    ///   other certificates of the reply are left out (with a warning when they do not verify).
    public func getCert(serial: [UInt8], certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> [Certificate] {
        let context = try queryContext(certificate: certificate, key: key, profile: profile)
        let message = try PKIMessage.getCert(issuer: profile.roles.ca.subjectDER, serial: serial, context: context)
        let reply = try exchange(message, context: context, profile: profile)
        try Self.requireSuccess(reply, operation: "GetCert")
        var certificates: [Certificate] = []
        for der in try decrypt(reply, keys: [key]).certificates { certificates.append(try Certificate(der: der)) }
        guard let requested = certificates.first(where: { Self.sameSerial($0.serial, serial) }) else {
            throw SCEPError(.verifyChain, "GetCert reply holds " + String(certificates.count) + " certificate(s), none with serial " + Hex.encode(serial))
        }
        let path = try Self.verifiedPath(requested, among: certificates, ca: profile.roles.ca, now: clock.now(), what: "GetCert certificate")
        for other in certificates where !path.contains(where: { $0.der == other.der }) {
            log.warning("GetCert: leaving out " + other.subjectText + ", which is not on the requested certificate's path to the pinned CA")
        }
        return path
    }

    /// GetCRL: the CRL covering our certificate, each one verified as issued by the pinned CA or one of
    /// its verified intermediates.
    public func getCRL(certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> [[UInt8]] {
        let context = try queryContext(certificate: certificate, key: key, profile: profile)
        let message = try PKIMessage.getCRL(issuer: certificate.issuerDER, serial: certificate.serial, context: context)
        let reply = try exchange(message, context: context, profile: profile)
        try Self.requireSuccess(reply, operation: "GetCRL")
        let crls = try decrypt(reply, keys: [key]).crls
        guard !crls.isEmpty else { throw SCEPError(.messageMalformed, "GetCRL reply holds no CRL") }
        let issuers = [profile.roles.ca] + profile.roles.intermediates
        for der in crls {
            let crl = try CertificateRevocationList(der: der)
            guard let issuer = issuers.first(where: { $0.subjectDER == crl.issuerDER }) else {
                throw SCEPError(.verifySigner, "GetCRL reply holds a CRL whose issuer is neither the pinned CA " + profile.roles.ca.subjectText
                    + " nor a CA certificate verified under it; nothing was written")
            }
            do throws(SCEPError) {
                try crl.verify(issuedBy: issuer)
            } catch {
                throw SCEPError(.verifySigner, "GetCRL reply: " + error.reason + "; nothing was written")
            }
            if let next = crl.nextUpdate, next < clock.now() {
                log.warning("the CRL from " + issuer.subjectText + " is stale: its nextUpdate was " + CivilTime(unixSeconds: next).description)
            }
        }
        return crls
    }

    func queryContext(certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> RequestContext {
        RequestContext(signerCertificate: certificate, signerKey: key, recipient: profile.roles.encryption, cipher: profile.cipher,
                       digest: profile.digest, transactionID: try TransactionID.random(random), senderNonce: Nonce(try random.bytes(16)),
                       random: random)
    }

    /// One PKIOperation round trip; the reply is verified (signer, transactionID, recipientNonce) before use.
    func exchange(_ message: [UInt8], context: RequestContext, profile: ServerProfile) throws(SCEPError) -> CertRep {
        let body = try service.pkiOperation(message, usePOST: profile.usePOST)
        FaultInjection.point("scep.reply-received")
        let reply = try CertRep(parsing: body, signers: profile.roles.signers)
        try reply.check(transactionID: context.transactionID, senderNonce: context.senderNonce)
        if reply.digest == .sha1 {
            if policy.strict {
                throw SCEPError(.messageUnsupported, "strict mode: the CA signed its CertRep with SHA-1; it must use SHA-256 or stronger (or turn strict off)")
            }
            log.warning("server signed its reply with SHA-1 (weak); accepted because the server chose it")
        }
        return reply
    }

    /// The reply is encrypted to the key that signed the request; some servers use the key in the CSR;
    /// for a key that cannot decrypt, to the challenge `password` (RFC 8894 §3.1).
    func decrypt(_ reply: CertRep, keys: [PrivateKey], password: String? = nil) throws(SCEPError) -> (certificates: [[UInt8]], crls: [[UInt8]], cipher: ContentCipher) {
        let content = try openEnvelope(reply, keys: keys, password: password)
        // Judged once the envelope is open, outside the loop over keys: a later key's failure must not
        // stand in for this refusal.
        if content.cipher == .desCBC && policy.strict {
            throw SCEPError(.messageUnsupported, "strict mode: the CA encrypted its CertRep with single DES; it must use AES or 3DES (or turn strict off)")
        }
        if content.cipher == .desCBC || content.cipher == .tripleDESCBC {
            log.warning("server encrypted its reply with " + content.cipher.description + " (weak); accepted because the server chose it")
        }
        return content
    }

    /// The reply's content, opened with the first of `keys` (or the password) that can.
    func openEnvelope(_ reply: CertRep, keys: [PrivateKey], password: String?) throws(SCEPError) -> (certificates: [[UInt8]], crls: [[UInt8]], cipher: ContentCipher) {
        var failure = SCEPError(.cryptoDecryptFailed, "no key to decrypt the CertRep")
        var tried: [PrivateKey] = []
        for key in keys where !tried.contains(where: { $0 === key }) {
            tried.append(key)
            // The password does not depend on the key: its PBKDF2 (server-chosen, up to the cap) runs once.
            let firstTry = tried.count == 1
            do throws(SCEPError) {
                return try reply.decryptContent(with: key, password: firstTry ? password : nil)
            } catch {
                // Keep what the password attempt said over a later key's "no challenge was given".
                if firstTry || error.code != .verifyChallenge || password == nil { failure = error }
            }
        }
        throw failure
    }

    static func requireSuccess(_ reply: CertRep, operation: String) throws(SCEPError) {
        guard reply.status == .success else {
            var reason = operation + " refused by the CA: FAILURE"
            if let failInfo = reply.failInfo { reason += ", failInfo " + failInfo.description }
            if let text = reply.failInfoText { reason += ", \"" + text + "\"" }
            if let failInfo = reply.failInfo { reason += ": " + failInfo.likelyCause }
            throw SCEPError(.serverFailure, reason, detail: reply.failInfo?.number ?? -1)
        }
    }

    /// Seconds as a person reads a wait: "45 s", "9 min".
    static func roughly(_ seconds: Int64) -> String {
        seconds < 120 ? String(seconds) + " s" : String(seconds / 60) + " min"
    }

    /// Milliseconds as seconds with one decimal ("0.7 s"), for messages.
    static func seconds(_ milliseconds: Int64) -> String {
        String(milliseconds / 1000) + "." + String(milliseconds % 1000 / 100) + " s"
    }

    /// Picks the certificate that carries `key`'s public key and verifies it under `ca` (see `verifiedPath`).
    /// - Returns: the certificate, and its path: the certificates between it and the CA, then the CA.
    public static func verifyIssued(_ ders: [[UInt8]], key: PrivateKey, ca: Certificate, now: Int64) throws(SCEPError) -> (Certificate, [Certificate]) {
        var certificates: [Certificate] = []
        for der in ders { certificates.append(try Certificate(der: der)) }
        guard let leaf = certificates.first(where: { $0.publicKey.subjectPublicKeyInfo == key.publicKeyInfo }) else {
            throw SCEPError(.verifyKeyMismatch, "the CA returned " + String(certificates.count) + " certificate(s) but none carries our public key")
        }
        guard leaf.notAfter > now else {
            throw SCEPError(.verifyChain, "the CA issued a certificate that expired at " + CivilTime(unixSeconds: leaf.notAfter).description)
        }
        guard leaf.notBefore <= now + Certificate.clockSkewSeconds, leaf.notBefore <= leaf.notAfter else {
            throw SCEPError(.verifyChain, "the CA issued a certificate valid only from " + CivilTime(unixSeconds: leaf.notBefore).description
                + " to " + CivilTime(unixSeconds: leaf.notAfter).description + ": is this device's clock behind, or the CA's ahead?")
        }
        let path = try verifiedPath(leaf, among: certificates, ca: ca, now: now, what: "the issued certificate")
        return (leaf, Array(path.dropFirst()))
    }

    /// `leaf`'s path to `ca` through the other `certificates`, verified with `Certificate.verifyChain`:
    /// every signature (SHA-2, RSA ≥ 2048 bits), CA flags and pathLen, and each certificate valid at `now`.
    /// - Returns: `leaf` first, `ca` last.
    static func verifiedPath(_ leaf: Certificate, among certificates: [Certificate], ca: Certificate, now: Int64, what: String) throws(SCEPError) -> [Certificate] {
        let others = certificates.filter { $0 !== leaf && $0.der != ca.der }
        let path: [[UInt8]]
        do throws(SCEPError) {
            path = try Certificate.verifyChain(leaf: leaf, intermediates: others, trusted: [ca], at: now)
        } catch {
            throw SCEPError(.verifyChain, what + " does not chain to the pinned CA: " + error.reason, detail: error.detail)
        }
        var out: [Certificate] = [leaf]
        for der in path.dropFirst() { out.append(der == ca.der ? ca : (others.first { $0.der == der } ?? ca)) }
        return out
    }

    /// Serial numbers compared as integers: leading zero octets (DER's sign octet, a user's "00") do not count.
    static func sameSerial(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.drop(while: { $0 == 0 }).elementsEqual(b.drop(while: { $0 == 0 }))
    }
}

/// Exponential backoff with jitter: waits are spread over [wait/2, wait] so a fleet does not poll in step.
public enum Backoff {
    /// `seconds` with random jitter, in milliseconds, uniformly in [seconds/2, seconds].
    public static func jittered(seconds: Int64, random: RandomGenerator) throws(SCEPError) -> Int64 {
        let milliseconds = max(seconds, 0) * 1000
        guard milliseconds > 1 else { return milliseconds }
        let bytes = try random.bytes(8)
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        let half = milliseconds / 2
        return half + Int64(value % UInt64(milliseconds - half + 1))
    }
}
