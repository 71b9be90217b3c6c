// Stubs: replaced by the mbedTLS backend. Every signature here is the contract.
import DER

func unimplemented(_ what: String) -> Never { fatalError("unimplemented: " + what) }

/// CTR-DRBG seeded from the OS entropy source. One per operation or process; not shared globally.
public final class RandomGenerator {
    public init() throws(SCEPError) { unimplemented("RandomGenerator") }
    /// `count` random bytes.
    public func bytes(_ count: Int) throws(SCEPError) -> [UInt8] { unimplemented("bytes") }
}

public enum Digest {
    /// One-shot digest.
    public static func hash(_ algorithm: DigestAlgorithm, _ data: [UInt8]) -> [UInt8] { unimplemented("hash") }
}

public enum SHA256 {
    public static func hash(_ data: [UInt8]) -> [UInt8] { Digest.hash(.sha256, data) }
}
public enum SHA384 {
    public static func hash(_ data: [UInt8]) -> [UInt8] { Digest.hash(.sha384, data) }
}
public enum SHA512 {
    public static func hash(_ data: [UInt8]) -> [UInt8] { Digest.hash(.sha512, data) }
}

/// Algorithms used only when a peer leaves no choice.
public enum Insecure {
    public enum SHA1 {
        public static func hash(_ data: [UInt8]) -> [UInt8] { Digest.hash(.sha1, data) }
    }
    public enum DES {
        /// Single-DES-CBC decryption with PKCS#7 padding removed (scepserver's CertRep).
        public static func decrypt(key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
            unimplemented("DES")
        }
    }
}

/// CBC encryption with PKCS#7 padding for AES-128, AES-256 and 3DES.
public enum BlockCipher {
    /// - Throws: `cryptoUnsupported` for `.desCBC` (we never encrypt with DES); `cryptoBadInput` for
    ///   a key or IV of the wrong size.
    public static func encrypt(_ cipher: ContentCipher, key: [UInt8], iv: [UInt8], plaintext: [UInt8]) throws(SCEPError) -> [UInt8] {
        unimplemented("encrypt")
    }
    /// Decrypts and checks and strips PKCS#7 padding (`cryptoDecryptFailed` when wrong). Accepts `.desCBC`.
    public static func decrypt(_ cipher: ContentCipher, key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
        unimplemented("decrypt")
    }
}

/// A private key held in process memory (mbedTLS pk context); zeroed when freed.
public final class SoftwarePrivateKey: PrivateKey {
    /// Generates a new key. RSA public exponent 65537.
    public static func generate(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> SoftwarePrivateKey {
        unimplemented("generate")
    }
    /// Imports PKCS#8, PKCS#1 (RSA) or SEC1 (EC), PEM or DER. Encrypted keys are refused (`cryptoBadKey`).
    public init(importing bytes: [UInt8]) throws(SCEPError) { unimplemented("import") }

    public var publicKeyInfo: [UInt8] { unimplemented("publicKeyInfo") }
    public var keyType: KeyType { unimplemented("keyType") }
    public func sign(digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> [UInt8] { unimplemented("sign") }
    public func decrypt(_ ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] { unimplemented("decrypt") }
    /// PEM text of the private key (PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, as mbedTLS 2.28 writes).
    public func pem() throws(SCEPError) -> String { unimplemented("pem") }
}

/// A public key from a SubjectPublicKeyInfo.
public final class PublicKey {
    public init(subjectPublicKeyInfo: [UInt8]) throws(SCEPError) { unimplemented("PublicKey") }
    public var subjectPublicKeyInfo: [UInt8] { unimplemented("spki") }
    public var keyType: KeyType { unimplemented("keyType") }
    /// RSA PKCS#1 v1.5 over DigestInfo, or ECDSA (DER signature). False on a bad signature; throws only
    /// for unusable input (a digest of the wrong length).
    public func verify(signature: [UInt8], digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> Bool {
        unimplemented("verify")
    }
    /// RSA PKCS#1 v1.5 encryption (`cryptoUnsupported` for EC keys).
    public func encrypt(_ plaintext: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] { unimplemented("encrypt") }
}

/// An X.509 certificate parsed by mbedTLS; the DER stays available byte for byte.
public final class Certificate {
    public init(der: [UInt8]) throws(SCEPError) { unimplemented("Certificate") }
    public var der: [UInt8] { unimplemented("der") }
    /// Raw DER of the subject Name (for IssuerAndSerialNumber, IssuerAndSubject).
    public var subjectDER: [UInt8] { unimplemented("subjectDER") }
    /// Raw DER of the issuer Name.
    public var issuerDER: [UInt8] { unimplemented("issuerDER") }
    /// Subject as text, e.g. `CN=gw-0042, O=Example` (mbedTLS's rendering).
    public var subjectText: String { unimplemented("subjectText") }
    public var issuerText: String { unimplemented("issuerText") }
    /// Serial number content octets (big-endian, as encoded, possibly with a leading 0x00).
    public var serial: [UInt8] { unimplemented("serial") }
    /// Validity as seconds since the Unix epoch (UTC).
    public var notBefore: Int64 { unimplemented("notBefore") }
    public var notAfter: Int64 { unimplemented("notAfter") }
    /// The keyUsage extension, or nil when absent.
    public var keyUsage: KeyUsage? { unimplemented("keyUsage") }
    /// Dotted OIDs of extKeyUsage (empty when absent).
    public var extendedKeyUsage: [String] { unimplemented("eku") }
    /// basicConstraints cA.
    public var isCA: Bool { unimplemented("isCA") }
    public var publicKey: PublicKey { unimplemented("publicKey") }
    /// SHA-256 of the DER.
    public var sha256Fingerprint: [UInt8] { unimplemented("fingerprint") }

    /// Verifies `leaf` through `intermediates` up to one of `trusted` (signatures, validity, CA flags)
    /// with mbedTLS. Throws `verifyChain` with mbedTLS's flags rendered as text.
    public static func verifyChain(leaf: Certificate, intermediates: [Certificate], trusted: [Certificate]) throws(SCEPError) {
        unimplemented("verifyChain")
    }
    /// True when `issuer`'s key verifies this certificate's signature (no validity or CA-flag checks).
    public func isSigned(by issuer: Certificate) -> Bool { unimplemented("isSigned") }
}

/// PEM armour (RFC 7468).
public enum PEM {
    /// Every `-----BEGIN label-----` block in `text`, in order, as (label, DER).
    public static func decode(_ text: String) throws(SCEPError) -> [(label: String, der: [UInt8])] { unimplemented("pem decode") }
    /// One block with 64-column lines and a trailing newline.
    public static func encode(label: String, der: [UInt8]) -> String { unimplemented("pem encode") }
}
