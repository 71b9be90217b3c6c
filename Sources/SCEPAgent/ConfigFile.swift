import DER
import SystemSupport

/// The syntax of the configuration file: `[section]` headers, `key = value` lines, `#` comments
/// (outside "double quotes"). Meaning is given by `AgentConfig`; this only splits and locates.
public struct ConfigFile {
    public struct Entry {
        public let key: String
        public let value: String
        public let line: Int
    }

    public struct Section {
        /// `agent`, `board`, or `cert` (with `name` set).
        public let kind: String
        public let name: String?
        public let line: Int
        public var entries: [Entry]

        public func value(_ key: String) -> Entry? { entries.first { $0.key == key } }
    }

    public let path: String
    public let sections: [Section]
    /// Syntax errors, in file order; each bad line is skipped (and a bad header's keys with it).
    public let problems: [SCEPError]

    /// Largest config file accepted.
    public static let maxBytes = 256 * 1024

    /// - Throws: the first syntax error.
    public init(path: String, text: [UInt8]) throws(SCEPError) {
        self.init(path: path, collecting: text)
        if let first = problems.first { throw first }
    }

    /// Parses every line, keeping what is wrong in `problems` (check-config reports them all).
    public init(path: String, collecting text: [UInt8]) {
        self.path = path
        var sections: [Section] = []
        var problems: [SCEPError] = []
        var lineNumber = 0
        // After a bad section header its keys belong to no section: skipped, not blamed on the section before.
        var skipping = false
        for rawLine in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Array(ASCII.trimmed(Self.stripComment(Array(rawLine))))
            if line.isEmpty { continue }
            if let problem = Self.parse(line, lineNumber, path, &sections, &skipping) { problems.append(problem) }
        }
        self.sections = sections
        self.problems = problems
    }

    /// One non-empty line: a header starts a section, a setting joins the current one.
    /// - Returns: what is wrong with the line, or nil.
    static func parse(_ line: [UInt8], _ lineNumber: Int, _ path: String, _ sections: inout [Section], _ skipping: inout Bool) -> SCEPError? {
        do throws(SCEPError) {
            if line.first == UInt8(ascii: "[") {
                skipping = true
                guard line.last == UInt8(ascii: "]") else {
                    throw Self.error(path, lineNumber, nil, "section header must end with ']'")
                }
                let inner = Array(ASCII.trimmed(line.dropFirst().dropLast()))
                let words = inner.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
                switch words.first {
                case "agent", "board":
                    guard words.count == 1 else { throw Self.error(path, lineNumber, nil, "[" + words[0] + "] takes no name") }
                    if sections.contains(where: { $0.kind == words[0] }) {
                        throw Self.error(path, lineNumber, nil, "[" + words[0] + "] appears twice")
                    }
                    sections.append(Section(kind: words[0], name: nil, line: lineNumber, entries: []))
                case "cert":
                    guard words.count == 2, Self.isValidName(words[1]) else {
                        throw Self.error(path, lineNumber, nil, "write [cert NAME] with a NAME of letters, digits, '-' and '_'")
                    }
                    if sections.contains(where: { $0.kind == "cert" && $0.name == words[1] }) {
                        throw Self.error(path, lineNumber, nil, "[cert " + words[1] + "] appears twice")
                    }
                    sections.append(Section(kind: "cert", name: words[1], line: lineNumber, entries: []))
                default:
                    throw Self.error(path, lineNumber, nil, "unknown section '[" + String(decoding: inner, as: UTF8.self) + "]': use [agent], [cert NAME] or [board]")
                }
                skipping = false
                return nil
            }
            if skipping { return nil }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw Self.error(path, lineNumber, nil, "expected 'key = value' or a [section]")
            }
            let key = String(decoding: ASCII.trimmed(line[..<equals]), as: UTF8.self)
            let value = String(decoding: ASCII.trimmed(line[(equals + 1)...]), as: UTF8.self)
            guard !key.isEmpty else { throw Self.error(path, lineNumber, nil, "missing key before '='") }
            guard !sections.isEmpty else {
                throw Self.error(path, lineNumber, key, "setting outside a section: put it under [agent] or [cert NAME]")
            }
            if sections[sections.count - 1].entries.contains(where: { $0.key == key }) {
                throw Self.error(path, lineNumber, key, "set twice in the same section")
            }
            sections[sections.count - 1].entries.append(Entry(key: key, value: value, line: lineNumber))
            return nil
        } catch {
            return error
        }
    }

    /// "FILE:LINE: key 'KEY': REASON" — what, where, and (in the reason) what to do.
    public static func error(_ path: String, _ line: Int, _ key: String?, _ reason: String) -> SCEPError {
        SCEPError(.config, path + ":" + String(line) + ": " + (key.map { "key '" + $0 + "': " } ?? "") + reason)
    }

    /// The LINE of an `error(path, ...)`, to put errors in file order; 0 for any other error.
    static func line(of error: SCEPError, path: String) -> Int {
        guard error.reason.hasPrefix(path + ":") else { return 0 }
        return ASCII.signed(String(decoding: error.reason.utf8.dropFirst(path.utf8.count + 1).prefix { $0 >= 48 && $0 <= 57 }, as: UTF8.self)).flatMap(Int.init(exactly:)) ?? 0
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
        }
    }

    /// Drops a `#` comment that is not inside double quotes.
    static func stripComment(_ line: [UInt8]) -> [UInt8] {
        var quoted = false
        for (index, byte) in line.enumerated() {
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            if byte == UInt8(ascii: "#") && !quoted { return Array(line[..<index]) }
        }
        return line
    }

    /// Splits a command line into argv: blanks separate, "double quotes" group (and may hold blanks),
    /// `\"` and `\\` inside quotes escape; no shell, no variables, no globbing.
    public static func splitArguments(_ text: String) -> [String]? {
        var arguments: [String] = []
        var current: [UInt8] = []
        var inArgument = false
        var quoted = false
        var escaped = false
        for byte in text.utf8 {
            if escaped {
                current.append(byte)
                escaped = false
            } else if quoted && byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                quoted.toggle()
                inArgument = true
            } else if !quoted && (byte == 32 || byte == 9) {
                if inArgument { arguments.append(String(decoding: current, as: UTF8.self)) }
                current = []
                inArgument = false
            } else {
                current.append(byte)
                inArgument = true
            }
        }
        guard !quoted, !escaped else { return nil }
        if inArgument { arguments.append(String(decoding: current, as: UTF8.self)) }
        return arguments
    }

    /// `90`, `90s`, `15m`, `6h`, `2d` → seconds; nil when malformed.
    public static func parseDuration(_ text: String) -> Int64? {
        var digits = Array(text.utf8)
        var multiplier: Int64 = 1
        if let last = digits.last, !(last >= 48 && last <= 57) {
            switch last {
            case UInt8(ascii: "s"): multiplier = 1
            case UInt8(ascii: "m"): multiplier = 60
            case UInt8(ascii: "h"): multiplier = 3600
            case UInt8(ascii: "d"): multiplier = 86_400
            default: return nil
            }
            digits.removeLast()
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let value = ASCII.signed(String(decoding: digits, as: UTF8.self)) else { return nil }
        return value * multiplier
    }

    /// A fraction such as `0.66`: digits, one optional point, no exponent; nil when malformed.
    public static func parseFraction(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 12 else { return nil }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var scale: Int64 = 1
        var seenPoint = false
        guard bytes.contains(where: { $0 >= 48 && $0 <= 57 }) else { return nil }
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { return nil }
                seenPoint = true
            } else if byte >= 48 && byte <= 57 {
                if seenPoint {
                    fraction = fraction * 10 + Int64(byte - 48)
                    scale *= 10
                } else {
                    whole = whole * 10 + Int64(byte - 48)
                }
            } else {
                return nil
            }
        }
        return Double(whole) + Double(fraction) / Double(scale)
    }
}
