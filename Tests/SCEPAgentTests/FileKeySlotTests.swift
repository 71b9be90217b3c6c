import DER
import Foundation
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport
import Testing
import TestSupport
@testable import SCEPAgent

/// FileKeySlot on real files in a fresh temporary directory: a new key's way from made to installed,
/// across a PENDING request and a killed run.
@Suite final class FileKeySlotTests {
    let directory: String
    let files = FileManager.default
    var notices: [String] = []
    lazy var log = Log(threshold: .info) { [unowned self] _, message in self.notices.append(message) }

    init() throws {
        directory = NSTemporaryDirectory() + "scep-agent-keyslot-" + UUID().uuidString
        try files.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    deinit { try? files.removeItem(atPath: directory) }

    var keyPath: String { directory + "/key.pem" }
    var pendingPath: String { directory + "/.key.pem.scep-pending" }
    func slot() -> FileKeySlot { FileKeySlot(path: keyPath, log: log) }
    func mode(_ path: String) throws -> Int { (try files.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue }

    /// Installs `slot`'s files as CredentialStore does for an enrollment, with a stand-in certificate.
    func install(_ slot: KeySlot) throws {
        let files = try slot.installedFiles(ownership: FileOwnership(mode: FileSystem.privateKeyMode))
        try CredentialStore(certificatePath: directory + "/cert.pem").install(files + [CredentialFile(path: directory + "/cert.pem", contents: Array("cert".utf8), mode: 0o644)])
        try slot.commit()
    }

    @Test func aNewKeyIsInstalledWithTheSetAndBecomesTheCurrentKey() throws {
        let slot = slot()
        try slot.requireVacant(replacing: false, use: "enroll that key")
        let (key, transactionID) = try slot.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(transactionID == nil)
        let installed = try slot.installedFiles(ownership: FileOwnership(mode: FileSystem.privateKeyMode))
        #expect(installed.map { $0.path } == [keyPath] && installed[0].ownership.mode == 0o600)
        #expect(slot.exportableKey()?.publicKeyInfo == key.publicKeyInfo, "a key file may go into a PKCS#12 file")
        try install(slot)
        #expect(try mode(keyPath) == 0o600)
        #expect(try self.slot().current().publicKeyInfo == key.publicKeyInfo)
        #expect(try self.slot().installedFiles(ownership: FileOwnership(mode: 0o600)).isEmpty, "no new key, no file")
    }

    @Test func anExistingKeyFileIsRefusedUnlessReplaced() throws {
        try Array("old".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: keyPath)) }
        let error = #expect(throws: SCEPError.self) { try self.slot().requireVacant(replacing: false, use: "enroll that key") }
        #expect(error?.code == .fileExists && error?.reason.contains("pass --existing-key to enroll that key") == true)
        try slot().requireVacant(replacing: true, use: "enroll that key")
    }

    @Test func aPendingKeyIsKeptWithItsTransactionAndResumedByTheNextRun() throws {
        let first = slot()
        let (key, _) = try first.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        try first.keepPending(transactionID: TransactionID("0A1B2C"))
        #expect(try mode(pendingPath) == 0o600, "a pending key is 0600 like the key")
        #expect(!files.fileExists(atPath: keyPath), "nothing installed while PENDING")

        let next = slot()
        try next.recover(discardingUnsaved: true)
        let (resumed, transactionID) = try next.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(resumed.publicKeyInfo == key.publicKeyInfo && transactionID == TransactionID("0A1B2C"))
        #expect(notices.contains { $0.hasPrefix("resuming the pending request with the key saved in " + pendingPath) })
        try install(next)
        #expect(!files.fileExists(atPath: pendingPath), "commit removes the pending copy")
        #expect(try slot().current().publicKeyInfo == key.publicKeyInfo)
    }

    @Test func aPendingKeyWithoutItsTransactionIsSentAsANewTransaction() throws {
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        try FileSystem.createFile(pendingPath, Array(try key.pem().utf8), mode: 0o600)
        let (resumed, transactionID) = try slot().pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        #expect(resumed.publicKeyInfo == key.publicKeyInfo && transactionID == nil)
        #expect(notices.contains { $0.contains("names no transactionID") })
    }

    @Test func recoveryRemovesAHalfSavedPendingKeyAndOneThatIsInstalledAlready() throws {
        // A run killed after installing the new key but before removing its pending copy, and one
        // killed while writing the pending key's temporary.
        let key = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        try FileSystem.createFile(keyPath, Array(try key.pem().utf8), mode: 0o600)
        try FileSystem.createFile(pendingPath, PendingRequest.contents(keyPEM: try key.pem(), transactionID: TransactionID("AB")), mode: 0o600)
        try FileSystem.createFile(pendingPath + ".tmp", Array("half a key".utf8), mode: 0o600)
        try slot().recover(discardingUnsaved: false)
        #expect(try files.contentsOfDirectory(atPath: directory) == ["key.pem"])
        #expect(try slot().finishInterruptedCommit() == false, "the key file is rolled forward with the set, not by the slot")
    }

    @Test func recoveryKeepsAPendingKeyThatIsNotTheInstalledOne() throws {
        let installed = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        let pending = try SoftwarePrivateKey.generate(.ec(.p256), random: try RandomGenerator())
        try FileSystem.createFile(keyPath, Array(try installed.pem().utf8), mode: 0o600)
        try FileSystem.createFile(pendingPath, PendingRequest.contents(keyPEM: try pending.pem(), transactionID: TransactionID("AB")), mode: 0o600)
        try slot().recover(discardingUnsaved: true)
        #expect(files.fileExists(atPath: pendingPath), "it waits for the CA's answer")
    }

    @Test func discardingAPendingRequestRemovesItsKey() throws {
        let first = slot()
        _ = try first.pendingOrNewKey(.ec(.p256), random: try RandomGenerator())
        try first.keepPending(transactionID: TransactionID("AB"))
        slot().forgetPendingRequest(log: log)
        #expect(!files.fileExists(atPath: pendingPath))
        #expect(notices.contains("removed " + pendingPath + ": the request it waited for is over"))
    }

    @Test func keepingWithoutANewKeySavesNothing() throws {
        // --existing-key or --reuse-key: the key is the current one, nothing waits.
        try slot().keepPending(transactionID: TransactionID("AB"))
        #expect(!files.fileExists(atPath: pendingPath))
    }

    @Test func onlyAFileKeyMayLeaveItsSlot() throws {
        #expect(FileKeySlot.isExportable && !TokenKeySlot.isExportable)
        #expect(try KeyLocation("/k.pem").isExportable && !(try KeyLocation("PKCS11:object=k").isExportable))
    }
}
