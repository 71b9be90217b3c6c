import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// A software key in a PEM file (0600 from creation). A new key is installed with its certificate as one
/// set (`CredentialStore`); while its request is PENDING it waits beside the key file, with the
/// transaction's ID, in `.KEY.scep-pending`.
final class FileKeySlot: KeySlot {
    /// A key file may be copied into a PKCS#12 file.
    static let isExportable = true

    let path: String
    let log: Log
    /// The key `current()` loaded.
    private(set) var currentKey: SoftwarePrivateKey?
    /// The key `pendingOrNewKey` or `newKey` handed out, installed with the next set.
    private(set) var newSoftwareKey: SoftwarePrivateKey?

    init(path: String, log: Log) {
        self.path = path
        self.log = log
    }

    /// Where a new key waits while its request is PENDING.
    var pendingPath: String { PendingRequest.path(beside: path) }
    /// Where `FileSystem.replaceAtomically` writes the pending key before renaming it to `pendingPath`.
    var pendingTemporary: String { pendingPath + ".tmp" }
    var newKeyNote: String { "mode 0600" }

    /// Removes a pending key's temporary that a run killed while saving it left, and the pending key when
    /// it is the installed key already: a run that installed it was killed before removing it, and
    /// resuming with it would "renew" to the same key (and transactionID). A pending key whose
    /// transactionID was never saved is resumed whatever `discardingUnsaved` says (with a warning).
    func recover(discardingUnsaved _: Bool) throws(SCEPError) {
        if FileSystem.exists(pendingTemporary) {
            log.notice("removing " + pendingTemporary + ": a run was stopped while saving its pending key there")
            try FileSystem.removeDurably(pendingTemporary)
        }
        guard FileSystem.exists(pendingPath), FileSystem.exists(path),
              let pending = try? CredentialFiles.privateKey(PendingRequest.read(pendingPath), from: pendingPath),
              let installed = try? CredentialFiles.loadPrivateKey(path),
              pending.publicKeyInfo == installed.publicKeyInfo else { return }
        log.notice("removing " + pendingPath + ": it is the installed key " + path + " already")
        try FileSystem.removeDurably(pendingPath)
    }

    /// Nothing to do: the key file is one of the set's files, which `CredentialStore` rolls forward.
    func finishInterruptedCommit() throws(SCEPError) -> Bool { false }

    func current() throws(SCEPError) -> PrivateKey {
        let key = try CredentialFiles.loadPrivateKey(path)
        currentKey = key
        return key
    }

    func requireVacant(replacing: Bool, use: String) throws(SCEPError) {
        guard replacing || !FileSystem.exists(path) else {
            throw SCEPError(.fileExists, "key file " + path + " exists: pass --existing-key to " + use + ", or remove it to make a new one")
        }
    }

    func pendingOrNewKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> (key: PrivateKey, transactionID: TransactionID?) {
        var transactionID: TransactionID? = nil
        let key: SoftwarePrivateKey
        if FileSystem.exists(pendingPath) {
            let saved = try PendingRequest.read(pendingPath)
            key = try CredentialFiles.privateKey(saved, from: pendingPath)
            log.notice("resuming the pending request with the key saved in " + pendingPath)
            transactionID = PendingRequest.transactionID(in: saved)
            if transactionID == nil { log.warning(pendingPath + " names no transactionID: the pending key is sent as a new transaction") }
        } else {
            log.generatingKey(type, onToken: false)
            key = try SoftwarePrivateKey.generate(type, random: random)
        }
        newSoftwareKey = key
        FaultInjection.point("oneshot.key-generated")
        return (key, transactionID)
    }

    func newKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> PrivateKey {
        try FileSystem.requireWritableDirectory(for: path)
        log.generatingKey(type, onToken: false)
        let key = try SoftwarePrivateKey.generate(type, random: random)
        newSoftwareKey = key
        return key
    }

    func keepPending(transactionID: TransactionID) throws(SCEPError) {
        guard let newSoftwareKey else { return }
        try PendingRequest.save(PendingRequest.contents(keyPEM: try newSoftwareKey.pem(), transactionID: transactionID), at: pendingPath)
    }

    func discardPending() throws(SCEPError) {
        try PendingRequest.remove(pendingPath, log: log)
    }

    func installedFiles(ownership: FileOwnership) throws(SCEPError) -> [CredentialFile] {
        guard let newSoftwareKey else { return [] }
        return [CredentialFile(path: path, contents: Array(try newSoftwareKey.pem().utf8), ownership: ownership)]
    }

    func exportableKey() -> SoftwarePrivateKey? { newSoftwareKey ?? currentKey }

    /// The new key is installed with the set already; its pending copy goes. A crash before this leaves
    /// it both installed and pending, which `recover` removes next time.
    func commit() throws(SCEPError) {
        try FileSystem.remove(pendingPath)
    }
}
