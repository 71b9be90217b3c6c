// A public key from a SubjectPublicKeyInfo, held by mbedTLS.
import CSCEPShim
import DER
import SystemSupport

/// A public key from a SubjectPublicKeyInfo.
public final class PublicKey {
    let key: PKContext
    /// The SPKI as mbedTLS re-encodes it (canonical DER), not necessarily the input bytes.
    public let subjectPublicKeyInfo: [UInt8]
    public let keyType: KeyType

    /// - Parameter subjectPublicKeyInfo: DER SubjectPublicKeyInfo of an RSA or P-256/P-384 key.
    /// - Throws: `cryptoBadKey` for unreadable input; `cryptoUnsupported` for another algorithm or curve.
    public init(subjectPublicKeyInfo: [UInt8]) throws(SCEPError) {
        key = try PKContext(parsingPublicKey: subjectPublicKeyInfo)
        keyType = try key.keyType()
        self.subjectPublicKeyInfo = try key.subjectPublicKeyInfo()
    }

    /// RSA PKCS#1 v1.5 over DigestInfo, or ECDSA (DER signature). False on a bad signature; throws only
    /// for unusable input (a digest of the wrong length).
    /// - Throws: `cryptoBadInput` for a digest whose length is not `algorithm`'s.
    public func verify(signature: [UInt8], digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> Bool {
        try key.verify(signature: signature, digest: digest, algorithm: algorithm)
    }

    /// RSA PKCS#1 v1.5 encryption (`cryptoUnsupported` for EC keys).
    /// - Throws: `cryptoBadInput` for a plaintext longer than the modulus allows (k − 11 bytes).
    public func encrypt(_ plaintext: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        try key.encrypt(plaintext, random: random)
    }
}
