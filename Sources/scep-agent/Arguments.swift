import DER
import SCEPPKCS11
import SystemSupport

/// One option of a command, as dispatch accepts it and `--help` documents it (`CommandTable`).
struct Option {
    let name: String
    /// What the value is called in help ("FILE", "URL"); nil for a flag.
    let valueName: String?
    /// The help line; further lines after "\n".
    let help: String
    /// The value when the option is not given: what `Arguments.value` returns, and what help shows.
    var defaultValue: String? = nil
    var repeatable = false

    var takesValue: Bool { valueName != nil }

    static func value(_ name: String, _ valueName: String, _ help: String, default defaultValue: String? = nil, repeatable: Bool = false) -> Option {
        Option(name: name, valueName: valueName, help: help, defaultValue: defaultValue, repeatable: repeatable)
    }
    static func flag(_ name: String, _ help: String) -> Option { Option(name: name, valueName: nil, help: help) }
}

/// Parsed options of one subcommand. `--name value` and `--name=value` are both accepted.
struct Arguments {
    let command: String
    private let accepted: [Option]
    private var values: [(name: String, value: String)] = []
    private var flags: [String] = []

    init(command: String, arguments: [String], accepted: [Option]) throws(SCEPError) {
        self.command = command
        self.accepted = accepted
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            var name = argument
            var inline: String? = nil
            if let equals = argument.utf8.firstIndex(of: UInt8(ascii: "=")), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                inline = String(argument[argument.utf8.index(after: equals)...])
            }
            guard let spec = accepted.first(where: { $0.name == name }) else {
                if !argument.hasPrefix("-") {
                    // A stray argument may be a key URI with its PIN.
                    throw SCEPError(.usage, "unexpected argument '" + PKCS11URI.redacted(argument) + "' for 'scep-agent " + command + "'; see scep-agent " + command + " --help")
                }
                throw SCEPError(.usage, "unknown option " + name + " for 'scep-agent " + command + "'; see scep-agent " + command + " --help")
            }
            if spec.takesValue {
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard index < arguments.count else { throw SCEPError(.usage, name + " needs a value; see scep-agent " + command + " --help") }
                    value = arguments[index]
                    index += 1
                }
                if !spec.repeatable && values.contains(where: { $0.name == name }) {
                    throw SCEPError(.usage, name + " given twice for 'scep-agent " + command + "'")
                }
                values.append((name, value))
            } else {
                guard inline == nil else { throw SCEPError(.usage, name + " takes no value") }
                flags.append(name)
            }
        }
    }

    /// The value given, else the option's default.
    func value(_ name: String) -> String? {
        values.first { $0.name == name }?.value ?? accepted.first { $0.name == name }?.defaultValue
    }
    func all(_ name: String) -> [String] { values.filter { $0.name == name }.map { $0.value } }
    func has(_ name: String) -> Bool { flags.contains(name) || values.contains { $0.name == name } }

    func required(_ name: String) throws(SCEPError) -> String {
        guard let value = value(name) else {
            throw SCEPError(.usage, "'scep-agent " + command + "' needs " + name + "; see scep-agent " + command + " --help")
        }
        return value
    }

    /// A whole number of seconds, at least `minimum`; the option's default when not given; nil when the
    /// command does not take the option.
    func seconds(_ name: String, minimum: Int64 = 0) throws(SCEPError) -> Int64? {
        guard let text = value(name) else { return nil }
        guard let number = ASCII.signed(text), number >= minimum else {
            throw SCEPError(.usage, name + " must be a whole number of seconds, at least " + String(minimum) + " (got '" + text + "')")
        }
        return number
    }
}
