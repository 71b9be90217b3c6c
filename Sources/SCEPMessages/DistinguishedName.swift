import DER
import SystemSupport

/// A distinguished name parsed from text and encoded as an X.501 Name.
///
///     Name ::= SEQUENCE OF RelativeDistinguishedName
///     RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
///     AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
///
/// Accepts RFC 4514 text (`CN=gw-0042,O=Example,C=DE`, most specific first, `\` escapes, `+` for
/// multi-valued RDNs) and OpenSSL's slash form (`/C=DE/O=Example/CN=gw-0042`, in encoding order).
public struct DistinguishedName: CustomStringConvertible {
    public struct Attribute {
        public var oid: String
        public var shortName: String
        public var value: String
    }

    /// RDNs in encoding order (least specific first), each a list of attributes.
    public var relativeNames: [[Attribute]]
    /// The Name exactly as a certificate encodes it, when taken from one (a renewal keeps it byte for byte).
    private var encoded: [UInt8]?
    /// Text for display when taken from DER (mbedTLS's rendering).
    private var encodedText: String?

    /// A name taken as-is from a certificate: `der` returns these bytes unchanged.
    public init(der: [UInt8], text: String) {
        relativeNames = []
        encoded = der
        encodedText = text
    }

    private static let known: [(short: String, oid: String)] = [
        ("CN", OID.commonName), ("C", OID.countryName), ("L", OID.localityName),
        ("ST", OID.stateOrProvinceName), ("O", OID.organizationName), ("OU", OID.organizationalUnitName),
        ("SERIALNUMBER", OID.serialNumber), ("STREET", OID.streetAddress), ("TITLE", OID.title),
        ("GN", OID.givenName), ("SN", OID.surname), ("DC", OID.domainComponent), ("UID", OID.userID),
        ("EMAILADDRESS", OID.emailAddress), ("E", OID.emailAddress),
    ]

    /// - Throws: `usage` naming the offending part and what is accepted.
    public init(parsing text: String) throws(SCEPError) {
        let trimmed = Array(text.utf8)
        guard !trimmed.isEmpty else { throw SCEPError(.usage, "subject is empty: give a DN such as CN=gw-0042,O=Example") }
        var names: [[Attribute]] = []
        if trimmed[0] == UInt8(ascii: "/") {
            for part in try Self.split(Array(trimmed.dropFirst()), on: UInt8(ascii: "/")) {
                names.append([try Self.attribute(part, in: text)])
            }
        } else {
            for rdn in try Self.split(trimmed, on: UInt8(ascii: ",")) {
                var attributes: [Attribute] = []
                for part in try Self.split(rdn, on: UInt8(ascii: "+")) {
                    attributes.append(try Self.attribute(part, in: text))
                }
                names.insert(attributes, at: 0)
            }
        }
        relativeNames = names
    }

    /// Splits on an unescaped separator, keeping escapes for the next stage.
    private static func split(_ bytes: [UInt8], on separator: UInt8) throws(SCEPError) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        var escaped = false
        for byte in bytes {
            if escaped {
                parts[parts.count - 1] += [UInt8(ascii: "\\"), byte]
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == separator {
                parts.append([])
            } else {
                parts[parts.count - 1].append(byte)
            }
        }
        if escaped { throw SCEPError(.usage, "subject ends with a lone backslash") }
        return parts
    }

    private static func attribute(_ part: [UInt8], in text: String) throws(SCEPError) -> Attribute {
        guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else {
            throw SCEPError(.usage, "subject part '" + String(decoding: part, as: UTF8.self) + "' in '" + text + "' has no '=': write TYPE=value, e.g. CN=gw-0042")
        }
        let type = ASCII.uppercased(ASCII.trimmed(String(decoding: part[..<equals], as: UTF8.self)))
        var value: [UInt8] = []
        var escaped = false
        for byte in part[(equals + 1)...] {
            if escaped || byte != UInt8(ascii: "\\") {
                value.append(byte)
                escaped = false
            } else {
                escaped = true
            }
        }
        let valueText = ASCII.trimmed(String(decoding: value, as: UTF8.self))
        guard !valueText.isEmpty else { throw SCEPError(.usage, "subject attribute " + type + " in '" + text + "' has an empty value") }
        for entry in known where entry.short == type {
            if entry.oid == OID.countryName && valueText.utf8.count != 2 {
                throw SCEPError(.usage, "subject C=" + valueText + " must be a two-letter country code")
            }
            return Attribute(oid: entry.oid, shortName: entry.short, value: valueText)
        }
        if let first = type.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9"), isDottedOID(type) {
            return Attribute(oid: type, shortName: type, value: valueText)
        }
        throw SCEPError(.usage, "subject attribute type '" + type + "' in '" + text + "' is unknown: use CN, O, OU, C, ST, L, SERIALNUMBER, DC, UID, E or a dotted OID")
    }

    private static func isDottedOID(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return false }
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        }
        return true
    }

    /// DER Name. Country as PrintableString, email and DC as IA5String, the rest UTF8String (RFC 5280 §4.1.2.4).
    public var der: [UInt8] {
        if let encoded { return encoded }
        return DER.sequence(relativeNames.map { rdn in
            DER.setOf(rdn.map { attribute in
                let value: [UInt8]
                switch attribute.oid {
                case OID.countryName, OID.serialNumber: value = DER.printableString(attribute.value)
                case OID.emailAddress, OID.domainComponent: value = DER.ia5String(attribute.value)
                default: value = DER.utf8String(attribute.value)
                }
                return DER.sequence([DER.oid(attribute.oid), value])
            })
        })
    }

    /// The value of the most specific CN, if any.
    public var commonName: String? {
        for rdn in relativeNames.reversed() {
            for attribute in rdn where attribute.oid == OID.commonName { return attribute.value }
        }
        return nil
    }

    /// RFC 4514 text, most specific first.
    public var description: String {
        if let encodedText { return encodedText }
        return relativeNames.reversed().map { rdn in
            rdn.map { $0.shortName + "=" + $0.value }.joined(separator: "+")
        }.joined(separator: ",")
    }
}
