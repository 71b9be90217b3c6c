import CSCEPShim
import DER
import SCEPAgent

/// argv from the shim's ELF constructor (Embedded Swift has no CommandLine).
func commandLineArguments() -> [String] {
    var arguments: [String] = []
    let argv = CSCEPShim_argv()
    for index in 0..<Int(CSCEPShim_argc()) {
        if let pointer = argv?[index] { arguments.append(String(cString: pointer)) }
    }
    return arguments
}

/// Runs one command and returns the process exit code. The only place that decides exit codes.
func runCommand(_ all: [String]) -> Int32 {
    // A closed pipe must surface as a write error, not kill the process mid-install.
    CSCEPShim_signal_ignore(SIGPIPE)
    // Before any command reads a challenge, a PIN or a key.
    CoreDumps.disable()
    let arguments = Array(all.dropFirst())
    guard let command = arguments.first else {
        Console.err(Help.overview)
        return ExitCode.usage.rawValue
    }
    let rest = Array(arguments.dropFirst())
    if command == "--help" || command == "-h" || command == "help" {
        if let topic = rest.first {
            guard let text = Help.text(for: topic) else {
                Console.err("scep-agent: no command '" + topic + "'")
                return ExitCode.usage.rawValue
            }
            Console.out(text)
        } else {
            Console.out(Help.overview)
        }
        return ExitCode.ok.rawValue
    }
    if command == "version" || command == "--version" {
        Console.out("scep-agent " + Help.version)
        return ExitCode.ok.rawValue
    }
    if rest.contains("--help") || rest.contains("-h"), let text = Help.text(for: command) {
        Console.out(text)
        return ExitCode.ok.rawValue
    }
    let handler: (([String]) throws(SCEPError) -> Void)?
    switch command {
    case "enroll": handler = Commands.enroll
    case "renew": handler = Commands.renew
    case "getcaps": handler = Commands.getcaps
    case "getca": handler = Commands.getca
    case "getnextca": handler = Commands.getnextca
    case "getcert": handler = Commands.getcert
    case "getcrl": handler = Commands.getcrl
    case "csr": handler = Commands.csr
    case "run": handler = DaemonCommands.run
    case "status": handler = DaemonCommands.status
    case "check-config": handler = DaemonCommands.checkConfig
    case "renew-now": handler = DaemonCommands.renewNow
    case "wpa-config": handler = DaemonCommands.wpaConfig
    default: handler = nil
    }
    guard let handler else {
        Console.err("scep-agent: unknown command '" + command + "'; see scep-agent --help")
        return ExitCode.usage.rawValue
    }
    do throws(SCEPError) {
        try handler(rest)
        return ExitCode.ok.rawValue
    } catch {
        let code = ExitCode(for: error)
        // One line of printable ASCII, like every log line: the reason may quote a server.
        Console.err("scep-agent: error: " + ASCII.printable(error.description, limit: ASCII.lineLimit))
        if rest.contains("--json") { Commands.reportFailure(error, code: code) }
        return code.rawValue
    }
}

// Start-up is over: the dynamic linker has bound every symbol (-z now), so its code and the symbol tables it
// read leave the resident set before the work starts (IdleMemory: about 0.4 MB of one enrollment's peak).
IdleMemory.release()
exit(runCommand(commandLineArguments()))
