import CSCEPShim

/// The real clock: clock_gettime(CLOCK_REALTIME / CLOCK_MONOTONIC) and nanosleep.
public final class SystemClock: Clock {
    public init() {}

    public func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec)
    }

    public func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// nanosleep; an EINTR ends the wait early and returns false so a signal can be acted on.
    public func sleep(milliseconds: Int64) -> Bool {
        guard milliseconds > 0 else { return true }
        var request = timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        return nanosleep(&request, &remaining) == 0
    }
}
