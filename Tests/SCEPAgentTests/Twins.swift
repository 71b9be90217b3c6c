import DER
import SCEPAgent
import SCEPClient
import SCEPCrypto

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

/// A CA that issues in twin time (a real one stamps real time): scripted outages, PENDING, and
/// certificates of a fixed lifetime starting at the twin's "now".
final class SimulatedCA: CertificateSource {
    let clock: TwinClock
    let lifetime: Int64
    var installedCertificate: InstalledCertificate?
    /// Until this time every attempt fails.
    var downUntil: Int64 = 0
    /// This many attempts answer PENDING before one is issued.
    var pendingAnswers = 0
    var attempts: [(time: Int64, reenroll: Bool)] = []
    var issued: [InstalledCertificate] = []
    private var serial = 0

    init(clock: TwinClock, lifetime: Int64) {
        self.clock = clock
        self.lifetime = lifetime
    }

    /// How far the CA's clock is behind the device's (a device clock running ahead).
    var behind: Int64 = 0
    var abandoned = 0

    func installed(_ config: CertConfig) -> InstalledCertificate? { installedCertificate }

    func abandonPending(_ config: CertConfig) { abandoned += 1 }

    func obtain(_ config: CertConfig, reenroll: Bool) -> AttemptResult {
        attempts.append((clock.now(), reenroll))
        if clock.now() < downUntil { return .failed("connect to 127.0.0.1: connection refused") }
        if pendingAnswers > 0 {
            pendingAnswers -= 1
            return .pending("PENDING")
        }
        serial += 1
        let certificate = InstalledCertificate(notBefore: clock.now() - behind, notAfter: clock.now() - behind + lifetime, serial: String(serial))
        installedCertificate = certificate
        issued.append(certificate)
        return .issued(certificate)
    }
}

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
