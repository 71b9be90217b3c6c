import DER
import SCEPCrypto
import SystemSupport

/// messageType (RFC 8894 §3.2.1.2): "The messageType attribute specifies the type of operation
/// performed by the transaction. This attribute MUST be included in all PKI messages."
public enum MessageType: String, CustomStringConvertible, Sendable {
    case certRep = "3"
    case renewalReq = "17"
    case pkcsReq = "19"
    case certPoll = "20"
    case getCert = "21"
    case getCRL = "22"

    public var description: String {
        switch self {
        case .certRep: "CertRep"
        case .renewalReq: "RenewalReq"
        case .pkcsReq: "PKCSReq"
        case .certPoll: "CertPoll"
        case .getCert: "GetCert"
        case .getCRL: "GetCRL"
        }
    }
}

/// pkiStatus (RFC 8894 §3.2.1.3): "All response messages MUST include transaction status
/// information, which is defined as a pkiStatus attribute."
public enum PKIStatus: String, CustomStringConvertible, Sendable {
    case success = "0"
    case failure = "2"
    case pending = "3"

    public var description: String {
        switch self {
        case .success: "SUCCESS"
        case .failure: "FAILURE"
        case .pending: "PENDING"
        }
    }
}

/// failInfo (RFC 8894 §3.2.1.4): "The failInfo attribute MUST contain one of the following failure
/// reasons" when pkiStatus is FAILURE.
public enum FailInfo: String, CustomStringConvertible, Sendable {
    case badAlg = "0"
    case badMessageCheck = "1"
    case badRequest = "2"
    case badTime = "3"
    case badCertId = "4"

    /// The reason as a number: what an SCEPError of a FAILURE carries as its detail.
    public var number: Int32 { Int32(truncatingIfNeeded: ASCII.signed(rawValue) ?? -1) }

    public var description: String {
        switch self {
        case .badAlg: "badAlg (unrecognized or unsupported algorithm)"
        case .badMessageCheck: "badMessageCheck (integrity check failed)"
        case .badRequest: "badRequest (transaction not permitted or supported)"
        case .badTime: "badTime (signingTime not close enough to system time)"
        case .badCertId: "badCertId (no certificate could be identified)"
        }
    }

    /// What a CA most likely means by it, for the person reading the error (CAs say no more:
    /// scepserver 2.1.0 answers badRequest to each of the causes listed for it).
    public var likelyCause: String {
        switch self {
        case .badAlg: "the CA refuses an algorithm or key type of the request (try --key-type rsa:2048)"
        case .badMessageCheck: "the CA could not verify or decrypt the request: does it still use the CA certificate pinned here?"
        case .badRequest: "usually a wrong challenge password, a subject the CA already issued a valid certificate for and will not"
            + " issue twice (scepserver: -allowrenew), or a key type it refuses (scepserver 2.1.0: EC keys); the CA's log says which"
        case .badTime: "this device's clock is too far from the CA's: set the time"
        case .badCertId: "the CA does not know the certificate the request names (not issued by this CA, or revoked)"
        }
    }
}

/// transactionID (RFC 8894 §3.2.1.1): "The transactionID MUST be unique, but not necessarily
/// randomly generated"; it stays the same for every message of one enrollment, polls included.
public struct TransactionID: Equatable, CustomStringConvertible, Sendable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }

    /// A new transaction's ID: 16 random bytes in uppercase hex. Never derived from the key, so a
    /// renewal that keeps its key is still a new transaction to a CA that treats a known
    /// transactionID as a resend.
    public static func random(_ random: RandomGenerator) throws(SCEPError) -> TransactionID {
        TransactionID(Hex.encodeUpper(try random.bytes(16)))
    }
}

/// senderNonce / recipientNonce (RFC 8894 §3.2.1.5): 16 random bytes; "the recipient MUST copy the
/// senderNonce into the recipientNonce of the reply as a proof of liveness."
public struct Nonce: Equatable, CustomStringConvertible, Sendable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { Hex.encode(bytes) }
}
