import CSCEPShim

/// Named points where the crash tests kill the process (SIGKILL, like a power cut): with
/// `SCEP_AGENT_FAULT=NAME` set, reaching point NAME ends the process at once; with `NAME@N`, the N-th
/// time it is reached (a daemon passes some points at start-up before the renewal under test). Unset,
/// a point costs one getenv. `SCEP_AGENT_FAULT=list` prints each point as it passes. It lives in
/// SystemSupport, below every module that has a point (SCEPPKCS11 and SCEPClient included).
public enum FaultInjection {
    nonisolated(unsafe) static var passes = 0
    nonisolated(unsafe) static var failures = 0

    /// True (with errno EIO) when `SCEP_AGENT_FAULT=eio:NAME` asks the operation at point NAME to
    /// fail as a disk error would: every time, or with `eio:NAME@N` its first N times. The file-system
    /// fault tests use it where no real device can be made to fail on cue (one rename of a set).
    public static func fails(_ name: String) -> Bool {
        guard let target = Syscall.environment("SCEP_AGENT_FAULT") else { return false }
        let prefix = "eio:" + name
        guard target == prefix || target.hasPrefix(prefix + "@") else { return false }
        if target != prefix, let count = ASCII.signed(String(decoding: target.utf8.dropFirst(prefix.utf8.count + 1), as: UTF8.self)), failures >= count { return false }
        failures += 1
        CSCEPShim_set_errno(EIO)
        return true
    }

    public static func point(_ name: String) {
        guard let target = Syscall.environment("SCEP_AGENT_FAULT") else { return }
        if target == "list" {
            var line = Array(("fault point: " + name + "\n").utf8)
            _ = write(2, &line, line.count)
        } else if target == name {
            _ = kill(getpid(), SIGKILL)
        } else if target.hasPrefix(name + "@"), let count = ASCII.signed(String(decoding: target.utf8.dropFirst(name.utf8.count + 1), as: UTF8.self)) {
            passes += 1
            if passes >= count { _ = kill(getpid(), SIGKILL) }
        }
    }
}
