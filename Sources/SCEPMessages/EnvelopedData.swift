import DER
import SCEPCrypto

/// CMS EnvelopedData with one KeyTransRecipientInfo (RFC 5652 §6), as SCEP uses it (RFC 8894 §3.1).
///
///     EnvelopedData ::= SEQUENCE {
///         version              CMSVersion,
///         originatorInfo       [0] IMPLICIT OriginatorInfo OPTIONAL,
///         recipientInfos       RecipientInfos,
///         encryptedContentInfo EncryptedContentInfo,
///         unprotectedAttrs     [1] IMPLICIT UnprotectedAttributes OPTIONAL }
///     KeyTransRecipientInfo ::= SEQUENCE {
///         version                CMSVersion,  -- 0 for issuerAndSerialNumber, 2 for subjectKeyIdentifier
///         rid                    RecipientIdentifier,
///         keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
///         encryptedKey           EncryptedKey }
///     EncryptedContentInfo ::= SEQUENCE {
///         contentType                ContentType,
///         contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
///         encryptedContent           [0] IMPLICIT EncryptedContent OPTIONAL }
public enum EnvelopedData {
    /// Encrypts `content` for `recipient` (an RSA certificate) and returns the ContentInfo DER.
    public static func build(content: [UInt8], recipient: Certificate, cipher: ContentCipher, random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        let key = try random.bytes(cipher.keySize)
        let iv = try random.bytes(cipher.blockSize)
        let encryptedContent = try BlockCipher.encrypt(cipher, key: key, iv: iv, plaintext: content)
        let encryptedKey = try recipient.publicKey.encrypt(key, random: random)
        let recipientInfo = DER.sequence([
            DER.integer(0),
            IssuerAndSerialNumber.encode(recipient),
            AlgorithmIdentifiers.rsaEncryption,
            DER.octetString(encryptedKey),
        ])
        let enveloped = DER.sequence([
            DER.integer(0),
            DER.setOf([recipientInfo]),
            DER.sequence([
                DER.oid(OID.data),
                DER.sequence([DER.oid(AlgorithmIdentifiers.contentCipherOID(cipher)), DER.octetString(iv)]),
                DER.tlv(DER.Tag.contextPrimitive(0), encryptedContent),
            ]),
        ])
        return ContentInfo.encode(contentType: OID.envelopedData, content: enveloped)
    }

    /// Decrypts an EnvelopedData ContentInfo with `key`, trying each KeyTransRecipientInfo.
    /// - Returns: the plaintext and the content cipher the sender chose.
    public static func decrypt(_ bytes: [UInt8], key: PrivateKey) throws(SCEPError) -> (content: [UInt8], cipher: ContentCipher) {
        let info = try ContentInfo(parsing: bytes, expecting: OID.envelopedData, "EnvelopedData")
        var fields = try info.content.elements(DER.Tag.sequence, "EnvelopedData")
        _ = try fields.next("version").smallInteger("EnvelopedData.version")
        _ = fields.optional(DER.Tag.contextConstructed(0))
        let recipients = try fields.next(DER.Tag.set, "recipientInfos")
        var encryptedContentInfo = try fields.next(DER.Tag.sequence, "encryptedContentInfo").elements(DER.Tag.sequence, "EncryptedContentInfo")
        _ = try encryptedContentInfo.next("contentType").objectIdentifier("EncryptedContentInfo.contentType")
        var algorithm = try encryptedContentInfo.next(DER.Tag.sequence, "contentEncryptionAlgorithm").elements(DER.Tag.sequence, "contentEncryptionAlgorithm")
        let cipherOID = try algorithm.next("algorithm").objectIdentifier("contentEncryptionAlgorithm")
        guard let cipher = AlgorithmIdentifiers.contentCipher(oid: cipherOID) else {
            throw SCEPError(.messageUnsupported, "EnvelopedData uses content cipher " + cipherOID + ", which this agent does not support")
        }
        let iv = try algorithm.next("parameters").octets("contentEncryptionAlgorithm IV")
        guard iv.count == cipher.blockSize else {
            throw SCEPError(.messageMalformed, "EnvelopedData IV has " + String(iv.count) + " bytes; " + cipher.description + " needs " + String(cipher.blockSize))
        }
        guard let encryptedNode = encryptedContentInfo.optional(DER.Tag.contextPrimitive(0)) ?? encryptedContentInfo.optional(DER.Tag.contextConstructed(0)) else {
            throw SCEPError(.messageMalformed, "EnvelopedData has no encryptedContent")
        }
        let encryptedContent = try encryptedNode.octets("encryptedContent", identifier: DER.Tag.contextPrimitive(0))

        var lastError = SCEPError(.messageMalformed, "EnvelopedData has no KeyTransRecipientInfo")
        for recipient in recipients.children {
            guard recipient.identifier == DER.Tag.sequence else { continue }
            var ktri = try recipient.elements(DER.Tag.sequence, "KeyTransRecipientInfo")
            _ = try ktri.next("version").smallInteger("KeyTransRecipientInfo.version")
            _ = try ktri.next("rid")
            var keyAlgorithm = try ktri.next(DER.Tag.sequence, "keyEncryptionAlgorithm").elements(DER.Tag.sequence, "keyEncryptionAlgorithm")
            let keyAlgorithmOID = try keyAlgorithm.next("algorithm").objectIdentifier("keyEncryptionAlgorithm")
            guard keyAlgorithmOID == OID.rsaEncryption else {
                lastError = SCEPError(.messageUnsupported, "key encryption algorithm " + keyAlgorithmOID + " is not rsaEncryption")
                continue
            }
            let encryptedKey = try ktri.next("encryptedKey").octets("encryptedKey")
            do throws(SCEPError) {
                let contentKey = try key.decrypt(encryptedKey)
                guard contentKey.count == cipher.keySize else {
                    throw SCEPError(.cryptoDecryptFailed, "content key has " + String(contentKey.count) + " bytes; " + cipher.description + " needs " + String(cipher.keySize))
                }
                let content = cipher == .desCBC
                    ? try Insecure.DES.decrypt(key: contentKey, iv: iv, ciphertext: encryptedContent)
                    : try BlockCipher.decrypt(cipher, key: contentKey, iv: iv, ciphertext: encryptedContent)
                return (content, cipher)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }
}
