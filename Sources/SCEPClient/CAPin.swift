import DER
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// The CA pin: a SHA-256 fingerprint of the CA certificate, checked before any request carries our CSR.
public enum CAPin {
    /// Parses hex with or without colons (64 hex digits).
    public static func parse(_ text: String) throws(SCEPError) -> [UInt8] {
        guard let bytes = Hex.decode(text), bytes.count == 32 else {
            throw SCEPError(.usage, "CA fingerprint '" + text + "' is not a SHA-256 fingerprint: give 64 hex digits, colons optional (scep-agent getca prints it)")
        }
        return bytes
    }

    /// The certificate among `certificates` whose SHA-256 fingerprint is `pin`.
    /// - Throws: `verifyCAPin` naming what the server sent and what was expected.
    public static func select(_ certificates: [Certificate], pin: [UInt8], url: URL) throws(SCEPError) -> Certificate {
        for certificate in certificates where certificate.sha256Fingerprint == pin {
            return certificate
        }
        let sent = certificates.map { Hex.encode($0.sha256Fingerprint) }.joined(separator: ", ")
        throw SCEPError(.verifyCAPin, "CA fingerprint mismatch: " + url.description + " sent " + sent + ", expected " + Hex.encode(pin)
            + " (--ca-fingerprint). Check the pin with 'scep-agent getca'; nothing was sent to this server.")
    }

    /// Without a pin (`--insecure-skip-ca-pin`): the self-issued CA certificate, or the only one.
    public static func unpinnedCA(_ certificates: [Certificate]) throws(SCEPError) -> Certificate {
        if certificates.count == 1 { return certificates[0] }
        for certificate in certificates where certificate.isCA && certificate.subjectDER == certificate.issuerDER {
            return certificate
        }
        for certificate in certificates where certificate.isCA { return certificate }
        throw SCEPError(.verifyCAPin, "GetCACert returned " + String(certificates.count) + " certificates and none is a CA")
    }
}
