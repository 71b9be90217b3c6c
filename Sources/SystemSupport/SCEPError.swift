/// The one error type every product module throws (typed throws keep Embedded Swift happy).
///
/// `code` is stable and what tests assert; `reason` is for people: what failed, on which input, and
/// what to do next. `detail` carries a raw library code where there is one (an mbedTLS error, errno).
public struct SCEPError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, CaseIterable, CustomStringConvertible, Sendable {
        // DER reader and writer
        case derTruncated, derBadLength, derNonMinimalLength, derBadTag, derTrailingBytes
        case derDepthExceeded, derSizeExceeded, derUnexpectedTag, derInvalidValue
        // Cryptography
        case cryptoLibrary, cryptoUnsupported, cryptoBadKey, cryptoBadCertificate
        case cryptoVerifyFailed, cryptoDecryptFailed, cryptoBadInput
        // SCEP and CMS messages
        case messageMalformed, messageUnsupported, messageSignatureInvalid, messageBadAttribute
        // Verification of a peer (pin, signer, nonce, transactionID, key match, chain)
        case verifyCAPin, verifySigner, verifyTransactionID, verifyNonce, verifyKeyMismatch, verifyChain
        // A password-encrypted reply (PasswordRecipientInfo) that our challenge does not open
        case verifyChallenge
        // Transport
        case transportURL, transportResolve, transportConnect, transportTimeout, transportIO
        case transportTLS, transportProtocol, transportTooLarge, transportRedirects, transportHTTPStatus
        // Server answers
        case serverFailure, serverPending
        // Local files and usage
        case fileIO, fileExists, fileFormat, usage, config
        // PKCS#11 and hardware keys
        case tokenError

        public var description: String { rawValue }
    }

    public var code: Code
    public var reason: String
    public var detail: Int32

    public init(_ code: Code, _ reason: String, detail: Int32 = 0) {
        self.code = code
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        detail == 0 ? reason : reason + " (code " + String(detail) + ")"
    }

    public static func == (lhs: SCEPError, rhs: SCEPError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.detail == rhs.detail
    }
}
