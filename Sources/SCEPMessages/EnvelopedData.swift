import DER
import SCEPCrypto
import SystemSupport

/// CMS EnvelopedData with one KeyTransRecipientInfo or PasswordRecipientInfo (RFC 5652 §6), as SCEP
/// uses it (RFC 8894 §3.1).
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
    /// Encrypts `content` for `recipient` and returns the ContentInfo DER: to its RSA key
    /// (KeyTransRecipientInfo), or, for a key that cannot decrypt, to `password` (PasswordRecipientInfo,
    /// RFC 8894 §3.1).
    /// - Throws: `usage` when the recipient's key is not RSA and there is no password.
    public static func build(content: [UInt8], recipient: Certificate, cipher: ContentCipher, password: [UInt8]? = nil,
                             random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        let key = try random.bytes(cipher.keySize)
        let iv = try random.bytes(cipher.blockSize)
        let encryptedContent = try BlockCipher.encrypt(cipher, key: key, iv: iv, plaintext: content)
        let recipientInfo: [UInt8]
        if recipient.publicKey.keyType.isRSA {
            recipientInfo = DER.sequence([
                DER.integer(0),
                IssuerAndSerialNumber.encode(recipient),
                AlgorithmIdentifiers.rsaEncryption,
                DER.octetString(try recipient.publicKey.encrypt(key, random: random)),
            ])
        } else if let password {
            recipientInfo = try PasswordRecipientInfo.build(contentKey: key, cipher: cipher, password: password, random: random)
        } else {
            throw SCEPError(.usage, "the CA's key (" + recipient.subjectText + ") is " + recipient.publicKey.keyType.description
                + ", which cannot decrypt: requests to it are encrypted with the challenge password (RFC 8894 §3.1); give the challenge")
        }
        let enveloped = DER.sequence([
            // RFC 5652 §6.1: version 3 when a PasswordRecipientInfo is present, else 0 here.
            DER.integer(recipient.publicKey.keyType.isRSA ? 0 : 3),
            DER.setOf([recipientInfo]),
            DER.sequence([
                DER.oid(OID.data),
                DER.sequence([DER.oid(AlgorithmIdentifiers.contentCipherOID(cipher)), DER.octetString(iv)]),
                DER.tlv(DER.Tag.contextPrimitive(0), encryptedContent),
            ]),
        ])
        return ContentInfo.encode(contentType: OID.envelopedData, content: enveloped)
    }

    /// Decrypts an EnvelopedData ContentInfo, trying each KeyTransRecipientInfo with `key` and each
    /// PasswordRecipientInfo with `password`.
    /// - Returns: the plaintext and the content cipher the sender chose.
    public static func decrypt(_ bytes: [UInt8], key: PrivateKey?, password: [UInt8]? = nil) throws(SCEPError) -> (content: [UInt8], cipher: ContentCipher) {
        let info = try ContentInfo(parsing: bytes, expecting: OID.envelopedData, "EnvelopedData")
        var fields = try info.content.elements(DER.Tag.sequence, "EnvelopedData")
        _ = try fields.next("version").smallInteger("EnvelopedData.version")
        _ = fields.optional(DER.Tag.contextConstructed(0))
        let recipients = try fields.next(DER.Tag.set, "recipientInfos")
        var encryptedContentInfo = try fields.next(DER.Tag.sequence, "encryptedContentInfo").elements(DER.Tag.sequence, "EncryptedContentInfo")
        _ = try encryptedContentInfo.next("contentType").objectIdentifier("EncryptedContentInfo.contentType")
        let (cipher, iv) = try AlgorithmIdentifiers.cbcCipher(
            try encryptedContentInfo.next(DER.Tag.sequence, "contentEncryptionAlgorithm"), "EnvelopedData content cipher")
        guard let encryptedNode = encryptedContentInfo.optional(DER.Tag.contextPrimitive(0)) ?? encryptedContentInfo.optional(DER.Tag.contextConstructed(0)) else {
            throw SCEPError(.messageMalformed, "EnvelopedData has no encryptedContent")
        }
        let encryptedContent = try encryptedNode.octets("encryptedContent", identifier: DER.Tag.contextPrimitive(0))

        // Each PasswordRecipientInfo costs up to maximumIterations of PBKDF2, and the server chooses how
        // many it sends: one is all an envelope to us needs (RFC 8894 §3.1), so more is refused unread.
        let passwordRecipients = recipients.children.filter { $0.identifier == PasswordRecipientInfo.tag }.count
        guard passwordRecipients <= 1 else {
            throw SCEPError(.messageUnsupported, "EnvelopedData has " + String(passwordRecipients)
                + " PasswordRecipientInfos; this agent opens at most one (each costs up to "
                + String(PasswordRecipientInfo.maximumIterations) + " PBKDF2 iterations)")
        }
        var lastError = SCEPError(.messageMalformed, "EnvelopedData has no KeyTransRecipientInfo or PasswordRecipientInfo")
        for recipient in recipients.children {
            do throws(SCEPError) {
                let contentKey: [UInt8]
                if recipient.identifier == PasswordRecipientInfo.tag {
                    guard let password else {
                        lastError = SCEPError(.verifyChallenge, "the reply is encrypted to the challenge password (PasswordRecipientInfo), "
                            + "but no challenge was given: give the one this CA issued (--challenge-file, or challenge_file)")
                        continue
                    }
                    contentKey = try PasswordRecipientInfo.contentKey(recipient, password: password)
                } else if recipient.identifier == DER.Tag.sequence, let key {
                    guard let keyTransported = try transportedKey(recipient) else {
                        lastError = SCEPError(.messageUnsupported, "the reply's key encryption algorithm is not rsaEncryption")
                        continue
                    }
                    contentKey = try key.decrypt(keyTransported)
                } else {
                    continue
                }
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

    /// The encryptedKey of a KeyTransRecipientInfo, or nil when its algorithm is not rsaEncryption.
    static func transportedKey(_ recipient: DERNode) throws(SCEPError) -> [UInt8]? {
        var ktri = try recipient.elements(DER.Tag.sequence, "KeyTransRecipientInfo")
        _ = try ktri.next("version").smallInteger("KeyTransRecipientInfo.version")
        _ = try ktri.next("rid")
        var keyAlgorithm = try ktri.next(DER.Tag.sequence, "keyEncryptionAlgorithm").elements(DER.Tag.sequence, "keyEncryptionAlgorithm")
        guard try keyAlgorithm.next("algorithm").objectIdentifier("keyEncryptionAlgorithm") == OID.rsaEncryption else { return nil }
        return try ktri.next("encryptedKey").octets("encryptedKey")
    }
}
