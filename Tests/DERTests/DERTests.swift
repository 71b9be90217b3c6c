import SystemSupport
import Testing
import TestSupport
@testable import DER

/// A small certificate-shaped structure exercising most tags.
private let sample: [UInt8] = DER.sequence([
    DER.integer(2),
    DER.unsignedInteger([0x80, 0x01]),
    DER.oid("1.2.840.113549.1.1.11"),
    DER.null(),
    DER.octetString(Array(repeating: 0xAB, count: 200)),
    DER.explicit(0, [DER.utf8String("gw-0042")]),
    DER.implicit(1, DER.ia5String("gw.example.net")),
    DER.setOf([DER.printableString("b"), DER.printableString("a")]),
    DER.bitString([1, 2, 3]),
    DER.boolean(true),
    DER.time(unixSeconds: 1_795_000_000),
])

@Suite struct DERWriterTests {
    @Test func minimalLengths() {
        #expect(DER.lengthOctets(0) == [0])
        #expect(DER.lengthOctets(127) == [127])
        #expect(DER.lengthOctets(128) == [0x81, 0x80])
        #expect(DER.lengthOctets(256) == [0x82, 0x01, 0x00])
    }

    @Test func integersAreMinimalAndPositive() {
        #expect(DER.integer(0) == [0x02, 0x01, 0x00])
        #expect(DER.integer(127) == [0x02, 0x01, 0x7F])
        #expect(DER.integer(128) == [0x02, 0x02, 0x00, 0x80])
        #expect(DER.unsignedInteger([0x00, 0x00, 0x05]) == [0x02, 0x01, 0x05])
    }

    @Test func setOfIsSortedByEncoding() {
        let set = DER.setOf([[0x04, 0x01, 0x02], [0x02, 0x01, 0x09], [0x04, 0x01, 0x01]])
        #expect(set == [0x31, 0x09, 0x02, 0x01, 0x09, 0x04, 0x01, 0x01, 0x04, 0x01, 0x02])
    }

    @Test func objectIdentifierVectors() throws {
        #expect(DER.oid("1.2.840.113549") == [0x06, 0x06, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D])
        #expect(DER.oid("2.16.840.1.113733.1.9.7") == [0x06, 0x0A, 0x60, 0x86, 0x48, 0x01, 0x86, 0xF8, 0x45, 0x01, 0x09, 0x07])
        for oid in ["1.2.840.113549.1.9.7", "2.5.29.17", "2.999.3", "0.9.2342.19200300.100.1.25"] {
            #expect(try DERNode(parsing: DER.oid(oid)).objectIdentifier("oid") == oid)
        }
    }

    @Test func namedBitStringDropsTrailingZeroBits() {
        // keyUsage digitalSignature|keyEncipherment = 1010 0000: five unused bits.
        #expect(DER.namedBitString([0xA0]) == [0x03, 0x02, 0x05, 0xA0])
        #expect(DER.namedBitString([0x80, 0x00]) == [0x03, 0x02, 0x07, 0x80])
    }

    @Test func timeUsesUTCTimeBefore2050AndGeneralizedTimeAfter() {
        #expect(DER.time(unixSeconds: 0) == DER.tlv(DER.Tag.utcTime, Array("700101000000Z".utf8)))
        #expect(DER.time(unixSeconds: 2_524_608_000) == DER.tlv(DER.Tag.generalizedTime, Array("20500101000000Z".utf8)))
    }

    @Test func civilTimeRoundTrips() {
        for seconds: Int64 in [0, 951_782_400, 1_795_000_000, 4_102_444_800, -86_400] {
            #expect(CivilTime(unixSeconds: seconds).unixSeconds == seconds)
        }
        #expect(CivilTime(unixSeconds: 951_782_400).description == "2000-02-29T00:00:00Z")
    }

    /// Calendar time to Unix time, the direction certificate validity is read in (Certificate_mbedtls).
    /// Values from `date -u -d 'YYYY-MM-DD hh:mm:ss' +%s`.
    @Test func civilDatesAroundLeapYearsAndCenturies() {
        #expect(CivilTime(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0).unixSeconds == 0)
        #expect(CivilTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59).unixSeconds == -1)
        #expect(CivilTime(year: 2000, month: 2, day: 29, hour: 12, minute: 0, second: 0).unixSeconds == 951_825_600)
        #expect(CivilTime(year: 2000, month: 3, day: 1, hour: 0, minute: 0, second: 0).unixSeconds == 951_868_800)
        #expect(CivilTime(year: 2024, month: 12, day: 31, hour: 23, minute: 59, second: 59).unixSeconds == 1_735_689_599)
        #expect(CivilTime(year: 2038, month: 1, day: 19, hour: 3, minute: 14, second: 8).unixSeconds == 2_147_483_648)
        #expect(CivilTime(year: 2100, month: 3, day: 1, hour: 0, minute: 0, second: 0).unixSeconds == 4_107_542_400)
        #expect(CivilTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59).unixSeconds == 253_402_300_799)
    }
}

@Suite struct DERReaderTests {
    @Test func roundTripReproducesTheSameBytes() throws {
        let node = try DERNode(parsing: sample, limits: .der)
        #expect(node.bytes == sample)
        #expect(node.serialized() == sample)
        #expect(node.children.count == 11)
    }

    @Test func typedAccessors() throws {
        var fields = try DERNode(parsing: sample).elements(DER.Tag.sequence, "sample")
        #expect(try fields.next("version").smallInteger("version") == 2)
        #expect(try fields.next("serial").integerBytes("serial") == [0x00, 0x80, 0x01])
        #expect(try fields.next("oid").objectIdentifier("oid") == "1.2.840.113549.1.1.11")
        _ = try fields.next(DER.Tag.null, "null")
        #expect(try fields.next("octets").octets("octets").count == 200)
        let explicit = try fields.next(DER.Tag.contextConstructed(0), "explicit")
        #expect(try explicit.children[0].text("name") == "gw-0042")
        #expect(fields.optional(DER.Tag.contextPrimitive(1)) != nil)
        #expect(fields.optional(DER.Tag.contextPrimitive(1)) == nil)
        _ = try fields.next(DER.Tag.set, "set")
        #expect(try fields.next("bits").bitStringBytes("bits") == [1, 2, 3])
        _ = try fields.next("bool")
        _ = try fields.next("time")
        try fields.finish()
    }

    @Test func dripFeedEveryTruncatedPrefixThrowsACodedError() {
        for length in 0..<sample.count {
            let prefix = Array(sample.prefix(length))
            let code = errorCode { try DERNode(parsing: prefix) }
            #expect(code == .derTruncated, "prefix of \(length) bytes")
        }
    }

    @Test func rejectTrailingBytes() {
        #expect(throws: SCEPError(.derTrailingBytes, "1 trailing bytes after the DER element")) {
            try DERNode(parsing: DER.null() + [0x00])
        }
    }

    @Test func rejectLengthBeyondInput() {
        #expect(errorCode { try DERNode(parsing: [0x04, 0x05, 0x01]) } == .derTruncated)
    }

    @Test func rejectLengthOfMoreThanFourOctets() {
        #expect(errorCode { try DERNode(parsing: [0x04, 0x85, 0, 0, 0, 0, 1, 0]) } == .derBadLength)
    }

    @Test func rejectNonMinimalLengthInStrictMode() throws {
        let padded: [UInt8] = [0x04, 0x81, 0x01, 0xAA]
        #expect(errorCode { try DERNode(parsing: padded, limits: .der) } == .derNonMinimalLength)
        #expect(try DERNode(parsing: padded, limits: .ber).octets("x") == [0xAA])
    }

    @Test func rejectIndefiniteLengthOnPrimitive() {
        #expect(errorCode { try DERNode(parsing: [0x04, 0x80, 0x00, 0x00]) } == .derBadLength)
    }

    @Test func rejectIndefiniteLengthInStrictMode() {
        #expect(errorCode { try DERNode(parsing: [0x30, 0x80, 0x05, 0x00, 0x00, 0x00], limits: .der) } == .derBadLength)
    }

    @Test func rejectDepthBeyondLimit() {
        var nested = DER.null()
        for _ in 0..<40 { nested = DER.sequence([nested]) }
        #expect(errorCode { try DERNode(parsing: nested) } == .derDepthExceeded)
        #expect(throws: Never.self) { try DERNode(parsing: nested, limits: DERLimits(maxDepth: 64)) }
    }

    @Test func rejectInputOverSizeLimit() {
        let big = DER.octetString(Array(repeating: 0, count: 2000))
        #expect(errorCode { try DERNode(parsing: big, limits: DERLimits(maxSize: 1000)) } == .derSizeExceeded)
    }

    @Test func rejectHighTagNumbers() {
        #expect(errorCode { try DERNode(parsing: [0x1F, 0x81, 0x00, 0x00]) } == .derBadTag)
    }

    @Test func rejectStrayEndOfContents() {
        #expect(errorCode { try DERNode(parsing: [0x30, 0x02, 0x00, 0x00]) } == .derBadTag)
    }

    @Test func rejectMalformedObjectIdentifier() {
        #expect(errorCode { try DERNode(parsing: [0x06, 0x02, 0x2A, 0x86]).objectIdentifier("oid") } == .derInvalidValue)
        #expect(errorCode { try DERNode(parsing: [0x06, 0x02, 0x80, 0x01]).objectIdentifier("oid") } == .derInvalidValue)
    }

    @Test func acceptBERIndefiniteLengthAndConstructedOctetString() throws {
        // [0] constructed { OCTET STRING "ab", OCTET STRING "c" } inside an indefinite SEQUENCE, as scepserver sends.
        let ber: [UInt8] = [0x30, 0x80, 0xA0, 0x80, 0x04, 0x02, 0x61, 0x62, 0x04, 0x01, 0x63, 0x00, 0x00, 0x00, 0x00]
        let node = try DERNode(parsing: ber)
        #expect(node.isIndefiniteLength)
        #expect(node.bytes == ber)
        #expect(try node.children[0].octets("content", identifier: DER.Tag.contextPrimitive(0)) == Array("abc".utf8))
        // Re-serialising turns the lengths into DER.
        #expect(node.serialized() == [0x30, 0x09, 0xA0, 0x07, 0x04, 0x02, 0x61, 0x62, 0x04, 0x01, 0x63])
    }

    @Test func dripFeedIndefiniteLengthInput() {
        let ber: [UInt8] = [0x30, 0x80, 0xA0, 0x80, 0x04, 0x02, 0x61, 0x62, 0x00, 0x00, 0x00, 0x00]
        for length in 0..<ber.count {
            #expect(errorCode { try DERNode(parsing: Array(ber.prefix(length))) } == .derTruncated)
        }
    }
}
