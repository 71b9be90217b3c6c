// The algorithm vocabulary of SCEPCrypto and the PrivateKey protocol; the mbedTLS implementations
// live in the *_mbedtls.swift files.
import DER
import SystemSupport

/// Digests SCEP negotiates. SHA-1 exists only for peers that leave no choice (see `Insecure`).
public enum DigestAlgorithm: CustomStringConvertible, Sendable, Equatable {
    case sha1, sha256, sha384, sha512

    public var description: String {
        switch self {
        case .sha1: "SHA-1"
        case .sha256: "SHA-256"
        case .sha384: "SHA-384"
        case .sha512: "SHA-512"
        }
    }

    /// Output length in bytes.
    public var outputSize: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }
}

/// Content-encryption ciphers of EnvelopedData. `desCBC` is decrypt-only (scepserver replies with it).
public enum ContentCipher: CustomStringConvertible, Sendable, Equatable {
    case aes128CBC, aes256CBC, tripleDESCBC, desCBC

    public var description: String {
        switch self {
        case .aes128CBC: "AES-128-CBC"
        case .aes256CBC: "AES-256-CBC"
        case .tripleDESCBC: "3DES-CBC"
        case .desCBC: "DES-CBC"
        }
    }
    public var keySize: Int {
        switch self {
        case .aes128CBC: 16
        case .aes256CBC: 32
        case .tripleDESCBC: 24
        case .desCBC: 8
        }
    }
    public var blockSize: Int {
        switch self {
        case .aes128CBC, .aes256CBC: 16
        case .tripleDESCBC, .desCBC: 8
        }
    }
}

public enum ECCurve: CustomStringConvertible, Sendable, Equatable {
    case p256, p384
    public var description: String { self == .p256 ? "P-256" : "P-384" }
}

/// A key algorithm and size, as the command line names it: `rsa:2048`, `ec:p256`.
public enum KeyType: CustomStringConvertible, Sendable, Equatable {
    case rsa(bits: Int)
    case ec(ECCurve)

    public var description: String {
        switch self {
        case .rsa(let bits): "rsa:" + String(bits)
        case .ec(let curve): curve == .p256 ? "ec:p256" : "ec:p384"
        }
    }

    /// Parses `rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384`; nil for anything else.
    public init?(parsing text: String) {
        switch text {
        case "rsa:2048": self = .rsa(bits: 2048)
        case "rsa:3072": self = .rsa(bits: 3072)
        case "rsa:4096": self = .rsa(bits: 4096)
        case "ec:p256": self = .ec(.p256)
        case "ec:p384": self = .ec(.p384)
        default: return nil
        }
    }

    public var isRSA: Bool {
        if case .rsa = self { return true }
        return false
    }
}

/// A private key that may live outside the process (a PKCS#11 token, a TPM): it signs and decrypts
/// but never hands out its secret.
public protocol PrivateKey: AnyObject {
    /// The DER SubjectPublicKeyInfo of the matching public key.
    var publicKeyInfo: [UInt8] { get }
    var keyType: KeyType { get }
    /// Signs a precomputed digest. RSA: PKCS#1 v1.5 over DigestInfo(algorithm, digest).
    /// EC: a DER `ECDSA-Sig-Value`.
    func sign(digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> [UInt8]
    /// RSA PKCS#1 v1.5 decryption (a CMS KeyTransRecipientInfo's encryptedKey).
    func decrypt(_ ciphertext: [UInt8]) throws(SCEPError) -> [UInt8]
}

/// Names of key usage bits (X.509 keyUsage), as mbedTLS reports them.
public struct KeyUsage: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let digitalSignature = KeyUsage(rawValue: 0x80)
    public static let nonRepudiation = KeyUsage(rawValue: 0x40)
    public static let keyEncipherment = KeyUsage(rawValue: 0x20)
    public static let dataEncipherment = KeyUsage(rawValue: 0x10)
    public static let keyAgreement = KeyUsage(rawValue: 0x08)
    public static let keyCertSign = KeyUsage(rawValue: 0x04)
    public static let cRLSign = KeyUsage(rawValue: 0x02)
}
