// One-shot digests over mbedTLS's SHA-1 / SHA-256 / SHA-512 (SHA-384 is SHA-512 with is384).
import CSCEPShim
import DER
import SystemSupport

public enum Digest {
    /// One-shot digest.
    /// - Parameters:
    ///   - algorithm: which hash.
    ///   - data: the message.
    /// - Returns: `algorithm.outputSize` bytes.
    public static func hash(_ algorithm: DigestAlgorithm, _ data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: algorithm.outputSize)
        let result: Int32 = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                switch algorithm {
                case .sha1: mbedtls_sha1_ret(input.baseAddress, input.count, out.baseAddress)
                case .sha256: mbedtls_sha256_ret(input.baseAddress, input.count, out.baseAddress, 0)
                case .sha384: mbedtls_sha512_ret(input.baseAddress, input.count, out.baseAddress, 1)
                case .sha512: mbedtls_sha512_ret(input.baseAddress, input.count, out.baseAddress, 0)
                }
            }
        }
        // The software hashes only fail on a hardware-accelerator error, which this build cannot have;
        // a failure here is a broken library, not bad input.
        precondition(result == 0, "mbedTLS digest failed: " + mbedtlsCodeText(result))
        return output
    }
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
        /// - Throws: `cryptoBadInput` for a key or IV of the wrong size; `cryptoDecryptFailed` for bad
        ///   padding or a ciphertext that is not whole blocks.
        public static func decrypt(key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
            try BlockCipher.decrypt(.desCBC, key: key, iv: iv, ciphertext: ciphertext)
        }
    }
}

extension DigestAlgorithm {
    /// The mbedTLS message-digest identifier (for mbedtls_pk_sign / _verify).
    var mbedtlsType: mbedtls_md_type_t {
        switch self {
        case .sha1: MBEDTLS_MD_SHA1
        case .sha256: MBEDTLS_MD_SHA256
        case .sha384: MBEDTLS_MD_SHA384
        case .sha512: MBEDTLS_MD_SHA512
        }
    }
}
