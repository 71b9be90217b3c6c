import DER
import SCEPCrypto
import SCEPMessages

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

    public init(caFingerprint: [UInt8]?, pollIntervalSeconds: Int64 = 10, pollMaxIntervalSeconds: Int64 = 300, maxPollSeconds: Int64 = 600) {
        self.caFingerprint = caFingerprint
        self.pollIntervalSeconds = pollIntervalSeconds
        self.pollMaxIntervalSeconds = pollMaxIntervalSeconds
        self.maxPollSeconds = maxPollSeconds
    }
}

/// What GetCACaps and GetCACert told us, after the pin check.
public struct ServerProfile {
    public let capabilities: Capabilities
    public let roles: CARoles
    public let caCertificates: [Certificate]
    public let cipher: ContentCipher
    public let digest: DigestAlgorithm
    public let usePOST: Bool
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

    public init(template: CertificationRequestTemplate, key: PrivateKey, currentCertificate: Certificate? = nil, currentKey: PrivateKey? = nil) {
        self.template = template
        self.key = key
        self.currentCertificate = currentCertificate
        self.currentKey = currentKey
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
        let capabilities = try service.getCACaps()
        let certificates = try service.getCACert()
        guard !certificates.isEmpty else { throw SCEPError(.messageMalformed, "GetCACert returned no certificate") }
        let ca: Certificate
        if let pin = policy.caFingerprint {
            if let next = policy.nextCAFingerprint, let successor = certificates.first(where: { $0.sha256Fingerprint == next }),
                !certificates.contains(where: { $0.sha256Fingerprint == pin }) {
                log.notice("the CA has rolled over to " + successor.subjectText + " (sha256 " + Hex.encode(next) + "), fetched earlier with GetNextCACert")
                ca = successor
            } else {
                ca = try CAPin.select(certificates, pin: pin, url: service.url)
            }
        } else {
            ca = try CAPin.unpinnedCA(certificates)
            log.warning("INSECURE: CA not pinned; trusting " + ca.subjectText + " sha256 " + Hex.encode(ca.sha256Fingerprint) + " as sent by " + service.url.description)
        }
        let roles = CARoles(pinnedCA: ca, all: certificates)
        let cipher: ContentCipher
        let digest: DigestAlgorithm
        if capabilities.isEmpty {
            log.warning("server sent no GetCACaps: assuming a legacy server, using 3DES and SHA-1")
            cipher = .tripleDESCBC
            digest = .sha1
        } else {
            cipher = capabilities.contentCipher
            digest = capabilities.digest
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
        let csr = try CertificationRequest.build(request.template, key: request.key)
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
        let transactionID = PKIMessage.transactionID(for: request.key)
        var context = RequestContext(
            signerCertificate: signerCertificate, signerKey: signerKey, recipient: profile.roles.encryption,
            cipher: profile.cipher, digest: profile.digest, transactionID: transactionID, senderNonce: Nonce(try random.bytes(16)), random: random)
        log.info(type.description + " transaction " + transactionID.value + " to " + service.url.description)
        var reply = try exchange(try PKIMessage.certificateRequest(csr, type: type, context: context), context: context, profile: profile)

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
            log.notice("PENDING: polling again in " + Self.seconds(jittered))
            _ = clock.sleep(milliseconds: jittered)
            polls += 1
            context.senderNonce = Nonce(try random.bytes(16))
            let poll = try PKIMessage.certPoll(issuer: profile.roles.ca.subjectDER, subject: request.template.subject.der, context: context)
            reply = try exchange(poll, context: context, profile: profile)
            wait = min(wait * 2, policy.pollMaxIntervalSeconds)
        }
        try Self.requireSuccess(reply, operation: type.description)

        let decrypted = try decrypt(reply, keys: [signerKey, request.key])
        let (certificate, chain) = try Self.verifyIssued(decrypted.certificates, key: request.key, ca: profile.roles.ca, now: clock.now())
        if certificate.notBefore > clock.now() + Self.clockSkewSeconds {
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
    public func getCert(serial: [UInt8], certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> [Certificate] {
        let context = try queryContext(certificate: certificate, key: key, profile: profile)
        let message = try PKIMessage.getCert(issuer: profile.roles.ca.subjectDER, serial: serial, context: context)
        let reply = try exchange(message, context: context, profile: profile)
        try Self.requireSuccess(reply, operation: "GetCert")
        var certificates: [Certificate] = []
        for der in try decrypt(reply, keys: [key]).certificates { certificates.append(try Certificate(der: der)) }
        return certificates
    }

    /// GetCRL: the CRL covering our certificate.
    public func getCRL(certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> [[UInt8]] {
        let context = try queryContext(certificate: certificate, key: key, profile: profile)
        let message = try PKIMessage.getCRL(issuer: certificate.issuerDER, serial: certificate.serial, context: context)
        let reply = try exchange(message, context: context, profile: profile)
        try Self.requireSuccess(reply, operation: "GetCRL")
        let crls = try decrypt(reply, keys: [key]).crls
        guard !crls.isEmpty else { throw SCEPError(.messageMalformed, "GetCRL reply holds no CRL") }
        return crls
    }

    func queryContext(certificate: Certificate, key: PrivateKey, profile: ServerProfile) throws(SCEPError) -> RequestContext {
        RequestContext(signerCertificate: certificate, signerKey: key, recipient: profile.roles.encryption, cipher: profile.cipher,
                       digest: profile.digest, transactionID: PKIMessage.transactionID(for: key), senderNonce: Nonce(try random.bytes(16)),
                       random: random)
    }

    /// One PKIOperation round trip; the reply is verified (signer, transactionID, recipientNonce) before use.
    func exchange(_ message: [UInt8], context: RequestContext, profile: ServerProfile) throws(SCEPError) -> CertRep {
        let body = try service.pkiOperation(message, usePOST: profile.usePOST)
        FaultInjection.point("scep.reply-received")
        let reply = try CertRep(parsing: body, signers: profile.roles.signers)
        try reply.check(transactionID: context.transactionID, senderNonce: context.senderNonce)
        if reply.digest == .sha1 { log.warning("server signed its reply with SHA-1 (weak); accepted because the server chose it") }
        return reply
    }

    /// The reply is encrypted to the key that signed the request; some servers use the key in the CSR.
    func decrypt(_ reply: CertRep, keys: [PrivateKey]) throws(SCEPError) -> (certificates: [[UInt8]], crls: [[UInt8]], cipher: ContentCipher) {
        var failure = SCEPError(.cryptoDecryptFailed, "no key to decrypt the CertRep")
        var tried: [PrivateKey] = []
        for key in keys where !tried.contains(where: { $0 === key }) {
            tried.append(key)
            do throws(SCEPError) {
                let content = try reply.decryptContent(with: key)
                if content.cipher == .desCBC || content.cipher == .tripleDESCBC {
                    log.warning("server encrypted its reply with " + content.cipher.description + " (weak); accepted because the server chose it")
                }
                return content
            } catch {
                failure = error
            }
        }
        throw failure
    }

    static func requireSuccess(_ reply: CertRep, operation: String) throws(SCEPError) {
        guard reply.status == .success else {
            var reason = operation + " refused by the CA: FAILURE"
            if let failInfo = reply.failInfo { reason += ", failInfo " + failInfo.description }
            if let text = reply.failInfoText { reason += ", \"" + text + "\"" }
            throw SCEPError(.serverFailure, reason, detail: Int32(reply.failInfo.flatMap { Int32($0.rawValue) } ?? -1))
        }
    }

    /// Milliseconds as seconds with one decimal ("0.7 s"), for messages.
    static func seconds(_ milliseconds: Int64) -> String {
        String(milliseconds / 1000) + "." + String(milliseconds % 1000 / 100) + " s"
    }

    /// How far a certificate's notBefore may lie ahead of our clock before we say so.
    static let clockSkewSeconds: Int64 = 300

    /// Picks the certificate that carries `key`'s public key, checks it has not expired at `now` and
    /// that it chains to `ca` through the other certificates of the reply.
    public static func verifyIssued(_ ders: [[UInt8]], key: PrivateKey, ca: Certificate, now: Int64) throws(SCEPError) -> (Certificate, [Certificate]) {
        var certificates: [Certificate] = []
        for der in ders { certificates.append(try Certificate(der: der)) }
        guard let leaf = certificates.first(where: { $0.publicKey.subjectPublicKeyInfo == key.publicKeyInfo }) else {
            throw SCEPError(.verifyKeyMismatch, "the CA returned " + String(certificates.count) + " certificate(s) but none carries our public key")
        }
        guard leaf.notAfter > now else {
            throw SCEPError(.verifyChain, "the CA issued a certificate that expired at " + CivilTime(unixSeconds: leaf.notAfter).description)
        }
        let others = certificates.filter { $0 !== leaf && $0.der != ca.der }
        var chain: [Certificate] = []
        var current = leaf
        for _ in 0..<8 {
            if current.issuerDER == ca.subjectDER && current.isSigned(by: ca) {
                return (leaf, chain + [ca])
            }
            guard let issuer = others.first(where: { $0.subjectDER == current.issuerDER && $0.isCA && current.isSigned(by: $0) }),
                !chain.contains(where: { $0 === issuer }) else { break }
            chain.append(issuer)
            current = issuer
        }
        throw SCEPError(.verifyChain, "issued certificate " + leaf.subjectText + " does not chain to the pinned CA " + ca.subjectText)
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
