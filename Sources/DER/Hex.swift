import SystemSupport

/// Lowercase hex, and parsing of hex with optional colons (fingerprints).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8], separator: String = "") -> String {
        var out = ""
        for (index, byte) in bytes.enumerated() {
            if index > 0 { out += separator }
            out += String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
        }
        return out
    }

    public static func encodeUpper(_ bytes: [UInt8]) -> String {
        ASCII.uppercased(encode(bytes))
    }

    /// Parses hex digits, ignoring colons and blanks; nil on any other character or an odd count.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var high: UInt8? = nil
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: ":"), UInt8(ascii: " "): continue
            default: return nil
            }
            if let first = high {
                out.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return high == nil ? out : nil
    }
}
