import DER
import Foundation
import Testing
import TestSupport
import SCEPClient
import SCEPCrypto

/// The checks on an issued certificate, with certificates OpenSSL made.
@Suite struct VerifyIssuedTests {
    let pki = TestPKI.shared
    let now = Int64(Date.now.timeIntervalSince1970)

    func key() throws -> SoftwarePrivateKey { try SoftwarePrivateKey(importing: pki.leafKey) }

    @Test func acceptsOurKeyChainingToTheCA() throws {
        let root = try Certificate(der: pki.root)
        let (leaf, chain) = try Enrollment.verifyIssued([pki.leaf], key: try key(), ca: root, now: now)
        #expect(leaf.der == pki.leaf)
        #expect(chain.map { $0.der } == [pki.root])
    }

    @Test func followsAnIntermediateInTheReply() throws {
        let root = try Certificate(der: pki.root)
        let (_, chain) = try Enrollment.verifyIssued([pki.intermediate, pki.leafUnderIntermediate], key: try key(), ca: root, now: now)
        #expect(chain.map { $0.der } == [pki.intermediate, pki.root])
    }

    @Test func refusesACertificateForAnotherKey() throws {
        let other = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        #expect(errorCode { try Enrollment.verifyIssued([pki.leaf], key: other, ca: try Certificate(der: pki.root), now: now) } == .verifyKeyMismatch)
    }

    @Test func refusesACertificateFromAnotherCAWithTheSameName() throws {
        #expect(errorCode { try Enrollment.verifyIssued([pki.otherLeaf], key: try key(), ca: try Certificate(der: pki.root), now: now) } == .verifyChain)
    }

    @Test func refusesAMissingIntermediate() throws {
        #expect(errorCode { try Enrollment.verifyIssued([pki.leafUnderIntermediate], key: try key(), ca: try Certificate(der: pki.root), now: now) } == .verifyChain)
    }

    @Test func refusesAnExpiredCertificate() throws {
        #expect(errorCode { try Enrollment.verifyIssued([pki.expired], key: try key(), ca: try Certificate(der: pki.root), now: now) } == .verifyChain)
    }
}
