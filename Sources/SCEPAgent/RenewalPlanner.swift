/// When to act next, as pure functions of times, policy and a uniform random number in [0, 1):
/// the daemon's schedule, and what the clock-twin tests drive through years in milliseconds.
public struct RenewalPolicy: Equatable {
    /// Fraction of the lifetime after which to renew, in (0, 1).
    public var renewAt: Double
    /// Fraction of the wait over which renewals are spread (earlier, never later); 0 turns it off.
    public var jitter: Double
    public var retryMin: Int64
    public var retryMax: Int64
    public var pollMin: Int64
    public var pollMax: Int64
    /// The shortest time between two issuances of one certificate (`min_renewal_interval`); nil: 10%
    /// of its lifetime, at least an hour (`RenewalPlanner.minimumInterval`).
    public var minInterval: Int64?
    /// How long a request may stay PENDING before it is given up (`pending_max`).
    public var pendingMax: Int64

    public init(renewAt: Double = 0.66, jitter: Double = 0.1, retryMin: Int64 = 60, retryMax: Int64 = 21_600, pollMin: Int64 = 60, pollMax: Int64 = 3600,
                minInterval: Int64? = nil, pendingMax: Int64 = RenewalPlanner.defaultPendingMax) {
        self.renewAt = renewAt
        self.jitter = jitter
        self.retryMin = retryMin
        self.retryMax = retryMax
        self.pollMin = pollMin
        self.pollMax = pollMax
        self.minInterval = minInterval
        self.pendingMax = pendingMax
    }
}

public enum RenewalPlanner {
    /// `pending_max`'s default: a week for someone to approve a request by hand.
    public static let defaultPendingMax: Int64 = 7 * 86_400
    /// The least `minimumInterval` is without `min_renewal_interval`.
    public static let minimumIntervalFloor: Int64 = 3600

    /// The shortest time between two issuances of a certificate valid from `notBefore` to `notAfter`:
    /// whatever the clock or the CA says, a certificate is never renewed more often (a clock far ahead
    /// makes every new certificate due at once: without this floor the daemon renews in a loop).
    public static func minimumInterval(notBefore: Int64, notAfter: Int64, policy: RenewalPolicy) -> Int64 {
        policy.minInterval ?? max(max(notAfter - notBefore, 0) / 10, minimumIntervalFloor)
    }

    /// The renewal time of a certificate valid from `notBefore` to `notAfter`:
    /// notBefore + renewAt × lifetime, moved earlier by up to jitter × that wait.
    public static func renewalTime(notBefore: Int64, notAfter: Int64, policy: RenewalPolicy, uniform: Double) -> Int64 {
        let lifetime = Double(max(notAfter - notBefore, 0))
        let wait = lifetime * policy.renewAt
        let spread = wait * policy.jitter * clamp(uniform)
        return notBefore + Int64(wait - spread)
    }

    /// After the `failures`-th consecutive failure: retryMin × 2^(failures−1), capped at retryMax,
    /// jittered over [half, full] so a fleet that failed together does not retry together.
    public static func retryTime(now: Int64, failures: Int, policy: RenewalPolicy, uniform: Double) -> Int64 {
        now + jittered(exponential(base: policy.retryMin, step: failures, cap: policy.retryMax), uniform)
    }

    /// While PENDING, after `polls` polls: the same shape with pollMin and pollMax.
    public static func pollTime(now: Int64, polls: Int, policy: RenewalPolicy, uniform: Double) -> Int64 {
        now + jittered(exponential(base: policy.pollMin, step: polls, cap: policy.pollMax), uniform)
    }

    /// The next CA rollover check (RFC 8894 §4.7) after one at `now`. Before the successor is known: at
    /// caNotAfter − window, moved earlier by up to jitter × window so a fleet does not ask at once, and
    /// once inside the window daily (jittered over [half a day, a day]). With the successor known: when the
    /// CA ends, to see the switch. A predecessor still kept in `ca` brings the check forward to its end,
    /// to drop it.
    public static func caCheckTime(now: Int64, caNotAfter: Int64, window: Int64, successorKnown: Bool, previousNotAfter: Int64?,
                                   policy: RenewalPolicy, uniform: Double) -> Int64 {
        let daily = now + jittered(caCheckInterval, uniform)
        var due: Int64
        if successorKnown {
            due = caNotAfter > now ? caNotAfter : daily
        } else {
            let first = caNotAfter - window - Int64(Double(max(window, 0)) * policy.jitter * clamp(uniform))
            due = first > now ? first : daily
        }
        if let previousNotAfter, previousNotAfter > now { due = min(due, previousNotAfter) }
        return due
    }

    /// How often to ask for the successor once the rollover window is open.
    public static let caCheckInterval: Int64 = 86_400

    static func exponential(base: Int64, step: Int, cap: Int64) -> Int64 {
        var value = max(base, 1)
        var remaining = max(step - 1, 0)
        while remaining > 0 && value < cap {
            value *= 2
            remaining -= 1
        }
        return min(value, cap)
    }

    static func jittered(_ seconds: Int64, _ uniform: Double) -> Int64 {
        let half = seconds / 2
        return half + Int64(Double(seconds - half) * clamp(uniform))
    }

    static func clamp(_ uniform: Double) -> Double { min(max(uniform, 0), 1) }
}
