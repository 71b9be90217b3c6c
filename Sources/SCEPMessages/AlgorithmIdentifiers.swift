import DER
import SCEPCrypto
import SystemSupport

/// AlgorithmIdentifier encodings and their reverse look-ups.
///
///     AlgorithmIdentifier ::= SEQUENCE {
///         algorithm   OBJECT IDENTIFIER,
///         parameters  ANY DEFINED BY algorithm OPTIONAL }
public enum AlgorithmIdentifiers {
    public static func digestOID(_ digest: DigestAlgorithm) -> String {
        switch digest {
        case .sha1: OID.sha1
        case .sha256: OID.sha256
        case .sha384: OID.sha384
        case .sha512: OID.sha512
        }
    }

    /// Digest AlgorithmIdentifier with absent parameters (RFC 5754 §2: SHOULD omit; readers accept NULL too).
    public static func digest(_ digest: DigestAlgorithm) -> [UInt8] {
        DER.sequence([DER.oid(digestOID(digest))])
    }

    public static func digestAlgorithm(oid: String) -> DigestAlgorithm? {
        switch oid {
        case OID.sha1, OID.sha1WithRSAEncryption, OID.ecdsaWithSHA1: .sha1
        case OID.sha256, OID.sha256WithRSAEncryption, OID.ecdsaWithSHA256: .sha256
        case OID.sha384, OID.sha384WithRSAEncryption, OID.ecdsaWithSHA384: .sha384
        case OID.sha512, OID.sha512WithRSAEncryption, OID.ecdsaWithSHA512: .sha512
        default: nil
        }
    }

    /// The signature algorithm of a certificate or CSR: shaNWithRSAEncryption (NULL parameters) or
    /// ecdsa-with-SHAN (parameters absent, RFC 5758 §3.2).
    public static func signature(_ keyType: KeyType, _ digest: DigestAlgorithm) -> [UInt8] {
        if keyType.isRSA {
            let oid: String
            switch digest {
            case .sha1: oid = OID.sha1WithRSAEncryption
            case .sha256: oid = OID.sha256WithRSAEncryption
            case .sha384: oid = OID.sha384WithRSAEncryption
            case .sha512: oid = OID.sha512WithRSAEncryption
            }
            return DER.sequence([DER.oid(oid), DER.null()])
        }
        let oid: String
        switch digest {
        case .sha1: oid = OID.ecdsaWithSHA1
        case .sha256: oid = OID.ecdsaWithSHA256
        case .sha384: oid = OID.ecdsaWithSHA384
        case .sha512: oid = OID.ecdsaWithSHA512
        }
        return DER.sequence([DER.oid(oid)])
    }

    /// SignerInfo.signatureAlgorithm: rsaEncryption for RSA (what OpenSSL and most SCEP servers
    /// send and accept), ecdsa-with-SHAN for EC.
    public static func signerSignature(_ keyType: KeyType, _ digest: DigestAlgorithm) -> [UInt8] {
        keyType.isRSA ? DER.sequence([DER.oid(OID.rsaEncryption), DER.null()]) : signature(keyType, digest)
    }

    public static func contentCipherOID(_ cipher: ContentCipher) -> String {
        switch cipher {
        case .aes128CBC: OID.aes128CBC
        case .aes256CBC: OID.aes256CBC
        case .tripleDESCBC: OID.desEDE3CBC
        case .desCBC: OID.desCBC
        }
    }

    public static func contentCipher(oid: String) -> ContentCipher? {
        switch oid {
        case OID.aes128CBC: .aes128CBC
        case OID.aes256CBC: .aes256CBC
        case OID.desEDE3CBC: .tripleDESCBC
        case OID.desCBC: .desCBC
        default: nil
        }
    }

    /// A CBC cipher's AlgorithmIdentifier, whose parameters are the IV: EnvelopedData's content cipher
    /// and PasswordRecipientInfo's KEK cipher.
    /// - Parameter what: names the field in messages ("EnvelopedData content cipher").
    /// - Throws: `messageUnsupported` for a cipher we do not know; `messageMalformed` for an IV of the wrong size.
    public static func cbcCipher(_ node: DERNode, _ what: String) throws(SCEPError) -> (cipher: ContentCipher, iv: [UInt8]) {
        var fields = try node.elements(DER.Tag.sequence, what)
        let oid = try fields.next("algorithm").objectIdentifier(what)
        guard let cipher = contentCipher(oid: oid) else {
            throw SCEPError(.messageUnsupported, what + " " + oid + " is not one this agent supports")
        }
        let iv = try fields.next("parameters").octets(what + " IV")
        guard iv.count == cipher.blockSize else {
            throw SCEPError(.messageMalformed, what + " IV has " + String(iv.count) + " bytes; " + cipher.description + " needs " + String(cipher.blockSize))
        }
        return (cipher, iv)
    }

    /// rsaEncryption with NULL parameters: the key-encryption algorithm of KeyTransRecipientInfo.
    public static let rsaEncryption: [UInt8] = DER.sequence([DER.oid(OID.rsaEncryption), DER.null()])
}
