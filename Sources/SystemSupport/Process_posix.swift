// The process itself: its arguments, its end, its signals and the system log. Only the executable
// calls most of these (libraries never exit); they live here so that it needs no C.
import CSCEPShim

public enum ProcessControl {
    /// argv as glibc handed it to the shim's ELF constructor (Embedded Swift has no CommandLine).
    public static func arguments() -> [String] {
        var arguments: [String] = []
        let argv = CSCEPShim_argv()
        for index in 0..<Int(CSCEPShim_argc()) {
            if let pointer = argv?[index] { arguments.append(String(cString: pointer)) }
        }
        return arguments
    }

    /// signal(SIGPIPE, SIG_IGN): a write to a closed pipe or socket then fails with EPIPE, which the
    /// caller reports, instead of killing the process (mid-install, say).
    public static func ignoreBrokenPipes() {
        CSCEPShim_signal_ignore(SIGPIPE)
    }

    /// exit(3) with `status`.
    public static func exit(_ status: Int32) -> Never {
        CSCEPShim.exit(status)
    }

    /// getpid(2).
    public static var currentID: Int32 { getpid() }

    /// kill(2) with SIGHUP, which asks a running daemon to renew now. False when it cannot be sent.
    public static func sendHangup(to pid: Int32) -> Bool {
        kill(pid, SIGHUP) == 0
    }
}

extension Log {
    /// A log whose lines go to syslog(3) under `identity`, facility daemon, with each level as the
    /// priority. openlog(3) keeps the identity's pointer, so it is a `StaticString` that lives in the
    /// binary (a String's bridged buffer dies after the call and syslog would name the agent after
    /// whatever bytes lay there).
    public static func syslog(identity: StaticString, threshold: Level) -> Log {
        openlog(UnsafeRawPointer(identity.utf8Start).assumingMemoryBound(to: CChar.self), LOG_PID, LOG_DAEMON)
        return Log(threshold: threshold) { level, message in CSCEPShim_syslog(Int32(level.rawValue), message) }
    }
}
