import CSCEPShim
import DER
import SCEPClient

/// Runs the post-renew hook: an argv array (never a shell line), with a time limit.
public enum HookRunner {
    /// Runs `argv` and waits up to `timeoutSeconds`; then SIGTERM, and SIGKILL two seconds later.
    /// - Returns: a one-line result for logs and status (`exit 0`, `exit 3`, `killed after 30 s`).
    /// - Throws: `fileIO` when the program cannot be started.
    public static func run(_ argv: [String], timeoutSeconds: Int64, clock: Clock) throws(SCEPError) -> (succeeded: Bool, summary: String) {
        guard let program = argv.first else { return (true, "no hook") }
        var pid: pid_t = 0
        var cStrings: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cStrings.append(nil)
        defer { for pointer in cStrings { free(pointer) } }
        let status = posix_spawn(&pid, program, nil, nil, cStrings, CSCEPShim_environ())
        guard status == 0 else {
            throw SCEPError(.fileIO, "post_renew hook " + program + " could not start: " + String(cString: strerror(status)), detail: status)
        }
        let deadline = clock.monotonicMilliseconds() + timeoutSeconds * 1000
        var killDeadline: Int64? = nil
        while true {
            var waitStatus: Int32 = 0
            let result = waitpid(pid, &waitStatus, WNOHANG)
            if result == pid {
                if CSCEPShim_WIFEXITED(waitStatus) != 0 {
                    let code = CSCEPShim_WEXITSTATUS(waitStatus)
                    return (code == 0, "exit " + String(code))
                }
                let signal = CSCEPShim_WIFSIGNALED(waitStatus) != 0 ? CSCEPShim_WTERMSIG(waitStatus) : 0
                return (false, killDeadline != nil ? "killed after " + String(timeoutSeconds) + " s" : "killed by signal " + String(signal))
            }
            if result < 0 && CSCEPShim_errno() != EINTR {
                return (false, "waitpid failed: " + String(cString: strerror(CSCEPShim_errno())))
            }
            let now = clock.monotonicMilliseconds()
            if killDeadline == nil && now >= deadline {
                _ = kill(pid, SIGTERM)
                killDeadline = now + 2000
            } else if let hard = killDeadline, now >= hard {
                _ = kill(pid, SIGKILL)
            }
            _ = clock.sleep(milliseconds: 20)
        }
    }
}
