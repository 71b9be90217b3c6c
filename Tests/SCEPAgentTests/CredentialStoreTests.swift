import DER
import Foundation
import SCEPAgent
import SCEPClient
import Testing
import TestSupport

/// CredentialStore and CertState on real files in a fresh temporary directory: what they trust.
@Suite final class CredentialStoreTests {
    let directory: String
    let files = FileManager.default

    init() throws {
        directory = NSTemporaryDirectory() + "scep-agent-store-" + UUID().uuidString
        try files.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    deinit { try? files.removeItem(atPath: directory) }

    func write(_ name: String, _ text: String, mode: Int = 0o600) throws {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try files.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func names() throws -> [String] { try files.contentsOfDirectory(atPath: directory).sorted() }
    func text(_ name: String) throws -> String { try String(contentsOfFile: directory + "/" + name, encoding: .utf8) }

    var store: CredentialStore { CredentialStore(certificatePath: directory + "/cert.pem") }
    var targets: [String] { [directory + "/key.pem", directory + "/cert.pem"] }

    @Test func aJournalOfOursForThisSetRollsForward() throws {
        try write(".cert.pem.scep-new", "new cert")
        try write(".key.pem.scep-new", "new key")
        try write(".cert.pem.scep-install", directory + "/.key.pem.scep-new\t" + directory + "/key.pem\n"
            + directory + "/.cert.pem.scep-new\t" + directory + "/cert.pem\n")
        #expect(try store.recover(targets: targets))
        #expect(try names() == ["cert.pem", "key.pem"])
        #expect(try text("cert.pem") == "new cert")
    }

    @Test func journalPairsOutsideTheSetAreRefusedAndNothingIsTouched() throws {
        try write("marker", "not ours to move")
        try write(".key.pem.scep-new", "stray temporary")
        try write(".cert.pem.scep-install", directory + "/marker\t" + directory + "/moved\n")
        let before = try names()
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try names() == before, "a refused journal leaves even stray temporaries in place")
    }

    @Test func aTargetOfTheSetWithAnotherTemporaryIsRefused() throws {
        try write("marker", "not the certificate")
        try write(".cert.pem.scep-install", directory + "/marker\t" + directory + "/cert.pem\n")
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try text("marker") == "not the certificate")
    }

    @Test func aJournalOthersCanWriteIsRefused() throws {
        try write(".cert.pem.scep-new", "new cert")
        try write(".cert.pem.scep-install", directory + "/.cert.pem.scep-new\t" + directory + "/cert.pem\n", mode: 0o602)
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try names() == [".cert.pem.scep-install", ".cert.pem.scep-new"])
    }

    @Test func aSymlinkedJournalIsRefused() throws {
        try write("elsewhere", directory + "/.cert.pem.scep-new\t" + directory + "/cert.pem\n")
        try write(".cert.pem.scep-new", "new cert")
        try files.createSymbolicLink(atPath: directory + "/.cert.pem.scep-install", withDestinationPath: directory + "/elsewhere")
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(!files.fileExists(atPath: directory + "/cert.pem"))
    }

    @Test func aSymlinkedTemporaryIsNeverRenamedOverATarget() throws {
        try write("attacker", "chosen contents")
        try files.createSymbolicLink(atPath: directory + "/.cert.pem.scep-new", withDestinationPath: directory + "/attacker")
        try write(".cert.pem.scep-install", directory + "/.cert.pem.scep-new\t" + directory + "/cert.pem\n")
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(!files.fileExists(atPath: directory + "/cert.pem"))
    }

    @Test func aSymlinkedLockIsRefusedAndNotFollowed() throws {
        try files.createSymbolicLink(atPath: directory + "/.cert.pem.scep-lock", withDestinationPath: directory + "/made-through-the-lock")
        #expect(errorCode { try store.withLock { () throws(SCEPError) in } } == .fileIO)
        #expect(!files.fileExists(atPath: directory + "/made-through-the-lock"))
    }

    @Test func stateTimesAndCountsOutOfRangeAreIgnoredWithAWarning() throws {
        try write("wifi.state", "next_due=9223372036854775806\nlast_attempt=-5\npending_since=1800000000\n"
            + "consecutive_failures=9223372036854775807\ntotal_failures=7\n")
        var warnings: [String] = []
        let state = try CertState.load(directory + "/wifi.state", log: Log { _, message in warnings.append(message) })
        #expect(state.nextDue == nil && state.lastAttempt == nil && state.pendingSince == 1_800_000_000)
        #expect(state.consecutiveFailures == 0 && state.totalFailures == 7)
        #expect(warnings.count == 3 && warnings[0].contains("next_due"))
    }

    @Test func aStateFileOthersCanWriteIsRefused() throws {
        try write("wifi.state", "next_due=1800000000\n", mode: 0o666)
        #expect(errorCode { try CertState.load(directory + "/wifi.state", log: .discarding()) } == .fileIO)
    }
}
