// A key on a PKCS#11 token is never part of the file set: it is made under a temporary label and takes
// the URI's name only after its certificate is installed.
import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SCEPPKCS11
import SystemSupport

/// The objects one URI's name covers on a token: the current pair (label = object) and a pending one
/// (label = object + ".scep-new") that becomes current once its certificate is installed. A PENDING
/// request's transactionID is saved beside the certificate (`.CERT.scep-pending`); the key waits on the
/// token as the pending pair.
final class TokenKeySlot: KeySlot {
    /// A token key is made sensitive and never extractable: no PKCS#12 file can hold it.
    static let isExportable = false
    static let pendingSuffix = Array(".scep-new".utf8)

    let uri: PKCS11URI
    let options: TokenOptions
    let name: [UInt8]?
    /// The certificate the key's pair is for; a PENDING request's transactionID is saved beside it.
    let certificatePath: String
    let pendingTransaction: String
    let log: Log
    /// The token, logged in; opened by the first operation that needs it (see `keyStore`).
    private var opened: PKCS11KeyStore?
    /// The pair a `commit` replaces: the current one, when a new one was made.
    private var replaced: PKCS11PrivateKey?
    /// The pair `pendingOrNewKey` handed out.
    private var newPair: PKCS11PrivateKey?

    init(uri: PKCS11URI, options: TokenOptions, certificatePath: String, log: Log) {
        self.uri = uri
        self.options = options
        name = uri.object
        self.certificatePath = certificatePath
        pendingTransaction = PendingRequest.path(beside: certificatePath)
        self.log = log
    }

    var newKeyNote: String { "on the token" }

    /// The token, opened (module loaded, session, login) the first time.
    func keyStore() throws(SCEPError) -> PKCS11KeyStore {
        if let opened { return opened }
        var pin = try Self.pin(uri: uri, options: options)
        defer { SecureMemory.wipe(&pin) }
        let store = try PKCS11KeyStore(uri: uri, modulePath: options.pkcs11Module, pin: pin)
        opened = store
        return store
    }

    /// The PIN from --pin-file, pin-value or pin-source (a path or file: URI): first line of the file.
    static func pin(uri: PKCS11URI, options: TokenOptions) throws(SCEPError) -> [UInt8] {
        var source = options.pinFile
        if source == nil, let value = uri.pinValue { return value }
        if source == nil, var text = uri.pinSource {
            if text.utf8.starts(with: "file://".utf8) { text = String(text.dropFirst(7)) } else if text.utf8.starts(with: "file:".utf8) { text = String(text.dropFirst(5)) }
            source = text
        }
        guard let path = source else {
            throw SCEPError(.tokenError, "no PIN for token key " + uri.description + ": give --pin-file FILE, or pin-source=FILE in the URI")
        }
        var bytes = try CredentialFiles.naming("PIN file", setBy: options.pinFile != nil ? "--pin-file" : "pin-source in the key's URI") { () throws(SCEPError) in
            try FileSystem.read(path, limit: 4096)
        }
        defer { SecureMemory.wipe(&bytes) }
        let line = Array(bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") })
        guard !line.isEmpty else { throw SCEPError(.tokenError, "PIN file " + path + " is empty: put the token's user PIN on its first line") }
        return line
    }

    func requireName(_ what: String) throws(SCEPError) -> [UInt8] {
        guard let name, !name.isEmpty else {
            throw SCEPError(.usage, what + " needs a key name in the PKCS#11 URI: add object=LABEL to " + uri.description)
        }
        return name
    }

    var pendingName: [UInt8]? { name.map { $0 + Self.pendingSuffix } }

    /// The current pair under the URI's name, if any.
    func pairNamed(_ what: String) throws(SCEPError) -> PKCS11PrivateKey? {
        let name = try requireName(what)
        let store = try keyStore()
        let found = try store.keys(label: name, id: nil)
        guard found.count <= 1 else {
            throw SCEPError(.tokenError, String(found.count) + " private keys named " + String(decoding: name, as: UTF8.self) + " on token " + store.session.tokenLabel + ": remove the extra ones (pkcs11-tool --delete-object)")
        }
        return found.first
    }

    func pendingPairs() throws(SCEPError) -> [PKCS11PrivateKey] {
        guard let pendingName else { return [] }
        return try keyStore().keys(label: pendingName, id: nil)
    }

    /// The CKA_ID of a new key: the URI's `id=` (so a URI naming `id=` still names the key after a
    /// renewal), else 16 random bytes.
    static func keyID(_ uri: PKCS11URI, _ random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        if let id = uri.id { return id }
        return try random.bytes(16)
    }

    /// After the certificate for `new` is installed: the old pair goes, the new one takes the name.
    func makeCurrent(_ new: PKCS11PrivateKey, replacing old: PKCS11PrivateKey?) throws(SCEPError) {
        let name = try requireName("installing a token key")
        let store = try keyStore()
        if let old, old.handle != new.handle {
            try store.destroy(old)
            FaultInjection.point("token.old-destroyed")
        }
        try store.relabel(new, to: name)
        FaultInjection.point("token.relabeled")
    }

    /// Destroys the pending pairs. Returns true when there were any.
    func destroyPendingPairs() throws(SCEPError) -> Bool {
        let keys = try pendingPairs()
        for key in keys { try keyStore().destroy(key) }
        return !keys.isEmpty
    }

    /// When the installed certificate belongs to a pending pair, that pair becomes current and any
    /// other current pair is destroyed.
    func finishInterruptedCommit() throws(SCEPError) -> Bool {
        guard name != nil, FileSystem.exists(certificatePath) else { return false }
        guard let certificate = try? CredentialFiles.loadCertificate(certificatePath) else { return false }
        let spki = certificate.publicKey.subjectPublicKeyInfo
        for key in try pendingPairs() where key.publicKeyInfo == spki {
            try makeCurrent(key, replacing: try pairNamed("this operation"))
            return true
        }
        return false
    }

    /// Finishes a commit a killed run interrupted and, with `discardingUnsaved`, destroys pending pairs
    /// that never got a certificate, unless exactly one waits for a saved PENDING request. When anything
    /// was destroyed the token is opened again (C_Finalize, C_Initialize, a login with the PIN it has just
    /// accepted) before a new pair can be made: tpm2-pkcs11 (1.9) fills handle gaps counting from 2
    /// whatever the lowest handle is, so once the oldest objects are destroyed a pair made in the same
    /// C_Initialize gets handles that objects still on the token have, and the key that signs, is
    /// certified and is relabeled is not the new one. A fresh C_Initialize numbers the objects from 1 again.
    func recover(discardingUnsaved: Bool) throws(SCEPError) {
        var destroyed = try finishInterruptedCommit()
        if discardingUnsaved, try pendingPairs().count != 1 || !FileSystem.exists(pendingTransaction) {
            destroyed = try destroyPendingPairs() || destroyed
            try FileSystem.remove(pendingTransaction)
        }
        if destroyed {
            // Released first: its session closes and the module is finalized before it is initialized again.
            opened = nil
            _ = try keyStore()
        }
    }

    /// The key the URI names (object= and/or id=), which must exist.
    func current() throws(SCEPError) -> PrivateKey {
        let key = try keyStore().key()
        replaced = key
        return key
    }

    func requireVacant(replacing: Bool, use: String) throws(SCEPError) {
        let current = try pairNamed("making a key on a token")
        if current != nil && !replacing {
            throw SCEPError(.fileExists, "key " + uri.description + " already exists on token " + (try keyStore().session.tokenLabel)
                + ": pass --existing-key to " + use + ", or delete it to make a new one")
        }
        replaced = current
    }

    func pendingOrNewKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> (key: PrivateKey, transactionID: TransactionID?) {
        if let pending = try pendingPairs().first {
            log.notice("resuming the pending request with the key made on the token by an earlier run")
            newPair = pending
            return (pending, FileSystem.exists(pendingTransaction) ? PendingRequest.transactionID(in: try FileSystem.read(pendingTransaction)) : nil)
        }
        _ = try requireName("making a key on a token")
        log.generatingKey(type, onToken: true)
        let key = try keyStore().generate(type, label: pendingName ?? [], id: try Self.keyID(uri, random))
        FaultInjection.point("token.key-generated")
        newPair = key
        return (key, nil)
    }

    /// Made under the URI's name at once: nothing installs it.
    func newKey(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> PrivateKey {
        let name = try requireName("making a key on a token")
        log.generatingKey(type, onToken: true)
        return try keyStore().generate(type, label: name, id: try Self.keyID(uri, random))
    }

    func keepPending(transactionID: TransactionID) throws(SCEPError) {
        guard newPair != nil else { return }
        try PendingRequest.save(PendingRequest.contents(keyPEM: "", transactionID: transactionID), at: pendingTransaction)
    }

    func discardPending() throws(SCEPError) {
        _ = try destroyPendingPairs()
        try PendingRequest.remove(pendingTransaction, log: log)
    }

    /// None: the key never leaves the token.
    func installedFiles(ownership _: FileOwnership) throws(SCEPError) -> [CredentialFile] { [] }

    func exportableKey() -> SoftwarePrivateKey? { nil }

    /// The saved transactionID goes, then the old pair; the new pair takes the URI's name. A crash in
    /// between leaves the new pair under its temporary label: `finishInterruptedCommit` renames it.
    func commit() throws(SCEPError) {
        try FileSystem.remove(pendingTransaction)
        if let newPair { try makeCurrent(newPair, replacing: replaced) }
    }
}
