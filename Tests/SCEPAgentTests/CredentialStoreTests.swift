import DER
import Foundation
import SCEPAgent
import SCEPClient
import SystemSupport
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

    /// An install journal as `CredentialStore` writes it: NUL-terminated fields after a magic.
    func journal(_ pairs: [(String, String)], owner: uid_t = geteuid()) -> String {
        (["scep-agent install journal 2"] + pairs.flatMap { [$0.0, $0.1, String(owner)] }).map { $0 + "\0" }.joined()
    }

    func names() throws -> [String] { try files.contentsOfDirectory(atPath: directory).sorted() }
    func text(_ name: String) throws -> String { try String(contentsOfFile: directory + "/" + name, encoding: .utf8) }

    var store: CredentialStore { CredentialStore(certificatePath: directory + "/cert.pem") }
    var targets: [String] { [directory + "/key.pem", directory + "/cert.pem"] }

    @Test func aJournalOfOursForThisSetRollsForward() throws {
        try write(".cert.pem.scep-new", "new cert")
        try write(".key.pem.scep-new", "new key")
        try write(".cert.pem.scep-install", journal([(directory + "/.key.pem.scep-new", directory + "/key.pem"),
                                                     (directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
        #expect(try store.recover(targets: targets))
        #expect(try names() == ["cert.pem", "key.pem"])
        #expect(try text("cert.pem") == "new cert")
    }

    @Test func journalPairsOutsideTheSetAreRefusedAndNothingIsTouched() throws {
        try write("marker", "not ours to move")
        try write(".key.pem.scep-new", "stray temporary")
        try write(".cert.pem.scep-install", journal([(directory + "/marker", directory + "/moved")]))
        let before = try names()
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try names() == before, "a refused journal leaves even stray temporaries in place")
    }

    @Test func aTargetOfTheSetWithAnotherTemporaryIsRefused() throws {
        try write("marker", "not the certificate")
        try write(".cert.pem.scep-install", journal([(directory + "/marker", directory + "/cert.pem")]))
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try text("marker") == "not the certificate")
    }

    @Test func aJournalOthersCanWriteIsRefused() throws {
        try write(".cert.pem.scep-new", "new cert")
        try write(".cert.pem.scep-install", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")]), mode: 0o602)
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(try names() == [".cert.pem.scep-install", ".cert.pem.scep-new"])
    }

    @Test func aSymlinkedJournalIsRefused() throws {
        try write("elsewhere", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
        try write(".cert.pem.scep-new", "new cert")
        try files.createSymbolicLink(atPath: directory + "/.cert.pem.scep-install", withDestinationPath: directory + "/elsewhere")
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(!files.fileExists(atPath: directory + "/cert.pem"))
    }

    @Test func aSymlinkedTemporaryIsNeverRenamedOverATarget() throws {
        try write("attacker", "chosen contents")
        try files.createSymbolicLink(atPath: directory + "/.cert.pem.scep-new", withDestinationPath: directory + "/attacker")
        try write(".cert.pem.scep-install", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
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

    // Issue 19: the journal format and what a roll-forward trusts.

    @Test func pathsWithATabOrANewlineInstallAndRollForward() throws {
        // The old journal was TAB- and newline-separated: such a path wedged every run.
        let odd = directory + "/we\tird\ndir"
        try files.createDirectory(atPath: odd, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let store = CredentialStore(certificatePath: odd + "/cert\t.pem")
        try store.install([CredentialFile(path: odd + "/key\n.pem", contents: Array("key 1".utf8), mode: 0o600),
                           CredentialFile(path: odd + "/cert\t.pem", contents: Array("cert 1".utf8), mode: 0o644)])
        try store.install([CredentialFile(path: odd + "/key\n.pem", contents: Array("key 2".utf8), mode: 0o600),
                           CredentialFile(path: odd + "/cert\t.pem", contents: Array("cert 2".utf8), mode: 0o644)])
        #expect(try String(contentsOfFile: odd + "/cert\t.pem", encoding: .utf8) == "cert 2")
        #expect(try String(contentsOfFile: odd + "/key\n.pem.prev", encoding: .utf8) == "key 1")
        #expect(try files.contentsOfDirectory(atPath: odd).sorted() == ["cert\t.pem", "cert\t.pem.prev", "key\n.pem", "key\n.pem.prev"])
    }

    @Test func aDamagedJournalOfOursIsReportedWithItsPathAndWhatToDo() throws {
        try write(".cert.pem.scep-new", "new cert")
        let whole = journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")])
        for damaged in [String(whole.dropLast()), String(whole.prefix(10)), "", directory + "/.cert.pem.scep-new\t" + directory + "/cert.pem\n"] {
            try? files.removeItem(atPath: directory + "/.cert.pem.scep-install")
            try write(".cert.pem.scep-install", damaged)
            let error = #expect(throws: SCEPError.self) { try self.store.recover(targets: self.targets) }
            #expect(error?.code == .fileFormat)
            let reason = error?.reason ?? ""
            #expect(reason.contains(directory + "/.cert.pem.scep-install") && reason.contains("then remove"), "\(reason)")
            #expect(try names() == [".cert.pem.scep-install", ".cert.pem.scep-new"], "nothing renamed")
        }
    }

    @Test func aTemporaryOwnedBySomeoneElseThanTheJournalSaysIsNotRolledForward() throws {
        // After a crash between the commit point and the renames, a local user who can write the
        // directory (a sticky shared one) plants a missing temporary: the journal names who made it.
        try write(".cert.pem.scep-new", "planted by nobody")
        #expect(chown(directory + "/.cert.pem.scep-new", 65534, 65534) == 0)
        try write(".cert.pem.scep-install", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
        let error = #expect(throws: SCEPError.self) { try self.store.recover(targets: self.targets) }
        #expect(error?.code == .fileIO)
        let reason = error?.reason ?? ""
        #expect(reason.contains("owned by uid 65534"), "\(reason)")
        #expect(!files.fileExists(atPath: directory + "/cert.pem"))
        // The owner the install made it for (a cert_owner) is accepted.
        try write(".cert.pem.scep-install", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")], owner: 65534))
        #expect(try store.recover(targets: targets))
        #expect(try text("cert.pem") == "planted by nobody")
    }

    // Issue 15: the recovery paths, each from the files a killed or failed install leaves.

    @Test func nothingLeftToRecoverLeavesTheDirectoryAsItWas() throws {
        try write("cert.pem", "cert")
        #expect(try store.recoverLocked(targets: targets) == false)
        #expect(try names() == ["cert.pem"], "no lock file: a run that fails before installing leaves no trace")
    }

    @Test func temporariesOfAnInstallKilledBeforeItsCommitPointGoAndTheOldSetStays() throws {
        try write("key.pem", "old key")
        try write("cert.pem", "old cert")
        for name in [".key.pem.scep-new", ".cert.pem.scep-new", ".key.pem.prev.scep-new", ".cert.pem.scep-old"] { try write(name, "stray") }
        try write(".cert.pem.scep-install.new", journal([(directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
        #expect(try store.recoverLocked(targets: targets) == false, "no committed journal: nothing rolls forward")
        #expect(try names() == [".cert.pem.scep-lock", "cert.pem", "key.pem"])
        #expect(try text("key.pem") == "old key" && text("cert.pem") == "old cert")
    }

    @Test func anInstallKilledHalfwayThroughItsRenamesIsFinished() throws {
        // Killed after renaming the key: the new key beside the old certificate until recovery.
        try write("key.pem", "new key")
        try write("key.pem.prev", "old key")
        try write("cert.pem", "old cert")
        try write("cert.pem.prev", "old cert")
        try write(".cert.pem.scep-new", "new cert")
        try write(".cert.pem.scep-install", journal([(directory + "/.key.pem.scep-new", directory + "/key.pem"),
                                                     (directory + "/.cert.pem.scep-new", directory + "/cert.pem")]))
        #expect(try store.recoverLocked(targets: targets))
        #expect(try text("key.pem") == "new key" && text("cert.pem") == "new cert")
        #expect(try names() == [".cert.pem.scep-lock", "cert.pem", "cert.pem.prev", "key.pem", "key.pem.prev"])
    }

    @Test func aRollbackJournalPutsThePreviousSetBackWhole() throws {
        // What finishCommitted leaves when the renames kept failing and a crash hit while it put the
        // previous set back: links to .prev under the rollback names, the new set's temporaries.
        try write("key.pem", "new key")
        try write("key.pem.prev", "old key")
        try write("cert.pem", "old cert")
        try write("cert.pem.prev", "old cert")
        try files.linkItem(atPath: directory + "/key.pem.prev", toPath: directory + "/.key.pem.scep-old")
        try files.linkItem(atPath: directory + "/cert.pem.prev", toPath: directory + "/.cert.pem.scep-old")
        try write(".cert.pem.scep-new", "new cert")
        try write(".cert.pem.scep-install", journal([(directory + "/.key.pem.scep-old", directory + "/key.pem"),
                                                     (directory + "/.cert.pem.scep-old", directory + "/cert.pem")]))
        #expect(try store.recover(targets: targets))
        #expect(try text("key.pem") == "old key" && text("cert.pem") == "old cert")
        #expect(try names() == ["cert.pem", "cert.pem.prev", "key.pem", "key.pem.prev"], "the new set's temporaries go too")
    }

    @Test func aTemporaryPlantedWhereTheJournalNamesAKeyIsRefused() throws {
        // A symbolic link or a directory under a temporary's name is no file of ours to rename.
        try files.createDirectory(atPath: directory + "/.key.pem.scep-new", withIntermediateDirectories: false)
        try write(".cert.pem.scep-install", journal([(directory + "/.key.pem.scep-new", directory + "/key.pem")]))
        #expect(errorCode { try store.recover(targets: targets) } == .fileIO)
        #expect(!files.fileExists(atPath: directory + "/key.pem"))
    }
}
