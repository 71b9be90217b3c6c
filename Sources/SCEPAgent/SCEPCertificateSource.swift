import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages

/// The real `CertificateSource`: the installed files, and SCEP through `OneShot`.
public final class SCEPCertificateSource: CertificateSource {
    let clock: Clock
    let random: RandomGenerator
    let log: Log
    let makeTransport: (CertConfig) -> Transport
    let stateDirectory: String

    public init(stateDirectory: String, clock: Clock, random: RandomGenerator, log: Log, makeTransport: @escaping (CertConfig) -> Transport) {
        self.stateDirectory = stateDirectory
        self.clock = clock
        self.random = random
        self.log = log
        self.makeTransport = makeTransport
    }

    public func installed(_ config: CertConfig) -> InstalledCertificate? {
        guard FileSystem.exists(config.paths.certificate), let certificate = try? CredentialFiles.loadCertificate(config.paths.certificate) else {
            return nil
        }
        return InstalledCertificate(notBefore: certificate.notBefore, notAfter: certificate.notAfter, serial: Hex.encode(certificate.serial))
    }

    public func obtain(_ config: CertConfig, reenroll: Bool) -> AttemptResult {
        // The daemon polls PENDING on its own schedule: each attempt asks once.
        var policy = EnrollmentPolicy(caFingerprint: config.caFingerprint, pollIntervalSeconds: config.renewal.pollMin,
                                      pollMaxIntervalSeconds: config.renewal.pollMax, maxPollSeconds: 0)
        policy.strict = config.strict
        let oneShot = OneShot(transport: makeTransport(config), clock: clock, random: random, log: log)
        do throws(SCEPError) {
            if FileSystem.exists(nextCAPath(config)) {
                let pin = try FileSystem.readTrusted(nextCAPath(config), limit: 256, what: "next CA pin")
                policy.nextCAFingerprint = Hex.decode(ASCII.trimmed(String(decoding: pin, as: UTF8.self)))
            }
            let challenge = try config.challengeFile.map { path throws(SCEPError) in try CredentialFiles.loadChallenge(path) }
            let outcome: Outcome
            if reenroll {
                outcome = try oneShot.enroll(url: config.url, policy: policy, subject: config.subject, subjectAltNames: config.subjectAltNames,
                                             challenge: challenge, keyType: config.keyType, existingKey: false, replaceExistingKey: true, paths: config.paths)
            } else {
                let learned = config.renewWithChallenge == .auto && challengeRequired(config) != nil
                outcome = try oneShot.renew(url: config.url, policy: policy, challenge: challenge, sendChallenge: learned ? .yes : config.renewWithChallenge,
                                            reuseKey: false, keyType: config.keyType, paths: config.paths)
                if config.renewWithChallenge == .auto && outcome.sentChallenge && !learned, let ca = outcome.chain.last {
                    rememberChallengeRequired(config, ca: ca)
                }
            }
            FaultInjection.point("daemon.installed")
            runHook(config, event: reenroll ? "enrolled" : "renewed")
            rollOver(config, oneShot: oneShot, policy: policy)
            let certificate = outcome.certificate
            return .issued(InstalledCertificate(notBefore: certificate.notBefore, notAfter: certificate.notAfter, serial: Hex.encode(certificate.serial)))
        } catch {
            if error.code == .serverPending { return .pending(error.reason) }
            return .failed(error.description, code: error.code)
        }
    }

    public func abandonPending(_ config: CertConfig) {
        OneShot(transport: makeTransport(config), clock: clock, random: random, log: log).discardPendingRequest(paths: config.paths)
    }

    func nextCAPath(_ config: CertConfig) -> String { stateDirectory + "/" + config.name + ".next-ca" }

    /// `renew_with_challenge = auto` learned that this certificate's CA refuses renewals without the
    /// challenge: the file names that CA (hex SHA-256), so a new CA is asked without it again.
    func challengeRequiredPath(_ config: CertConfig) -> String { stateDirectory + "/" + config.name + ".renew-needs-challenge" }

    /// The fingerprint of the CA learned to need the challenge, or nil.
    func challengeRequired(_ config: CertConfig) -> [UInt8]? {
        (try? FileSystem.read(challengeRequiredPath(config), limit: 256)).flatMap { Hex.decode(ASCII.trimmed(String(decoding: $0, as: UTF8.self))) }
    }

    /// Remembers that `ca` needed the challenge; a failure to write costs one retry next time, so it is logged only.
    func rememberChallengeRequired(_ config: CertConfig, ca: Certificate) {
        do throws(SCEPError) {
            try FileSystem.replaceAtomically(challengeRequiredPath(config), Array((Hex.encode(ca.sha256Fingerprint) + "\n").utf8), mode: 0o600)
            log.notice(config.name + ": the CA " + ca.subjectText + " wants the challenge on renewals; later renewals send it at once")
        } catch {
            log.warning(config.name + ": cannot remember that the CA wants the challenge: " + error.reason)
        }
    }

    /// CA rollover (RFC 8894 §3.6): near the CA's end, fetch its successor, check the current CA signed
    /// it, and install both in the `ca` file for the overlap. Failures are logged; the set stays.
    func rollOver(_ config: CertConfig, oneShot: OneShot, policy: EnrollmentPolicy) {
        guard let caPath = config.paths.ca else { return }
        do throws(SCEPError) {
            let enrollment = oneShot.enrollment(url: config.url, policy: policy)
            let profile = try enrollment.discover()
            let current = profile.roles.ca
            guard profile.capabilities.getNextCACert, current.notAfter - clock.now() < config.caRollover,
                let next = try enrollment.nextCACertificate(profile: profile) else { return }
            try CredentialStore(certificatePath: caPath).install([
                CredentialFile(path: caPath, contents: CredentialFiles.pem([current, next]), ownership: config.paths.caOwnership),
            ])
            try FileSystem.replaceAtomically(nextCAPath(config), Array((Hex.encode(next.sha256Fingerprint) + "\n").utf8), mode: 0o600)
            log.notice(config.name + ": CA " + current.subjectText + " expires " + CivilTime(unixSeconds: current.notAfter).description
                + "; installed its successor " + next.subjectText + " (sha256 " + Hex.encode(next.sha256Fingerprint) + ") beside it in " + caPath)
        } catch {
            log.warning(config.name + ": CA rollover check failed: " + error.reason)
        }
    }

    /// The post_renew hook: after the new set is in place; its failure is logged, the set stays.
    func runHook(_ config: CertConfig, event: String) {
        guard !config.postRenew.isEmpty else { return }
        do throws(SCEPError) {
            let result = try HookRunner.run(config.postRenew, environment: HookRunner.environment(for: config, event: event),
                                            timeoutSeconds: config.postRenewTimeout, clock: clock)
            FaultInjection.point("daemon.hook-ran")
            if result.succeeded {
                log.info(config.name + ": post_renew hook " + result.summary)
            } else {
                log.error(config.name + ": post_renew hook " + config.postRenew[0] + " ended with " + result.summary)
            }
        } catch {
            log.error(config.name + ": " + error.reason)
        }
    }
}
