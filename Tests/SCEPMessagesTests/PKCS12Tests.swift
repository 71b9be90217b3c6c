import DER
import Foundation
import SCEPCrypto
import SCEPMessages
import Testing
import TestSupport

/// PKCS#12 files we write, judged by OpenSSL (`openssl pkcs12 -info`): the key, its certificate, the
/// PBES2/AES-256 encryption and the SHA-256 MAC, or no encryption and no MAC when asked.
@Suite struct PKCS12Tests {
    /// `openssl pkcs12 -info`, which prints what it found (MAC, bags, algorithms) on stderr: both streams.
    static func info(_ path: String, passphrase: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["pkcs12", "-info", "-in", path, "-passin", "pass:" + passphrase, "-nodes"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func material(_ type: KeyType, _ scratch: ScratchDirectory) throws -> (SoftwarePrivateKey, [UInt8], [UInt8]) {
        let key = try SoftwarePrivateKey.generate(type, random: try RandomGenerator())
        let pem = try key.pem()
        let keyPath = try scratch.write("key.pem", pem)
        let certificate = try OpenSSL.run(["req", "-new", "-x509", "-key", keyPath, "-subj", "/CN=gw-p12", "-days", "1", "-outform", "DER"])
        let der = try PEM.decode(pem)[0].der
        return (key, der, certificate)
    }

    @Test(arguments: [KeyType.rsa(bits: 2048), .ec(.p256)])
    func anEncryptedFileOpensWithItsPassphraseOnly(_ type: KeyType) throws {
        let scratch = try ScratchDirectory()
        let (key, der, certificate) = try material(type, scratch)
        let p12 = try PKCS12.build(key: der, publicKeyInfo: key.publicKeyInfo, certificates: [certificate], passphrase: Array("s3cret pass".utf8), random: try RandomGenerator())
        let path = try scratch.write("bundle.p12", p12)
        let (status, info) = try Self.info(path, passphrase: "s3cret pass")
        #expect(status == 0)
        #expect(info.contains("MAC: sha256, Iteration 10000"), "\(info)")
        #expect(info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"), "\(info)")
        #expect(info.contains("Certificate bag") && info.contains("CN = gw-p12"), "\(info)")
        let extracted = try OpenSSL.run(["pkey", "-pubout", "-outform", "DER"], input: try OpenSSL.run(["pkcs12", "-in", path, "-nocerts", "-nodes", "-passin", "pass:s3cret pass"]))
        #expect(extracted == key.publicKeyInfo, "the key inside is ours")
        let wrong = try OpenSSL.runAllowingFailure(["pkcs12", "-info", "-in", path, "-passin", "pass:wrong", "-nodes"])
        #expect(wrong.status != 0 && String(decoding: wrong.output, as: UTF8.self).contains("Mac verify error"))
    }

    @Test func anUnencryptedFileHasAPlainKeyAndNoMAC() throws {
        let scratch = try ScratchDirectory()
        let (key, der, certificate) = try material(.rsa(bits: 2048), scratch)
        let p12 = try PKCS12.build(key: der, publicKeyInfo: key.publicKeyInfo, certificates: [certificate, certificate], passphrase: nil, random: try RandomGenerator())
        let path = try scratch.write("bundle.p12", p12)
        let (status, info) = try Self.info(path, passphrase: "")
        #expect(status == 0)
        #expect(info.contains("Key bag") && !info.contains("Shrouded") && info.contains("MAC is absent"), "\(info)")
        let extracted = try OpenSSL.run(["pkey", "-pubout", "-outform", "DER"], input: try OpenSSL.run(["pkcs12", "-in", path, "-nocerts", "-nodes", "-passin", "pass:"]))
        #expect(extracted == key.publicKeyInfo)
    }
}
