import DER
import SCEPCrypto
import SystemSupport

/// A verified CertRep (RFC 8894 §3.3.2): the signature checked against one of the CA/RA
/// certificates, the SCEP attributes read. Decrypt the certificates with `decryptContent(with:password:)`.
public struct CertRep {
    public let status: PKIStatus
    public let failInfo: FailInfo?
    public let failInfoText: String?
    public let transactionID: TransactionID
    public let senderNonce: Nonce?
    public let recipientNonce: Nonce?
    /// The digest the server signed with (scepserver: SHA-1).
    public let digest: DigestAlgorithm
    /// The CA/RA certificate whose key verified the signature.
    public let signer: Certificate
    /// The EnvelopedData ContentInfo (SUCCESS only).
    public let envelope: [UInt8]?

    /// Parses `bytes` and verifies its signature with whichever of `signers` it names.
    /// - Throws: `verifySigner` when no candidate's key verifies it; `message*` when malformed.
    public init(parsing bytes: [UInt8], signers: [Certificate]) throws(SCEPError) {
        let signedData = try SignedData(parsing: bytes)
        guard signedData.signerInfos.count == 1 else {
            throw SCEPError(.messageMalformed, "CertRep has " + String(signedData.signerInfos.count) + " signers, expected 1")
        }
        let signerInfo = signedData.signerInfos[0]
        var verifiedBy: Certificate? = nil
        var failure = SCEPError(.verifySigner, "CertRep is signed by a certificate that is neither the pinned CA nor one of its RAs allowed to sign (keyUsage digitalSignature)")
        for candidate in signers where signerInfo.signer.matches(candidate) {
            do throws(SCEPError) {
                try signerInfo.verify(content: signedData.content, with: candidate)
                verifiedBy = candidate
                break
            } catch {
                failure = SCEPError(.verifySigner, "CertRep signature check failed: " + error.reason)
            }
        }
        guard let signer = verifiedBy else { throw failure }
        self.signer = signer
        digest = signerInfo.digest

        guard let typeNode = try signerInfo.attribute(OID.scepMessageType) else {
            throw SCEPError(.messageBadAttribute, "CertRep has no messageType attribute")
        }
        let typeText = try typeNode.text("messageType")
        guard MessageType(rawValue: typeText) == .certRep else {
            throw SCEPError(.messageBadAttribute, "reply has messageType " + ASCII.printable(typeText) + ", expected 3 (CertRep)")
        }
        guard let statusNode = try signerInfo.attribute(OID.scepPKIStatus) else {
            throw SCEPError(.messageBadAttribute, "CertRep has no pkiStatus attribute")
        }
        let statusText = try statusNode.text("pkiStatus")
        guard let status = PKIStatus(rawValue: statusText) else {
            throw SCEPError(.messageBadAttribute, "CertRep pkiStatus '" + ASCII.printable(statusText) + "' is not 0, 2 or 3")
        }
        self.status = status
        guard let transactionNode = try signerInfo.attribute(OID.scepTransactionID) else {
            throw SCEPError(.messageBadAttribute, "CertRep has no transactionID attribute")
        }
        transactionID = TransactionID(try transactionNode.text("transactionID"))
        senderNonce = try signerInfo.attribute(OID.scepSenderNonce).map { node throws(SCEPError) in Nonce(try node.octets("senderNonce")) }
        recipientNonce = try signerInfo.attribute(OID.scepRecipientNonce).map { node throws(SCEPError) in Nonce(try node.octets("recipientNonce")) }
        if status == .failure {
            let failText = try signerInfo.attribute(OID.scepFailInfo)?.text("failInfo")
            failInfo = failText.flatMap { FailInfo(rawValue: $0) }
            if let failText, failInfo == nil {
                throw SCEPError(.messageBadAttribute, "CertRep failInfo '" + ASCII.printable(failText) + "' is not 0 to 4")
            }
            // The server's own words go into messages, logs and state: printable ASCII only.
            if let text = try signerInfo.attribute(OID.scepFailInfoText)?.text("failInfoText") {
                failInfoText = ASCII.printable(text)
            } else {
                failInfoText = nil
            }
        } else {
            failInfo = nil
            failInfoText = nil
        }
        if status == .success {
            guard let content = signedData.content, signedData.contentType == OID.data else {
                throw SCEPError(.messageMalformed, "CertRep SUCCESS carries no enveloped content")
            }
            envelope = content
        } else {
            envelope = nil
        }
    }

    /// Checks that this reply answers our request: same transactionID, and our senderNonce echoed
    /// as its recipientNonce (RFC 8894 §3.2.1.5).
    public func check(transactionID expected: TransactionID, senderNonce: Nonce) throws(SCEPError) {
        guard transactionID == expected else {
            throw SCEPError(.verifyTransactionID, "CertRep transactionID " + ASCII.printable(transactionID.value) + " is not ours (" + expected.value + ")")
        }
        guard let recipientNonce else {
            throw SCEPError(.verifyNonce, "CertRep has no recipientNonce: cannot prove it answers this request")
        }
        guard recipientNonce == senderNonce else {
            throw SCEPError(.verifyNonce, "CertRep recipientNonce " + recipientNonce.description + " does not echo our senderNonce " + senderNonce.description)
        }
    }

    /// Decrypts the envelope with the requester's key, or with the challenge password when the CA
    /// encrypted to it (PasswordRecipientInfo, for a key that cannot decrypt), and returns the
    /// degenerate SignedData's certificates and CRLs, with the cipher the server chose.
    public func decryptContent(with key: PrivateKey, password: String? = nil) throws(SCEPError) -> (certificates: [[UInt8]], crls: [[UInt8]], cipher: ContentCipher) {
        guard let envelope else {
            throw SCEPError(.messageMalformed, "CertRep " + status.description + " has no content to decrypt")
        }
        let (plaintext, cipher) = try EnvelopedData.decrypt(envelope, key: key, password: password.map { Array($0.utf8) })
        let degenerate = try SignedData(parsing: plaintext)
        return (degenerate.certificates, degenerate.crls, cipher)
    }
}
