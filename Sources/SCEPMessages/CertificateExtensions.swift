import DER
import SystemSupport

/// Reads the extensions mbedTLS does not expose in a form we need (subjectAltName for renewals).
///
///     Certificate    ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
///     TBSCertificate ::= SEQUENCE { version [0] EXPLICIT ..., serialNumber, signature, issuer,
///                                   validity, subject, subjectPublicKeyInfo,
///                                   issuerUniqueID [1] IMPLICIT OPTIONAL, subjectUniqueID [2] IMPLICIT OPTIONAL,
///                                   extensions [3] EXPLICIT Extensions OPTIONAL }
public enum CertificateExtensions {
    /// The subjectAltName entries of the DNS, IP, email and URI kinds; other kinds are skipped.
    public static func subjectAltNames(certificate der: [UInt8]) throws(SCEPError) -> [SubjectAltName] {
        guard let value = try extensionValue(OID.subjectAltName, certificate: der) else { return [] }
        var names: [SubjectAltName] = []
        for general in try DERNode(parsing: value).elements(DER.Tag.sequence, "GeneralNames").children {
            let text = String(decoding: general.contents, as: UTF8.self)
            switch general.identifier {
            case DER.Tag.contextPrimitive(1): names.append(.email(text))
            case DER.Tag.contextPrimitive(2): names.append(.dns(text))
            case DER.Tag.contextPrimitive(6): names.append(.uri(text))
            case DER.Tag.contextPrimitive(7):
                guard general.contents.count == 4 || general.contents.count == 16 else {
                    throw SCEPError(.messageMalformed, "subjectAltName iPAddress of " + String(general.contents.count) + " bytes")
                }
                names.append(.ip(Array(general.contents)))
            default: continue
            }
        }
        return names
    }

    /// The extnValue octets of the extension `oid`, or nil when the certificate has none.
    public static func extensionValue(_ oid: String, certificate der: [UInt8]) throws(SCEPError) -> [UInt8]? {
        let certificate = try DERNode(parsing: der)
        var outer = try certificate.elements(DER.Tag.sequence, "Certificate")
        let tbs = try outer.next(DER.Tag.sequence, "tbsCertificate")
        guard let extensions = tbs.children.last, extensions.identifier == DER.Tag.contextConstructed(3) else { return nil }
        guard let list = extensions.children.first else { return nil }
        for entry in try list.elements(DER.Tag.sequence, "Extensions").children {
            var fields = try entry.elements(DER.Tag.sequence, "Extension")
            guard try fields.next("extnID").objectIdentifier("extnID") == oid else { continue }
            _ = fields.optional(DER.Tag.boolean)
            return try fields.next("extnValue").octets("extnValue")
        }
        return nil
    }
}
