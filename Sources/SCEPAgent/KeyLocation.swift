// Where a private key lives: a PEM file, or a PKCS#11 token named by an RFC 7512 URI. A token key is
// never part of the file set; it is made under a temporary label and takes the URI's name only after
// its certificate is installed.

import DER
import SCEPClient
import SCEPCrypto
import SCEPPKCS11
import SystemSupport

/// How to reach a token when the key is a `pkcs11:` URI. Each field overrides the URI's own attribute.
public struct TokenOptions {
    /// The PKCS#11 module (--pkcs11-module); else the URI's module-path.
    public var pkcs11Module: String?
    /// A file whose first line is the user PIN (--pin-file); else the URI's pin-value or pin-source.
    public var pinFile: String?

    public init(pkcs11Module: String? = nil, pinFile: String? = nil) {
        self.pkcs11Module = pkcs11Module
        self.pinFile = pinFile
    }
}

/// A key's place, as the command line and the config file name it: a file path or a `pkcs11:` URI.
public struct KeyLocation: CustomStringConvertible {
    public enum Kind: CustomStringConvertible {
        case file, pkcs11
        public var description: String { self == .file ? "file" : "pkcs11" }
    }

    public let kind: Kind
    /// The file path (kind `file`).
    public let path: String
    /// The parsed URI (kind `pkcs11`).
    public let uri: PKCS11URI?

    /// A value starting with `pkcs11:` (any case) is a token key; anything else a file path.
    public init(_ text: String) throws(SCEPError) {
        if PKCS11URI.isPKCS11(text) {
            kind = .pkcs11
            path = ""
            uri = try PKCS11URI(parsing: text)
        } else {
            kind = .file
            path = text
            uri = nil
        }
    }

    public var isToken: Bool { kind == .pkcs11 }

    /// The path, or the URI without pin-value (safe to print and store).
    public var description: String { uri?.description ?? path }
}

/// The objects one URI's name covers on a token: the current pair (label = object) and a pending one
/// (label = object + ".scep-new") that becomes current once its certificate is installed.
final class TokenKeySlot {
    static let pendingSuffix = Array(".scep-new".utf8)

    let store: PKCS11KeyStore
    let uri: PKCS11URI
    let name: [UInt8]?

    init(uri: PKCS11URI, options: TokenOptions) throws(SCEPError) {
        self.uri = uri
        name = uri.object
        var pin = try Self.pin(uri: uri, options: options)
        defer { SecureMemory.wipe(&pin) }
        store = try PKCS11KeyStore(uri: uri, modulePath: options.pkcs11Module, pin: pin)
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

    /// The key the URI names (object= and/or id=), which must exist.
    func existing() throws(SCEPError) -> PKCS11PrivateKey { try store.key() }

    /// The current pair under the URI's name, if any.
    func current() throws(SCEPError) -> PKCS11PrivateKey? {
        let name = try requireName("this operation")
        let found = try store.keys(label: name, id: nil)
        guard found.count <= 1 else {
            throw SCEPError(.tokenError, String(found.count) + " private keys named " + String(decoding: name, as: UTF8.self) + " on token " + store.session.tokenLabel + ": remove the extra ones (pkcs11-tool --delete-object)")
        }
        return found.first
    }

    func pending() throws(SCEPError) -> [PKCS11PrivateKey] {
        guard let pendingName else { return [] }
        return try store.keys(label: pendingName, id: nil)
    }

    /// A new pair under the temporary label, with the URI's CKA_ID (so a URI naming `id=` still names
    /// the key after a renewal) or else a fresh random one.
    func generatePending(_ type: KeyType, random: RandomGenerator) throws(SCEPError) -> PKCS11PrivateKey {
        _ = try requireName("making a key on a token")
        let key = try store.generate(type, label: pendingName ?? [], id: try Self.keyID(uri, random))
        FaultInjection.point("token.key-generated")
        return key
    }

    /// The CKA_ID of a new key: the URI's `id=`, else 16 random bytes.
    static func keyID(_ uri: PKCS11URI, _ random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        if let id = uri.id { return id }
        return try random.bytes(16)
    }

    /// After the certificate for `new` is installed: the old pair goes, the new one takes the name.
    func commit(new: PKCS11PrivateKey, old: PKCS11PrivateKey?) throws(SCEPError) {
        let name = try requireName("installing a token key")
        if let old, old.handle != new.handle {
            try store.destroy(old)
            FaultInjection.point("token.old-destroyed")
        }
        try store.relabel(new, to: name)
        FaultInjection.point("token.relabeled")
    }

    /// Finishes a commit a crash interrupted: when the installed certificate belongs to a pending
    /// pair, that pair becomes current and any other current pair is destroyed. Returns true then.
    @discardableResult
    func recover(certificatePath: String) throws(SCEPError) -> Bool {
        guard name != nil, FileSystem.exists(certificatePath) else { return false }
        guard let certificate = try? CredentialFiles.loadCertificate(certificatePath) else { return false }
        let spki = certificate.publicKey.subjectPublicKeyInfo
        for key in try pending() where key.publicKeyInfo == spki {
            try commit(new: key, old: try current())
            return true
        }
        return false
    }

    /// Destroys pending pairs whose certificate was never installed (a renewal that crashed before it).
    /// Returns true when there were any.
    func discardPending() throws(SCEPError) -> Bool {
        let keys = try pending()
        for key in keys { try store.destroy(key) }
        return !keys.isEmpty
    }
}

/// Token keys for the offline `csr` command.
public enum TokenKeys {
    /// The key a `pkcs11:` URI names (`existing`), or a new one made on the token under the URI's name.
    public static func forRequest(_ text: String, options: TokenOptions, existing: Bool, keyType: KeyType, random: RandomGenerator) throws(SCEPError) -> PrivateKey {
        let location = try KeyLocation(text)
        guard let uri = location.uri else { throw SCEPError(.usage, text + " is not a pkcs11: URI") }
        let slot = try TokenKeySlot(uri: uri, options: options)
        if existing { return try slot.existing() }
        let name = try slot.requireName("making a key on a token")
        guard try slot.current() == nil else {
            throw SCEPError(.fileExists, "key " + uri.description + " already exists on token " + slot.store.session.tokenLabel + ": pass --existing-key to use it")
        }
        return try slot.store.generate(keyType, label: name, id: try TokenKeySlot.keyID(uri, random))
    }
}
