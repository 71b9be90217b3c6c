import DER
import SystemSupport

/// stdout for results, stderr for diagnostics; nothing else writes to the terminal.
enum Console {
    /// All of `text` to `fd`; a failure (a closed pipe) is ignored: there is nowhere left to report it.
    static func write(_ fd: Int32, _ text: String) {
        try? Syscall.writeAll(fd, Array(text.utf8))
    }

    static func out(_ text: String) { write(1, text + "\n") }
    static func err(_ text: String) { write(2, text + "\n") }

    /// An error for a person: one line of printable ASCII, like every log line, since the reason may quote a server.
    static func report(_ error: SCEPError) {
        err("scep-agent: error: " + ASCII.printable(error.description, limit: ASCII.lineLimit))
    }

    /// A log on stderr, with progress when stderr is a terminal. Under systemd (JOURNAL_STREAM set) each line carries a `<N>` priority prefix
    /// for the journal; otherwise `scep-agent: level: message`.
    static func log(verbose: Bool, quiet: Bool) -> Log {
        let journal = Syscall.environment("JOURNAL_STREAM") != nil
        // --quiet silences progress, info and notices, never a warning: the security ones (an unpinned
        // CA, a challenge in argv, weak algorithms) are printed on every run.
        let threshold: Log.Level = quiet ? .warning : (verbose ? .debug : .notice)
        let log = Log(threshold: threshold) { level, message in
            if journal {
                err("<" + String(level.rawValue) + ">" + message)
            } else {
                err("scep-agent: " + level.description + ": " + message)
            }
        }
        log.showsProgress = !quiet && Syscall.isTerminal(2)
        return log
    }
}

/// A JSON object written by hand (no Codable in Embedded Swift); keys keep their insertion order.
struct JSONObject {
    private var members: [String] = []

    mutating func set(_ key: String, _ value: String) { members.append(Self.quote(key) + ":" + Self.quote(value)) }
    mutating func set(_ key: String, _ value: Int64) { members.append(Self.quote(key) + ":" + String(value)) }
    mutating func set(_ key: String, _ value: Bool) { members.append(Self.quote(key) + ":" + (value ? "true" : "false")) }
    mutating func set(_ key: String, _ value: JSONObject) { members.append(Self.quote(key) + ":" + value.text) }
    mutating func set(_ key: String, strings: [String]) {
        members.append(Self.quote(key) + ":[" + strings.map { Self.quote($0) }.joined(separator: ",") + "]")
    }
    mutating func set(_ key: String, objects: [JSONObject]) {
        members.append(Self.quote(key) + ":[" + objects.map { $0.text }.joined(separator: ",") + "]")
    }

    var text: String { "{" + members.joined(separator: ",") + "}" }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // Controls, and the invisible characters that reorder or break a line on a terminal.
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x200E...0x200F).contains(scalar.value)
                    || (0x2028...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
