import DER
import Foundation
import SCEPCrypto
@testable import SCEPMessages
import Testing
import TestSupport

/// PasswordRecipientInfo (RFC 3211 via RFC 5652 §6.2.4), as RFC 8894 §3.1 uses it for EC keys.
/// OpenSSL's `cms -encrypt/-decrypt -pwri_password` is the judge both ways; the forged envelopes are
/// what a hostile CA could send, built here from public data only.
@Suite struct PasswordRecipientInfoTests {
    static let password = "s3cret-Challenge"

    @Test(arguments: ["-aes128", "-aes256", "-des3"])
    func openSSLPasswordEnvelopeDecrypts(_ cipherFlag: String) throws {
        let plaintext = Array("a degenerate PKCS#7 with the issued certificate would be here".utf8)
        let envelope = try OpenSSL.run(["cms", "-encrypt", "-pwri_password", Self.password, cipherFlag, "-binary", "-outform", "DER"], input: plaintext)
        let (content, _) = try EnvelopedData.decrypt(envelope, key: nil, password: Array(Self.password.utf8))
        #expect(content == plaintext)
        // The RSA key of an unrelated recipient does not matter: the password opens it.
        let (again, _) = try EnvelopedData.decrypt(envelope, key: try rsaKey(), password: Array(Self.password.utf8))
        #expect(again == plaintext)
    }

    @Test func wrongPasswordIsRefusedByTheCheckBytes() throws {
        let envelope = try OpenSSL.run(["cms", "-encrypt", "-pwri_password", Self.password, "-aes256", "-binary", "-outform", "DER"], input: [1, 2, 3])
        #expect(errorCode { try EnvelopedData.decrypt(envelope, key: nil, password: Array("not-the-challenge".utf8)) } == .verifyChallenge)
        #expect(errorCode { try EnvelopedData.decrypt(envelope, key: try rsaKey(), password: nil) } == .verifyChallenge)
    }

    @Test func dripFeedEveryPrefixThrowsACodedError() throws {
        let envelope = try OpenSSL.run(["cms", "-encrypt", "-pwri_password", Self.password, "-aes128", "-binary", "-outform", "DER"], input: [7, 7, 7])
        for length in 0..<envelope.count {
            let code = errorCode { try EnvelopedData.decrypt(Array(envelope.prefix(length)), key: nil, password: Array(Self.password.utf8)) }
            #expect(code != nil, "prefix \(length)")
        }
    }

    /// A request to a CA whose key is EC is encrypted to the challenge; OpenSSL opens it.
    @Test(arguments: [("P-256", ContentCipher.aes128CBC), ("P-384", .aes256CBC), ("P-256", .tripleDESCBC)])
    func requestToAnECCAIsOpenedByOpenSSLWithThePassword(_ curve: String, _ cipher: ContentCipher) throws {
        let ca = try OpenSSLCA(name: "EC CA", newKey: ["ec", "-pkeyopt", "ec_paramgen_curve:" + curve])
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        let random = try RandomGenerator()
        let csr = try CertificationRequest.build(
            .device(subject: try DistinguishedName(parsing: "CN=ec-gw"), subjectAltNames: [], challengePassword: Self.password, keyType: key.keyType), key: key)
        let context = RequestContext(signerCertificate: try selfSignedCertificate(subject: "CN=ec-gw", key: key), signerKey: key, recipient: ca.certificate,
                                     cipher: cipher, digest: .sha256, transactionID: TransactionID("T"), senderNonce: Nonce(try random.bytes(16)),
                                     random: random, password: Self.password)
        let message = try PKIMessage.certificateRequest(csr, context: context)
        let envelope = try SignedData(parsing: message).content!
        _ = try DERNode(parsing: envelope, limits: .der)
        let printed = try OpenSSL.text(["cms", "-cmsout", "-print", "-inform", "DER"], input: envelope)
        #expect(printed.contains("hmacWithSHA256"))
        #expect(printed.contains("id-alg-PWRI-KEK"))
        let scratch = try ScratchDirectory()
        let path = try scratch.write("envelope.der", envelope)
        let decrypted = try OpenSSL.run(["cms", "-decrypt", "-pwri_password", Self.password, "-inform", "DER", "-in", path, "-binary"])
        #expect(decrypted == csr)
        let refused = try OpenSSL.runAllowingFailure(["cms", "-decrypt", "-pwri_password", "wrong", "-inform", "DER", "-in", path, "-binary"])
        #expect(refused.status != 0)
        // And we read our own.
        #expect(try EnvelopedData.decrypt(envelope, key: nil, password: Array(Self.password.utf8)).content == csr)
    }

    @Test func requestToAnECCAWithoutAChallengeIsAUsageError() throws {
        let ca = try OpenSSLCA(name: "EC CA", newKey: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let random = try RandomGenerator()
        #expect(errorCode { try EnvelopedData.build(content: [1], recipient: ca.certificate, cipher: .aes128CBC, password: nil, random: random) } == .usage)
    }

    // ---- forged by a hostile CA: what the server controls is bounded

    /// An EnvelopedData whose one PasswordRecipientInfo wraps a real content key with the given
    /// algorithms; the content is `plaintext` under AES-128.
    func forged(iterations: Int = 2048, kdfOID: String = OID.pbkdf2, prfOID: String? = OID.hmacWithSHA1, wrapOID: String = OID.pwriKEK,
                keyLength: Int? = nil, password: String = password, corruptCheck: Bool = false, plaintext: [UInt8] = [9, 9, 9],
                kekAlgorithm: [UInt8]? = nil) throws -> [UInt8] {
        let random = try RandomGenerator()
        let cipher = ContentCipher.aes128CBC
        let contentKey = try random.bytes(cipher.keySize)
        let contentIV = try random.bytes(16)
        let kekIV = try random.bytes(16)
        let salt = try random.bytes(8)
        // PBKDF2 costs what it says: derive only for counts the agent will run.
        let kek = (1...PasswordRecipientInfo.maximumIterations).contains(iterations)
            ? try PBKDF2.deriveKey(password: Array(password.utf8), salt: salt, iterations: iterations, keyLength: 16, prf: .sha1)
            : try random.bytes(16)
        var wrapped = try PasswordRecipientInfo.wrap(corruptCheck ? [contentKey[0] ^ 1] + contentKey.dropFirst() : contentKey,
                                                     kek: kek, cipher: cipher, iv: kekIV, random: random)
        if corruptCheck {
            // Re-wrap with the check bytes of the other key: the check no longer matches.
            var formatted = try BlockCipher.cbcBlocks(cipher, encrypt: false, key: kek, iv: kekIV,
                                                      blocks: try undoSecondPass(wrapped, kek: kek))
            formatted[4] ^= 1
            let first = try BlockCipher.cbcBlocks(cipher, encrypt: true, key: kek, iv: kekIV, blocks: formatted)
            wrapped = try BlockCipher.cbcBlocks(cipher, encrypt: true, key: kek, iv: Array(first.suffix(16)), blocks: first)
        }
        // DER.integer writes only non-negative values; a negative count is one two's complement byte here.
        let count = iterations >= 0 ? DER.integer(iterations) : DER.tlv(DER.Tag.integer, [UInt8(truncatingIfNeeded: iterations)])
        var kdfParameters = [DER.octetString(salt), count]
        if let keyLength { kdfParameters.append(DER.integer(keyLength)) }
        if let prfOID { kdfParameters.append(DER.sequence([DER.oid(prfOID), DER.null()])) }
        let pwri = DER.tlv(DER.Tag.contextConstructed(3), [
            DER.integer(0),
            DER.tlv(DER.Tag.contextConstructed(0), DER.oid(kdfOID) + DER.sequence(kdfParameters)),
            DER.sequence([DER.oid(wrapOID), kekAlgorithm ?? DER.sequence([DER.oid(OID.aes128CBC), DER.octetString(kekIV)])]),
            DER.octetString(wrapped),
        ].flatMap { $0 })
        let encrypted = try BlockCipher.encrypt(cipher, key: contentKey, iv: contentIV, plaintext: plaintext)
        let enveloped = DER.sequence([
            DER.integer(3), DER.setOf([pwri]),
            DER.sequence([DER.oid(OID.data), DER.sequence([DER.oid(OID.aes128CBC), DER.octetString(contentIV)]),
                          DER.tlv(DER.Tag.contextPrimitive(0), encrypted)]),
        ])
        return ContentInfo.encode(contentType: OID.envelopedData, content: enveloped)
    }

    func undoSecondPass(_ wrapped: [UInt8], kek: [UInt8]) throws -> [UInt8] {
        let last = try BlockCipher.cbcBlocks(.aes128CBC, encrypt: false, key: kek, iv: Array(wrapped.suffix(32).prefix(16)), blocks: Array(wrapped.suffix(16)))
        return try BlockCipher.cbcBlocks(.aes128CBC, encrypt: false, key: kek, iv: last, blocks: Array(wrapped.dropLast(16))) + last
    }

    func decrypt(_ envelope: [UInt8]) throws -> [UInt8] {
        try EnvelopedData.decrypt(envelope, key: nil, password: Array(Self.password.utf8)).content
    }

    @Test func forgeryHelperBuildsWhatWeRead() throws {
        #expect(try decrypt(try forged()) == [9, 9, 9])
        #expect(try decrypt(try forged(prfOID: nil)) == [9, 9, 9], "PRF absent: the DEFAULT, HMAC-SHA-1")
        #expect(try decrypt(try forged(keyLength: 16)) == [9, 9, 9])
    }

    @Test func iterationCountAtTheCapIsAcceptedAndOneMoreIsRefused() throws {
        #expect(try decrypt(try forged(iterations: PasswordRecipientInfo.maximumIterations)) == [9, 9, 9])
        #expect(errorCode { try decrypt(try forged(iterations: PasswordRecipientInfo.maximumIterations + 1)) } == .messageUnsupported)
        #expect(errorCode { try decrypt(try forged(iterations: 0x7FFF_FFFF)) } == .messageUnsupported)
        #expect(errorCode { try decrypt(try forged(iterations: 0)) } == .messageMalformed)
        #expect(errorCode { try decrypt(try forged(iterations: -5)) } == .messageUnsupported)
    }

    @Test func unknownKeyDerivationIsRefused() throws {
        // scrypt (RFC 7914)
        #expect(errorCode { try decrypt(try forged(kdfOID: "1.3.6.1.4.1.11591.4.11")) } == .messageUnsupported)
    }

    @Test func unknownPseudoRandomFunctionIsRefused() throws {
        // hmacWithMD5 (RFC 8018 B.1): never chosen, never accepted
        #expect(errorCode { try decrypt(try forged(prfOID: "1.2.840.113549.2.6")) } == .messageUnsupported)
    }

    @Test func unknownKeyWrapIsRefused() throws {
        // id-aes128-wrap (RFC 3394) in place of id-alg-PWRI-KEK
        #expect(errorCode { try decrypt(try forged(wrapOID: "2.16.840.1.101.3.4.1.5")) } == .messageUnsupported)
    }

    @Test func aSingleDESKEKIsRefused() throws {
        let desKEK = DER.sequence([DER.oid(OID.desCBC), DER.octetString([UInt8](repeating: 7, count: 8))])
        #expect(errorCode { try decrypt(try forged(kekAlgorithm: desKEK)) } == .messageUnsupported)
    }

    @Test func keyLengthThatDoesNotFitTheKEKIsRefused() throws {
        #expect(errorCode { try decrypt(try forged(keyLength: 32)) } == .messageMalformed)
    }

    @Test func checkBytesThatDoNotMatchAreRefused() throws {
        #expect(errorCode { try decrypt(try forged(corruptCheck: true)) } == .verifyChallenge)
        #expect(errorCode { try decrypt(try forged(password: "another")) } == .verifyChallenge)
    }

    @Test func wrapRoundTripsEveryContentKeySize() throws {
        let random = try RandomGenerator()
        for cipher in [ContentCipher.aes128CBC, .aes256CBC, .tripleDESCBC] {
            for keySize in [8, 16, 24, 32] {
                let key = try random.bytes(keySize)
                let kek = try random.bytes(cipher.keySize)
                let iv = try random.bytes(cipher.blockSize)
                let wrapped = try PasswordRecipientInfo.wrap(key, kek: kek, cipher: cipher, iv: iv, random: random)
                #expect(wrapped.count % cipher.blockSize == 0 && wrapped.count >= 2 * cipher.blockSize)
                #expect(try PasswordRecipientInfo.unwrap(wrapped, kek: kek, cipher: cipher, iv: iv) == key)
                #expect(errorCode { try PasswordRecipientInfo.unwrap(Array(wrapped.dropLast(cipher.blockSize + 1)), kek: kek, cipher: cipher, iv: iv) } == .messageMalformed)
            }
        }
    }
}
