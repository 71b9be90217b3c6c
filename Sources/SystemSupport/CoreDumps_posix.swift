import CSCEPShim

/// Core dumps would write the challenge password, a token PIN and private keys to disk (or hand them
/// to a core_pattern pipe such as systemd-coredump, which RLIMIT_CORE alone does not stop).
public enum CoreDumps {
    /// Turns core dumps off for this process and what it starts: RLIMIT_CORE 0 (soft and hard), and
    /// PR_SET_DUMPABLE 0, which also keeps other processes of the same user from ptrace and from
    /// reading /proc/PID/mem. Called at process start, before any secret is read. Neither call can
    /// fail for any process (lowering a limit and giving up dumpability need no privilege).
    public static func disable() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
        _ = CSCEPShim_prctl(PR_SET_DUMPABLE, 0)
    }
}
