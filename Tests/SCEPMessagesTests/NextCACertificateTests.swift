import DER
import Foundation
import Testing
import SCEPCrypto
import SCEPMessages
import TestSupport

/// GetNextCACert replies built by OpenSSL as RFC 8894 §4.7.1 has them, signed by the scepserver fixture CA.
@Suite struct NextCACertificateTests {
    let scratch: ScratchDirectory
    let ca: Certificate

    init() throws {
        scratch = try ScratchDirectory()
        ca = try Certificate(der: try Fixtures.bytes(scepserver, "getcacert-ca.der"))
        _ = try scratch.write("ca.der", ca.der)
        try OpenSSL.run(["x509", "-inform", "DER", "-in", scratch.path("ca.der"), "-out", scratch.path("ca.pem")])
    }

    /// A successor valid `days` from now, wrapped in a certs-only SignedData and signed by the fixture CA.
    func reply(days: Int = 7300, signOptions: [String] = []) throws -> (reply: [UInt8], successor: [UInt8]) {
        try OpenSSL.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", scratch.path("next.key"), "-out", scratch.path("next.pem"),
                         "-subj", "/O=scep-agent test/CN=Next CA", "-days", String(days),
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try OpenSSL.run(["crl2pkcs7", "-nocrl", "-certfile", scratch.path("next.pem"), "-outform", "DER", "-out", scratch.path("inner.der")])
        try OpenSSL.run(["cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", scratch.path("inner.der"), "-md", "sha256",
                         "-signer", scratch.path("ca.pem"), "-inkey", Fixtures.path(scepserver, "ca-key.pem"), "-out", scratch.path("reply.der")] + signOptions)
        try OpenSSL.run(["x509", "-in", scratch.path("next.pem"), "-outform", "DER", "-out", scratch.path("next.der")])
        return (try scratch.read("reply.der"), try scratch.read("next.der"))
    }

    @Test func theConformingReplyYieldsTheSuccessorFromTheSignedContent() throws {
        let (bytes, successor) = try reply()
        let next = try NextCACertificate(parsing: bytes, signers: [ca], current: ca)
        #expect(next.successor.der == successor && next.signer === ca)
    }

    @Test func aFlippedByteInTheSignedContentFailsTheSignature() throws {
        var (bytes, successor) = try reply()
        let start = try #require(firstIndex(of: Array(successor.suffix(40)), in: bytes))
        bytes[start] ^= 0x01
        #expect(errorCode { try NextCACertificate(parsing: bytes, signers: [ca], current: ca) } == .verifySigner)
    }

    @Test func aSuccessorEndingBeforeTheCurrentCAIsNoSuccessor() throws {
        let (bytes, _) = try reply(days: 1)
        #expect(errorCode { try NextCACertificate(parsing: bytes, signers: [ca], current: ca) } == .verifyChain)
    }

    @Test func withoutSignedAttributesTheSignatureIsNotAccepted() throws {
        let (bytes, _) = try reply(signOptions: ["-noattr"])
        #expect(errorCode { try NextCACertificate(parsing: bytes, signers: [ca], current: ca) } == .messageSignatureInvalid)
    }

    @Test func dripFeedEveryPrefixThrowsACodedError() throws {
        let (bytes, _) = try reply()
        for length in 0..<bytes.count {
            #expect(errorCode { try NextCACertificate(parsing: Array(bytes.prefix(length)), signers: [ca], current: ca) } != nil, "prefix \(length)")
        }
    }
}
