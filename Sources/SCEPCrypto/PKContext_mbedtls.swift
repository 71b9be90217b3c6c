// The one owner of an mbedtls_pk_context, shared by SoftwarePrivateKey and PublicKey.
import CSCEPShim
import DER
import SystemSupport

/// Owner of one mbedtls_pk_context. The initialisers parse or generate; deinit frees (and mbedTLS
/// zeroizes the key material in mbedtls_pk_free).
final class PKContext {
    let context: UnsafeMutablePointer<mbedtls_pk_context>

    /// An empty context (`mbedtls_pk_init`); every initialiser below fills it before use.
    private init() {
        context = UnsafeMutablePointer<mbedtls_pk_context>.allocate(capacity: 1)
        mbedtls_pk_init(context)
    }

    deinit {
        mbedtls_pk_free(context)
        context.deallocate()
    }

    /// Parses a private key (`mbedtls_pk_parse_key`): PKCS#8, PKCS#1 or SEC1, PEM or DER.
    /// - Throws: `cryptoBadKey` for anything mbedTLS cannot read, including encrypted keys.
    convenience init(parsingPrivateKey bytes: [UInt8]) throws(SCEPError) {
        self.init()
        // mbedTLS takes PEM only when the buffer is NUL-terminated and the length counts the NUL.
        let isPEM = PKContext.looksLikePEM(bytes)
        let result: Int32
        if isPEM && bytes.last != 0 {
            var terminated = bytes + [0]
            result = terminated.withUnsafeBufferPointer { key in
                mbedtls_pk_parse_key(context, key.baseAddress, key.count, nil, 0)
            }
            // Our copy holds the secret too; the caller's bytes are the caller's to wipe.
            SecureMemory.wipe(&terminated)
        } else {
            result = bytes.withUnsafeBufferPointer { key in
                mbedtls_pk_parse_key(context, key.baseAddress, key.count, nil, 0)
            }
        }
        if result == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || result == MBEDTLS_ERR_PK_PASSWORD_MISMATCH
            || result == MBEDTLS_ERR_PEM_PASSWORD_REQUIRED
        {
            throw SCEPError.mbedtls(
                .cryptoBadKey, "the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)",
                function: "mbedtls_pk_parse_key", result: result)
        }
        try checkMbedTLS(
            result, .cryptoBadKey,
            "cannot import the private key (" + (isPEM ? "PEM" : "DER") + ", " + String(bytes.count) + " bytes)",
            function: "mbedtls_pk_parse_key")
    }

    /// Parses a DER SubjectPublicKeyInfo (`mbedtls_pk_parse_public_key`).
    /// - Throws: `cryptoBadKey` for anything mbedTLS cannot read.
    convenience init(parsingPublicKey subjectPublicKeyInfo: [UInt8]) throws(SCEPError) {
        self.init()
        let result = subjectPublicKeyInfo.withUnsafeBufferPointer { key in
            mbedtls_pk_parse_public_key(context, key.baseAddress, key.count)
        }
        try checkMbedTLS(
            result, .cryptoBadKey,
            "cannot parse the SubjectPublicKeyInfo (" + String(subjectPublicKeyInfo.count) + " bytes)",
            function: "mbedtls_pk_parse_public_key")
    }

    /// Generates a key pair (`mbedtls_rsa_gen_key` with e = 65537, or `mbedtls_ecp_gen_key`).
    /// - Throws: `cryptoUnsupported` for an RSA size other than 2048, 3072 or 4096; `cryptoLibrary`
    ///   when mbedTLS fails.
    convenience init(generating type: KeyType, random: RandomGenerator) throws(SCEPError) {
        self.init()
        switch type {
        case .rsa(let bits):
            guard bits == 2048 || bits == 3072 || bits == 4096 else {
                throw SCEPError(.cryptoUnsupported, "RSA key size " + String(bits) + " is not supported (use 2048, 3072 or 4096)")
            }
            try checkMbedTLS(
                mbedtls_pk_setup(context, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), .cryptoLibrary,
                "cannot prepare an RSA key", function: "mbedtls_pk_setup")
            let result = mbedtls_rsa_gen_key(CSCEPShim_pk_rsa(context), random.function, random.context, UInt32(bits), 65537)
            try checkMbedTLS(result, .cryptoLibrary, "cannot generate an RSA-" + String(bits) + " key", function: "mbedtls_rsa_gen_key")
        case .ec(let curve):
            try checkMbedTLS(
                mbedtls_pk_setup(context, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), .cryptoLibrary,
                "cannot prepare an EC key", function: "mbedtls_pk_setup")
            let result = mbedtls_ecp_gen_key(curve.mbedtlsGroup, CSCEPShim_pk_ec(context), random.function, random.context)
            try checkMbedTLS(result, .cryptoLibrary, "cannot generate a " + curve.description + " key", function: "mbedtls_ecp_gen_key")
        }
    }

    /// True when the bytes, after leading whitespace, start with `-----BEGIN`.
    private static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN".utf8)
        guard let start = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else { return false }
        return bytes[start...].starts(with: marker)
    }

    /// The algorithm and size, or `cryptoUnsupported` for a key SCEP agents do not use (P-521, Ed25519…).
    func keyType() throws(SCEPError) -> KeyType {
        let type = mbedtls_pk_get_type(context)
        if type == MBEDTLS_PK_RSA {
            return .rsa(bits: Int(mbedtls_pk_get_bitlen(context)))
        }
        if type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA || type == MBEDTLS_PK_ECKEY_DH {
            let group = CSCEPShim_pk_ec(context).pointee.grp.id
            if group == MBEDTLS_ECP_DP_SECP256R1 { return .ec(.p256) }
            if group == MBEDTLS_ECP_DP_SECP384R1 { return .ec(.p384) }
            throw SCEPError(
                .cryptoUnsupported,
                "EC curve with mbedTLS group id " + String(group.rawValue) + " is not supported (use P-256 or P-384)")
        }
        throw SCEPError(.cryptoUnsupported, "key type " + String(type.rawValue) + " is not supported (use RSA or EC)")
    }

    var isRSA: Bool { mbedtls_pk_get_type(context) == MBEDTLS_PK_RSA }

    /// Modulus (RSA) or order (EC) length in bytes.
    var byteLength: Int { (Int(mbedtls_pk_get_bitlen(context)) + 7) / 8 }

    /// DER SubjectPublicKeyInfo (`mbedtls_pk_write_pubkey_der`, which writes at the buffer's end).
    func subjectPublicKeyInfo() throws(SCEPError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 2_048 + 2 * byteLength)
        let written = buffer.withUnsafeMutableBufferPointer { out in
            mbedtls_pk_write_pubkey_der(context, out.baseAddress, out.count)
        }
        if written < 0 {
            throw SCEPError.mbedtls(.cryptoLibrary, "cannot encode the public key", function: "mbedtls_pk_write_pubkey_der", result: written)
        }
        return Array(buffer.suffix(Int(written)))
    }

    /// PKCS#1 v1.5 (RSA, `mbedtls_pk_sign`) or DER ECDSA (`mbedtls_ecdsa_write_signature`) signature
    /// over a precomputed digest.
    func sign(digest: [UInt8], algorithm: DigestAlgorithm, random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        try PKContext.checkDigest(digest, algorithm)
        // MBEDTLS_PK_SIGNATURE_MAX_SIZE is a compound macro Swift cannot import; an RSA signature is
        // one modulus long and a DER ECDSA signature at most 2 × (order + 3) + 3 bytes.
        var signature = [UInt8](repeating: 0, count: 2 * byteLength + 16)
        var length = 0
        // ECDSA signs on the key's own group, not through mbedtls_pk_sign: mbedTLS 2.28's pk wrapper
        // signs on a fresh copy of the group, so the multiples of the base point that
        // MBEDTLS_ECP_FIXED_POINT_OPTIM keeps in the group are computed and dropped for every
        // signature (more than half of an ECDSA signature's cost); on the key's group the first signature
        // computes them and the rest of an enrollment's signatures reuse them. Same signature.
        let signsWithECDSA = mbedtls_pk_can_do(context, MBEDTLS_PK_ECDSA) != 0
        let result = digest.withUnsafeBufferPointer { hash in
            signature.withUnsafeMutableBufferPointer { out in
                signsWithECDSA
                    ? mbedtls_ecdsa_write_signature(
                        CSCEPShim_pk_ec(context), algorithm.mbedtlsType, hash.baseAddress, hash.count, out.baseAddress,
                        &length, random.function, random.context)
                    : mbedtls_pk_sign(
                        context, algorithm.mbedtlsType, hash.baseAddress, hash.count, out.baseAddress, &length,
                        random.function, random.context)
            }
        }
        try checkMbedTLS(
            result, .cryptoLibrary, "cannot sign a " + algorithm.description + " digest",
            function: signsWithECDSA ? "mbedtls_ecdsa_write_signature" : "mbedtls_pk_sign")
        signature.removeSubrange(length...)
        return signature
    }

    /// True when `signature` verifies (`mbedtls_pk_verify`); every mbedTLS failure means "does not verify".
    func verify(signature: [UInt8], digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> Bool {
        try PKContext.checkDigest(digest, algorithm)
        let result = digest.withUnsafeBufferPointer { hash in
            signature.withUnsafeBufferPointer { sig in
                mbedtls_pk_verify(context, algorithm.mbedtlsType, hash.baseAddress, hash.count, sig.baseAddress, sig.count)
            }
        }
        return result == 0
    }

    /// RSA PKCS#1 v1.5 encryption (`mbedtls_pk_encrypt`).
    func encrypt(_ plaintext: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        guard isRSA else { throw SCEPError(.cryptoUnsupported, "encryption needs an RSA key; this key is EC") }
        // PKCS#1 v1.5 type 2 padding takes at least 11 bytes of the modulus.
        if plaintext.count > byteLength - 11 {
            throw SCEPError(
                .cryptoBadInput,
                "RSA-" + String(byteLength * 8) + " PKCS#1 v1.5 encrypts at most " + String(byteLength - 11)
                    + " bytes, got " + String(plaintext.count))
        }
        var output = [UInt8](repeating: 0, count: byteLength)
        var length = 0
        let result = plaintext.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                mbedtls_pk_encrypt(context, input.baseAddress, input.count, out.baseAddress, &length, out.count, random.function, random.context)
            }
        }
        try checkMbedTLS(result, .cryptoLibrary, "RSA encryption failed", function: "mbedtls_pk_encrypt")
        output.removeSubrange(length...)
        return output
    }

    /// RSA PKCS#1 v1.5 decryption (`mbedtls_pk_decrypt`, blinded with `random`).
    func decrypt(_ ciphertext: [UInt8], random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        guard isRSA else { throw SCEPError(.cryptoUnsupported, "decryption needs an RSA key; an EC key cannot decrypt key transport") }
        var output = [UInt8](repeating: 0, count: byteLength)
        var length = 0
        let result = ciphertext.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                mbedtls_pk_decrypt(context, input.baseAddress, input.count, out.baseAddress, &length, out.count, random.function, random.context)
            }
        }
        if result != 0 {
            throw SCEPError.mbedtls(
                .cryptoDecryptFailed,
                "cannot decrypt a " + String(ciphertext.count) + "-byte RSA ciphertext (not for this key, or corrupt)",
                function: "mbedtls_pk_decrypt", result: result)
        }
        output.removeSubrange(length...)
        return output
    }

    /// PEM of the private key (`mbedtls_pk_write_key_pem`); the scratch buffer is zeroed afterwards.
    func privateKeyPEM() throws(SCEPError) -> String {
        var buffer = [UInt8](repeating: 0, count: 1_024 + 8 * byteLength)
        let result = buffer.withUnsafeMutableBufferPointer { out in
            mbedtls_pk_write_key_pem(context, out.baseAddress, out.count)
        }
        defer { SecureMemory.wipe(&buffer) }
        try checkMbedTLS(result, .cryptoLibrary, "cannot encode the private key as PEM", function: "mbedtls_pk_write_key_pem")
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end], as: UTF8.self)
    }

    /// Throws `cryptoBadInput` unless `digest` has `algorithm`'s length.
    private static func checkDigest(_ digest: [UInt8], _ algorithm: DigestAlgorithm) throws(SCEPError) {
        if digest.count != algorithm.outputSize {
            throw SCEPError(
                .cryptoBadInput,
                "a " + algorithm.description + " digest is " + String(algorithm.outputSize) + " bytes, got "
                    + String(digest.count))
        }
    }
}

extension ECCurve {
    var mbedtlsGroup: mbedtls_ecp_group_id {
        switch self {
        case .p256: MBEDTLS_ECP_DP_SECP256R1
        case .p384: MBEDTLS_ECP_DP_SECP384R1
        }
    }
}
