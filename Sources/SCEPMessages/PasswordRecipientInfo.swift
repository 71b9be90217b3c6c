import DER
import SCEPCrypto
import SystemSupport

/// CMS PasswordRecipientInfo (RFC 5652 §6.2.4): the content key wrapped under a key derived from a
/// password. SCEP uses it, with the challenge password, for a party whose key cannot decrypt (an EC
/// key; RFC 8894 §3.1). Key derivation is PBKDF2 (RFC 8018 §5.2), the wrap is PWRI-KEK (RFC 3211 §2.3).
///
///     RecipientInfo ::= CHOICE { ..., pwri [3] PasswordRecipientInfo, ... }
///     PasswordRecipientInfo ::= SEQUENCE {
///         version                CMSVersion,   -- always 0
///         keyDerivationAlgorithm [0] KeyDerivationAlgorithmIdentifier OPTIONAL,
///         keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
///         encryptedKey           EncryptedKey }
///     -- keyEncryptionAlgorithm: id-alg-PWRI-KEK, whose parameters are the KEK cipher's
///     -- AlgorithmIdentifier (a CBC cipher and its IV)
///     PBKDF2-params ::= SEQUENCE {
///         salt           CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
///         iterationCount INTEGER (1..MAX),
///         keyLength      INTEGER (1..MAX) OPTIONAL,
///         prf            AlgorithmIdentifier DEFAULT algid-hmacWithSHA1 }
public enum PasswordRecipientInfo {
    /// The most PBKDF2 iterations we run for a peer. The sender picks the count and every
    /// iteration costs our CPU, so a hostile server could otherwise stall a gateway for minutes;
    /// 100,000 is 50 times OpenSSL's default (2048) and well under a second on a Cortex-A53.
    public static let maximumIterations = 100_000
    /// The count we ask for when we encrypt: five times OpenSSL's default, cheap for both sides.
    /// The challenge is meant to be a high-entropy one-time secret (RFC 8894 §7.3), so the
    /// iteration count is not what protects it.
    static let iterations = 10_000
    static let saltSize = 16
    static let tag = DER.Tag.contextConstructed(3)

    /// A `[3]` RecipientInfo wrapping `contentKey` for `password`: PBKDF2 with HMAC-SHA-256, a
    /// random salt, and the KEK cipher the same as the content cipher (never DES, as everywhere).
    static func build(contentKey: [UInt8], cipher: ContentCipher, password: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        let salt = try random.bytes(saltSize)
        let iv = try random.bytes(cipher.blockSize)
        let kek = try PBKDF2.deriveKey(password: password, salt: salt, iterations: iterations, keyLength: cipher.keySize, prf: .sha256)
        let encryptedKey = try wrap(contentKey, kek: kek, cipher: cipher, iv: iv, random: random)
        let kdfParameters = DER.sequence([
            DER.octetString(salt), DER.integer(iterations), DER.integer(cipher.keySize),
            DER.sequence([DER.oid(OID.hmacWithSHA256), DER.null()]),
        ])
        let kekAlgorithm = DER.sequence([DER.oid(AlgorithmIdentifiers.contentCipherOID(cipher)), DER.octetString(iv)])
        return DER.tlv(tag, [
            DER.integer(0),
            DER.tlv(DER.Tag.contextConstructed(0), DER.oid(OID.pbkdf2) + kdfParameters),
            DER.sequence([DER.oid(OID.pwriKEK), kekAlgorithm]),
            DER.octetString(encryptedKey),
        ].flatMap { $0 })
    }

    /// The content key from a `[3]` RecipientInfo, for `password`.
    /// - Throws: `messageUnsupported` for a key derivation other than PBKDF2 (or none), an unknown
    ///   PRF, wrap or KEK cipher, or more than `maximumIterations`; `message*`/`der*` when
    ///   malformed; `verifyChallenge` when the wrap's check bytes show a wrong password.
    static func contentKey(_ node: DERNode, password: [UInt8]) throws(SCEPError) -> [UInt8] {
        var fields = try node.elements(tag, "PasswordRecipientInfo")
        let version = try fields.next("version").smallInteger("PasswordRecipientInfo.version")
        guard version == 0 else { throw unsupported("version", String(version)) }
        guard let kdf = fields.optional(DER.Tag.contextConstructed(0)) else { throw unsupported("key derivation", "(none)") }
        var kdfFields = DERElements(children: kdf.children, what: "keyDerivationAlgorithm")
        let kdfOID = try kdfFields.next("algorithm").objectIdentifier("keyDerivationAlgorithm")
        guard kdfOID == OID.pbkdf2 else { throw unsupported("key derivation", kdfOID) }
        var parameters = try kdfFields.next(DER.Tag.sequence, "PBKDF2-params").elements(DER.Tag.sequence, "PBKDF2-params")
        let saltNode = try parameters.next("salt")
        guard saltNode.identifier == DER.Tag.octetString else { throw unsupported("PBKDF2 salt source", "otherSource") }
        let salt = try saltNode.octets("PBKDF2 salt")
        let iterationBytes = try parameters.next(DER.Tag.integer, "iterationCount").integerBytes("PBKDF2 iterationCount")
        let iterationCount = try boundedIterations(iterationBytes)
        let keyLength = try parameters.optional(DER.Tag.integer).map { node throws(SCEPError) in try node.smallInteger("PBKDF2 keyLength") }
        var prf = DigestAlgorithm.sha1  // the DEFAULT of PBKDF2-params, and what OpenSSL 3.0 sends
        if let prfNode = parameters.optional(DER.Tag.sequence) {
            var prfFields = try prfNode.elements(DER.Tag.sequence, "PBKDF2 prf")
            let prfOID = try prfFields.next("algorithm").objectIdentifier("PBKDF2 prf")
            guard let named = hmacDigest(oid: prfOID) else { throw unsupported("PBKDF2 pseudo-random function", prfOID) }
            prf = named
        }
        try parameters.finish()

        var keyEncryption = try fields.next(DER.Tag.sequence, "keyEncryptionAlgorithm").elements(DER.Tag.sequence, "keyEncryptionAlgorithm")
        let wrapOID = try keyEncryption.next("algorithm").objectIdentifier("keyEncryptionAlgorithm")
        guard wrapOID == OID.pwriKEK else { throw unsupported("key wrap", wrapOID) }
        let (kekCipher, iv) = try AlgorithmIdentifiers.cbcCipher(
            try keyEncryption.next(DER.Tag.sequence, "KEK algorithm"), "PasswordRecipientInfo key-encryption cipher")
        // A 56-bit KEK would make the password-derived key the weakest link; no RFC 8894 CA needs it.
        guard kekCipher != .desCBC else { throw unsupported("key-encryption cipher", kekCipher.description) }
        if let keyLength, keyLength != kekCipher.keySize {
            throw SCEPError(.messageMalformed, "PBKDF2 keyLength " + String(keyLength) + " does not fit the " + kekCipher.description + " KEK (" + String(kekCipher.keySize) + " bytes)")
        }
        let encryptedKey = try fields.next("encryptedKey").octets("encryptedKey")
        try fields.finish()

        let kek = try PBKDF2.deriveKey(password: password, salt: salt, iterations: iterationCount, keyLength: kekCipher.keySize, prf: prf)
        return try unwrap(encryptedKey, kek: kek, cipher: kekCipher, iv: iv)
    }

    /// One message for every choice we do not take, so the agent stays small (Embedded Swift pays in
    /// code for each string built).
    static func unsupported(_ field: String, _ value: String) -> SCEPError {
        SCEPError(.messageUnsupported, "PasswordRecipientInfo " + field + " " + value + " is not supported: this agent takes version 0, "
            + "PBKDF2 (" + OID.pbkdf2 + ") with a specified salt and HMAC-SHA-1/256/384/512, and id-alg-PWRI-KEK (" + OID.pwriKEK + ")")
    }

    /// The iteration count as an Int, refused above `maximumIterations` (and below 1).
    static func boundedIterations(_ integer: [UInt8]) throws(SCEPError) -> Int {
        let magnitude = integer.drop { $0 == 0 }
        guard integer[0] & 0x80 == 0, magnitude.count <= 4 else {
            throw SCEPError(.messageUnsupported, "PBKDF2 iteration count is out of range (the cap is " + String(maximumIterations) + ")")
        }
        var count = 0
        for byte in magnitude { count = count << 8 | Int(byte) }
        guard count >= 1 else { throw SCEPError(.messageMalformed, "PBKDF2 iteration count is 0") }
        guard count <= maximumIterations else {
            throw SCEPError(.messageUnsupported, "PBKDF2 iteration count " + String(count) + " is over this agent's cap of " + String(maximumIterations)
                + ": the server asks for too much work")
        }
        return count
    }

    static func hmacDigest(oid: String) -> DigestAlgorithm? {
        switch oid {
        case OID.hmacWithSHA1: .sha1
        case OID.hmacWithSHA256: .sha256
        case OID.hmacWithSHA384: .sha384
        case OID.hmacWithSHA512: .sha512
        default: nil
        }
    }

    /// RFC 3211 §2.3.1: length byte, the complement of the key's first three bytes (the check),
    /// the key, random padding to at least two whole blocks; then CBC twice, the second pass
    /// chained on from the first (its IV is the first pass's last block).
    static func wrap(_ key: [UInt8], kek: [UInt8], cipher: ContentCipher, iv: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        precondition(key.count >= 3 && key.count <= 255, "a content key is 8 to 32 bytes")
        let block = cipher.blockSize
        let length = max(2 * block, (4 + key.count + block - 1) / block * block)
        let formatted = [UInt8(key.count), ~key[0], ~key[1], ~key[2]] + key + (try random.bytes(length - 4 - key.count))
        let firstPass = try BlockCipher.cbcBlocks(cipher, encrypt: true, key: kek, iv: iv, blocks: formatted)
        return try BlockCipher.cbcBlocks(cipher, encrypt: true, key: kek, iv: Array(firstPass.suffix(block)), blocks: firstPass)
    }

    /// RFC 3211 §2.3.2: undo the second pass (its last block first, since that block's plaintext is
    /// the IV of the rest), then the first pass, then check the length byte and the check bytes.
    static func unwrap(_ wrapped: [UInt8], kek: [UInt8], cipher: ContentCipher, iv: [UInt8]) throws(SCEPError) -> [UInt8] {
        let block = cipher.blockSize
        guard wrapped.count >= 2 * block, wrapped.count % block == 0 else {
            throw SCEPError(.messageMalformed, "PasswordRecipientInfo encryptedKey has " + String(wrapped.count) + " bytes; "
                + cipher.description + " wrapping needs a multiple of " + String(block) + ", at least " + String(2 * block))
        }
        let lastBlock = try BlockCipher.cbcBlocks(cipher, encrypt: false, key: kek, iv: Array(wrapped.suffix(2 * block).prefix(block)),
                                                   blocks: Array(wrapped.suffix(block)))
        let firstBlocks = try BlockCipher.cbcBlocks(cipher, encrypt: false, key: kek, iv: lastBlock, blocks: Array(wrapped.dropLast(block)))
        var formatted = try BlockCipher.cbcBlocks(cipher, encrypt: false, key: kek, iv: iv, blocks: firstBlocks + lastBlock)
        defer { for index in formatted.indices { formatted[index] = 0 } }
        let keyLength = Int(formatted[0])
        guard keyLength >= 3, 4 + keyLength <= formatted.count,
              formatted[1] ^ formatted[4] == 0xFF, formatted[2] ^ formatted[5] == 0xFF, formatted[3] ^ formatted[6] == 0xFF else {
            throw SCEPError(.verifyChallenge, "the reply is encrypted to a password that is not our challenge (the RFC 3211 key wrap's check "
                + "bytes do not match): use the challenge this CA issued (--challenge-file, or challenge_file)")
        }
        return Array(formatted[4..<(4 + keyLength)])
    }
}
