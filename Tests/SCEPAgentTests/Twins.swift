import DER
import SCEPAgent
import SCEPClient
import SCEPCrypto
import SystemSupport

/// The one twin the rules allow: time. `sleep` advances it instantly.
final class TwinClock: Clock {
    var current: Int64
    init(_ start: Int64) { current = start }
    func now() -> Int64 { current }
    func monotonicMilliseconds() -> Int64 { current * 1000 }
    func sleep(milliseconds: Int64) -> Bool {
        current += milliseconds / 1000
        return true
    }
}

/// A CA certificate in twin time: when GetNextCACert starts publishing it (signed by the one before it)
/// and when GetCACert starts serving it (and the CA issues under it).
struct SimulatedCACertificate {
    let fingerprint: [UInt8]
    let notAfter: Int64
    let publishedFrom: Int64
    let servedFrom: Int64
}

/// A CA that issues in twin time (a real one stamps real time): scripted outages, PENDING, certificates
/// of a fixed lifetime starting at the twin's "now", and CA certificates that roll over.
final class SimulatedCA: CertificateSource {
    let clock: TwinClock
    let lifetime: Int64
    /// In order; the first has the configured pin.
    let cas: [SimulatedCACertificate]
    var installedCertificate: InstalledCertificate?
    /// Until this time every attempt fails.
    var downUntil: Int64 = 0
    /// This many attempts answer PENDING before one is issued.
    var pendingAnswers = 0
    var attempts: [(time: Int64, reenroll: Bool)] = []
    var issued: [InstalledCertificate] = []
    /// Exchanges refused because the CA served was neither the pin nor the known successor.
    var pinFailures: [Int64] = []
    var caChecks: [Int64] = []
    /// A CA that refuses renewals without the challenge: the first renewal not told so learns it.
    var wantsTheChallenge = false
    var renewalsToldTheChallengeIsNeeded: [Bool] = []
    /// For each CA check, the kind of the attempt of the same pass it was handed (nil: none ran).
    var checkedAfter: [AttemptResult.Kind?] = []
    /// The fingerprints in the `ca` file, as the real source composes it.
    var caFile: [[UInt8]] = []
    /// Times the server had switched CA and the `ca` file did not hold the new one yet.
    var unpreparedSwitches: [Int64] = []
    private var lastServed: [UInt8]? = nil
    private var serial = 0

    init(clock: TwinClock, lifetime: Int64, cas: [SimulatedCACertificate]? = nil) {
        self.clock = clock
        self.lifetime = lifetime
        self.cas = cas ?? [SimulatedCACertificate(fingerprint: pinnedFingerprint, notAfter: start + 100 * year, publishedFrom: 0, servedFrom: 0)]
    }

    /// How far the CA's clock is behind the device's (a device clock running ahead).
    var behind: Int64 = 0
    var abandoned = 0

    func installed(_ config: CertConfig) -> InstalledCertificate? { installedCertificate }

    func abandonPending(_ config: CertConfig) { abandoned += 1 }

    func finishInterrupted(_ config: CertConfig, filesRolledForward: Bool) {}

    var served: SimulatedCACertificate { cas.last { $0.servedFrom <= clock.now() }! }

    /// What discover() accepts: the pin, or the known successor once the pin is no longer served.
    func accepts(_ trust: CATrust) -> Bool {
        let current = served
        if lastServed != nil && lastServed != current.fingerprint && !caFile.contains(current.fingerprint) { unpreparedSwitches.append(clock.now()) }
        lastServed = current.fingerprint
        guard current.fingerprint == trust.pin || current.fingerprint == trust.next else {
            pinFailures.append(clock.now())
            return false
        }
        return true
    }

    func installCAFile(_ trust: CATrust, successor: SimulatedCACertificate? = nil) {
        let kept = trust.kept + (successor.map { [$0.fingerprint] } ?? [])
        caFile = [served.fingerprint] + cas.filter { $0.fingerprint != served.fingerprint && kept.contains($0.fingerprint) && $0.notAfter > clock.now() }.map { $0.fingerprint }
    }

    func status(_ ca: SimulatedCACertificate) -> CAStatus { CAStatus(fingerprint: ca.fingerprint, notAfter: ca.notAfter) }

    func obtain(_ config: CertConfig, reenroll: Bool, trust: CATrust, challengeLearned: Bool) -> AttemptResult {
        attempts.append((clock.now(), reenroll))
        renewalsToldTheChallengeIsNeeded.append(challengeLearned)
        if clock.now() < downUntil { return .failed("connect to 127.0.0.1: connection refused") }
        guard accepts(trust) else { return .failed("CA fingerprint mismatch", code: .verifyCAPin) }
        if pendingAnswers > 0 {
            pendingAnswers -= 1
            return .pending("PENDING")
        }
        serial += 1
        let certificate = InstalledCertificate(notBefore: clock.now() - behind, notAfter: clock.now() - behind + lifetime, serial: String(serial))
        installedCertificate = certificate
        issued.append(certificate)
        installCAFile(trust)
        var result = AttemptResult.issued(certificate, ca: status(served))
        if wantsTheChallenge && !reenroll && !challengeLearned { result.challengeNeededBy = served.fingerprint }
        return result
    }

    func checkCA(_ config: CertConfig, trust: CATrust, after attempt: AttemptResult?) -> CACheck {
        caChecks.append(clock.now())
        checkedAfter.append(attempt?.kind)
        if clock.now() < downUntil { return .failed("connect to 127.0.0.1: connection refused", code: .transportConnect) }
        guard accepts(trust) else { return .failed("CA fingerprint mismatch", code: .verifyCAPin) }
        let current = served
        var successor: SimulatedCACertificate? = nil
        if current.notAfter - clock.now() <= config.caRollover, let index = cas.firstIndex(where: { $0.fingerprint == current.fingerprint }),
            index + 1 < cas.count, cas[index + 1].publishedFrom <= clock.now() {
            successor = cas[index + 1]
        }
        installCAFile(trust, successor: successor)
        return .checked(status(current), successor: successor.map { status($0) })
    }
}

/// The configured pin of `config()`.
let pinnedFingerprint = [UInt8](repeating: 0xab, count: 32)

func config(_ extra: String = "", challenge: Bool = true) throws -> AgentConfig {
    let text = """
    [agent]
    state_dir = /nonexistent/state

    [cert wifi]
    url = http://127.0.0.1:1/scep
    ca_fingerprint = \(String(repeating: "ab", count: 32))
    subject = CN=gw-0042
    key = /nonexistent/key.pem
    cert = /nonexistent/cert.pem
    \(challenge ? "challenge_file = /nonexistent/challenge" : "")
    \(extra)
    """
    return try AgentConfig(file: ConfigFile(path: "twin.conf", text: Array(text.utf8)))
}

let day: Int64 = 86_400
let year: Int64 = 365 * day
/// 2027-01-01T00:00:00Z, a sane time after the build.
let start: Int64 = 1_798_761_600
