/// ASCII text helpers shared by every module. They work byte by byte, so they behave the same in
/// Embedded Swift (no Foundation, no Unicode tables) and never fold non-ASCII letters.
public enum ASCII {
    /// Space, tab, CR and LF: what surrounds a value in config files, headers, PEM and GetCACaps lines.
    public static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
    }

    /// The bytes without leading and trailing blanks.
    public static func trimmed<Bytes: BidirectionalCollection>(_ bytes: Bytes) -> Bytes.SubSequence where Bytes.Element == UInt8 {
        var slice = bytes[...]
        while let first = slice.first, isBlank(first) { slice = slice.dropFirst() }
        while let last = slice.last, isBlank(last) { slice = slice.dropLast() }
        return slice
    }

    /// The text without leading and trailing blanks.
    public static func trimmed(_ text: some StringProtocol) -> String {
        String(decoding: trimmed(Array(text.utf8)), as: UTF8.self)
    }

    public static func lowercased(_ text: some StringProtocol) -> String {
        String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    public static func uppercased(_ text: some StringProtocol) -> String {
        String(decoding: text.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    /// A whole number as Swift's `Int64(_:radix:)` reads it (an optional `+` or `-`, then digits of the
    /// radix in either case, nil on anything else or on overflow). Every module parses numbers here, so
    /// the firmware carries one parser instead of a generic one per integer and string type.
    public static func signed(_ text: String, radix: Int = 10) -> Int64? {
        guard let (negative, magnitude) = integer(text, radix: UInt64(radix)) else { return nil }
        guard negative else { return Int64(exactly: magnitude) }
        return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
    }

    /// A whole number as Swift's `UInt64(_:radix:)` reads it (`-0` is 0, any other negative is nil).
    public static func unsigned(_ text: String, radix: Int = 10) -> UInt64? {
        guard let (negative, magnitude) = integer(text, radix: UInt64(radix)) else { return nil }
        return negative && magnitude != 0 ? nil : magnitude
    }

    private static func integer(_ text: String, radix: UInt64) -> (negative: Bool, magnitude: UInt64)? {
        var digits = text.utf8[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for byte in digits {
            let digit: UInt64
            switch byte {
            case 0x30...0x39: digit = UInt64(byte - 0x30)
            case 0x41...0x5A: digit = UInt64(byte - 0x41 + 10)
            case 0x61...0x7A: digit = UInt64(byte - 0x61 + 10)
            default: return nil
            }
            let (shifted, overflowed) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, carried) = shifted.addingReportingOverflow(digit)
            guard digit < radix, !overflowed, !carried else { return nil }
            magnitude = sum
        }
        return (negative, magnitude)
    }

    /// How many bytes of one piece of server text (an error body, a failInfoText, a certificate's
    /// subject) a message quotes.
    public static let quotedTextLimit = 200
    /// The longest line a log writer, sd_notify or a state file writes (their own belt: whatever a
    /// caller passes, it leaves as one bounded line).
    public static let lineLimit = 4096

    /// Any bytes as text that is safe in a log line, the journal, syslog, sd_notify, a state file and a
    /// terminal: printable ASCII (0x20-0x7E) stays, line ends and tabs become `\n`, `\r`, `\t`, every
    /// other byte (controls, ESC, DEL, all of non-ASCII UTF-8) becomes `\xNN`; after `limit` input bytes
    /// the rest is cut and `...` follows. A backslash stays as it is, so the output of this function
    /// passes through it again unchanged (a log line that quotes sanitized server text is not escaped twice).
    /// - Parameters:
    ///   - bytes: the untrusted bytes (for example a server's reply, or text built from one).
    ///   - limit: how many input bytes to show at most.
    /// - Returns: one line of printable ASCII.
    public static func printable(_ bytes: some Sequence<UInt8>, limit: Int = quotedTextLimit) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        var count = 0
        for byte in bytes {
            if count == limit {
                out += Array("...".utf8)
                break
            }
            count += 1
            switch byte {
            case 0x20...0x7E: out.append(byte)
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            default: out += [0x5C, UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `printable(_:limit:)` of the text's UTF-8 bytes.
    public static func printable(_ text: some StringProtocol, limit: Int = quotedTextLimit) -> String {
        printable(text.utf8, limit: limit)
    }
}
