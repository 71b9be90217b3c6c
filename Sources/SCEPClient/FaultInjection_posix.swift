import CSCEPShim

/// Named points where the crash tests kill the process (SIGKILL, like a power cut): with
/// `SCEP_AGENT_FAULT=NAME` set, reaching point NAME ends the process at once. Unset, a point costs
/// one getenv. The names are listed by `SCEP_AGENT_FAULT=list` (each point prints as it passes).
public enum FaultInjection {
    public static func point(_ name: String) {
        guard let wanted = getenv("SCEP_AGENT_FAULT") else { return }
        let target = String(cString: wanted)
        if target == "list" {
            var line = Array(("fault point: " + name + "\n").utf8)
            _ = write(2, &line, line.count)
        } else if target == name {
            _ = kill(getpid(), SIGKILL)
        }
    }
}
