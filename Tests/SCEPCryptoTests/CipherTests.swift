import DER
import SCEPCrypto
import SystemSupport
import Testing
import TestSupport

@Suite struct CipherTests {
    /// NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first two blocks; our output adds one padding block.
    @Test func aes128CBCKnownAnswer() throws {
        let key = bytes(hex: "2b7e151628aed2a6abf7158809cf4f3c")
        let iv = bytes(hex: "000102030405060708090a0b0c0d0e0f")
        let plaintext = bytes(hex: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
        let ciphertext = try BlockCipher.encrypt(.aes128CBC, key: key, iv: iv, plaintext: plaintext)
        #expect(ciphertext.count == 48)
        #expect(hex(Array(ciphertext.prefix(32))) == "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
        #expect(try BlockCipher.decrypt(.aes128CBC, key: key, iv: iv, ciphertext: ciphertext) == plaintext)
    }

    /// NIST SP 800-38A F.2.5 CBC-AES256.Encrypt, first block.
    @Test func aes256CBCKnownAnswer() throws {
        let key = bytes(hex: "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        let iv = bytes(hex: "000102030405060708090a0b0c0d0e0f")
        let plaintext = bytes(hex: "6bc1bee22e409f96e93d7e117393172a")
        let ciphertext = try BlockCipher.encrypt(.aes256CBC, key: key, iv: iv, plaintext: plaintext)
        #expect(hex(Array(ciphertext.prefix(16))) == "f58c4c04d6e5f1ba779eabfb5f7bfbd6")
    }

    @Test(arguments: [ContentCipher.aes128CBC, .aes256CBC, .tripleDESCBC])
    func roundTripsEveryLength(cipher: ContentCipher) throws {
        let random = try RandomGenerator()
        let key = try random.bytes(cipher.keySize)
        let iv = try random.bytes(cipher.blockSize)
        for length in [0, 1, cipher.blockSize - 1, cipher.blockSize, cipher.blockSize + 1, 100] {
            let plaintext = try random.bytes(length)
            let ciphertext = try BlockCipher.encrypt(cipher, key: key, iv: iv, plaintext: plaintext)
            #expect(ciphertext.count == (length / cipher.blockSize + 1) * cipher.blockSize)
            #expect(try BlockCipher.decrypt(cipher, key: key, iv: iv, ciphertext: ciphertext) == plaintext)
        }
    }

    static let opensslNames: [(ContentCipher, String, [String])] = [
        (.aes128CBC, "-aes-128-cbc", []),
        (.aes256CBC, "-aes-256-cbc", []),
        (.tripleDESCBC, "-des-ede3-cbc", []),
        (.desCBC, "-des-cbc", ["-provider", "legacy", "-provider", "default"]),
    ]

    @Test func opensslEncryptionDecryptsWithOurs() throws {
        let random = try RandomGenerator()
        for (cipher, name, providers) in Self.opensslNames {
            let key = try random.bytes(cipher.keySize)
            let iv = try random.bytes(cipher.blockSize)
            let plaintext = try random.bytes(77)
            let ciphertext = try OpenSSL.run(["enc", name, "-K", hex(key), "-iv", hex(iv)] + providers, input: plaintext)
            #expect(try BlockCipher.decrypt(cipher, key: key, iv: iv, ciphertext: ciphertext) == plaintext, "\(cipher)")
            if cipher == .desCBC {
                #expect(try Insecure.DES.decrypt(key: key, iv: iv, ciphertext: ciphertext) == plaintext)
            }
        }
    }

    @Test func ourEncryptionDecryptsWithOpenSSL() throws {
        let random = try RandomGenerator()
        for (cipher, name, providers) in Self.opensslNames where cipher != .desCBC {
            let key = try random.bytes(cipher.keySize)
            let iv = try random.bytes(cipher.blockSize)
            let plaintext = try random.bytes(50)
            let ciphertext = try BlockCipher.encrypt(cipher, key: key, iv: iv, plaintext: plaintext)
            let decrypted = try OpenSSL.run(["enc", "-d", name, "-K", hex(key), "-iv", hex(iv)] + providers, input: ciphertext)
            #expect(decrypted == plaintext, "\(cipher)")
        }
    }

    @Test func desEncryptionIsRefused() {
        let error = #expect(throws: SCEPError.self) {
            try BlockCipher.encrypt(.desCBC, key: Array(repeating: 1, count: 8), iv: Array(repeating: 0, count: 8), plaintext: [1])
        }
        #expect(error?.code == .cryptoUnsupported)
    }

    @Test func wrongKeyOrIVSizeIsBadInput() {
        let shortKey = #expect(throws: SCEPError.self) {
            try BlockCipher.encrypt(.aes256CBC, key: Array(repeating: 1, count: 16), iv: Array(repeating: 0, count: 16), plaintext: [1])
        }
        #expect(shortKey?.code == .cryptoBadInput)
        let shortIV = #expect(throws: SCEPError.self) {
            try BlockCipher.decrypt(.tripleDESCBC, key: Array(repeating: 1, count: 24), iv: Array(repeating: 0, count: 16), ciphertext: Array(repeating: 0, count: 16))
        }
        #expect(shortIV?.code == .cryptoBadInput)
    }

    @Test func wrongKeyFailsPaddingCheck() throws {
        let random = try RandomGenerator()
        let iv = try random.bytes(16)
        let ciphertext = try BlockCipher.encrypt(.aes128CBC, key: Array(repeating: 7, count: 16), iv: iv, plaintext: Array(repeating: 1, count: 40))
        // A wrong key yields valid PKCS#7 padding about once in 256 tries; try several keys so the
        // test does not depend on luck.
        var failures = 0
        for attempt in 0..<8 {
            do {
                _ = try BlockCipher.decrypt(.aes128CBC, key: Array(repeating: UInt8(attempt + 8), count: 16), iv: iv, ciphertext: ciphertext)
            } catch {
                #expect(error.code == .cryptoDecryptFailed)
                failures += 1
            }
        }
        #expect(failures >= 6)
    }

    @Test func partialBlockCiphertextIsDecryptFailure() {
        let error = #expect(throws: SCEPError.self) {
            try BlockCipher.decrypt(.aes128CBC, key: Array(repeating: 1, count: 16), iv: Array(repeating: 0, count: 16), ciphertext: Array(repeating: 0, count: 17))
        }
        #expect(error?.code == .cryptoDecryptFailed)
        let empty = #expect(throws: SCEPError.self) {
            try BlockCipher.decrypt(.aes128CBC, key: Array(repeating: 1, count: 16), iv: Array(repeating: 0, count: 16), ciphertext: [])
        }
        #expect(empty?.code == .cryptoDecryptFailed)
    }
}
