import DER

/// The documented exit codes (README "Exit codes"). Scripts depend on these numbers.
enum ExitCode: Int32 {
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

    init(for error: SCEPError) {
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
    var status: String {
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
}
