import DER
import SCEPCrypto
import SystemSupport

/// Everything that signs and encrypts one SCEP request (RFC 8894 §3.2).
public struct RequestContext {
    /// The certificate that signs: the transient self-signed one, or the current one for a renewal.
    public var signerCertificate: Certificate
    public var signerKey: PrivateKey
    /// The CA or RA certificate whose key encrypts the content.
    public var recipient: Certificate
    public var cipher: ContentCipher
    public var digest: DigestAlgorithm
    public var transactionID: TransactionID
    public var senderNonce: Nonce
    public var random: RandomGenerator
    /// The challenge password: the content is encrypted to it when the recipient's key cannot
    /// decrypt (PasswordRecipientInfo, RFC 8894 §3.1). Never in the message otherwise.
    public var password: String?

    public init(signerCertificate: Certificate, signerKey: PrivateKey, recipient: Certificate, cipher: ContentCipher,
                digest: DigestAlgorithm, transactionID: TransactionID, senderNonce: Nonce, random: RandomGenerator, password: String? = nil) {
        self.signerCertificate = signerCertificate
        self.signerKey = signerKey
        self.recipient = recipient
        self.cipher = cipher
        self.digest = digest
        self.transactionID = transactionID
        self.senderNonce = senderNonce
        self.random = random
        self.password = password
    }
}

/// Builders of SCEP pkiMessages: SignedData { EnvelopedData { messageData } } with the SCEP
/// authenticated attributes (RFC 8894 §3.2.1).
public enum PKIMessage {
    /// PKCSReq (or RenewalReq) carrying a PKCS#10 request (§3.3.1).
    public static func certificateRequest(_ csr: [UInt8], type: MessageType = .pkcsReq, context: RequestContext) throws(SCEPError) -> [UInt8] {
        precondition(type == .pkcsReq || type == .renewalReq, "certificateRequest builds PKCSReq or RenewalReq")
        return try build(type: type, messageData: csr, context: context)
    }

    /// CertPoll for a PENDING request: IssuerAndSubject of the CA and the requested subject (§3.3.2).
    public static func certPoll(issuer: [UInt8], subject: [UInt8], context: RequestContext) throws(SCEPError) -> [UInt8] {
        try build(type: .certPoll, messageData: IssuerAndSubject.encode(issuer: issuer, subject: subject), context: context)
    }

    /// GetCert for the certificate with this issuer and serial (§3.3.3).
    public static func getCert(issuer: [UInt8], serial: [UInt8], context: RequestContext) throws(SCEPError) -> [UInt8] {
        try build(type: .getCert, messageData: IssuerAndSerialNumber.encode(issuer: issuer, serial: serial), context: context)
    }

    /// GetCRL for the CRL that covers this issuer and serial (§3.3.4).
    public static func getCRL(issuer: [UInt8], serial: [UInt8], context: RequestContext) throws(SCEPError) -> [UInt8] {
        try build(type: .getCRL, messageData: IssuerAndSerialNumber.encode(issuer: issuer, serial: serial), context: context)
    }

    static func build(type: MessageType, messageData: [UInt8], context: RequestContext) throws(SCEPError) -> [UInt8] {
        guard context.cipher != .desCBC else {
            throw SCEPError(.cryptoUnsupported, "single DES is never used to encrypt a request")
        }
        let envelope = try EnvelopedData.build(content: messageData, recipient: context.recipient, cipher: context.cipher,
                                               password: context.password.map { Array($0.utf8) }, random: context.random)
        return try SignedData.build(
            content: envelope,
            attributes: [
                SignedData.attribute(OID.scepTransactionID, DER.printableString(context.transactionID.value)),
                SignedData.attribute(OID.scepMessageType, DER.printableString(type.rawValue)),
                SignedData.attribute(OID.scepSenderNonce, DER.octetString(context.senderNonce.bytes)),
            ],
            signerCertificate: context.signerCertificate, key: context.signerKey, digest: context.digest)
    }
}
