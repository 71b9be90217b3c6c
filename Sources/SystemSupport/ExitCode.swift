/// The documented exit codes. Scripts depend on these numbers; `--help` prints this table (status and
/// meaning) and README's "Exit codes" table is checked against it (Tests/integration/test_cli.py).
/// It sits beside `SCEPError` so that each error code's exit status is decided in one place.
public enum ExitCode: Int32, CaseIterable {
    case ok = 0
    case internalError = 1
    case usage = 2
    case config = 3
    case transport = 4
    case serverFailure = 5
    case pending = 6
    case verification = 7
    case file = 8
    case badReply = 9
    case token = 10

    public init(for error: SCEPError) {
        switch error.code {
        case .usage: self = .usage
        case .config: self = .config
        case .transportURL, .transportResolve, .transportConnect, .transportTimeout, .transportIO, .transportTLS,
             .transportProtocol, .transportTooLarge, .transportRedirects, .transportHTTPStatus:
            self = .transport
        case .serverFailure: self = .serverFailure
        case .serverPending: self = .pending
        case .verifyCAPin, .verifySigner, .verifyTransactionID, .verifyNonce, .verifyKeyMismatch, .verifyChain, .verifyChallenge,
             .messageSignatureInvalid:
            self = .verification
        case .fileIO, .fileExists, .fileFormat: self = .file
        case .derTruncated, .derBadLength, .derNonMinimalLength, .derBadTag, .derTrailingBytes, .derDepthExceeded, .derSizeExceeded,
             .derUnexpectedTag, .derInvalidValue, .messageMalformed, .messageUnsupported, .messageBadAttribute,
             .cryptoBadCertificate, .cryptoBadKey, .cryptoUnsupported, .cryptoDecryptFailed, .cryptoBadInput:
            self = .badReply
        case .tokenError: self = .token
        case .cryptoLibrary, .cryptoVerifyFailed: self = .internalError
        }
    }

    /// A word for `--json`'s status field.
    public var status: String {
        switch self {
        case .ok: "issued"
        case .internalError: "internal-error"
        case .usage: "usage-error"
        case .config: "config-error"
        case .transport: "transport-error"
        case .serverFailure: "server-failure"
        case .pending: "pending"
        case .verification: "verification-failed"
        case .file: "file-error"
        case .badReply: "bad-reply"
        case .token: "token-error"
        }
    }

    /// One line for the overview (README's table says more).
    public var meaning: String {
        switch self {
        case .ok: "success"
        case .internalError: "a cryptographic library failure that should not happen"
        case .usage: "bad flag, missing option, malformed subject, SAN, URL or fingerprint"
        case .config: "bad configuration file (FILE:LINE: key 'K': reason), or no such [cert NAME]"
        case .transport: "DNS, connect, TLS, timeout, proxy, redirects, HTTP status other than 200"
        case .serverFailure: "the CA answered FAILURE"
        case .pending: "still PENDING when --max-poll-time ran out: run the same command again"
        case .verification: "CA pin, reply signature, transactionID, nonce or issued certificate wrong"
        case .file: "cannot read or write a file; key exists without --existing-key"
        case .badReply: "malformed or unsupported reply (--strict: weak algorithms)"
        case .token: "PKCS#11 token or TPM problem"
        }
    }
}
