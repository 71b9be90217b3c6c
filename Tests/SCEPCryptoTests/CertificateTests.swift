import DER
import Foundation
@testable import SCEPCrypto
import SystemSupport
import Testing
import TestSupport

/// A small PKI made once with the openssl CLI: an RSA root, an RSA intermediate, leaves under each, and
/// an unrelated EC P-384 CA with its own leaf. Only DER is kept; the files are removed at once.
@Suite struct CertificateTests {
    let pki = TestPKI.shared
    let now = Int64(Date.now.timeIntervalSince1970)

    @Test func parsesFieldsOpenSSLWrote() throws {
        let leaf = try Certificate(der: pki.leaf)
        #expect(leaf.der == pki.leaf)
        #expect(leaf.subjectText == "CN=gw-0042, O=Example")
        #expect(leaf.issuerText == "CN=Test Root CA, O=Example")
        #expect(leaf.serial == [0x00, 0x80])
        #expect(leaf.notBefore == pki.leafNotBefore)
        #expect(leaf.notAfter == pki.leafNotAfter)
        #expect(leaf.notAfter - leaf.notBefore == 10 * 86_400)
        #expect(abs(leaf.notBefore - Int64(Date().timeIntervalSince1970)) < 3_600)
        #expect(leaf.keyUsage == [.digitalSignature, .keyEncipherment])
        #expect(leaf.extendedKeyUsage == ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.1"])
        #expect(!leaf.isCA)
        #expect(leaf.publicKey.keyType == .ec(.p256))
        #expect(leaf.publicKey.subjectPublicKeyInfo == pki.leafSPKI)
        #expect(hex(leaf.sha256Fingerprint) == pki.leafFingerprint)
    }

    @Test func rawNamesAreTheEncodedNames() throws {
        let root = try Certificate(der: pki.root)
        let leaf = try Certificate(der: pki.leaf)
        #expect(leaf.issuerDER == root.subjectDER)
        #expect(root.subjectDER == root.issuerDER)
        #expect(leaf.subjectDER.first == 0x30)
        #expect(leaf.subjectDER != leaf.issuerDER)
        // The Name is a contiguous slice of the certificate.
        #expect(pki.leaf.indices.contains { pki.leaf[$0...].starts(with: leaf.subjectDER) })
    }

    @Test func caFlagsAndMissingExtensions() throws {
        let root = try Certificate(der: pki.root)
        #expect(root.isCA)
        #expect(root.keyUsage == [.keyCertSign, .cRLSign])
        #expect(root.extendedKeyUsage.isEmpty)
        #expect(root.serial == [0x01])
        #expect(root.publicKey.keyType == .rsa(bits: 2048))
        let other = try Certificate(der: pki.otherCA)
        #expect(other.isCA)
        #expect(other.keyUsage == nil)
        #expect(other.publicKey.keyType == .ec(.p384))
        let longLived = try Certificate(der: pki.longLived)
        #expect(longLived.keyUsage == nil)
        #expect(!longLived.isCA)
    }

    @Test func generalizedTimeAfter2049() throws {
        let certificate = try Certificate(der: pki.longLived)
        #expect(certificate.notAfter == pki.longLivedNotAfter)
        #expect(certificate.notAfter > 2_524_608_000)  // 2050-01-01
    }

    @Test func verifyChainAcceptsRootToLeaf() throws {
        try Certificate.verifyChain(leaf: Certificate(der: pki.leaf), intermediates: [], trusted: [Certificate(der: pki.root)], at: now)
        try Certificate.verifyChain(
            leaf: Certificate(der: pki.leaf), intermediates: [],
            trusted: [Certificate(der: pki.otherCA), Certificate(der: pki.root)], at: now)
        try Certificate.verifyChain(leaf: Certificate(der: pki.otherLeaf), intermediates: [], trusted: [Certificate(der: pki.otherCA)], at: now)
    }

    @Test func explicitValidityDates() throws {
        let certificate = try Certificate(der: pki.expired)
        #expect(certificate.notBefore == 1_577_836_800)  // 2020-01-01T00:00:00Z
        #expect(certificate.notAfter == 1_609_459_200)  // 2021-01-01T00:00:00Z
        #expect(certificate.serial == [0x10, 0x00])
    }

    @Test func verifyChainRejectsAnExpiredLeaf() throws {
        let error = #expect(throws: SCEPError.self) {
            try Certificate.verifyChain(leaf: Certificate(der: pki.expired), intermediates: [], trusted: [Certificate(der: pki.root)], at: now)
        }
        #expect(error?.code == .verifyChain)
        #expect(error?.reason.contains("expired") == true)
        // The signature itself is fine: isSigned(by:) does not look at dates.
        #expect(try Certificate(der: pki.expired).isSigned(by: Certificate(der: pki.root)))
    }

    @Test func verifyChainReturnsThePathLeafFirst() throws {
        let path = try Certificate.verifyChain(
            leaf: Certificate(der: pki.leafUnderIntermediate), intermediates: [Certificate(der: pki.otherLeaf), Certificate(der: pki.intermediate)],
            trusted: [Certificate(der: pki.root)], at: now)
        #expect(path == [pki.leafUnderIntermediate, pki.intermediate, pki.root])
    }

    @Test func verifyChainRejectsSHA1Signatures() throws {
        let leaf = try Certificate(der: pki.sha1Leaf)
        let root = try Certificate(der: pki.root)
        #expect(errorCode { try Certificate.verifyChain(leaf: leaf, intermediates: [], trusted: [root], at: now) } == .verifyChain)
        #expect(!leaf.isSigned(by: root))
    }

    @Test func verifyChainRejectsAnRSA1024Issuer() throws {
        let leaf = try Certificate(der: pki.leafUnderWeakCA)
        let weak = try Certificate(der: pki.weakCA)
        #expect(errorCode { try Certificate.verifyChain(leaf: leaf, intermediates: [], trusted: [weak], at: now) } == .verifyChain)
        #expect(!leaf.isSigned(by: weak))
    }

    /// Validity is judged by the agent's clock (a twin can drive it), with a few minutes of grace
    /// for a notBefore ahead of a device clock that is a little behind.
    @Test func verifyChainJudgesValidityAtTheGivenTime() throws {
        let leaf = try Certificate(der: pki.leaf)
        let root = try Certificate(der: pki.root)
        func verifies(at time: Int64) -> Bool {
            errorCode { try Certificate.verifyChain(leaf: leaf, intermediates: [], trusted: [root], at: time) } == nil
        }
        #expect(verifies(at: pki.leafNotBefore - Certificate.clockSkewSeconds))
        #expect(!verifies(at: pki.leafNotBefore - Certificate.clockSkewSeconds - 1))
        #expect(verifies(at: pki.leafNotAfter - 1))
        #expect(!verifies(at: pki.leafNotAfter))
    }

    @Test func crlSignedByTheCAVerifies() throws {
        let crl = try CertificateRevocationList(der: pki.rootCRL)
        try crl.verify(issuedBy: Certificate(der: pki.root))
        #expect(crl.nextUpdate! - crl.thisUpdate == 7 * 86_400)
    }

    @Test func crlOfAnotherKeyWithTheCAsNameIsRefused() throws {
        let forged = try CertificateRevocationList(der: pki.otherCACRL)
        #expect(errorCode { try forged.verify(issuedBy: Certificate(der: pki.root)) } == .verifySigner)
    }

    @Test func crlSignedWithSHA1IsRefused() throws {
        let weak = try CertificateRevocationList(der: pki.sha1RootCRL)
        #expect(errorCode { try weak.verify(issuedBy: Certificate(der: pki.root)) } == .verifySigner)
    }

    @Test func crlFromAnotherIssuerNameIsRefused() throws {
        let crl = try CertificateRevocationList(der: pki.rootCRL)
        #expect(errorCode { try crl.verify(issuedBy: Certificate(der: pki.intermediate)) } == .verifySigner)
    }

    @Test func verifyChainAcceptsThroughIntermediate() throws {
        try Certificate.verifyChain(
            leaf: Certificate(der: pki.leafUnderIntermediate), intermediates: [Certificate(der: pki.intermediate)],
            trusted: [Certificate(der: pki.root)], at: now)
    }

    @Test func verifyChainRejectsMissingIntermediate() throws {
        let error = #expect(throws: SCEPError.self) {
            try Certificate.verifyChain(
                leaf: Certificate(der: pki.leafUnderIntermediate), intermediates: [], trusted: [Certificate(der: pki.root)], at: now)
        }
        #expect(error?.code == .verifyChain)
    }

    @Test func verifyChainRejectsLeafOfAnotherCAWithTheSameName() throws {
        let error = #expect(throws: SCEPError.self) {
            try Certificate.verifyChain(leaf: Certificate(der: pki.otherLeaf), intermediates: [], trusted: [Certificate(der: pki.root)], at: now)
        }
        #expect(error?.code == .verifyChain)
        #expect(error?.detail ?? 0 < 0)
        #expect(error?.reason.contains("gw-0042") == true)
        #expect(try Certificate(der: pki.otherLeaf).isSigned(by: Certificate(der: pki.root)) == false)
    }

    @Test func verifyChainWithoutAnchorsFails() throws {
        let error = #expect(throws: SCEPError.self) {
            try Certificate.verifyChain(leaf: Certificate(der: pki.leaf), intermediates: [], trusted: [], at: now)
        }
        #expect(error?.code == .verifyChain)
    }

    @Test func isSignedByChecksOnlyTheSignature() throws {
        let root = try Certificate(der: pki.root)
        let other = try Certificate(der: pki.otherCA)
        let intermediate = try Certificate(der: pki.intermediate)
        #expect(try Certificate(der: pki.leaf).isSigned(by: root))
        #expect(try !Certificate(der: pki.leaf).isSigned(by: other))
        #expect(root.isSigned(by: root))
        #expect(other.isSigned(by: other))
        #expect(try Certificate(der: pki.otherLeaf).isSigned(by: other))
        #expect(intermediate.isSigned(by: root))
        #expect(try Certificate(der: pki.leafUnderIntermediate).isSigned(by: intermediate))
        #expect(try !Certificate(der: pki.leafUnderIntermediate).isSigned(by: root))
    }

    // MARK: malformed input throws, never traps

    @Test func everyTruncatedPrefixIsRejected() {
        for length in 0..<pki.leaf.count {
            do {
                _ = try Certificate(der: Array(pki.leaf.prefix(length)))
                Issue.record("prefix of \(length) bytes parsed")
            } catch {
                #expect(error.code == .cryptoBadCertificate)
            }
        }
    }

    @Test func trailingBytesAreRejected() {
        let error = #expect(throws: SCEPError.self) { try Certificate(der: pki.leaf + [0x00]) }
        #expect(error?.code == .cryptoBadCertificate)
    }

    @Test func garbageIsRejectedWithTheMbedTLSCode() {
        let error = #expect(throws: SCEPError.self) { try Certificate(der: Array(repeating: 0x41, count: 64)) }
        #expect(error?.code == .cryptoBadCertificate)
        #expect(error?.detail ?? 0 < 0)
        #expect(error?.reason.contains("mbedtls_x509_crt_parse_der") == true)
    }

    @Test func flippedSignatureBitFailsIsSignedAndVerify() throws {
        var tampered = pki.leaf
        tampered[tampered.count - 3] ^= 0x01
        let certificate = try Certificate(der: tampered)
        #expect(try !certificate.isSigned(by: Certificate(der: pki.root)))
        let error = #expect(throws: SCEPError.self) {
            try Certificate.verifyChain(leaf: certificate, intermediates: [], trusted: [Certificate(der: pki.root)], at: now)
        }
        #expect(error?.code == .verifyChain)
    }

    @Test func pemFromOpenSSLDecodesToTheCertificate() throws {
        let pem = PEM.encode(label: "CERTIFICATE", der: pki.root) + PEM.encode(label: "CERTIFICATE", der: pki.leaf)
        let parsed = try OpenSSL.run(["x509", "-outform", "DER"], input: Array(pem.utf8))
        #expect(parsed == pki.root)
        let blocks = try PEM.decode(pem)
        #expect(try blocks.map { try Certificate(der: $0.der).der } == [pki.root, pki.leaf])
    }
}
