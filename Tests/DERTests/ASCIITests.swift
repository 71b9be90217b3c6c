import DER
import SystemSupport
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

    /// Every byte value, alone: printable ASCII stays, line ends and tab get their C escapes, every
    /// other byte (controls, ESC, DEL, each byte of non-ASCII) is `\xNN`.
    @Test func printableEscapesEveryByteThatIsNotPrintableASCII() {
        for value in 0...255 {
            let byte = UInt8(value)
            let shown = ASCII.printable([byte])
            let expected: String
            switch byte {
            case 0x20...0x7E: expected = String(decoding: [byte], as: UTF8.self)
            case 0x0A: expected = "\\n"
            case 0x0D: expected = "\\r"
            case 0x09: expected = "\\t"
            default:
                let hex = String(byte, radix: 16)
                expected = "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
            #expect(shown == expected, "byte \(value)")
            #expect(shown.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "byte \(value)")
        }
    }

    @Test func printableOfAllBytesTogetherIsOneLineAndPassesThroughAgainUnchanged() {
        let all = (0...255).map { UInt8($0) }
        let shown = ASCII.printable(all, limit: 256)
        #expect(shown.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        #expect(ASCII.printable(shown, limit: ASCII.lineLimit) == shown, "sanitized text is not escaped twice")
    }

    @Test func printableShowsAForgedJournalLineAsText() {
        let forged = "x\n<0>FORGED\nWATCHDOG=trigger\u{1B}[2J \u{202E}"
        #expect(ASCII.printable(forged) == "x\\n<0>FORGED\\nWATCHDOG=trigger\\x1b[2J \\xe2\\x80\\xae")
    }

    @Test func printableCutsAfterTheLimit() {
        #expect(ASCII.printable(Array(repeating: UInt8(ascii: "a"), count: ASCII.quotedTextLimit + 1))
            == String(repeating: "a", count: ASCII.quotedTextLimit) + "...")
        #expect(ASCII.printable("abc", limit: 3) == "abc")
        #expect(ASCII.printable("abcd", limit: 3) == "abc...")
        #expect(ASCII.printable("", limit: 0) == "")
    }

    /// The one parser replaced `Int64(_:radix:)` and `UInt64(_:radix:)` everywhere: it must read what
    /// they read and refuse what they refuse, hostile state files and proc lines included.
    @Test func integersReadAsTheStandardLibraryReadsThem() {
        let texts = ["0", "42", "+42", "-42", "-0", "+", "-", "", " 1", "1 ", "1_000", "0x10", "１２", "4\u{0}2",
                     "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                     "18446744073709551615", "18446744073709551616", "99999999999999999999999", "0640", "0789",
                     "ffffffffff600000", "FFFFFFFFFFFFFFFF", "10000000000000000", "fg", "zz", "Zz", "7fffffffffffffff"]
        for text in texts {
            for radix in [8, 10, 16, 36] {
                #expect(ASCII.signed(text, radix: radix) == Int64(text, radix: radix), "signed \(text) radix \(radix)")
                #expect(ASCII.unsigned(text, radix: radix) == UInt64(text, radix: radix), "unsigned \(text) radix \(radix)")
            }
        }
    }
}
