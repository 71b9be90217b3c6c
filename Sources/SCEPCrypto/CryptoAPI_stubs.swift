// Stubs: replaced by the mbedTLS backend. Every signature here is the contract.
import DER

func unimplemented(_ what: String) -> Never { fatalError("unimplemented: " + what) }

/// An X.509 certificate parsed by mbedTLS; the DER stays available byte for byte.
public final class Certificate {
    public init(der: [UInt8]) throws(SCEPError) { unimplemented("Certificate") }
    public var der: [UInt8] { unimplemented("der") }
    /// Raw DER of the subject Name (for IssuerAndSerialNumber, IssuerAndSubject).
    public var subjectDER: [UInt8] { unimplemented("subjectDER") }
    /// Raw DER of the issuer Name.
    public var issuerDER: [UInt8] { unimplemented("issuerDER") }
    /// Subject as text, e.g. `CN=gw-0042, O=Example` (mbedTLS's rendering).
    public var subjectText: String { unimplemented("subjectText") }
    public var issuerText: String { unimplemented("issuerText") }
    /// Serial number content octets (big-endian, as encoded, possibly with a leading 0x00).
    public var serial: [UInt8] { unimplemented("serial") }
    /// Validity as seconds since the Unix epoch (UTC).
    public var notBefore: Int64 { unimplemented("notBefore") }
    public var notAfter: Int64 { unimplemented("notAfter") }
    /// The keyUsage extension, or nil when absent.
    public var keyUsage: KeyUsage? { unimplemented("keyUsage") }
    /// Dotted OIDs of extKeyUsage (empty when absent).
    public var extendedKeyUsage: [String] { unimplemented("eku") }
    /// basicConstraints cA.
    public var isCA: Bool { unimplemented("isCA") }
    public var publicKey: PublicKey { unimplemented("publicKey") }
    /// SHA-256 of the DER.
    public var sha256Fingerprint: [UInt8] { unimplemented("fingerprint") }

    /// Verifies `leaf` through `intermediates` up to one of `trusted` (signatures, validity, CA flags)
    /// with mbedTLS. Throws `verifyChain` with mbedTLS's flags rendered as text.
    public static func verifyChain(leaf: Certificate, intermediates: [Certificate], trusted: [Certificate]) throws(SCEPError) {
        unimplemented("verifyChain")
    }
    /// True when `issuer`'s key verifies this certificate's signature (no validity or CA-flag checks).
    public func isSigned(by issuer: Certificate) -> Bool { unimplemented("isSigned") }
}

