// CBC with PKCS#7 padding over mbedtls_cipher: the content ciphers of CMS EnvelopedData.
import CSCEPShim
import DER
import SystemSupport

/// Owner of one mbedtls_cipher_context_t, set up for one cipher, direction and key.
final class CipherContext {
    let context: UnsafeMutablePointer<mbedtls_cipher_context_t>

    /// `mbedtls_cipher_setup`, `mbedtls_cipher_setkey` and the padding mode (PKCS#7 unless told).
    init(_ cipher: ContentCipher, key: [UInt8], operation: mbedtls_operation_t, padding: mbedtls_cipher_padding_t = MBEDTLS_PADDING_PKCS7) throws(SCEPError) {
        context = UnsafeMutablePointer<mbedtls_cipher_context_t>.allocate(capacity: 1)
        mbedtls_cipher_init(context)
        guard let info = mbedtls_cipher_info_from_type(cipher.mbedtlsType) else {
            throw SCEPError(.cryptoUnsupported, cipher.description + " is not compiled into this mbedTLS")
        }
        try checkMbedTLS(
            mbedtls_cipher_setup(context, info), .cryptoLibrary, "cannot set up " + cipher.description,
            function: "mbedtls_cipher_setup")
        let result = key.withUnsafeBufferPointer { keyBytes in
            mbedtls_cipher_setkey(context, keyBytes.baseAddress, Int32(keyBytes.count * 8), operation)
        }
        try checkMbedTLS(result, .cryptoBadInput, "cannot load the " + cipher.description + " key", function: "mbedtls_cipher_setkey")
        try checkMbedTLS(
            mbedtls_cipher_set_padding_mode(context, padding), .cryptoLibrary,
            "cannot select the padding mode", function: "mbedtls_cipher_set_padding_mode")
    }

    deinit {
        // mbedtls_cipher_free zeroizes the key schedule.
        mbedtls_cipher_free(context)
        context.deallocate()
    }

    /// One whole message through `mbedtls_cipher_crypt` (set IV, update, finish with padding).
    /// Returns the output and mbedTLS's result code; on failure the output is zeroed.
    func crypt(iv: [UInt8], input: [UInt8], blockSize: Int) -> (output: [UInt8], result: Int32) {
        var output = [UInt8](repeating: 0, count: input.count + blockSize)
        var outputLength = 0
        let result = iv.withUnsafeBufferPointer { ivBytes in
            input.withUnsafeBufferPointer { inputBytes in
                output.withUnsafeMutableBufferPointer { outputBytes in
                    mbedtls_cipher_crypt(
                        context, ivBytes.baseAddress, ivBytes.count, inputBytes.baseAddress, inputBytes.count,
                        outputBytes.baseAddress, &outputLength)
                }
            }
        }
        if result != 0 {
            // A failed decryption may have written unauthenticated plaintext blocks; leave nothing behind.
            SecureMemory.wipe(&output)
            return ([], result)
        }
        output.removeSubrange(outputLength...)
        return (output, 0)
    }
}

extension ContentCipher {
    var mbedtlsType: mbedtls_cipher_type_t {
        switch self {
        case .aes128CBC: MBEDTLS_CIPHER_AES_128_CBC
        case .aes256CBC: MBEDTLS_CIPHER_AES_256_CBC
        case .tripleDESCBC: MBEDTLS_CIPHER_DES_EDE3_CBC
        case .desCBC: MBEDTLS_CIPHER_DES_CBC
        }
    }

    /// Throws `cryptoBadInput` unless the key and IV have this cipher's sizes.
    func checkSizes(key: [UInt8], iv: [UInt8]) throws(SCEPError) {
        if key.count != keySize {
            throw SCEPError(
                .cryptoBadInput,
                description + " needs a " + String(keySize) + "-byte key, got " + String(key.count) + " bytes")
        }
        if iv.count != blockSize {
            throw SCEPError(
                .cryptoBadInput,
                description + " needs a " + String(blockSize) + "-byte IV, got " + String(iv.count) + " bytes")
        }
    }
}

/// CBC encryption with PKCS#7 padding for AES-128, AES-256 and 3DES.
public enum BlockCipher {
    /// Encrypts `plaintext`, padded with PKCS#7.
    /// - Parameters:
    ///   - cipher: the content cipher; never `.desCBC`.
    ///   - key: `cipher.keySize` bytes.
    ///   - iv: `cipher.blockSize` bytes.
    ///   - plaintext: any length, including empty.
    /// - Returns: the ciphertext, a whole number of blocks.
    /// - Throws: `cryptoUnsupported` for `.desCBC` (we never encrypt with DES); `cryptoBadInput` for
    ///   a key or IV of the wrong size.
    public static func encrypt(_ cipher: ContentCipher, key: [UInt8], iv: [UInt8], plaintext: [UInt8]) throws(SCEPError) -> [UInt8] {
        if cipher == .desCBC {
            throw SCEPError(.cryptoUnsupported, "DES-CBC is decrypt-only: we never encrypt with single DES (use AES)")
        }
        try cipher.checkSizes(key: key, iv: iv)
        let context = try CipherContext(cipher, key: key, operation: MBEDTLS_ENCRYPT)
        let (output, result) = context.crypt(iv: iv, input: plaintext, blockSize: cipher.blockSize)
        try checkMbedTLS(result, .cryptoLibrary, cipher.description + " encryption failed", function: "mbedtls_cipher_crypt")
        return output
    }

    /// Decrypts and checks and strips PKCS#7 padding. Accepts `.desCBC`.
    /// - Parameters:
    ///   - cipher: the content cipher.
    ///   - key: `cipher.keySize` bytes.
    ///   - iv: `cipher.blockSize` bytes.
    ///   - ciphertext: a non-empty whole number of blocks.
    /// - Returns: the plaintext without padding.
    /// - Throws: `cryptoBadInput` for a key or IV of the wrong size; `cryptoDecryptFailed` for wrong
    ///   padding (usually a wrong key) or a ciphertext that is not a whole number of blocks.
    public static func decrypt(_ cipher: ContentCipher, key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
        try cipher.checkSizes(key: key, iv: iv)
        if ciphertext.isEmpty || ciphertext.count % cipher.blockSize != 0 {
            throw SCEPError(
                .cryptoDecryptFailed,
                cipher.description + " ciphertext must be a non-empty multiple of " + String(cipher.blockSize)
                    + " bytes, got " + String(ciphertext.count))
        }
        let context = try CipherContext(cipher, key: key, operation: MBEDTLS_DECRYPT)
        let (output, result) = context.crypt(iv: iv, input: ciphertext, blockSize: cipher.blockSize)
        try checkMbedTLS(
            result, .cryptoDecryptFailed, cipher.description + " decryption failed (wrong key or corrupt data)",
            function: "mbedtls_cipher_crypt")
        return output
    }

    /// CBC over whole blocks without padding: the two passes of the RFC 3211 key wrap, whose input
    /// is already a whole number of blocks.
    /// - Parameters:
    ///   - encrypt: true to encrypt (never with `.desCBC`), false to decrypt.
    ///   - blocks: a non-empty multiple of `cipher.blockSize` bytes.
    /// - Returns: as many bytes as `blocks`.
    /// - Throws: `cryptoUnsupported` to encrypt with DES; `cryptoBadInput` for a key, IV or length
    ///   that does not fit the cipher.
    public static func cbcBlocks(_ cipher: ContentCipher, encrypt: Bool, key: [UInt8], iv: [UInt8], blocks: [UInt8]) throws(SCEPError) -> [UInt8] {
        if encrypt && cipher == .desCBC {
            throw SCEPError(.cryptoUnsupported, "DES-CBC is decrypt-only: we never encrypt with single DES (use AES)")
        }
        try cipher.checkSizes(key: key, iv: iv)
        if blocks.isEmpty || blocks.count % cipher.blockSize != 0 {
            throw SCEPError(
                .cryptoBadInput,
                cipher.description + " blocks must be a non-empty multiple of " + String(cipher.blockSize) + " bytes, got " + String(blocks.count))
        }
        let context = try CipherContext(cipher, key: key, operation: encrypt ? MBEDTLS_ENCRYPT : MBEDTLS_DECRYPT, padding: MBEDTLS_PADDING_NONE)
        let (output, result) = context.crypt(iv: iv, input: blocks, blockSize: cipher.blockSize)
        try checkMbedTLS(result, .cryptoLibrary, cipher.description + " block operation failed", function: "mbedtls_cipher_crypt")
        return output
    }
}
