import DER
import Foundation
import SCEPCrypto
import SCEPPKCS11
import SystemSupport
import Testing

@Suite struct KeyEncodingTests {
    /// RFC 8017 section 9.2 note 1: the DER prefixes of DigestInfo.
    @Test func digestInfoMatchesRFC8017Prefixes() throws {
        let prefixes: [(DigestAlgorithm, String)] = [
            (.sha1, "3021300906052b0e03021a05000414"),
            (.sha256, "3031300d060960864801650304020105000420"),
            (.sha384, "3041300d060960864801650304020205000430"),
            (.sha512, "3051300d060960864801650304020305000440"),
        ]
        for (algorithm, prefix) in prefixes {
            let digest = [UInt8](repeating: 0xAB, count: algorithm.outputSize)
            let info = try KeyEncoding.digestInfo(algorithm: algorithm, digest: digest)
            #expect(hex(Array(info.prefix(info.count - digest.count))) == prefix)
            #expect(Array(info.suffix(digest.count)) == digest)
        }
        #expect(throws: SCEPError.self) { try KeyEncoding.digestInfo(algorithm: .sha256, digest: [1, 2, 3]) }
    }

    /// The SPKI built from CKA_MODULUS / CKA_PUBLIC_EXPONENT is byte-identical to mbedTLS's for the same key.
    @Test func rsaSPKIFromModulusAndExponent() throws {
        let key = try SoftwarePrivateKey.generate(.rsa(bits: 2048), random: try RandomGenerator())
        let spki = try DERNode(parsing: key.publicKeyInfo)
        let bits = try spki.children[1].bitStringBytes("spki")
        let rsa = try DERNode(parsing: bits)
        let modulus = try rsa.children[0].integerBytes("n")
        let exponent = try rsa.children[1].integerBytes("e")
        #expect(try KeyEncoding.rsaSubjectPublicKeyInfo(modulus: [0] + modulus, exponent: exponent) == key.publicKeyInfo)
        #expect(KeyEncoding.rsaBits(modulus: modulus) == 2048)
        #expect(throws: SCEPError.self) { try KeyEncoding.rsaSubjectPublicKeyInfo(modulus: [1, 2], exponent: [1, 0, 1]) }
    }

    /// CKA_EC_POINT as PKCS#11 2.40 says (DER OCTET STRING) and bare, both give mbedTLS's SPKI.
    @Test func ecSPKIFromECPoint() throws {
        for curve in [ECCurve.p256, .p384] {
            let key = try SoftwarePrivateKey.generate(.ec(curve), random: try RandomGenerator())
            let spki = try DERNode(parsing: key.publicKeyInfo)
            let point = try spki.children[1].bitStringBytes("spki")
            #expect(try KeyEncoding.ecSubjectPublicKeyInfo(curve: curve, ecPoint: point) == key.publicKeyInfo)
            #expect(try KeyEncoding.ecSubjectPublicKeyInfo(curve: curve, ecPoint: DER.octetString(point)) == key.publicKeyInfo)
            #expect(KeyEncoding.curve(ecParameters: KeyEncoding.ecParameters(curve)) == curve)
            #expect(throws: SCEPError.self) { try KeyEncoding.ecSubjectPublicKeyInfo(curve: curve, ecPoint: Array(point.dropLast())) }
        }
    }

    /// r||s from CKM_ECDSA becomes an ECDSA-Sig-Value that mbedTLS verifies; leading zeros and high bits
    /// are handled as DER INTEGER rules require.
    @Test func ecdsaRawToDER() throws {
        let raw = [UInt8](repeating: 0, count: 31) + [5] + [0x80] + [UInt8](repeating: 1, count: 31)
        let der = try KeyEncoding.ecdsaSignature(raw: raw, curve: .p256)
        #expect(hex(der) == "3026020105022100" + "80" + String(repeating: "01", count: 31))
        #expect(throws: SCEPError.self) { try KeyEncoding.ecdsaSignature(raw: raw + [0], curve: .p256) }

        // A real signature: mbedTLS signs, we split it to r||s and rebuild it, mbedTLS verifies.
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        let digest = [UInt8](repeating: 0x42, count: 32)
        let signature = try DERNode(parsing: try key.sign(digest: digest, algorithm: .sha256))
        func pad(_ bytes: [UInt8]) -> [UInt8] { let b = Array(bytes.drop { $0 == 0 }); return [UInt8](repeating: 0, count: 32 - b.count) + b }
        let rebuilt = try KeyEncoding.ecdsaSignature(
            raw: pad(try signature.children[0].integerBytes("r")) + pad(try signature.children[1].integerBytes("s")), curve: .p256)
        #expect(try PublicKey(subjectPublicKeyInfo: key.publicKeyInfo).verify(signature: rebuilt, digest: digest, algorithm: .sha256))
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
