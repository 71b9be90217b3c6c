import DER
import Foundation
import SCEPCrypto
import SystemSupport
import Testing
import TestSupport

/// Keys and signatures, with OpenSSL's CLI checking both directions.
@Suite struct KeyTests {
    let scratch: ScratchDirectory

    init() throws { scratch = try ScratchDirectory() }

    /// `openssl pkey -pubout -outform DER` of a key file: the SPKI OpenSSL derives.
    func opensslSPKI(ofPrivateKeyAt path: String, form: String = "PEM") throws -> [UInt8] {
        try OpenSSL.run(["pkey", "-in", path, "-inform", form, "-pubout", "-outform", "DER"])
    }

    func opensslGenerate(_ type: KeyType, name: String) throws -> String {
        let path = scratch.path(name)
        switch type {
        case .rsa(let bits):
            try OpenSSL.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + String(bits), "-out", path])
        case .ec(let curve):
            try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + (curve == .p256 ? "P-256" : "P-384"), "-out", path])
        }
        return path
    }

    @Test(arguments: [KeyType.rsa(bits: 2048), .ec(.p256), .ec(.p384)])
    func generatedKeyExportsAndOpenSSLReadsIt(type: KeyType) throws {
        let key = try SoftwarePrivateKey.generate(type, random: RandomGenerator())
        #expect(key.keyType == type)
        let pem = try key.pem()
        #expect(pem.hasPrefix(type.isRSA ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----"))
        let path = try scratch.write("generated.pem", pem)
        try OpenSSL.run(["pkey", "-in", path, "-check", "-noout"])
        #expect(try opensslSPKI(ofPrivateKeyAt: path) == key.publicKeyInfo)
        // And our own export imports back to the same key.
        #expect(try SoftwarePrivateKey(importing: Array(pem.utf8)).publicKeyInfo == key.publicKeyInfo)
    }

    @Test func generatesOneLargerRSAKey() throws {
        let key = try SoftwarePrivateKey.generate(.rsa(bits: 3072), random: RandomGenerator())
        #expect(key.keyType == .rsa(bits: 3072))
        let path = try scratch.write("rsa3072.pem", try key.pem())
        #expect(try opensslSPKI(ofPrivateKeyAt: path) == key.publicKeyInfo)
    }

    @Test(arguments: [KeyType.rsa(bits: 2048), .ec(.p256), .ec(.p384)])
    func ourSignatureVerifiesWithOpenSSL(type: KeyType) throws {
        let key = try SoftwarePrivateKey.generate(type, random: RandomGenerator())
        let publicKeyPath = try scratch.write("public.pem", PEM.encode(label: "PUBLIC KEY", der: key.publicKeyInfo))
        let message = Array("SCEP pkiMessage signed attributes".utf8)
        let messagePath = try scratch.write("message.bin", message)
        for (algorithm, name) in [(DigestAlgorithm.sha1, "-sha1"), (.sha256, "-sha256"), (.sha384, "-sha384"), (.sha512, "-sha512")] {
            let signature = try key.sign(digest: Digest.hash(algorithm, message), algorithm: algorithm)
            let signaturePath = try scratch.write("signature.bin", signature)
            let answer = try OpenSSL.text(["dgst", name, "-verify", publicKeyPath, "-signature", signaturePath, messagePath])
            #expect(answer.hasPrefix("Verified OK"), "\(type) \(algorithm)")
            // Our own verifier agrees, and rejects the signature for another message.
            let publicKey = try PublicKey(subjectPublicKeyInfo: key.publicKeyInfo)
            #expect(try publicKey.verify(signature: signature, digest: Digest.hash(algorithm, message), algorithm: algorithm))
            #expect(try !publicKey.verify(signature: signature, digest: Digest.hash(algorithm, message + [0]), algorithm: algorithm))
        }
    }

    /// An enrollment signs three messages with one imported EC key (CSR, signer certificate,
    /// pkiMessage); from the second signature on, mbedTLS reuses the base-point table kept in the
    /// key's group. Each signature must still verify with OpenSSL, and each must have its own r:
    /// the same r for two messages means the same nonce k, and two such signatures give the
    /// private key away.
    @Test(arguments: [ECCurve.p256, .p384])
    func repeatedECDSASignaturesWithOneImportedKeyVerifyWithFreshNonces(curve: ECCurve) throws {
        let keyPath = try opensslGenerate(.ec(curve), name: "key.pem")
        let key = try SoftwarePrivateKey(importing: Array(try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let publicKeyPath = try scratch.write("public.pem", PEM.encode(label: "PUBLIC KEY", der: key.publicKeyInfo))
        var nonceCommitments: [[UInt8]] = []
        for message in ["certification request", "signer certificate", "pkiMessage"].map({ Array($0.utf8) }) {
            let signature = try key.sign(digest: SHA256.hash(message), algorithm: .sha256)
            let messagePath = try scratch.write("message.bin", message)
            let signaturePath = try scratch.write("signature.bin", signature)
            let answer = try OpenSSL.text(["dgst", "-sha256", "-verify", publicKeyPath, "-signature", signaturePath, messagePath])
            #expect(answer.hasPrefix("Verified OK"), "\(curve) signature \(nonceCommitments.count + 1)")
            var fields = try DERNode(parsing: signature, limits: .der).elements(DER.Tag.sequence, "ECDSA-Sig-Value")
            nonceCommitments.append(try fields.next(DER.Tag.integer, "r").integerBytes("r"))
        }
        #expect(Set(nonceCommitments).count == 3)
    }

    @Test(arguments: [KeyType.rsa(bits: 2048), .ec(.p256), .ec(.p384)])
    func openSSLSignatureVerifiesWithOurs(type: KeyType) throws {
        let keyPath = try opensslGenerate(type, name: "key.pem")
        let publicKey = try PublicKey(subjectPublicKeyInfo: opensslSPKI(ofPrivateKeyAt: keyPath))
        #expect(publicKey.keyType == type)
        let message = Array("GetCACert".utf8)
        let messagePath = try scratch.write("message.bin", message)
        let signature = try OpenSSL.run(["dgst", "-sha256", "-sign", keyPath, messagePath])
        #expect(try publicKey.verify(signature: signature, digest: SHA256.hash(message), algorithm: .sha256))
        var tampered = signature
        tampered[tampered.count / 2] ^= 0x01
        #expect(try !publicKey.verify(signature: tampered, digest: SHA256.hash(message), algorithm: .sha256))
        #expect(try !publicKey.verify(signature: [], digest: SHA256.hash(message), algorithm: .sha256))
        #expect(try !publicKey.verify(signature: Array(signature.prefix(10)), digest: SHA256.hash(message), algorithm: .sha256))
    }

    /// PKCS#8 and the traditional PKCS#1 / SEC1 encodings, each as PEM and DER.
    @Test(arguments: [KeyType.rsa(bits: 2048), .ec(.p256), .ec(.p384)])
    func importsEveryOpenSSLEncoding(type: KeyType) throws {
        let pkcs8PEM = try opensslGenerate(type, name: "pkcs8.pem")
        let expectedSPKI = try opensslSPKI(ofPrivateKeyAt: pkcs8PEM)
        let encodings: [(String, [String])] = [
            ("pkcs8.der", ["-outform", "DER"]),
            ("traditional.pem", ["-traditional"]),
            ("traditional.der", ["-traditional", "-outform", "DER"]),
        ]
        var files = [try scratch.read("pkcs8.pem")]
        for (name, options) in encodings {
            try OpenSSL.run(["pkey", "-in", pkcs8PEM, "-out", scratch.path(name)] + options)
            files.append(try scratch.read(name))
        }
        #expect(String(decoding: files[2], as: UTF8.self).hasPrefix(type.isRSA ? "-----BEGIN RSA PRIVATE KEY" : "-----BEGIN EC PRIVATE KEY"))
        for file in files {
            let key = try SoftwarePrivateKey(importing: file)
            #expect(key.keyType == type)
            #expect(key.publicKeyInfo == expectedSPKI)
        }
    }

    @Test func ourRSACiphertextDecryptsWithOpenSSL() throws {
        let keyPath = try opensslGenerate(.rsa(bits: 2048), name: "key.pem")
        let publicKey = try PublicKey(subjectPublicKeyInfo: opensslSPKI(ofPrivateKeyAt: keyPath))
        let random = try RandomGenerator()
        let contentKey = try random.bytes(32)
        let ciphertext = try publicKey.encrypt(contentKey, random: random)
        #expect(ciphertext.count == 256)
        let ciphertextPath = try scratch.write("ciphertext.bin", ciphertext)
        let decrypted = try OpenSSL.run(["pkeyutl", "-decrypt", "-inkey", keyPath, "-in", ciphertextPath, "-pkeyopt", "rsa_padding_mode:pkcs1"])
        #expect(decrypted == contentKey)
    }

    @Test func openSSLCiphertextDecryptsWithOurs() throws {
        let key = try SoftwarePrivateKey.generate(.rsa(bits: 2048), random: RandomGenerator())
        let publicKeyPath = try scratch.write("public.der", key.publicKeyInfo)
        let contentKey = try RandomGenerator().bytes(24)
        let ciphertext = try OpenSSL.run(
            ["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", publicKeyPath, "-pkeyopt", "rsa_padding_mode:pkcs1"],
            input: contentKey)
        #expect(try key.decrypt(ciphertext) == contentKey)
    }

    // MARK: rules the API promises

    @Test func garbageKeyIsBadKey() {
        for input in [[UInt8](), [0x30, 0x03, 0x02, 0x01], Array("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".utf8), Array(repeating: 0xFF, count: 300)] {
            let error = #expect(throws: SCEPError.self) { try SoftwarePrivateKey(importing: input) }
            #expect(error?.code == .cryptoBadKey)
            #expect(error?.detail ?? 0 < 0, "the mbedTLS code is kept")
        }
    }

    @Test func encryptedKeyIsRefused() throws {
        let keyPath = try opensslGenerate(.ec(.p256), name: "plain.pem")
        for options in [["-aes256"], ["-aes256", "-traditional"]] {
            let encrypted = try OpenSSL.run(["pkey", "-in", keyPath, "-passout", "pass:secret"] + options)
            let error = #expect(throws: SCEPError.self) { try SoftwarePrivateKey(importing: encrypted) }
            #expect(error?.code == .cryptoBadKey)
        }
    }

    @Test func unsupportedCurveIsRefused() throws {
        let path = scratch.path("p521.pem")
        try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", path])
        let error = #expect(throws: SCEPError.self) { try SoftwarePrivateKey(importing: scratch.read("p521.pem")) }
        #expect(error?.code == .cryptoUnsupported)
    }

    @Test func smallRSAGenerationIsUnsupported() {
        let error = #expect(throws: SCEPError.self) { try SoftwarePrivateKey.generate(.rsa(bits: 1024), random: RandomGenerator()) }
        #expect(error?.code == .cryptoUnsupported)
    }

    @Test func wrongDigestLengthIsBadInput() throws {
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: RandomGenerator())
        let signError = #expect(throws: SCEPError.self) { try key.sign(digest: SHA256.hash([1]), algorithm: .sha384) }
        #expect(signError?.code == .cryptoBadInput)
        let publicKey = try PublicKey(subjectPublicKeyInfo: key.publicKeyInfo)
        let verifyError = #expect(throws: SCEPError.self) {
            try publicKey.verify(signature: [0x30, 0], digest: [1, 2, 3], algorithm: .sha256)
        }
        #expect(verifyError?.code == .cryptoBadInput)
    }

    @Test func ecKeysNeitherEncryptNorDecrypt() throws {
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: RandomGenerator())
        let decryptError = #expect(throws: SCEPError.self) { try key.decrypt(Array(repeating: 1, count: 32)) }
        #expect(decryptError?.code == .cryptoUnsupported)
        let encryptError = #expect(throws: SCEPError.self) {
            try PublicKey(subjectPublicKeyInfo: key.publicKeyInfo).encrypt([1], random: RandomGenerator())
        }
        #expect(encryptError?.code == .cryptoUnsupported)
    }

    @Test func rsaLimitsAndWrongCiphertexts() throws {
        let key = try SoftwarePrivateKey.generate(.rsa(bits: 2048), random: RandomGenerator())
        let publicKey = try PublicKey(subjectPublicKeyInfo: key.publicKeyInfo)
        let random = try RandomGenerator()
        let tooLong = #expect(throws: SCEPError.self) { try publicKey.encrypt(Array(repeating: 1, count: 246), random: random) }
        #expect(tooLong?.code == .cryptoBadInput)
        #expect(try publicKey.encrypt(Array(repeating: 1, count: 245), random: random).count == 256)
        for ciphertext in [[UInt8](), Array(repeating: 0x42, count: 256), Array(repeating: 0x42, count: 100)] {
            let error = #expect(throws: SCEPError.self) { try key.decrypt(ciphertext) }
            #expect(error?.code == .cryptoDecryptFailed)
        }
    }

    @Test func garbagePublicKeyIsBadKey() {
        let error = #expect(throws: SCEPError.self) { try PublicKey(subjectPublicKeyInfo: [0x30, 0x00]) }
        #expect(error?.code == .cryptoBadKey)
    }
}

@Suite struct KeyDripFeedTests {
    /// Every truncated prefix of a valid PKCS#8 DER key throws `cryptoBadKey`, never traps.
    @Test func everyTruncatedPrefixOfAKeyIsRejected() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path("key.der")
        try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-outform", "DER", "-out", path])
        let der = try scratch.read("key.der")
        _ = try SoftwarePrivateKey(importing: der)
        for length in 0..<der.count {
            do {
                _ = try SoftwarePrivateKey(importing: Array(der.prefix(length)))
                Issue.record("prefix of \(length) bytes imported")
            } catch {
                #expect(error.code == .cryptoBadKey)
            }
        }
    }
}
