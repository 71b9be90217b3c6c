// Where a private key lives, parsed once where the command line or the config file names it: a PEM file,
// or a PKCS#11 token named by an RFC 7512 URI. `open` is the one place that picks a backend.
import DER
import SCEPClient
import SCEPPKCS11

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
    enum Backend {
        case file(String)
        case token(PKCS11URI)
    }

    let backend: Backend
    /// The file the key is kept in, one of the installed set's files; nil for a key kept elsewhere.
    public let filePath: String?
    /// The parsed URI of a token key.
    public let uri: PKCS11URI?
    /// Whether the key may leave its place (into a PKCS#12 file): the backend's `KeySlot.isExportable`.
    public let isExportable: Bool
    /// The path, or the URI without pin-value (safe to print and store).
    public let description: String

    /// A value starting with `pkcs11:` (any case) is a token key; anything else a file path.
    /// - Throws: `usage` when a `pkcs11:` value is no valid RFC 7512 URI.
    public init(_ text: String) throws(SCEPError) {
        if PKCS11URI.isPKCS11(text) {
            self.init(token: try PKCS11URI(parsing: text))
        } else {
            self.init(filePath: text)
        }
    }

    init(token uri: PKCS11URI) {
        (backend, filePath, self.uri, isExportable, description) = (.token(uri), nil, uri, TokenKeySlot.isExportable, uri.description)
    }

    /// A key file at `path`, whatever its name looks like.
    public init(filePath path: String) {
        (backend, filePath, uri, isExportable, description) = (.file(path), path, nil, FileKeySlot.isExportable, path)
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
