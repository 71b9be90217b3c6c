import DER
import Foundation
import Testing
import SCEPCrypto
import SCEPMessages
import TestSupport

/// OpenSSL's CLI is the independent judge of every structure we emit.
@Suite struct OpenSSLJudgesMessagesTests {
    @Test func csrVerifiesAndShowsChallengeAndSANs() throws {
        let key = try rsaKey()
        let template = CertificationRequestTemplate.device(
            subject: try DistinguishedName(parsing: "CN=gw-0042,O=Example,C=DE"),
            subjectAltNames: [try SubjectAltName(parsing: "dns:gw-0042.example.net"), try SubjectAltName(parsing: "ip:192.0.2.7"),
                              try SubjectAltName(parsing: "ip:2001:db8::7"), try SubjectAltName(parsing: "email:ops@example.net"),
                              try SubjectAltName(parsing: "uri:urn:example:gw-0042")],
            challengePassword: "s3cret-Challenge", keyType: key.keyType)
        let csr = try CertificationRequest.build(template, key: key)
        _ = try DERNode(parsing: csr, limits: .der)
        let text = try OpenSSL.text(["req", "-inform", "DER", "-verify", "-noout", "-text", "-reqopt", "ext_parse"], input: csr)
        #expect(text.contains("challengePassword"))
        #expect(text.contains("s3cret-Challenge"))
        #expect(text.contains("DNS:gw-0042.example.net"))
        #expect(text.contains("IP Address:192.0.2.7"))
        #expect(text.contains("IP Address:2001:DB8:0:0:0:0:0:7"))
        #expect(text.contains("email:ops@example.net"))
        #expect(text.contains("URI:urn:example:gw-0042"))
        #expect(text.contains("TLS Web Client Authentication"))
        #expect(text.contains("Digital Signature, Key Encipherment"))
        #expect(text.contains("C = DE, O = Example, CN = gw-0042"))
        #expect(text.contains("sha256WithRSAEncryption"))
    }

    @Test(arguments: [KeyType.ec(.p256), KeyType.ec(.p384)])
    func ecCSRVerifies(_ type: KeyType) throws {
        let key = try SoftwarePrivateKey.generate(type, random: try RandomGenerator())
        let csr = try CertificationRequest.build(
            .device(subject: try DistinguishedName(parsing: "CN=ec-device"), subjectAltNames: [], challengePassword: nil, keyType: type), key: key)
        let text = try OpenSSL.text(["req", "-inform", "DER", "-verify", "-noout", "-text"], input: csr)
        #expect(text.contains("ecdsa-with-SHA256"))
        #expect(text.contains("CN = ec-device"))
    }

    @Test func selfSignedSignerCertificateVerifies() throws {
        let scratch = try ScratchDirectory()
        let certificate = try selfSignedCertificate(subject: "CN=gw-0042,O=Example", key: try rsaKey())
        let path = try scratch.write("signer.pem", PEM.encode(label: "CERTIFICATE", der: certificate.der))
        let output = try OpenSSL.text(["verify", "-CAfile", path, "-partial_chain", path])
        #expect(output.contains("OK"))
        #expect(certificate.subjectDER == certificate.issuerDER)
        #expect(certificate.notAfter - certificate.notBefore == SignerCertificate.backdateSeconds + SignerCertificate.lifetimeSeconds)
    }

    @Test(arguments: [ContentCipher.aes128CBC, .aes256CBC, .tripleDESCBC])
    func pkcsReqVerifiesAndDecryptsToOurCSR(_ cipher: ContentCipher) throws {
        let ca = try OpenSSLCA()
        let key = try rsaKey()
        let random = try RandomGenerator()
        let template = CertificationRequestTemplate.device(
            subject: try DistinguishedName(parsing: "CN=gw-0042"), subjectAltNames: [], challengePassword: "pw", keyType: key.keyType)
        let csr = try CertificationRequest.build(template, key: key)
        let signer = try selfSignedCertificate(subject: "CN=gw-0042", key: key)
        let context = RequestContext(signerCertificate: signer, signerKey: key, recipient: ca.certificate, cipher: cipher, digest: .sha256,
                                     transactionID: try TransactionID.random(random), senderNonce: Nonce(try random.bytes(16)), random: random)
        let message = try PKIMessage.certificateRequest(csr, context: context)
        _ = try DERNode(parsing: message, limits: .der)
        _ = try OpenSSL.text(["asn1parse", "-inform", "DER"], input: message)

        // The signature verifies and the signed content is our EnvelopedData.
        let envelope = try OpenSSL.run(["cms", "-verify", "-noverify", "-inform", "DER", "-binary"], input: message)
        let parsed = try SignedData(parsing: message)
        #expect(envelope == parsed.content)
        let attributes = try OpenSSL.text(["cms", "-cmsout", "-print", "-inform", "DER"], input: message)
        #expect(attributes.contains("2.16.840.1.113733.1.9.2"))

        // The recipient's key opens the envelope and finds our CSR, byte for byte.
        let scratch = try ScratchDirectory()
        let envelopePath = try scratch.write("envelope.der", envelope)
        let decrypted = try OpenSSL.run(["cms", "-decrypt", "-inform", "DER", "-in", envelopePath, "-inkey", ca.keyPath, "-recip", ca.certificatePath, "-binary"])
        #expect(decrypted == csr)
    }

    @Test func desIsNeverUsedToEncryptARequest() throws {
        let ca = try OpenSSLCA()
        let key = try rsaKey()
        let random = try RandomGenerator()
        let context = RequestContext(signerCertificate: try selfSignedCertificate(subject: "CN=x", key: key), signerKey: key, recipient: ca.certificate,
                                     cipher: .desCBC, digest: .sha256, transactionID: TransactionID("T"), senderNonce: Nonce(try random.bytes(16)), random: random)
        #expect(errorCode { try PKIMessage.certificateRequest([0x30, 0x00], context: context) } == .cryptoUnsupported)
    }

    @Test func degenerateChainIsReadByOpenSSL() throws {
        let ca = try OpenSSLCA()
        let other = try selfSignedCertificate(subject: "CN=RA", key: try rsaKey())
        let chain = SignedData.certificatesOnly([ca.certificate.der, other.der])
        let text = try OpenSSL.text(["pkcs7", "-inform", "DER", "-print_certs", "-noout"], input: chain)
        #expect(text.contains("CN = Test CA"))
        #expect(text.contains("CN = RA"))
        #expect(try CACertificates.parse(chain).count == 2)
    }
}

/// We read what OpenSSL builds.
@Suite struct ReadsOpenSSLOutputTests {
    @Test(arguments: ["-aes128", "-aes256", "-des3"])
    func envelopedDataFromOpenSSLDecrypts(_ cipherFlag: String) throws {
        let ca = try OpenSSLCA()
        let plaintext = Array("the CSR would be here".utf8)
        let envelope = try OpenSSL.run(["cms", "-encrypt", "-binary", "-outform", "DER", cipherFlag, ca.certificatePath], input: plaintext)
        let (content, _) = try EnvelopedData.decrypt(envelope, key: ca.key)
        #expect(content == plaintext)
    }

    @Test(arguments: ["sha256", "sha512", "sha1"])
    func signedDataFromOpenSSLVerifies(_ digest: String) throws {
        let ca = try OpenSSLCA()
        let content = Array("signed by openssl".utf8)
        let signed = try OpenSSL.run(["cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-md", digest,
                                      "-signer", ca.certificatePath, "-inkey", ca.keyPath], input: content)
        let parsed = try SignedData(parsing: signed)
        #expect(parsed.content == content)
        try parsed.signerInfos[0].verify(content: parsed.content, with: ca.certificate)
        #expect(parsed.signerInfos[0].signer.matches(ca.certificate))
        let stranger = try OpenSSLCA(name: "Stranger")
        #expect(errorCode { try parsed.signerInfos[0].verify(content: parsed.content, with: stranger.certificate) } == .messageSignatureInvalid)
        #expect(errorCode { try parsed.signerInfos[0].verify(content: content + [0], with: ca.certificate) } == .messageSignatureInvalid)
    }
}
