// Conversions between what a PKCS#11 token hands out (CKA_MODULUS, CKA_EC_POINT, raw r||s) and the
// DER the rest of scep-agent speaks (SubjectPublicKeyInfo, DigestInfo, ECDSA-Sig-Value). Pure DER.
import DER
import SCEPCrypto
import SystemSupport

public enum KeyEncoding {
    static let rsaEncryption = "1.2.840.113549.1.1.1"
    static let ecPublicKey = "1.2.840.10045.2.1"

    static func curveOID(_ curve: ECCurve) -> String { curve == .p256 ? "1.2.840.10045.3.1.7" : "1.3.132.0.34" }
    static func coordinateSize(_ curve: ECCurve) -> Int { curve == .p256 ? 32 : 48 }

    static func digestOID(_ algorithm: DigestAlgorithm) -> String {
        switch algorithm {
        case .sha1: "1.3.14.3.2.26"
        case .sha256: "2.16.840.1.101.3.4.2.1"
        case .sha384: "2.16.840.1.101.3.4.2.2"
        case .sha512: "2.16.840.1.101.3.4.2.3"
        }
    }

    /// ```
    /// DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }
    /// ```
    /// (RFC 8017 section 9.2, with the NULL parameters its note 1 lists). CKM_RSA_PKCS signs this.
    public static func digestInfo(algorithm: DigestAlgorithm, digest: [UInt8]) throws(SCEPError) -> [UInt8] {
        guard digest.count == algorithm.outputSize else {
            throw SCEPError(.cryptoBadInput, algorithm.description + " digest must be " + String(algorithm.outputSize) + " bytes, got " + String(digest.count))
        }
        return DER.sequence([DER.sequence([DER.oid(digestOID(algorithm)), DER.null()]), DER.octetString(digest)])
    }

    /// ```
    /// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    /// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    /// ```
    /// from CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian magnitudes).
    public static func rsaSubjectPublicKeyInfo(modulus: [UInt8], exponent: [UInt8]) throws(SCEPError) -> [UInt8] {
        let n = Array(modulus.drop { $0 == 0 })
        let e = Array(exponent.drop { $0 == 0 })
        guard n.count >= 128, n.count <= 1024, !e.isEmpty, e.count <= 8 else {
            throw SCEPError(.tokenError, "the token's RSA public key is unusable: modulus " + String(n.count * 8) + " bits, exponent " + String(e.count) + " bytes")
        }
        let key = DER.sequence([DER.unsignedInteger(n), DER.unsignedInteger(e)])
        return DER.sequence([DER.sequence([DER.oid(rsaEncryption), DER.null()]), DER.bitString(key)])
    }

    /// RSA key size in bits from a modulus, rounded to the sizes `KeyType` names.
    public static func rsaBits(modulus: [UInt8]) -> Int {
        let n = Array(modulus.drop { $0 == 0 })
        guard let first = n.first else { return 0 }
        return (n.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }

    /// CKA_EC_PARAMS for a named curve: the DER OBJECT IDENTIFIER (ECParameters namedCurve choice).
    public static func ecParameters(_ curve: ECCurve) -> [UInt8] { DER.oid(curveOID(curve)) }

    /// The curve named by CKA_EC_PARAMS, nil for any other.
    public static func curve(ecParameters: [UInt8]) -> ECCurve? {
        if ecParameters == DER.oid(curveOID(.p256)) { return .p256 }
        if ecParameters == DER.oid(curveOID(.p384)) { return .p384 }
        return nil
    }

    /// SubjectPublicKeyInfo for an EC key from CKA_EC_POINT, which PKCS#11 2.40 says is a DER OCTET
    /// STRING holding the uncompressed point; some modules hand out the bare point. Both are accepted
    /// and told apart by length (a bare P-256 point is 65 bytes, the wrapped one 67).
    public static func ecSubjectPublicKeyInfo(curve: ECCurve, ecPoint: [UInt8]) throws(SCEPError) -> [UInt8] {
        let size = 1 + 2 * coordinateSize(curve)
        var point = ecPoint
        if ecPoint.count != size {
            let node = try DERNode(parsing: ecPoint, limits: .der)
            point = try node.octets("CKA_EC_POINT")
        }
        guard point.count == size, point[0] == 0x04 else {
            throw SCEPError(.tokenError, "the token's EC public key is not an uncompressed " + curve.description + " point (" + String(ecPoint.count) + " bytes)")
        }
        return DER.sequence([DER.sequence([DER.oid(ecPublicKey), DER.oid(curveOID(curve))]), DER.bitString(point)])
    }

    /// ```
    /// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
    /// ```
    /// from CKM_ECDSA's output, r and s concatenated, each the curve's size (PKCS#11 2.40 section 2.3.1).
    public static func ecdsaSignature(raw: [UInt8], curve: ECCurve) throws(SCEPError) -> [UInt8] {
        let size = coordinateSize(curve)
        guard raw.count == 2 * size else {
            throw SCEPError(.tokenError, "the token's ECDSA signature is " + String(raw.count) + " bytes, expected " + String(2 * size) + " for " + curve.description)
        }
        return DER.sequence([DER.unsignedInteger(Array(raw[0..<size])), DER.unsignedInteger(Array(raw[size...]))])
    }
}
