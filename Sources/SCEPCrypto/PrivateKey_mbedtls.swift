// A private key in process memory, held by mbedTLS.
import CSCEPShim
import DER
import SystemSupport

/// A private key held in process memory (mbedTLS pk context); zeroed when freed.
public final class SoftwarePrivateKey: PrivateKey {
    private let key: PKContext
    /// For RSA blinding and ECDSA: every private-key operation draws from it.
    private let random: RandomGenerator
    public let keyType: KeyType
    public let publicKeyInfo: [UInt8]

    private init(key: PKContext, random: RandomGenerator) throws(SCEPError) {
        self.key = key
        self.random = random
        keyType = try key.keyType()
        publicKeyInfo = try key.subjectPublicKeyInfo()
    }

    /// Generates a new key. RSA public exponent 65537.
    /// - Parameters:
    ///   - type: `rsa:2048|3072|4096`, `ec:p256|p384`.
    ///   - random: draws the key; the key keeps it for later signing and decryption.
    /// - Throws: `cryptoUnsupported` for another RSA size; `cryptoLibrary` when generation fails.
    public static func generate(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> SoftwarePrivateKey {
        try SoftwarePrivateKey(key: PKContext(generating: type, random: random), random: random)
    }

    /// Imports PKCS#8, PKCS#1 (RSA) or SEC1 (EC), PEM or DER. Encrypted keys are refused (`cryptoBadKey`).
    /// - Throws: `cryptoBadKey` for unreadable or encrypted input; `cryptoUnsupported` for a curve other
    ///   than P-256/P-384 or a key that is neither RSA nor EC; `cryptoLibrary` when the random
    ///   generator cannot be seeded.
    public convenience init(importing bytes: [UInt8]) throws(SCEPError) {
        try self.init(key: PKContext(parsingPrivateKey: bytes), random: RandomGenerator())
    }

    /// Signs a precomputed digest: RSA PKCS#1 v1.5 over DigestInfo, EC a DER `ECDSA-Sig-Value`.
    /// - Throws: `cryptoBadInput` for a digest whose length is not `algorithm`'s.
    public func sign(digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> [UInt8] {
        try key.sign(digest: digest, algorithm: algorithm, random: random)
    }

    /// RSA PKCS#1 v1.5 decryption.
    /// - Throws: `cryptoUnsupported` for an EC key; `cryptoDecryptFailed` for a ciphertext that is not
    ///   for this key or is corrupt.
    public func decrypt(_ ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
        try key.decrypt(ciphertext, random: random)
    }

    /// PEM text of the private key (PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, as mbedTLS 2.28 writes).
    public func pem() throws(SCEPError) -> String {
        try key.privateKeyPEM()
    }
}
