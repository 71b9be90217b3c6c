// Where a private key lives, parsed once where the command line or the config file names it: a PEM file,
// or a PKCS#11 token named by an RFC 7512 URI. `open` is the one place that picks a backend.
import DER
import SCEPClient
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
    /// Boxed: a location is copied with every `OutputPaths`, and a URI is a large struct.
    indirect enum Backend {
        case file(String)
        case token(PKCS11URI)
    }

    let backend: Backend
    /// Whether the key may leave its place (into a PKCS#12 file): the backend's `KeySlot` class says.
    public let isExportable: Bool
    /// The path, or the URI without pin-value (safe to print and store).
    public let description: String

    /// A value starting with `pkcs11:` (any case) is a token key; anything else a file path.
    /// - Throws: `usage` when a `pkcs11:` value is no valid RFC 7512 URI.
    public init(_ text: String) throws(SCEPError) {
        if PKCS11URI.isPKCS11(text) {
            let uri = try PKCS11URI(parsing: text)
            self.init(backend: .token(uri), isExportable: TokenKeySlot.isExportable, description: uri.description)
        } else {
            self.init(filePath: text)
        }
    }

    /// A key file at `path`, whatever its name looks like.
    public init(filePath path: String) {
        self.init(backend: .file(path), isExportable: FileKeySlot.isExportable, description: path)
    }

    init(backend: Backend, isExportable: Bool, description: String) {
        self.backend = backend
        self.isExportable = isExportable
        self.description = description
    }

    /// The file the key is kept in, one of the installed set's files; nil for a key kept elsewhere.
    public var filePath: String? {
        guard case .file(let path) = backend else { return nil }
        return path
    }

    /// The parsed URI of a token key.
    public var uri: PKCS11URI? {
        guard case .token(let uri) = backend else { return nil }
        return uri
    }

    /// The slot that holds this key for the credential set whose certificate is `certificatePath` (for
    /// `csr`, the request): nothing is opened until the slot's first operation needs it.
    public func open(tokenOptions: TokenOptions, certificatePath: String, log: Log) -> KeySlot {
        switch backend {
        case .file(let path): FileKeySlot(path: path, log: log)
        case .token(let uri): TokenKeySlot(uri: uri, options: tokenOptions, certificatePath: certificatePath, log: log)
        }
    }
}
