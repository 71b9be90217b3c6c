// PBKDF2 (RFC 8018 §5.2) over mbedtls_pkcs5_pbkdf2_hmac: the key derivation of CMS
// PasswordRecipientInfo, which SCEP uses for keys that cannot decrypt (RFC 8894 §3.1).
import CSCEPShim
import DER
import SystemSupport

/// Owner of one mbedtls_md_context_t set up for HMAC.
final class HMACContext {
    let context: UnsafeMutablePointer<mbedtls_md_context_t>

    /// `mbedtls_md_setup` with HMAC enabled.
    init(_ digest: DigestAlgorithm) throws(SCEPError) {
        context = UnsafeMutablePointer<mbedtls_md_context_t>.allocate(capacity: 1)
        mbedtls_md_init(context)
        guard let info = mbedtls_md_info_from_type(digest.mbedtlsType) else {
            throw SCEPError(.cryptoUnsupported, "HMAC-" + digest.description + " is not compiled into this mbedTLS")
        }
        try checkMbedTLS(mbedtls_md_setup(context, info, 1), .cryptoLibrary, "cannot set up HMAC-" + digest.description, function: "mbedtls_md_setup")
    }

    deinit {
        // mbedtls_md_free zeroizes the HMAC pads, which hold the password.
        mbedtls_md_free(context)
        context.deallocate()
    }
}

public enum PBKDF2 {
    /// Derives `keyLength` bytes from `password` and `salt` with HMAC-`prf`.
    /// - Parameters:
    ///   - iterations: at least 1; callers bound what a peer may ask for (this costs CPU linearly).
    ///   - keyLength: 1 to 64 bytes (a cipher key).
    /// - Throws: `cryptoBadInput` for an iteration count or key length out of range.
    public static func deriveKey(password: [UInt8], salt: [UInt8], iterations: Int, keyLength: Int, prf: DigestAlgorithm) throws(SCEPError) -> [UInt8] {
        guard iterations >= 1, iterations <= Int(UInt32.max) else {
            throw SCEPError(.cryptoBadInput, "PBKDF2 iteration count " + String(iterations) + " is out of range")
        }
        guard keyLength >= 1, keyLength <= 64 else {
            throw SCEPError(.cryptoBadInput, "PBKDF2 key length " + String(keyLength) + " is out of range (1 to 64 bytes)")
        }
        let hmac = try HMACContext(prf)
        var output = [UInt8](repeating: 0, count: keyLength)
        let result = password.withUnsafeBufferPointer { passwordBytes in
            salt.withUnsafeBufferPointer { saltBytes in
                output.withUnsafeMutableBufferPointer { out in
                    mbedtls_pkcs5_pbkdf2_hmac(
                        hmac.context, passwordBytes.baseAddress, passwordBytes.count, saltBytes.baseAddress, saltBytes.count,
                        UInt32(iterations), UInt32(keyLength), out.baseAddress)
                }
            }
        }
        try checkMbedTLS(result, .cryptoLibrary, "PBKDF2 with HMAC-" + prf.description + " failed", function: "mbedtls_pkcs5_pbkdf2_hmac")
        return output
    }
}

public enum HMAC {
    /// HMAC-`digest` of `data` under `key` (`mbedtls_md_hmac`).
    public static func authenticate(_ digest: DigestAlgorithm, key: [UInt8], data: [UInt8]) throws(SCEPError) -> [UInt8] {
        guard let info = mbedtls_md_info_from_type(digest.mbedtlsType) else {
            throw SCEPError(.cryptoUnsupported, "HMAC-" + digest.description + " is not compiled into this mbedTLS")
        }
        var out = [UInt8](repeating: 0, count: Int(mbedtls_md_get_size(info)))
        let result = mbedtls_md_hmac(info, key, key.count, data, data.count, &out)
        try checkMbedTLS(result, .cryptoLibrary, "HMAC-" + digest.description + " failed", function: "mbedtls_md_hmac")
        return out
    }
}
