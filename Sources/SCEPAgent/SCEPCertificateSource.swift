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

    public init(clock: Clock, random: RandomGenerator, log: Log, makeTransport: @escaping (CertConfig) -> Transport) {
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
        let policy = EnrollmentPolicy(caFingerprint: config.caFingerprint, pollIntervalSeconds: config.pollMin,
                                      pollMaxIntervalSeconds: config.pollMax, maxPollSeconds: 0)
        let oneShot = OneShot(transport: makeTransport(config), clock: clock, random: random, log: log)
        do throws(SCEPError) {
            let challenge = try config.challengeFile.map { path throws(SCEPError) in try CredentialFiles.loadChallenge(path) }
            let outcome: Outcome
            if reenroll {
                outcome = try oneShot.enroll(url: config.url, policy: policy, subject: config.subject, subjectAltNames: config.subjectAltNames,
                                             challenge: challenge, keyType: config.keyType, existingKey: false, replaceExistingKey: true, paths: config.paths)
            } else {
                outcome = try oneShot.renew(url: config.url, policy: policy, challenge: config.renewWithChallenge ? challenge : nil,
                                            reuseKey: false, keyType: config.keyType, paths: config.paths)
            }
            FaultInjection.point("daemon.installed")
            runHook(config)
            let certificate = outcome.certificate
            return .issued(InstalledCertificate(notBefore: certificate.notBefore, notAfter: certificate.notAfter, serial: Hex.encode(certificate.serial)))
        } catch {
            if error.code == .serverPending { return .pending(error.reason) }
            return .failed(error.description)
        }
    }

    /// The post_renew hook: after the new set is in place; its failure is logged, the set stays.
    func runHook(_ config: CertConfig) {
        guard !config.postRenew.isEmpty else { return }
        do throws(SCEPError) {
            let result = try HookRunner.run(config.postRenew, timeoutSeconds: config.postRenewTimeout, clock: clock)
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
