import DER
import Foundation
import SCEPCrypto
import SCEPMessages
import Testing
import TestSupport

/// A GetCACert certificate gets a role only when it verifies under the pinned CA: names prove nothing.
@Suite struct CARolesTests {
    let pki = TestPKI.shared
    let now = Int64(Date.now.timeIntervalSince1970)

    @Test func anRAIssuedByThePinnedCAEncryptsAndSigns() throws {
        let root = try Certificate(der: pki.root)
        let ra = try Certificate(der: pki.ra)
        let roles = CARoles(pinnedCA: root, all: [ra, root], now: now)
        #expect(roles.encryption === ra)
        #expect(roles.signers.map { $0.der } == [pki.ra, pki.root])
        #expect(roles.unverified.isEmpty)
    }

    /// The forged RA: issued in the pinned CA's name by another key (a CA that copies the name).
    @Test func anRAWhoseIssuerOnlyHasTheCAsNameGetsNoRole() throws {
        let root = try Certificate(der: pki.root)
        let forged = try Certificate(der: pki.otherLeaf)
        #expect(forged.issuerDER == root.subjectDER)
        let roles = CARoles(pinnedCA: root, all: [root, forged], now: now)
        #expect(roles.encryption === root)
        #expect(roles.signers.map { $0.der } == [pki.root])
        #expect(roles.raCertificates.isEmpty)
        #expect(roles.unverified.map { $0.certificate.der } == [pki.otherLeaf])
    }

    /// Another device's certificate verifies under the pinned CA too, but it is no RA: it must never
    /// receive our challenge nor sign our replies.
    @Test func aCertificateOfTheCAWithoutAnRAUsageGetsNoRole() throws {
        let root = try Certificate(der: pki.root)
        let device = try Certificate(der: pki.leaf)
        try Certificate.verifyChain(leaf: device, intermediates: [], trusted: [root], at: now)
        let roles = CARoles(pinnedCA: root, all: [device, root], now: now)
        #expect(roles.encryption === root)
        #expect(roles.signers.map { $0.der } == [pki.root])
        #expect(roles.unverified.map { $0.certificate.der } == [pki.leaf])
    }

    @Test func anRASignedWithSHA1GetsNoRole() throws {
        let root = try Certificate(der: pki.root)
        let roles = CARoles(pinnedCA: root, all: [root, try Certificate(der: pki.sha1Leaf)], now: now)
        #expect(roles.encryption === root)
        #expect(roles.signers.count == 1)
    }

    @Test func anExpiredRAGetsNoRole() throws {
        let root = try Certificate(der: pki.root)
        let ra = try Certificate(der: pki.ra)
        let roles = CARoles(pinnedCA: root, all: [root, ra], now: ra.notAfter)
        #expect(roles.encryption === root)
        #expect(roles.unverified.count == 1)
    }

    @Test func anIntermediateIsKeptApartFromTheRAs() throws {
        let root = try Certificate(der: pki.root)
        let roles = CARoles(pinnedCA: root, all: [root, try Certificate(der: pki.intermediate)], now: now)
        #expect(roles.intermediates.map { $0.der } == [pki.intermediate])
        #expect(roles.raCertificates.isEmpty)
        #expect(roles.trusted.map { $0.der } == [pki.root, pki.intermediate])
        #expect(roles.authorities.map { $0.der } == [pki.root, pki.intermediate])
    }
}
