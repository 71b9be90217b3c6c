import DER
import Testing

struct ASCIITests {
    @Test func trimsSpacesTabsCarriageReturnsAndLineFeedsAtBothEnds() {
        #expect(ASCII.trimmed(" \t key = value \r\n") == "key = value")
        #expect(Array(ASCII.trimmed(Array("\tAES256\r".utf8))) == Array("AES256".utf8))
        #expect(ASCII.trimmed(" \t\r\n") == "")
        #expect(ASCII.trimmed("") == "")
    }

    @Test func keepsInnerBlanksAndOtherBytes() {
        #expect(ASCII.trimmed("  a \t b  ") == "a \t b")
        #expect(ASCII.trimmed("\u{0B}x\u{0C}") == "\u{0B}x\u{0C}")  // VT and FF are not blanks here
    }

    @Test func trimsASliceWithinItsBounds() {
        let line = Array("xx  mid  yy".utf8)
        #expect(Array(ASCII.trimmed(line[2..<9])) == Array("mid".utf8))
    }

    @Test func caseMappingTouchesOnlyASCIILetters() {
        #expect(ASCII.uppercased("GetNextCACert-aes256") == "GETNEXTCACERT-AES256")
        #expect(ASCII.lowercased("Content-Type: X") == "content-type: x")
        #expect(ASCII.uppercased("é@[`{") == "é@[`{")
        #expect(ASCII.lowercased("É@[`{") == "É@[`{")
    }
}
