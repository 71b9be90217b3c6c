import DER
import SCEPAgent
import SystemSupport

/// Runs one command and returns the process exit code. The only place that decides exit codes.
func runCommand(_ all: [String]) -> Int32 {
    // A closed pipe must surface as a write error, not kill the process mid-install.
    ProcessControl.ignoreBrokenPipes()
    // Before any command reads a challenge, a PIN or a key.
    CoreDumps.disable()
    let arguments = Array(all.dropFirst())
    guard let name = arguments.first else {
        Console.write(2, CommandTable.overview)
        return ExitCode.usage.rawValue
    }
    let rest = Array(arguments.dropFirst())
    if name == "--help" || name == "-h" || name == "help" {
        guard let topic = rest.first else {
            Console.write(1, CommandTable.overview)
            return ExitCode.ok.rawValue
        }
        guard let command = CommandTable.command(topic) else {
            Console.err("scep-agent: no command '" + topic + "'; see scep-agent --help")
            return ExitCode.usage.rawValue
        }
        Console.write(1, command.help)
        return ExitCode.ok.rawValue
    }
    if name == "--version" { return runCommand([all[0], "version"]) }
    guard let command = CommandTable.command(name) else {
        Console.err("scep-agent: unknown command '" + name + "'; see scep-agent --help")
        return ExitCode.usage.rawValue
    }
    if rest.contains("--help") || rest.contains("-h") {
        Console.write(1, command.help)
        return ExitCode.ok.rawValue
    }
    // --json is known before parsing, so even a usage error is reported as one JSON object.
    let json = rest.contains("--json") && command.options.contains { $0.name == "--json" }
    do throws(SCEPError) {
        try command.run(try Arguments(command: name, arguments: rest, accepted: command.options))
        return ExitCode.ok.rawValue
    } catch {
        let code = ExitCode(for: error)
        if json {
            // stdout carries the one report a script reads; the same words are not repeated on stderr.
            Commands.reportFailure(error, code: code)
        } else {
            Console.report(error)
        }
        return code.rawValue
    }
}

// Start-up is over: the dynamic linker has bound every symbol (-z now), so its code and the symbol tables it
// read leave the resident set before the work starts (IdleMemory: about 0.4 MB of one enrollment's peak).
IdleMemory.release()
ProcessControl.exit(runCommand(ProcessControl.arguments()))
