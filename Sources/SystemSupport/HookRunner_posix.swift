import CSCEPShim

/// Runs the post-renew hook: an argv array (never a shell line), with a time limit.
///
/// The daemon blocks SIGHUP, SIGTERM and SIGINT (it takes them from a signalfd) and ignores SIGPIPE,
/// and a spawned program inherits both: the hook starts with an empty signal mask and every signal at
/// its default instead, so the timeout's SIGTERM works. It runs in a process group of its own, which
/// the timeout ends as a whole (grandchildren included), and it sees only `PATH` and the
/// `SCEP_AGENT_*` variables of `environment(for:event:)` (in SCEPAgent, which knows the config), never the daemon's NOTIFY_SOCKET,
/// WATCHDOG_USEC or proxies (docs/config.md, `post_renew`).
public enum HookRunner {
    /// The hook's PATH: fixed, since the daemon's own may name directories others can write.
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// How long the hook's group has between the timeout's SIGTERM and SIGKILL.
    static let killGraceMilliseconds: Int64 = 2000

    /// Runs `argv` with `environment` and waits up to `timeoutSeconds`; then SIGTERM to its process
    /// group, and SIGKILL to what is left of it two seconds later.
    /// - Returns: a one-line result for logs and status (`exit 0`, `exit 3`, `killed after 30 s`).
    /// - Throws: `fileIO` when the program cannot be started.
    public static func run(_ argv: [String], environment: [String], timeoutSeconds: Int64, clock: Clock) throws(SCEPError) -> (succeeded: Bool, summary: String) {
        guard let program = argv.first else { return (true, "no hook") }
        var pid = pid_t(0)
        var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var variables: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for pointer in arguments + variables { free(pointer) } }
        var attributes = posix_spawnattr_t()
        _ = posix_spawnattr_init(&attributes)
        defer { _ = posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        CSCEPShim_sigset_empty(&signals)
        _ = posix_spawnattr_setsigmask(&attributes, &signals)
        // Every bit, not sigfillset: glibc's posix_spawn leaves its internal signals (32, 33) ignored
        // in the child unless they are named here, and sigfillset/sigaddset refuse to name them.
        withUnsafeMutableBytes(of: &signals) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
        _ = posix_spawnattr_setsigdefault(&attributes, &signals)
        _ = posix_spawnattr_setpgroup(&attributes, 0)
        _ = posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let status = posix_spawn(&pid, program, nil, &attributes, &arguments, &variables)
        guard status == 0 else {
            throw SCEPError(.fileIO, "post_renew hook " + program + " could not start: " + String(cString: strerror(status)), detail: status)
        }
        let deadline = clock.monotonicMilliseconds() + timeoutSeconds * 1000
        var killDeadline: Int64? = nil
        let timedOut = "killed after " + String(timeoutSeconds) + " s"
        while true {
            var waitStatus: Int32 = 0
            let result = waitpid(pid, &waitStatus, WNOHANG)
            if result == pid {
                // After the timeout the group goes as a whole: no grandchild outlives its hook.
                if killDeadline != nil {
                    _ = kill(-pid, SIGKILL)
                    return (false, timedOut)
                }
                if CSCEPShim_WIFEXITED(waitStatus) != 0 {
                    let code = CSCEPShim_WEXITSTATUS(waitStatus)
                    return (code == 0, "exit " + String(code))
                }
                let signal = CSCEPShim_WIFSIGNALED(waitStatus) != 0 ? CSCEPShim_WTERMSIG(waitStatus) : 0
                return (false, "killed by signal " + String(signal))
            }
            if result < 0 && CSCEPShim_errno() != EINTR {
                return (false, "waitpid failed: " + String(cString: strerror(CSCEPShim_errno())))
            }
            let now = clock.monotonicMilliseconds()
            if killDeadline == nil && now >= deadline {
                _ = kill(-pid, SIGTERM)
                killDeadline = now + killGraceMilliseconds
            } else if let hard = killDeadline, now >= hard {
                _ = kill(-pid, SIGKILL)
            }
            _ = clock.sleep(milliseconds: 20)
        }
    }
}
