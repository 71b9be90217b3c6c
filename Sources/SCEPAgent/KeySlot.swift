// The seam between an enrollment and where its key lives. OneShot and the csr command walk every key
// through the same steps; each backend (a PEM file, a PKCS#11 token) says what each step means for it.
// A new backend is one class here beside FileKeySlot and TokenKeySlot, and one case in KeyLocation.
import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// One key's place through an enrollment or renewal: the key there now, a new key that waits for its
/// certificate (across runs while the request is PENDING), and the step that makes it current once the
/// certificate set is installed. A slot remembers the keys it handed out, so later steps need no key.
/// Opened by `KeyLocation.open`; nothing is touched until an operation needs it.
public protocol KeySlot: AnyObject {
    /// How a new key is kept, for a person ("mode 0600", "on the token").
    var newKeyNote: String { get }
    /// Finishes what a killed run left (see `finishInterruptedCommit`) and removes a new key it left
    /// half saved. With `discardingUnsaved`, also forgets a pending key whose PENDING request was
    /// never saved: a new key replaces it.
    func recover(discardingUnsaved: Bool) throws(SCEPError)
    /// Makes current a new key whose certificate a killed run installed but did not commit.
    /// - Returns: true when it did (the installed set changed).
    func finishInterruptedCommit() throws(SCEPError) -> Bool
    /// The key there now, which must exist; a later `commit` replaces it.
    func current() throws(SCEPError) -> PrivateKey
    /// Refuses when a key is there already, unless `replacing` (a later `commit` then replaces it).
    /// - Parameter use: what `--existing-key` would do with that key, for the message ("enroll that key").
    func requireVacant(replacing: Bool, use: String) throws(SCEPError)
    /// The key a PENDING request waits with and the request's transactionID (nil: none was saved), else
    /// a new key of `type` (and nil). Either is the slot's new key until `commit`.
    func pendingOrNewKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> (key: PrivateKey, transactionID: TransactionID?)
    /// A new key under the slot's own name at once, for a request carried to the CA by other means (`csr`).
    func newKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> PrivateKey
    /// The CA answered PENDING: keeps the new key (if any) and `transactionID` so the next run polls the
    /// same transaction.
    func keepPending(transactionID: TransactionID) throws(SCEPError)
    /// Forgets a PENDING request (the CA refused it, or `pending_max` passed): its key and transactionID.
    func discardPending() throws(SCEPError)
    /// The slot's files in the certificate set: a new key that is a file is installed with its certificate.
    func installedFiles(ownership: FileOwnership) throws(SCEPError) -> [CredentialFile]
    /// The key the set certifies (the new key, else the current one) when it may leave the slot, for a
    /// PKCS#12 file; nil when it never does (`isExportable` of the slot's class).
    func exportableKey() -> SoftwarePrivateKey?
    /// After the certificate set is installed: the new key becomes the current one, and what the PENDING
    /// request saved goes.
    func commit() throws(SCEPError)
}

extension KeySlot {
    /// `discardPending`, a failure logged: the request is over either way.
    func forgetPendingRequest(log: Log) {
        do throws(SCEPError) {
            try discardPending()
        } catch {
            log.warning("cannot discard the pending request's key: " + error.reason)
        }
    }
}

extension Log {
    /// Progress before a key is made: an RSA key takes seconds on a board, any key on a token (1 s on a
    /// TPM here); an EC key in software is instant and needs no word.
    func generatingKey(_ type: KeyType, onToken: Bool) {
        if onToken {
            progress("generating " + type.description + " key on the token...")
        } else if case .rsa = type {
            progress("generating " + type.description + " key...")
        }
    }
}

/// A PENDING request's file (`.NAME.scep-pending`): a software key's PEM (none for a token key, which
/// waits on its token), then one line naming the transaction, so a rerun resumes the same transaction
/// (RFC 8894 §3.2.1.1: a resend or a poll keeps its transactionID). PEM readers (mbedTLS, OpenSSL)
/// ignore text after the END line.
enum PendingRequest {
    static let transactionLabel = "scep-transaction-id: "

    /// Where the pending request of `path` (a key file, or a token key's certificate) is saved.
    static func path(beside path: String) -> String {
        FileSystem.directory(of: path) + "/." + FileSystem.baseName(of: path) + ".scep-pending"
    }

    static func contents(keyPEM: String, transactionID: TransactionID) -> [UInt8] {
        Array((keyPEM + transactionLabel + transactionID.value + "\n").utf8)
    }

    /// The transactionID line's value; nil when there is none (a file from an older version).
    static func transactionID(in bytes: [UInt8]) -> TransactionID? {
        let label = Array(transactionLabel.utf8)
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: label) {
            let value = line.dropFirst(label.count)
            // Ours are hex (TransactionID.random; older versions wrote 64 hex digits of a key hash).
            let text = String(decoding: value, as: UTF8.self)
            guard !value.isEmpty, value.count <= 64, Hex.decode(text) != nil, !value.contains(UInt8(ascii: ":")) else { return nil }
            return TransactionID(text)
        }
        return nil
    }

    /// The saved request at `path`, only when it is ours alone (`FileSystem.readTrusted`): it picks the
    /// key the CA certifies and the set installs, so one another user planted (a shared directory) or a
    /// symbolic link (to a key we may read and they may not) is refused, never resumed.
    static func read(_ path: String) throws(SCEPError) -> [UInt8] {
        try FileSystem.readTrusted(path, limit: 64 * 1024, what: "pending request")
    }

    /// Saves `contents` at `path` (0600: it may hold a key), only when they changed (a retry with the
    /// challenge is a new transaction). Atomically: a crash mid-write must not leave a truncated file,
    /// which every later run would try to resume and fail to read.
    static func save(_ contents: [UInt8], at path: String) throws(SCEPError) {
        if FileSystem.exists(path), (try? read(path)) == contents { return }
        try FileSystem.replaceAtomically(path, contents, mode: FileSystem.privateKeyMode, faultPoint: "oneshot.pending")
    }

    /// Removes the saved request at `path`, if any, durably.
    static func remove(_ path: String, log: Log) throws(SCEPError) {
        guard FileSystem.exists(path) else { return }
        try FileSystem.removeDurably(path)
        log.notice("removed " + path + ": the request it waited for is over")
    }
}
