import DER
import SystemSupport
import Testing
import TestSupport
@testable import SCEPClient
import SCEPCrypto
import SCEPMessages

/// Strict mode's refusal of a single-DES reply is what a renewal reports, though it tries a second key.
@Suite struct StrictDecryptTests {
    @Test func aSingleDESReplyIsRefusedWhateverTheOtherKeysSay() throws {
        let scepserver = "scepserver-2.1.0"
        let ca = try Certificate(der: try Fixtures.bytes(scepserver, "getcacert-ca.der"))
        let clientKey = try SoftwarePrivateKey(importing: try Fixtures.bytes(scepserver, "client-key.pem"))
        // scepserver's reply: single DES, encrypted to the client key; the renewal's new key cannot open it.
        let reply = try CertRep(parsing: try Fixtures.bytes(scepserver, "certrep-success-des-sha1.der"), signers: [ca])
        let newKey = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        var policy = EnrollmentPolicy(caFingerprint: ca.sha256Fingerprint)
        policy.strict = true
        let url = try URL(parsing: "http://127.0.0.1:9/scep")
        let enrollment = Enrollment(service: SCEPService(url: url, transport: HTTPClient(), log: .discarding()), policy: policy,
                                    clock: SystemClock(), random: try RandomGenerator(), log: .discarding())
        #expect(errorCode { try enrollment.decrypt(reply, keys: [clientKey, newKey]) } == .messageUnsupported)
    }
}
