import DER
import SystemSupport

/// One subjectAltName entry as the command line writes it: `dns:NAME`, `ip:ADDR`, `email:ADDR`, `uri:URI`.
///
///     GeneralName ::= CHOICE {
///         rfc822Name                 [1] IA5String,
///         dNSName                    [2] IA5String,
///         uniformResourceIdentifier  [6] IA5String,
///         iPAddress                  [7] OCTET STRING }
///
/// A struct rather than an enum with payloads: Swift 6.3.1's Embedded `-Osize` build mixed up the
/// cases of such an enum when encoding it (a dNSName came out as [6]).
public struct SubjectAltName: Equatable, CustomStringConvertible {
    /// The GeneralName choice; the raw value is its context tag number.
    public enum Kind: UInt8, Sendable {
        case email = 1, dns = 2, uri = 6, ip = 7
    }

    public let kind: Kind
    /// UTF-8 text for dns, email and uri; 4 or 16 address bytes for ip.
    public let value: [UInt8]

    public init(kind: Kind, value: [UInt8]) {
        self.kind = kind
        self.value = value
    }

    public static func dns(_ name: String) -> SubjectAltName { SubjectAltName(kind: .dns, value: Array(name.utf8)) }
    public static func email(_ address: String) -> SubjectAltName { SubjectAltName(kind: .email, value: Array(address.utf8)) }
    public static func uri(_ uri: String) -> SubjectAltName { SubjectAltName(kind: .uri, value: Array(uri.utf8)) }
    public static func ip(_ address: [UInt8]) -> SubjectAltName { SubjectAltName(kind: .ip, value: address) }

    /// - Throws: `usage` for an unknown type, an empty value or a malformed IP address.
    public init(parsing text: String) throws(SCEPError) {
        guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw SCEPError(.usage, "SAN '" + text + "' has no type: write dns:NAME, ip:ADDR, email:ADDR or uri:URI")
        }
        let type = ASCII.uppercased(String(text[..<colon]))
        let value = String(text[text.utf8.index(after: colon)...])
        guard !value.isEmpty else { throw SCEPError(.usage, "SAN '" + text + "' has an empty value") }
        switch type {
        case "DNS": self = .dns(value)
        case "EMAIL": self = .email(value)
        case "URI": self = .uri(value)
        case "IP":
            guard let address = IPAddress.parse(value) else {
                throw SCEPError(.usage, "SAN '" + text + "': '" + value + "' is not an IPv4 or IPv6 address")
            }
            self = .ip(address)
        default:
            throw SCEPError(.usage, "SAN type '" + type + "' in '" + text + "' is unknown: use dns, ip, email or uri")
        }
    }

    public var der: [UInt8] { DER.tlv(DER.Tag.contextPrimitive(kind.rawValue), value) }

    public var description: String {
        switch kind {
        case .dns: "dns:" + String(decoding: value, as: UTF8.self)
        case .email: "email:" + String(decoding: value, as: UTF8.self)
        case .uri: "uri:" + String(decoding: value, as: UTF8.self)
        case .ip: "ip:" + IPAddress.format(value)
        }
    }
}

/// IPv4 and IPv6 text forms without libc (this module does not import the C shim).
public enum IPAddress {
    public static func parse(_ text: String) -> [UInt8]? {
        text.utf8.contains(UInt8(ascii: ":")) ? parseIPv6(text) : parseIPv4(text)
    }

    static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let value = ASCII.unsigned(String(part)), value <= 255, part.utf8.count == 1 || part.utf8.first != UInt8(ascii: "0")
            else { return nil }
            out.append(UInt8(value))
        }
        return out
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        var gap: Int? = nil
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = index
                index += 2
            } else {
                index += 1
            }
        }
        let head: [UInt16]
        let tail: [UInt16]
        if let gap {
            guard let before = groups(bytes[..<gap], allowsIPv4: false), let after = groups(bytes[(gap + 2)...], allowsIPv4: true),
                before.count + after.count < 8 else { return nil }
            head = before
            tail = after
        } else {
            guard let all = groups(bytes[...], allowsIPv4: true), all.count == 8 else { return nil }
            head = all
            tail = []
        }
        let words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// Colon-separated hex groups (none for empty text); a final dotted IPv4 counts as two groups.
    private static func groups(_ text: ArraySlice<UInt8>, allowsIPv4: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var out: [UInt16] = []
        for (position, part) in parts.enumerated() {
            let string = String(decoding: part, as: UTF8.self)
            if allowsIPv4 && position == parts.count - 1 && part.contains(UInt8(ascii: ".")) {
                guard let v4 = parseIPv4(string) else { return nil }
                out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                continue
            }
            guard !part.isEmpty, part.count <= 4, let value = ASCII.unsigned(string, radix: 16).flatMap(UInt16.init(exactly:)) else { return nil }
            out.append(value)
        }
        return out
    }

    public static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        var groups: [String] = []
        var index = 0
        while index + 1 < bytes.count {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
            index += 2
        }
        return groups.joined(separator: ":")
    }
}
