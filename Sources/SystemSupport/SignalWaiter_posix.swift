import CSCEPShim

/// Waits for a wall-clock time, a clock change or SIGHUP, SIGTERM or SIGINT, whichever comes first:
/// the signals blocked and read from a signalfd, the time from a timerfd on CLOCK_REALTIME with an
/// absolute expiry, both in one poll(2). No handlers, no periodic wake-ups: zero CPU while idle.
///
/// Why the wall clock: a certificate's notAfter is a wall-clock time. A relative wait on the monotonic
/// clock stops during a suspend and ignores a clock step (NTP correcting a wrong RTC), so a renewal
/// could slip by months; an absolute CLOCK_REALTIME timer fires at the due time across a suspend, and
/// TFD_TIMER_CANCEL_ON_SET wakes the wait whenever the clock is set, so the daemon plans again.
public final class SignalWaiter {
    public enum Event: Equatable, Sendable { case timeout, clockChanged, reload, stop }
    private var set = sigset_t()
    private let signalFD: Int32
    private let timerFD: Int32
    /// How long a wait without its own limit lasts if the timer cannot be armed.
    private let fallbackWaitMilliseconds: Int64

    /// Blocks the signals for the whole process; create it before any thread starts.
    /// - Parameter fallbackWaitMilliseconds: how long a wait without its own limit lasts if the
    ///   timer cannot be armed (the caller's longest sleep).
    /// - Throws: `fileIO` when the kernel refuses a signalfd or timerfd (Linux before 2.6.27).
    public init(fallbackWaitMilliseconds: Int64) throws(SCEPError) {
        self.fallbackWaitMilliseconds = fallbackWaitMilliseconds
        CSCEPShim_sigset_empty(&set)
        CSCEPShim_sigset_add(&set, SIGHUP)
        CSCEPShim_sigset_add(&set, SIGTERM)
        CSCEPShim_sigset_add(&set, SIGINT)
        _ = pthread_sigmask(SIG_BLOCK, &set, nil)
        signalFD = signalfd(-1, &set, Int32(SFD_CLOEXEC))
        timerFD = timerfd_create(CLOCK_REALTIME, Int32(TFD_CLOEXEC))
        guard signalFD >= 0, timerFD >= 0 else {
            throw SCEPError(.fileIO, (signalFD < 0 ? "signalfd" : "timerfd_create") + ": " + String(cString: strerror(CSCEPShim_errno())), detail: CSCEPShim_errno())
        }
    }

    deinit {
        _ = close(signalFD)
        _ = close(timerFD)
    }

    /// Waits until the wall clock reads `deadline` (Unix seconds; already past: at once), the clock is
    /// set, a signal comes, or `milliseconds` pass on the monotonic clock (nil: no such limit; the
    /// systemd watchdog's interval). First gives back what the wait does not need (`IdleMemory`).
    public func wait(until deadline: Int64, milliseconds: Int64? = nil) -> Event {
        IdleMemory.release()
        // it_value 0 would disarm the timer: a deadline in the past is the earliest nonzero time.
        var expiry = itimerspec()
        expiry.it_value.tv_sec = Int(max(deadline, 1))
        guard timerfd_settime(timerFD, Int32(TFD_TIMER_ABSTIME) | Int32(TFD_TIMER_CANCEL_ON_SET), &expiry, nil) == 0 else {
            // Cannot happen with a valid descriptor and time; do not spin: a monotonic wait instead.
            return wait(descriptors: false, milliseconds: milliseconds ?? fallbackWaitMilliseconds)
        }
        return wait(descriptors: true, milliseconds: milliseconds)
    }

    private func wait(descriptors withTimer: Bool, milliseconds: Int64?) -> Event {
        while true {
            var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0), pollfd(fd: timerFD, events: Int16(POLLIN), revents: 0)]
            let timeout = milliseconds.map { Int32(clamping: max($0, 0)) } ?? -1
            let ready = poll(&fds, withTimer ? 2 : 1, timeout)
            if ready < 0 && CSCEPShim_errno() == EINTR { continue }
            if ready <= 0 { return .timeout }
            if fds[0].revents & Int16(POLLIN) != 0 {
                var info = signalfd_siginfo()
                let count = read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size)
                if count == MemoryLayout<signalfd_siginfo>.size {
                    if info.ssi_signo == UInt32(SIGHUP) { return .reload }
                    if info.ssi_signo == UInt32(SIGTERM) || info.ssi_signo == UInt32(SIGINT) { return .stop }
                }
                continue
            }
            var expirations: UInt64 = 0
            if read(timerFD, &expirations, 8) < 0 && CSCEPShim_errno() == ECANCELED { return .clockChanged }
            return .timeout
        }
    }
}
