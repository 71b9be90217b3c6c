// RFC 7512 PKCS#11 URIs: the name of a key that lives in a token. Hostile-input code: every input is
// bounded and every refusal is a coded SCEPError (code `usage`, `detail` = `PKCS11URI.Failure`).
import DER
import SystemSupport

/// A PKCS#11 URI (RFC 7512), for example `pkcs11:token=gw;object=device-key;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so`.
///
/// ```
/// pk11-URI     = "pkcs11:" pk11-path [ "?" pk11-query ]
/// pk11-path    = [ pk11-pattr *(";" pk11-pattr) ]
/// pk11-pattr   = pk11-token / pk11-manuf / pk11-serial / pk11-model / pk11-lib-manuf / pk11-lib-ver /
///                pk11-lib-desc / pk11-object / pk11-type / pk11-id / pk11-slot-desc / pk11-slot-manuf /
///                pk11-slot-id / pk11-v-pattr
/// pk11-query   = [ pk11-qattr *("&" pk11-qattr) ]
/// pk11-qattr   = pk11-pin-source / pk11-pin-value / pk11-module-name / pk11-module-path / pk11-v-qattr
/// pk11-pchar   = unreserved / pk11-res-avail / pct-encoded
/// pk11-qchar   = unreserved / pk11-res-avail-ex / pct-encoded
/// pk11-res-avail    = ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" / ")" / "*" / "+" / "," / "="
/// pk11-res-avail-ex = pk11-res-avail / "/" / "?" / "|"
/// ```
/// "An attribute MUST NOT appear more than once in the PKCS#11 URI path" (RFC 7512 section 2.3); the same
/// is enforced for query attributes. Text attributes are kept as the decoded bytes a token compares
/// (labels are byte strings in CK_TOKEN_INFO), so no UTF-8 validation is needed.
public struct PKCS11URI: CustomStringConvertible, Equatable {
    /// Why a URI was refused; the value is the `detail` of the thrown error.
    public enum Failure: Int32, CustomStringConvertible {
        case notPKCS11 = 1, tooLong, malformedAttribute, unknownAttribute, duplicateAttribute, badPercentEncoding
        case invalidCharacter, valueTooLong, badType, badSlotID, conflictingPIN, tooManyAttributes, nulByte, badLibraryVersion

        public var description: String { String(rawValue) }
    }

    /// `type=`: the object class (RFC 7512 section 2.3).
    public enum ObjectType: String, CustomStringConvertible {
        case publicKey = "public", privateKey = "private", certificate = "cert", secretKey = "secret-key", data = "data"
        public var description: String { rawValue }
    }

    /// Longest URI accepted, in bytes.
    public static let maxLength = 4096
    /// Longest decoded attribute value, in bytes.
    public static let maxValueLength = 1024
    /// Most attributes (path and query together), vendor ones included.
    public static let maxAttributes = 32

    public var token: [UInt8]?
    public var manufacturer: [UInt8]?
    public var serial: [UInt8]?
    public var model: [UInt8]?
    public var libraryManufacturer: [UInt8]?
    public var libraryDescription: [UInt8]?
    public var libraryVersionMajor: Int?
    public var libraryVersionMinor: Int?
    public var object: [UInt8]?
    public var type: ObjectType?
    public var id: [UInt8]?
    public var slotDescription: [UInt8]?
    public var slotManufacturer: [UInt8]?
    public var slotID: UInt64?
    public var pinSource: String?
    public var pinValue: [UInt8]?
    public var moduleName: String?
    public var modulePath: String?

    public init() {}

    /// True when `text` names a token key (starts with `pkcs11:`, any case).
    public static func isPKCS11(_ text: String) -> Bool {
        let prefix = Array("pkcs11:".utf8)
        let bytes = Array(text.utf8.prefix(prefix.count))
        guard bytes.count == prefix.count else { return false }
        for (a, b) in zip(bytes, prefix) where lower(a) != b { return false }
        return true
    }

    /// Parses a PKCS#11 URI.
    /// - Throws: `SCEPError(.usage)` whose `detail` is a `Failure`.
    public init(parsing text: String) throws(SCEPError) {
        let input = Array(text.utf8)
        guard input.count <= Self.maxLength else { throw Self.fail(.tooLong, "is longer than " + String(Self.maxLength) + " bytes") }
        guard Self.isPKCS11(text) else { throw Self.fail(.notPKCS11, "does not start with pkcs11:") }
        let rest = input[7...]
        let question = rest.firstIndex(of: UInt8(ascii: "?"))
        let path = question.map { rest[rest.startIndex..<$0] } ?? rest
        let query = question.map { rest[($0 + 1)...] } ?? rest[rest.endIndex...]
        var seen: [[UInt8]] = []
        var count = 0
        for part in path.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) where !(part.isEmpty && path.isEmpty) {
            count += 1
            guard count <= Self.maxAttributes else { throw Self.fail(.tooManyAttributes, "has more than " + String(Self.maxAttributes) + " attributes") }
            let (name, value) = try Self.attribute(part, query: false, seen: &seen)
            try assignPath(name, value)
        }
        for part in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) where !(part.isEmpty && query.isEmpty) {
            count += 1
            guard count <= Self.maxAttributes else { throw Self.fail(.tooManyAttributes, "has more than " + String(Self.maxAttributes) + " attributes") }
            let (name, value) = try Self.attribute(part, query: true, seen: &seen)
            try assignQuery(name, value)
        }
        if pinSource != nil && pinValue != nil {
            throw Self.fail(.conflictingPIN, "gives both pin-source and pin-value: give one")
        }
    }

    /// The URI in canonical form without `pin-value` (safe to print, log and put in a config file).
    public var description: String { rendered(includingPINValue: false) }

    /// A key as a person may see it: `text` itself unless it is a `pkcs11:` URI, which is shown as its
    /// `description` (no `pin-value`). A URI that does not parse is not shown at all: where its PIN
    /// would be is unknown. Every printer of a key location (status, results, hook environment,
    /// messages) goes through here.
    public static func redacted(_ text: String) -> String {
        guard isPKCS11(text) else { return text }
        guard let uri = try? PKCS11URI(parsing: text) else { return "pkcs11:(a malformed URI, not shown: it may hold a PIN)" }
        return uri.description
    }

    /// The URI in canonical form; `pin-value` only when asked for.
    public func rendered(includingPINValue: Bool) -> String {
        var path: [String] = []
        func add(_ name: String, _ value: [UInt8]?) { if let value { path.append(name + "=" + Self.encode(value, query: false)) } }
        add("token", token)
        add("manufacturer", manufacturer)
        add("serial", serial)
        add("model", model)
        add("library-manufacturer", libraryManufacturer)
        add("library-description", libraryDescription)
        if let major = libraryVersionMajor {
            path.append("library-version=" + String(major) + (libraryVersionMinor.map { "." + String($0) } ?? ""))
        }
        add("slot-description", slotDescription)
        add("slot-manufacturer", slotManufacturer)
        if let slotID { path.append("slot-id=" + String(slotID)) }
        add("object", object)
        if let id { path.append("id=" + Self.encode(id, query: false, everything: true)) }
        if let type { path.append("type=" + type.rawValue) }
        var query: [String] = []
        if let pinSource { query.append("pin-source=" + Self.encode(Array(pinSource.utf8), query: true)) }
        if includingPINValue, let pinValue { query.append("pin-value=" + Self.encode(pinValue, query: true)) }
        if let moduleName { query.append("module-name=" + Self.encode(Array(moduleName.utf8), query: true)) }
        if let modulePath { query.append("module-path=" + Self.encode(Array(modulePath.utf8), query: true)) }
        return "pkcs11:" + path.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    // MARK: - Parsing pieces

    static func fail(_ failure: Failure, _ what: String) -> SCEPError {
        SCEPError(.usage, "PKCS#11 URI " + what + " (RFC 7512: pkcs11:token=NAME;object=LABEL;type=private)", detail: failure.rawValue)
    }

    static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }

    static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }

    static func isAllowed(_ c: UInt8, query: Bool) -> Bool {
        if isUnreserved(c) { return true }
        switch c {
        case UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "@"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","),
             UInt8(ascii: "="):
            return true
        case UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "|"): return query
        default: return false
        }
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// Percent-decodes one value, checking every literal character against the grammar.
    static func decode(_ value: ArraySlice<UInt8>, query: Bool, name: String) throws(SCEPError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var index = value.startIndex
        while index < value.endIndex {
            let c = value[index]
            if c == UInt8(ascii: "%") {
                guard value.endIndex - index >= 3,
                      let high = hexValue(value[index + 1]), let low = hexValue(value[index + 2]) else {
                    throw fail(.badPercentEncoding, "attribute " + name + " has a % not followed by two hex digits")
                }
                out.append(high << 4 | low)
                index += 3
            } else {
                guard isAllowed(c, query: query) else {
                    throw fail(.invalidCharacter, "attribute " + name + " has a character that must be percent-encoded (byte 0x" + String(c, radix: 16) + ")")
                }
                out.append(c)
                index += 1
            }
            guard out.count <= maxValueLength else { throw fail(.valueTooLong, "attribute " + name + " is longer than " + String(maxValueLength) + " bytes") }
        }
        return out
    }

    static func attribute(_ part: ArraySlice<UInt8>, query: Bool, seen: inout [[UInt8]]) throws(SCEPError) -> (String, [UInt8]) {
        guard let equals = part.firstIndex(of: UInt8(ascii: "=")), equals > part.startIndex else {
            throw fail(.malformedAttribute, "has an attribute that is not name=value")
        }
        let nameBytes = Array(part[part.startIndex..<equals])
        for c in nameBytes where !((c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-")) {
            throw fail(.malformedAttribute, "has an attribute name with a character other than a-z, 0-9 and -")
        }
        let name = String(decoding: nameBytes, as: UTF8.self)
        guard !seen.contains(nameBytes) else { throw fail(.duplicateAttribute, "gives attribute " + name + " more than once") }
        seen.append(nameBytes)
        return (name, try decode(part[(equals + 1)...], query: query, name: name))
    }

    static func text(_ value: [UInt8], _ name: String) throws(SCEPError) -> String {
        guard !value.contains(0) else { throw fail(.nulByte, "attribute " + name + " contains a NUL byte") }
        return String(decoding: value, as: UTF8.self)
    }

    static func isVendor(_ name: String) -> Bool { name.utf8.count > 2 && name.utf8.starts(with: "x-".utf8) }

    mutating func assignPath(_ name: String, _ value: [UInt8]) throws(SCEPError) {
        switch name {
        case "token": token = value
        case "manufacturer": manufacturer = value
        case "serial": serial = value
        case "model": model = value
        case "library-manufacturer": libraryManufacturer = value
        case "library-description": libraryDescription = value
        case "library-version":
            // pk11-lib-ver = "library-version" "=" 1*DIGIT [ "." 1*DIGIT ]
            let parts = value.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard parts.count <= 2, let major = Self.number(parts[0], limit: 255) else {
                throw Self.fail(.badLibraryVersion, "library-version is not DIGITS[.DIGITS]")
            }
            libraryVersionMajor = Int(major)
            if parts.count == 2 {
                guard let minor = Self.number(parts[1], limit: 255) else { throw Self.fail(.badLibraryVersion, "library-version is not DIGITS[.DIGITS]") }
                libraryVersionMinor = Int(minor)
            }
        case "object": object = value
        case "type":
            guard let kind = ObjectType(rawValue: String(decoding: value, as: UTF8.self)) else {
                throw Self.fail(.badType, "type is not one of public, private, cert, secret-key, data")
            }
            type = kind
        case "id": id = value
        case "slot-description": slotDescription = value
        case "slot-manufacturer": slotManufacturer = value
        case "slot-id":
            guard let number = Self.number(value[...], limit: UInt64(UInt32.max)) else { throw Self.fail(.badSlotID, "slot-id is not a decimal number") }
            slotID = number
        default:
            guard Self.isVendor(name) else { throw Self.fail(.unknownAttribute, "has an unknown path attribute " + name) }
        }
    }

    mutating func assignQuery(_ name: String, _ value: [UInt8]) throws(SCEPError) {
        switch name {
        case "pin-source": pinSource = try Self.text(value, name)
        case "pin-value": pinValue = value
        case "module-name": moduleName = try Self.text(value, name)
        case "module-path": modulePath = try Self.text(value, name)
        default:
            guard Self.isVendor(name) else { throw Self.fail(.unknownAttribute, "has an unknown query attribute " + name) }
        }
    }

    /// A decimal number of at most `limit`, without sign or leading `+`.
    static func number(_ digits: ArraySlice<UInt8>, limit: UInt64) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 10 else { return nil }
        var value: UInt64 = 0
        for c in digits {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            value = value * 10 + UInt64(c - 0x30)
        }
        return value <= limit ? value : nil
    }

    /// Percent-encodes everything outside the grammar's literal characters (`everything`: every byte).
    static func encode(_ value: [UInt8], query: Bool, everything: Bool = false) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for c in value {
            // "&", ";" and "?" separate attributes; "%" starts an escape.
            if !everything && isAllowed(c, query: query) && c != UInt8(ascii: "?") {
                out.append(c)
            } else {
                out += [UInt8(ascii: "%"), digits[Int(c >> 4)], digits[Int(c & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
