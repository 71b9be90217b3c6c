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
}
