import SystemSupport

/// Strict DER encoding (X.690 §10): definite lengths in minimal form, SET OF sorted.
///
/// Builders return whole TLVs as byte arrays, so nested structures read like their ASN.1:
/// `DER.sequence([DER.integer(0), DER.sequence([...])])`.
public enum DER {
    /// Identifier octets used across SCEP, CMS, PKCS#10 and X.509.
    public enum Tag {
        public static let boolean: UInt8 = 0x01
        public static let integer: UInt8 = 0x02
        public static let bitString: UInt8 = 0x03
        public static let octetString: UInt8 = 0x04
        public static let null: UInt8 = 0x05
        public static let objectIdentifier: UInt8 = 0x06
        public static let utf8String: UInt8 = 0x0C
        public static let printableString: UInt8 = 0x13
        public static let t61String: UInt8 = 0x14
        public static let ia5String: UInt8 = 0x16
        public static let utcTime: UInt8 = 0x17
        public static let generalizedTime: UInt8 = 0x18
        public static let bmpString: UInt8 = 0x1E
        public static let sequence: UInt8 = 0x30
        public static let set: UInt8 = 0x31
        /// The constructed bit of an identifier octet.
        public static let constructedBit: UInt8 = 0x20

        /// `[n]` context-specific, constructed (EXPLICIT tagging or IMPLICIT of a constructed type).
        public static func contextConstructed(_ number: UInt8) -> UInt8 { 0xA0 | number }
        /// `[n]` context-specific, primitive (IMPLICIT of a primitive type).
        public static func contextPrimitive(_ number: UInt8) -> UInt8 { 0x80 | number }
    }

    /// The length octets for `length` in minimal definite form.
    public static func lengthOctets(_ length: Int) -> [UInt8] {
        precondition(length >= 0, "negative DER length")
        if length < 0x80 { return [UInt8(length)] }
        var octets: [UInt8] = []
        var remaining = length
        while remaining > 0 {
            octets.insert(UInt8(remaining & 0xFF), at: 0)
            remaining >>= 8
        }
        return [0x80 | UInt8(octets.count)] + octets
    }

    /// A TLV with the given identifier octet and contents.
    public static func tlv(_ tag: UInt8, _ contents: [UInt8]) -> [UInt8] {
        var out = [tag]
        out += lengthOctets(contents.count)
        out += contents
        return out
    }

    public static func sequence(_ elements: [[UInt8]]) -> [UInt8] {
        tlv(Tag.sequence, elements.flatMap { $0 })
    }

    /// SET OF: DER requires the encodings in ascending order (X.690 §11.6).
    public static func setOf(_ elements: [[UInt8]]) -> [UInt8] {
        tlv(Tag.set, elements.sorted(by: { $0.lexicographicallyPrecedes($1) }).flatMap { $0 })
    }

    /// `[number] EXPLICIT`: wraps complete TLVs.
    public static func explicit(_ number: UInt8, _ elements: [[UInt8]]) -> [UInt8] {
        tlv(Tag.contextConstructed(number), elements.flatMap { $0 })
    }

    /// `[number] IMPLICIT` of a TLV already built: replaces its identifier, keeping its constructed bit.
    public static func implicit(_ number: UInt8, _ element: [UInt8]) -> [UInt8] {
        precondition(!element.isEmpty, "implicit tagging of an empty encoding")
        var out = element
        out[0] = (element[0] & Tag.constructedBit) == 0 ? Tag.contextPrimitive(number) : Tag.contextConstructed(number)
        return out
    }

    public static func boolean(_ value: Bool) -> [UInt8] { tlv(Tag.boolean, [value ? 0xFF : 0x00]) }
    public static func null() -> [UInt8] { [Tag.null, 0x00] }
    public static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv(Tag.octetString, bytes) }
    public static func utf8String(_ text: String) -> [UInt8] { tlv(Tag.utf8String, Array(text.utf8)) }
    public static func printableString(_ text: String) -> [UInt8] { tlv(Tag.printableString, Array(text.utf8)) }
    public static func ia5String(_ text: String) -> [UInt8] { tlv(Tag.ia5String, Array(text.utf8)) }

    /// BIT STRING with no unused bits (keys, signatures).
    public static func bitString(_ bytes: [UInt8]) -> [UInt8] { tlv(Tag.bitString, [0] + bytes) }

    /// A named-bit BIT STRING (keyUsage) from its first octet(s): trailing zero bits dropped (X.690 §11.2.2).
    public static func namedBitString(_ bytes: [UInt8]) -> [UInt8] {
        var octets = bytes
        while let last = octets.last, last == 0 { octets.removeLast() }
        guard let last = octets.last else { return tlv(Tag.bitString, [0]) }
        let unused = UInt8(last.trailingZeroBitCount)
        return tlv(Tag.bitString, [unused] + octets)
    }

    /// INTEGER from a non-negative value.
    public static func integer(_ value: Int) -> [UInt8] {
        precondition(value >= 0, "negative INTEGER is not used by this project")
        var octets: [UInt8] = []
        var remaining = value
        repeat {
            octets.insert(UInt8(remaining & 0xFF), at: 0)
            remaining >>= 8
        } while remaining > 0
        return unsignedInteger(octets)
    }

    /// INTEGER from big-endian magnitude octets (a serial number, a modulus): minimal, positive.
    public static func unsignedInteger(_ magnitude: [UInt8]) -> [UInt8] {
        var octets = Array(magnitude.drop(while: { $0 == 0 }))
        if octets.isEmpty { octets = [0] }
        if octets[0] & 0x80 != 0 { octets.insert(0, at: 0) }
        return tlv(Tag.integer, octets)
    }

    /// OBJECT IDENTIFIER from dotted text such as `1.2.840.113549.1.7.1`.
    public static func oid(_ dotted: String) -> [UInt8] {
        let arcs = dotted.split(separator: ".").map { part -> UInt64 in
            guard let value = ASCII.unsigned(String(part)) else { preconditionFailure("bad OID literal " + dotted) }
            return value
        }
        precondition(arcs.count >= 2 && arcs[0] <= 2, "bad OID literal " + dotted)
        var contents = base128(arcs[0] * 40 + arcs[1])
        for arc in arcs.dropFirst(2) { contents += base128(arc) }
        return tlv(Tag.objectIdentifier, contents)
    }

    private static func base128(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = [UInt8(value & 0x7F)]
        var remaining = value >> 7
        while remaining > 0 {
            out.insert(UInt8(remaining & 0x7F) | 0x80, at: 0)
            remaining >>= 7
        }
        return out
    }

    /// UTCTime (years 1950–2049) or GeneralizedTime (otherwise), as RFC 5280 §4.1.2.5 requires.
    public static func time(unixSeconds: Int64) -> [UInt8] {
        let civil = CivilTime(unixSeconds: unixSeconds)
        func two(_ value: Int) -> [UInt8] { [UInt8(48 + value / 10 % 10), UInt8(48 + value % 10)] }
        let rest = two(civil.month) + two(civil.day) + two(civil.hour) + two(civil.minute) + two(civil.second) + [UInt8(ascii: "Z")]
        if civil.year >= 1950 && civil.year < 2050 {
            return tlv(Tag.utcTime, two(civil.year % 100) + rest)
        }
        return tlv(Tag.generalizedTime, two(civil.year / 100) + two(civil.year % 100) + rest)
    }
}
