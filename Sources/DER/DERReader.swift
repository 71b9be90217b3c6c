import SystemSupport

/// Limits that bound the reader on hostile input. Every parse takes them explicitly.
public struct DERLimits: Sendable {
    /// Nesting depth of constructed encodings (SCEP's deepest, a CertRep, is about 12).
    public var maxDepth: Int
    /// Total input size in bytes.
    public var maxSize: Int
    /// Number of nodes in one parse.
    public var maxNodes: Int
    /// Strict DER: minimal definite lengths only. Off accepts BER indefinite and non-minimal lengths.
    public var strictDER: Bool

    public init(maxDepth: Int = 32, maxSize: Int = 1 << 20, maxNodes: Int = 100_000, strictDER: Bool = false) {
        self.maxDepth = maxDepth
        self.maxSize = maxSize
        self.maxNodes = maxNodes
        self.strictDER = strictDER
    }

    /// For what a peer sends us: BER tolerated, bounded.
    public static let ber = DERLimits()
    /// For checking what we emit ourselves.
    public static let der = DERLimits(strictDER: true)
}

/// One parsed TLV. Constructed nodes carry their children; every node keeps its exact encoding,
/// so signed bytes (a TBSCertificate, signed attributes) can be digested as received.
public struct DERNode {
    /// The identifier octet (class, constructed bit, tag number < 31).
    public let identifier: UInt8
    /// The whole TLV as received, including an end-of-contents marker for indefinite lengths.
    public let encoding: ArraySlice<UInt8>
    /// Primitive: the value. Constructed: the children's encodings (without an end-of-contents marker).
    public let contents: ArraySlice<UInt8>
    public let children: [DERNode]
    /// True when the length octets were the BER indefinite form.
    public let isIndefiniteLength: Bool

    public var isConstructed: Bool { identifier & DER.Tag.constructedBit != 0 }
    public var bytes: [UInt8] { Array(encoding) }

    /// Parses exactly one element that spans all of `input`.
    /// - Throws: a `der*` code: truncated input, bad or oversized lengths, trailing bytes, too deep.
    public init(parsing input: [UInt8], limits: DERLimits = .ber) throws(SCEPError) {
        guard input.count <= limits.maxSize else {
            throw SCEPError(.derSizeExceeded, "DER input of " + String(input.count) + " bytes exceeds the limit of " + String(limits.maxSize))
        }
        var parser = DERParser(input: input, limits: limits)
        let (node, end) = try parser.parseElement(from: 0, limit: input.count, depth: 1)
        guard end == input.count else {
            throw SCEPError(.derTrailingBytes, String(input.count - end) + " trailing bytes after the DER element")
        }
        self = node
    }

    init(identifier: UInt8, encoding: ArraySlice<UInt8>, contents: ArraySlice<UInt8>, children: [DERNode], isIndefiniteLength: Bool) {
        self.identifier = identifier
        self.encoding = encoding
        self.contents = contents
        self.children = children
        self.isIndefiniteLength = isIndefiniteLength
    }

    /// Re-encodes the tree as DER (definite minimal lengths). Equal to `encoding` for DER input.
    public func serialized() -> [UInt8] {
        if isConstructed { return DER.tlv(identifier, children.flatMap { $0.serialized() }) }
        return DER.tlv(identifier, Array(contents))
    }
}

private struct DERParser {
    let input: [UInt8]
    let limits: DERLimits
    var nodeCount = 0

    init(input: [UInt8], limits: DERLimits) {
        self.input = input
        self.limits = limits
    }

    /// Parses one TLV starting at `start`, not reading past `limit`; returns it and the index after it.
    mutating func parseElement(from start: Int, limit: Int, depth: Int) throws(SCEPError) -> (DERNode, Int) {
        guard depth <= limits.maxDepth else {
            throw SCEPError(.derDepthExceeded, "DER nesting deeper than " + String(limits.maxDepth) + " levels at offset " + String(start))
        }
        nodeCount += 1
        guard nodeCount <= limits.maxNodes else {
            throw SCEPError(.derSizeExceeded, "DER input has more than " + String(limits.maxNodes) + " elements")
        }
        guard start < limit else { throw truncated(start) }
        let identifier = input[start]
        guard identifier & 0x1F != 0x1F else {
            throw SCEPError(.derBadTag, "DER high tag numbers are not supported (offset " + String(start) + ")")
        }
        guard start + 1 < limit else { throw truncated(start + 1) }
        let constructed = identifier & DER.Tag.constructedBit != 0
        let first = input[start + 1]
        var cursor = start + 2

        if first == 0x80 {
            guard !limits.strictDER else {
                throw SCEPError(.derBadLength, "indefinite length is not DER (offset " + String(start + 1) + ")")
            }
            guard constructed else {
                throw SCEPError(.derBadLength, "indefinite length on a primitive element (offset " + String(start + 1) + ")")
            }
            var children: [DERNode] = []
            while true {
                guard cursor + 1 < limit else { throw truncated(cursor) }
                if input[cursor] == 0 && input[cursor + 1] == 0 {
                    let node = DERNode(
                        identifier: identifier, encoding: input[start..<cursor + 2], contents: input[start + 2..<cursor],
                        children: children, isIndefiniteLength: true)
                    return (node, cursor + 2)
                }
                let (child, next) = try parseElement(from: cursor, limit: limit, depth: depth + 1)
                children.append(child)
                cursor = next
            }
        }

        let length: Int
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count <= 4 else {
                throw SCEPError(.derBadLength, "DER length of " + String(count) + " octets is too long (offset " + String(start + 1) + ")")
            }
            guard cursor + count <= limit else { throw truncated(cursor) }
            var value = 0
            for index in 0..<count { value = value << 8 | Int(input[cursor + index]) }
            if limits.strictDER && (input[cursor] == 0 || value < 0x80) {
                throw SCEPError(.derNonMinimalLength, "DER length is not in minimal form (offset " + String(start + 1) + ")")
            }
            length = value
            cursor += count
        }
        guard length <= limit - cursor else {
            throw SCEPError(.derTruncated, "DER element at offset " + String(start) + " claims " + String(length) + " bytes but only " + String(limit - cursor) + " remain")
        }
        let end = cursor + length
        var children: [DERNode] = []
        if constructed {
            var childCursor = cursor
            while childCursor < end {
                let (child, next) = try parseElement(from: childCursor, limit: end, depth: depth + 1)
                children.append(child)
                childCursor = next
            }
        } else if identifier == 0 {
            throw SCEPError(.derBadTag, "unexpected end-of-contents marker at offset " + String(start))
        }
        let node = DERNode(identifier: identifier, encoding: input[start..<end], contents: input[cursor..<end], children: children, isIndefiniteLength: false)
        return (node, end)
    }

    func truncated(_ offset: Int) -> SCEPError {
        SCEPError(.derTruncated, "DER input ends early at offset " + String(offset))
    }
}

// MARK: - Typed accessors

extension DERNode {
    /// Returns self when the identifier matches, else throws `derUnexpectedTag` naming `what`.
    public func expect(_ identifier: UInt8, _ what: String) throws(SCEPError) -> DERNode {
        guard self.identifier == identifier else {
            throw SCEPError(.derUnexpectedTag, what + ": expected tag 0x" + String(identifier, radix: 16) + ", found 0x" + String(self.identifier, radix: 16))
        }
        return self
    }

    /// A reader over the children of a constructed node with the given identifier.
    public func elements(_ identifier: UInt8, _ what: String) throws(SCEPError) -> DERElements {
        DERElements(children: try expect(identifier, what).children, what: what)
    }

    /// INTEGER content octets (two's complement, as encoded).
    public func integerBytes(_ what: String) throws(SCEPError) -> [UInt8] {
        let node = try expect(DER.Tag.integer, what)
        guard !node.contents.isEmpty else { throw SCEPError(.derInvalidValue, what + ": empty INTEGER") }
        return Array(node.contents)
    }

    /// A small non-negative INTEGER (versions, counts).
    public func smallInteger(_ what: String) throws(SCEPError) -> Int {
        let octets = try integerBytes(what)
        guard octets.count <= 4, octets[0] & 0x80 == 0 else {
            throw SCEPError(.derInvalidValue, what + ": INTEGER out of range")
        }
        var value = 0
        for octet in octets { value = value << 8 | Int(octet) }
        return value
    }

    /// OBJECT IDENTIFIER in dotted form.
    public func objectIdentifier(_ what: String) throws(SCEPError) -> String {
        let node = try expect(DER.Tag.objectIdentifier, what)
        guard !node.contents.isEmpty, let last = node.contents.last, last & 0x80 == 0 else {
            throw SCEPError(.derInvalidValue, what + ": malformed OBJECT IDENTIFIER")
        }
        var arcs: [UInt64] = []
        var value: UInt64 = 0
        var octetsInArc = 0
        for octet in node.contents {
            if octetsInArc == 0 && octet == 0x80 {
                throw SCEPError(.derInvalidValue, what + ": OBJECT IDENTIFIER arc with a leading 0x80")
            }
            octetsInArc += 1
            guard octetsInArc <= 9 else { throw SCEPError(.derInvalidValue, what + ": OBJECT IDENTIFIER arc too large") }
            value = value << 7 | UInt64(octet & 0x7F)
            if octet & 0x80 == 0 {
                arcs.append(value)
                value = 0
                octetsInArc = 0
            }
        }
        let first = arcs[0]
        var text = first < 80 ? String(first / 40) + "." + String(first % 40) : "2." + String(first - 80)
        for arc in arcs.dropFirst() { text += "." + String(arc) }
        return text
    }

    /// OCTET STRING value; a BER constructed OCTET STRING (or an IMPLICIT one, any tag) is concatenated.
    /// - Parameter identifier: the expected tag; defaults to OCTET STRING.
    public func octets(_ what: String, identifier: UInt8 = DER.Tag.octetString) throws(SCEPError) -> [UInt8] {
        let primitiveTag = identifier & ~DER.Tag.constructedBit
        guard self.identifier & ~DER.Tag.constructedBit == primitiveTag else {
            throw SCEPError(.derUnexpectedTag, what + ": expected an OCTET STRING, found tag 0x" + String(self.identifier, radix: 16))
        }
        if !isConstructed { return Array(contents) }
        var out: [UInt8] = []
        for child in children {
            guard child.identifier == DER.Tag.octetString || child.identifier == DER.Tag.octetString | DER.Tag.constructedBit else {
                throw SCEPError(.derUnexpectedTag, what + ": constructed OCTET STRING holds tag 0x" + String(child.identifier, radix: 16))
            }
            out += try child.octets(what)
        }
        return out
    }

    /// BIT STRING contents without the unused-bits octet; requires whole octets.
    public func bitStringBytes(_ what: String) throws(SCEPError) -> [UInt8] {
        let node = try expect(DER.Tag.bitString, what)
        guard let unused = node.contents.first, unused == 0 else {
            throw SCEPError(.derInvalidValue, what + ": BIT STRING is empty or not whole octets")
        }
        return Array(node.contents.dropFirst())
    }

    /// Text of PrintableString, UTF8String, IA5String or T61String.
    public func text(_ what: String) throws(SCEPError) -> String {
        switch identifier {
        case DER.Tag.printableString, DER.Tag.utf8String, DER.Tag.ia5String, DER.Tag.t61String:
            return String(decoding: contents, as: UTF8.self)
        default:
            throw SCEPError(.derUnexpectedTag, what + ": expected a string, found tag 0x" + String(identifier, radix: 16))
        }
    }
}

/// Walks the children of a SEQUENCE (or SET) in order, with optional and context-tagged fields.
public struct DERElements {
    public let children: [DERNode]
    public let what: String
    public private(set) var index = 0

    public init(children: [DERNode], what: String) {
        self.children = children
        self.what = what
    }

    public var isAtEnd: Bool { index >= children.count }

    /// The next element, whatever its tag.
    public mutating func next(_ field: String) throws(SCEPError) -> DERNode {
        guard index < children.count else {
            throw SCEPError(.derTruncated, what + ": missing " + field)
        }
        index += 1
        return children[index - 1]
    }

    /// The next element, which must carry `identifier`.
    public mutating func next(_ identifier: UInt8, _ field: String) throws(SCEPError) -> DERNode {
        try next(field).expect(identifier, what + "." + field)
    }

    /// The next element if it carries `identifier`, else nil (not consumed).
    public mutating func optional(_ identifier: UInt8) -> DERNode? {
        guard index < children.count, children[index].identifier == identifier else { return nil }
        index += 1
        return children[index - 1]
    }

    /// Throws when elements remain that the structure does not define.
    public func finish() throws(SCEPError) {
        guard index == children.count else {
            throw SCEPError(.derTrailingBytes, what + ": " + String(children.count - index) + " unexpected trailing elements")
        }
    }
}
