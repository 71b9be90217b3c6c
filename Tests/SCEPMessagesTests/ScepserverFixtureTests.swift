import DER
import Testing
import SCEPCrypto
import SCEPMessages
import TestSupport

/// Bytes captured from a real scepserver 2.1.0 / scepclient exchange (Tests/Fixtures/scepserver-2.1.0).
@Suite struct ScepserverFixtureTests {
    let ca: Certificate
    let clientKey: SoftwarePrivateKey
    let certRep: [UInt8]

    init() throws {
        ca = try Certificate(der: try Fixtures.bytes(scepserver, "getcacert-ca.der"))
        clientKey = try SoftwarePrivateKey(importing: try Fixtures.bytes(scepserver, "client-key.pem"))
        certRep = try Fixtures.bytes(scepserver, "certrep-success-des-sha1.der")
    }

    @Test func certRepSuccessVerifiesAndDecryptsWithDESAndSHA1() throws {
        let reply = try CertRep(parsing: certRep, signers: [ca])
        #expect(reply.status == .success)
        #expect(reply.digest == .sha1)
        #expect(reply.recipientNonce != nil)
        #expect(reply.recipientNonce == reply.senderNonce, "scepserver repeats the client's nonce")
        let content = try reply.decryptContent(with: clientKey)
        #expect(content.cipher == .desCBC)
        #expect(content.certificates == [try Fixtures.bytes(scepserver, "issued-cert.der")])
    }

    @Test func certRepAnswersTheRequestItCameFrom() throws {
        let request = try SignedData(parsing: try Fixtures.bytes(scepserver, "pkcsreq-scepclient.der"))
        let signer = request.signerInfos[0]
        let transactionID = TransactionID(try signer.attribute(OID.scepTransactionID)!.text("transactionID"))
        let senderNonce = Nonce(try signer.attribute(OID.scepSenderNonce)!.octets("senderNonce"))
        let reply = try CertRep(parsing: certRep, signers: [ca])
        try reply.check(transactionID: transactionID, senderNonce: senderNonce)
        #expect(errorCode { try reply.check(transactionID: TransactionID("other"), senderNonce: senderNonce) } == .verifyTransactionID)
        #expect(errorCode { try reply.check(transactionID: transactionID, senderNonce: Nonce([1, 2, 3])) } == .verifyNonce)
    }

    @Test func certRepFailureCarriesBadRequest() throws {
        let reply = try CertRep(parsing: try Fixtures.bytes(scepserver, "certrep-failure-badrequest.der"), signers: [ca])
        #expect(reply.status == .failure)
        #expect(reply.failInfo == .badRequest)
        #expect(errorCode { try reply.decryptContent(with: clientKey) } == .messageMalformed)
    }

    @Test func certRepSignedByAnotherCertificateIsRefused() throws {
        let stranger = try selfSignedCertificate(subject: "CN=stranger", key: try rsaKey())
        #expect(errorCode { try CertRep(parsing: certRep, signers: [stranger]) } == .verifySigner)
    }

    @Test func certRepWithAFlippedSignedByteIsRefused() throws {
        // Flip a byte inside the signed attributes region (the transactionID string sits there).
        let request = try SignedData(parsing: try Fixtures.bytes(scepserver, "pkcsreq-scepclient.der"))
        let transactionID = Array(try request.signerInfos[0].attribute(OID.scepTransactionID)!.text("t").utf8)
        var tampered = certRep
        let start = try #require(firstIndex(of: transactionID, in: tampered))
        tampered[start] ^= 0x01
        #expect(errorCode { try CertRep(parsing: tampered, signers: [ca]) } == .verifySigner)
    }

    @Test func dripFeedCertRepEveryPrefixThrowsACodedError() throws {
        for length in stride(from: 0, to: certRep.count, by: 1) {
            let code = errorCode { try CertRep(parsing: Array(certRep.prefix(length)), signers: [ca]) }
            #expect(code != nil, "prefix \(length)")
        }
    }

    @Test func certRepRoundTripsThroughTheReader() throws {
        let node = try DERNode(parsing: certRep)
        #expect(node.bytes == certRep)
        // The constructed encryptedContent is BER: re-serialising changes the bytes but not the meaning.
        let reserialized = node.serialized()
        #expect(try DERNode(parsing: reserialized, limits: .der).serialized() == reserialized)
    }

    @Test func certRepWithTrailingBytesIsRefused() {
        #expect(errorCode { try CertRep(parsing: certRep + [0], signers: [ca]) } == .derTrailingBytes)
    }

    @Test func scepclientRequestVerifiesAndDecryptsToItsCSR() throws {
        let request = try SignedData(parsing: try Fixtures.bytes(scepserver, "pkcsreq-scepclient.der"))
        let signer = try Certificate(der: request.certificates[0])
        try request.signerInfos[0].verify(content: request.content, with: signer)
        #expect(try request.signerInfos[0].attribute(OID.scepMessageType)!.text("type") == "19")
        let caKey = try SoftwarePrivateKey(importing: try Fixtures.bytes(scepserver, "ca-key.pem"))
        let (csr, cipher) = try EnvelopedData.decrypt(request.content!, key: caKey)
        #expect(cipher == .desCBC)
        #expect(csr == (try Fixtures.bytes(scepserver, "pkcsreq-csr.der")))
    }

    @Test func getCACertSingleCertificate() throws {
        let body = try Fixtures.bytes(scepserver, "getcacert-ca.der")
        #expect(try CACertificates.parse(body) == [body])
        let roles = CARoles(pinnedCA: ca, all: [ca], now: ca.notBefore + 60)
        #expect(roles.encryption === ca)
        #expect(roles.signers.count == 1)
    }

    @Test func getCACapsOfScepserver() throws {
        let caps = Capabilities(parsing: try Fixtures.bytes(scepserver, "getcacaps.txt"))
        #expect(caps.renewal && caps.sha1 && caps.sha256 && caps.aes && caps.des3 && caps.scepStandard && caps.postPKIOperation)
        #expect(!caps.sha512 && !caps.getNextCACert)
        #expect(caps.contentCipher == .aes128CBC)
        #expect(caps.digest == .sha256)
    }
}

func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
    for start in 0...(haystack.count - needle.count) where Array(haystack[start..<start + needle.count]) == needle {
        return start
    }
    return nil
}
