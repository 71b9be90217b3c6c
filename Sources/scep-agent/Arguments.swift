import DER
import SCEPPKCS11

/// One option a subcommand accepts.
struct OptionSpec {
    let name: String
    let takesValue: Bool
    let repeatable: Bool

    static func value(_ name: String, repeatable: Bool = false) -> OptionSpec { OptionSpec(name: name, takesValue: true, repeatable: repeatable) }
    static func flag(_ name: String) -> OptionSpec { OptionSpec(name: name, takesValue: false, repeatable: false) }
}

/// Parsed options of one subcommand. `--name value` and `--name=value` are both accepted.
struct Arguments {
    let command: String
    private var values: [(name: String, value: String)] = []
    private var flags: [String] = []

    init(command: String, arguments: [String], accepted: [OptionSpec]) throws(SCEPError) {
        self.command = command
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

    func value(_ name: String) -> String? { values.first { $0.name == name }?.value }
    func all(_ name: String) -> [String] { values.filter { $0.name == name }.map { $0.value } }
    func has(_ name: String) -> Bool { flags.contains(name) || values.contains { $0.name == name } }

    func required(_ name: String) throws(SCEPError) -> String {
        guard let value = value(name) else {
            throw SCEPError(.usage, "'scep-agent " + command + "' needs " + name + "; see scep-agent " + command + " --help")
        }
        return value
    }

    /// A whole number of seconds, at least `minimum`.
    func seconds(_ name: String, default fallback: Int64, minimum: Int64 = 0) throws(SCEPError) -> Int64 {
        guard let text = value(name) else { return fallback }
        guard let number = Int64(text), number >= minimum else {
            throw SCEPError(.usage, name + " must be a whole number of seconds, at least " + String(minimum) + " (got '" + text + "')")
        }
        return number
    }
}
