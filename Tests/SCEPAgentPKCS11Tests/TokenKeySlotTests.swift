import DER
import Foundation
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport
import Testing
import TestSupport
@testable import SCEPAgent

/// A real SoftHSM2 token of its own for each test, in one token directory per process: SOFTHSM2_CONF is
/// set once, before any test loads the module (setenv while other suites' threads read the environment
/// would race). Skipped when softhsm2 is not installed.
struct SoftHSMToken {
    static let module = "/usr/lib/softhsm/libsofthsm2.so"
    static let available = FileManager.default.fileExists(atPath: module) && FileManager.default.isExecutableFile(atPath: "/usr/bin/softhsm2-util")
    static let tokens: String = {
        let directory = NSTemporaryDirectory() + "scep-agent-tokens-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: directory + "/tokens", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try! "directories.tokendir = \(directory)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: directory + "/softhsm2.conf", atomically: false, encoding: .utf8)
        setenv("SOFTHSM2_CONF", directory + "/softhsm2.conf", 1)
        return directory
    }()
    let directory: String
    let label = "gw-" + UUID().uuidString.prefix(8)

    init() throws {
        directory = Self.tokens + "/" + label
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try "1234\n".write(toFile: directory + "/user.pin", atomically: false, encoding: .utf8)
        #expect(try Self.util("--init-token", "--free", "--label", label, "--so-pin", "000000", "--pin", "1234") == 0)
    }

    static func util(_ arguments: String...) throws -> Int32 {
        let util = Process()
        util.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
        util.arguments = arguments
        util.standardOutput = FileHandle.nullDevice
        try util.run()
        util.waitUntilExit()
        return util.terminationStatus
    }

    func remove() {
        _ = try? Self.util("--delete-token", "--token", label)
        try? FileManager.default.removeItem(atPath: directory)
    }

    var certificatePath: String { directory + "/cert.pem" }
    var pendingTransaction: String { directory + "/.cert.pem.scep-pending" }

    func location(_ object: String = "device-key") throws -> KeyLocation {
        try KeyLocation("pkcs11:token=" + label + ";object=" + object + "?module-path=" + Self.module + "&pin-source=" + directory + "/user.pin")
    }

    func slot(_ object: String = "device-key") throws -> TokenKeySlot {
        try location(object).open(tokenOptions: TokenOptions(), certificatePath: certificatePath, log: .discarding()) as! TokenKeySlot
    }

    /// The labels of the private keys on the token.
    func labels() throws -> [String] {
        let store = try slot().keyStore()
        return try store.keys(label: nil, id: nil).map { String(decoding: $0.label, as: UTF8.self) }.sorted()
    }

    /// A pair made and committed under the URI's name, as an enrollment leaves it.
    func enrolledPair() throws -> PrivateKey {
        let slot = try slot()
        let (key, _) = try slot.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        try slot.commit()
        return key
    }

    /// Installs a certificate for `key` where the slot looks for the set's certificate.
    func installCertificate(for key: PrivateKey) throws {
        let random = try RandomGenerator()
        let der = try SignerCertificate.selfSigned(subject: try DistinguishedName(parsing: "CN=gw"), key: key, now: 1_800_000_000, random: random)
        try FileSystem.createFile(certificatePath, CredentialFiles.pem([try Certificate(der: der)]), mode: 0o644)
    }
}

/// TokenKeySlot on a real SoftHSM2 token: a new pair's way from its temporary label to the URI's name,
/// across a PENDING request and a killed run. Serialized: one PKCS#11 module per process.
@Suite(.serialized, .enabled(if: SoftHSMToken.available, "softhsm2 is not installed"))
struct TokenKeySlotTests {
    @Test func aNewPairWaitsUnderItsTemporaryLabelAndTakesTheNameOnCommit() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        let slot = try token.slot()
        try slot.requireVacant(replacing: false, use: "enroll that key")
        let (key, transactionID) = try slot.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(transactionID == nil)
        #expect(try token.labels() == ["device-key.scep-new"])
        #expect(try slot.installedFiles(ownership: FileOwnership(mode: 0o600)).isEmpty && slot.exportableKey() == nil, "a token key never leaves it")
        try slot.commit()
        #expect(try token.labels() == ["device-key"])
        #expect(try token.slot().current().publicKeyInfo == key.publicKeyInfo)
    }

    @Test func aRenewalReplacesTheCurrentPairOnlyOnCommit() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        let old = try token.enrolledPair()
        let renewal = try token.slot()
        #expect(try renewal.current().publicKeyInfo == old.publicKeyInfo)
        let (new, _) = try renewal.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(try token.labels() == ["device-key", "device-key.scep-new"], "the old pair stays until the new certificate is installed")
        try renewal.commit()
        #expect(try token.labels() == ["device-key"])
        #expect(try token.slot().current().publicKeyInfo == new.publicKeyInfo)
    }

    @Test func anExistingPairIsRefusedUnlessReplacedAndANamelessURIIsRefused() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        _ = try token.enrolledPair()
        let error = #expect(throws: SCEPError.self) { try token.slot().requireVacant(replacing: false, use: "enroll that key") }
        #expect(error?.code == .fileExists && error?.reason.contains("already exists on token " + token.label) == true)
        try token.slot().requireVacant(replacing: true, use: "enroll that key")
        let nameless = try KeyLocation("pkcs11:token=" + token.label + "?module-path=" + SoftHSMToken.module + "&pin-source=" + token.directory + "/user.pin")
            .open(tokenOptions: TokenOptions(), certificatePath: token.certificatePath, log: .discarding())
        #expect(errorCode { try nameless.requireVacant(replacing: false, use: "use it") } == .usage)
    }

    @Test func aPendingRequestIsKeptAndResumedWithItsTransaction() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        let first = try token.slot()
        let (key, _) = try first.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        try first.keepPending(transactionID: TransactionID("0A1B"))
        #expect(FileManager.default.fileExists(atPath: token.pendingTransaction), "the transactionID is saved beside the certificate")
        let next = try token.slot()
        try next.recover(discardingUnsaved: true)
        let (resumed, transactionID) = try next.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(resumed.publicKeyInfo == key.publicKeyInfo && transactionID == TransactionID("0A1B"))
        try next.commit()
        #expect(!FileManager.default.fileExists(atPath: token.pendingTransaction))
        #expect(try token.labels() == ["device-key"])
    }

    @Test func recoveryFinishesACommitAKilledRunLeftAfterInstallingTheCertificate() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        let old = try token.enrolledPair()
        let renewal = try token.slot()
        let (new, _) = try renewal.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        // Killed after the set with the new certificate was installed, before the relabel.
        try token.installCertificate(for: new)
        let next = try token.slot()
        try next.recover(discardingUnsaved: true)
        #expect(try token.labels() == ["device-key"])
        let current = try next.current().publicKeyInfo
        #expect(current == new.publicKeyInfo && current != old.publicKeyInfo)
        #expect(try token.slot().finishInterruptedCommit() == false, "nothing left to finish")
    }

    @Test func recoveryDiscardsAPendingPairWithoutASavedRequestUnlessAsked() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        _ = try token.slot().pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        // An enrollment resumes it (its request was never answered); a renewal makes a new key instead.
        try token.slot().recover(discardingUnsaved: false)
        #expect(try token.labels() == ["device-key.scep-new"])
        try token.slot().recover(discardingUnsaved: true)
        #expect(try token.labels() == [])
    }

    @Test func discardingAPendingRequestDestroysItsPairAndTransaction() throws {
        let token = try SoftHSMToken()
        defer { token.remove() }
        let first = try token.slot()
        _ = try first.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        try first.keepPending(transactionID: TransactionID("0A1B"))
        try token.slot().discardPending()
        #expect(try token.labels() == [])
        #expect(!FileManager.default.fileExists(atPath: token.pendingTransaction))
    }
}
