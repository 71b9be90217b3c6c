import CSCEPShim

/// Waits for time to pass or for SIGHUP, SIGTERM or SIGINT, whichever comes first, with the signals
/// blocked and taken synchronously (sigtimedwait): no handlers, no periodic wake-ups, zero CPU idle.
public final class SignalWaiter {
    public enum Event: Equatable, Sendable { case timeout, reload, stop }
    private var set = sigset_t()

    /// Blocks the signals for the whole process; create it before any thread starts.
    public init() {
        CSCEPShim_sigset_empty(&set)
        CSCEPShim_sigset_add(&set, SIGHUP)
        CSCEPShim_sigset_add(&set, SIGTERM)
        CSCEPShim_sigset_add(&set, SIGINT)
        _ = pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits up to `milliseconds` (nil: until a signal), having given back what the wait does not need
    /// (`IdleMemory`).
    public func wait(milliseconds: Int64?) -> Event {
        IdleMemory.release()
        while true {
            var info = siginfo_t()
            let signal: Int32
            if let milliseconds {
                let clamped = max(milliseconds, 0)
                var timeout = timespec(tv_sec: Int(clamped / 1000), tv_nsec: Int(clamped % 1000) * 1_000_000)
                signal = sigtimedwait(&set, &info, &timeout)
            } else {
                signal = sigwaitinfo(&set, &info)
            }
            if signal == SIGHUP { return .reload }
            if signal == SIGTERM || signal == SIGINT { return .stop }
            if signal < 0 && CSCEPShim_errno() == EAGAIN { return .timeout }
            // EINTR (another signal) : wait again with the same limit.
        }
    }
}
