import DER
import Foundation
import SCEPCrypto
@testable import SCEPMessages
import Testing
import TestSupport

/// Red-team reproducers for issue 14's "bound what a server controls" (attack-13 branch).
@Suite struct PWRIAttackTests {
    /// The cap of 100,000 iterations is checked per PasswordRecipientInfo, but `EnvelopedData.decrypt`
    /// tries every `[3]` RecipientInfo in the SET, and `Enrollment.decrypt` runs the whole envelope
    /// once per key (signer key and request key on a renewal). A hostile CA or RA signs one CertRep
    /// holding thousands of PWRIs, each at the cap with HMAC-SHA-512 and a KEK that never unwraps:
    /// a 1 MiB reply holds ~10,000 of them, 10^9 HMAC-SHA-512 iterations (tens of minutes on a
    /// Cortex-A53, twice on a renewal). Here 64 at the cap, 64 times the documented bound, must be
    /// refused as too much work (messageUnsupported) before any PBKDF2 runs; today each is derived
    /// and the envelope ends with verifyChallenge after all that work.
    @Test func manyPasswordRecipientInfosTogetherExceedTheIterationCap() throws {
        let random = try RandomGenerator()
        let cipher = ContentCipher.aes256CBC
        func pwri() throws -> [UInt8] {
            let kdfParameters = DER.sequence([
                DER.octetString(try random.bytes(8)), DER.integer(PasswordRecipientInfo.maximumIterations),
                DER.sequence([DER.oid(OID.hmacWithSHA512), DER.null()]),
            ])
            return DER.tlv(DER.Tag.contextConstructed(3), [
                DER.integer(0),
                DER.tlv(DER.Tag.contextConstructed(0), DER.oid(OID.pbkdf2) + kdfParameters),
                DER.sequence([DER.oid(OID.pwriKEK), DER.sequence([DER.oid(OID.aes256CBC), DER.octetString(try random.bytes(16))])]),
                DER.octetString(try random.bytes(48)),
            ].flatMap { $0 })
        }
        var recipients: [[UInt8]] = []
        for _ in 0..<64 { recipients.append(try pwri()) }
        let enveloped = DER.sequence([
            DER.integer(3), DER.setOf(recipients),
            DER.sequence([DER.oid(OID.data), DER.sequence([DER.oid(OID.aes256CBC), DER.octetString(try random.bytes(16))]),
                          DER.tlv(DER.Tag.contextPrimitive(0), try random.bytes(32))]),
        ])
        let envelope = ContentInfo.encode(contentType: OID.envelopedData, content: enveloped)
        #expect(envelope.count < 16 * 1024, "64 of them fit in 16 KiB; the 1 MiB reply cap allows thousands")
        let start = Date()
        let code = errorCode { try EnvelopedData.decrypt(envelope, key: nil, password: Array("s3cret-Challenge".utf8)) }
        let elapsed = Date().timeIntervalSince(start)
        #expect(code == .messageUnsupported, "refused as too much work, not tried one by one (took \(elapsed) s)")
        _ = cipher
    }
}
