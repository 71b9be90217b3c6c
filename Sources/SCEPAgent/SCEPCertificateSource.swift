import DER
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SystemSupport

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

    /// The policy for one exchange: the pin in force and the successor accepted in its place.
    func policy(_ config: CertConfig, trust: CATrust) -> EnrollmentPolicy {
        // The daemon polls PENDING on its own schedule: each attempt asks once.
        var policy = EnrollmentPolicy(caFingerprint: trust.pin, pollIntervalSeconds: config.renewal.pollMin,
                                      pollMaxIntervalSeconds: config.renewal.pollMax, maxPollSeconds: 0)
        policy.strict = config.strict
        policy.nextCAFingerprint = trust.next
        return policy
    }

    public func obtain(_ config: CertConfig, reenroll: Bool, trust: CATrust, challengeLearned: Bool) -> AttemptResult {
        let policy = policy(config, trust: trust)
        var paths = config.paths
        paths.keptCAs = trust.kept
        let oneShot = OneShot(transport: makeTransport(config), clock: clock, random: random, log: log)
        do throws(SCEPError) {
            let challenge = try config.challengeFile.map { path throws(SCEPError) in
                try CredentialFiles.naming("challenge file", setBy: "challenge_file in [cert " + config.name + "]") { () throws(SCEPError) in try CredentialFiles.loadChallenge(path) }
            }
            let outcome: Outcome
            var challengeNeededBy: [UInt8]? = nil
            if reenroll {
                outcome = try oneShot.enroll(url: config.url, policy: policy, subject: config.subject, subjectAltNames: config.subjectAltNames,
                                             challenge: challenge, keyType: config.keyType, existingKey: false, replaceExistingKey: true, paths: paths)
            } else {
                let learned = config.renewWithChallenge == .auto && challengeLearned
                outcome = try oneShot.renew(url: config.url, policy: policy, challenge: challenge, sendChallenge: learned ? .yes : config.renewWithChallenge,
                                            reuseKey: false, keyType: config.keyType, paths: paths)
                if config.renewWithChallenge == .auto && outcome.sentChallenge && !learned, let ca = outcome.chain.last {
                    log.notice(config.name + ": the CA " + ca.subjectText + " wants the challenge on renewals; later renewals send it at once")
                    challengeNeededBy = ca.sha256Fingerprint
                }
            }
            FaultInjection.point("daemon.installed")
            runHook(config, event: reenroll ? "enrolled" : "renewed")
            let certificate = outcome.certificate
            var result = AttemptResult.issued(InstalledCertificate(notBefore: certificate.notBefore, notAfter: certificate.notAfter, serial: Hex.encode(certificate.serial)),
                                              ca: outcome.chain.last.map { CAStatus(fingerprint: $0.sha256Fingerprint, notAfter: $0.notAfter) })
            result.discovery = oneShot.discovery
            result.challengeNeededBy = challengeNeededBy
            return result
        } catch {
            var result = error.code == .serverPending ? AttemptResult.pending(error.reason) : .failed(error.description, code: error.code)
            result.discovery = oneShot.discovery
            return result
        }
    }

    static let tokenRecoveryAttempts = 3

    public func finishInterrupted(_ config: CertConfig, filesRolledForward: Bool) {
        var installed = filesRolledForward
        // A token another process holds at this moment (a supplicant's engine, a tool) may refuse us
        // briefly: a few tries, since otherwise the next chance is the next renewal.
        for attempt in 1...Self.tokenRecoveryAttempts {
            do throws(SCEPError) {
                if try OneShot(transport: makeTransport(config), clock: clock, random: random, log: log).openSlot(config.paths).finishInterruptedCommit() {
                    log.notice(config.name + ": the token key of the installed certificate now has the URI's name (a run stopped before renaming it)")
                    installed = true
                }
                break
            } catch {
                log.error(config.name + ": cannot finish the token key's install: " + error.reason
                    + (attempt < Self.tokenRecoveryAttempts ? "; trying again in a second" : "; the next attempt tries again"))
                if attempt < Self.tokenRecoveryAttempts { _ = clock.sleep(milliseconds: 1000) }
            }
        }
        if installed { runHook(config, event: "recovered") }
    }

    public func abandonPending(_ config: CertConfig) {
        OneShot(transport: makeTransport(config), clock: clock, random: random, log: log).openSlot(config.paths).forgetPendingRequest(log: log)
    }

    public func checkCA(_ config: CertConfig, trust: CATrust, after attempt: AttemptResult?) -> CACheck {
        let oneShot = OneShot(transport: makeTransport(config), clock: clock, random: random, log: log)
        // The attempt's discovery verified GetCACert under the trust in force then; what it issued can
        // only have moved the pin to the CA that discovery found (see RenewalEngine.recordCA).
        oneShot.discovery = attempt?.discovery
        do throws(SCEPError) {
            let enrollment = oneShot.enrollment(url: config.url, policy: policy(config, trust: trust))
            let profile = try oneShot.discovered(enrollment)
            let current = profile.roles.ca
            let now = clock.now()
            let successor = current.notAfter - now <= config.caRollover ? try enrollment.nextCACertificate(profile: profile) : nil
            if let caPath = config.paths.ca {
                let kept = trust.kept + (successor.map { [$0.sha256Fingerprint] } ?? [])
                let contents = CredentialFiles.pem(OneShot.caFileCertificates(current: current, fetched: successor.map { [$0] } ?? [], kept: kept, path: caPath, now: now))
                if (try? FileSystem.read(caPath)) != contents {
                    let store = CredentialStore(certificatePath: config.paths.certificate)
                    try store.withLock { () throws(SCEPError) in
                        try store.install([CredentialFile(path: caPath, contents: contents, ownership: config.paths.caOwnership)])
                    }
                    log.notice(config.name + ": installed " + caPath + ": the CA in use " + current.subjectText + " (until "
                        + CivilTime(unixSeconds: current.notAfter).description + ")"
                        + (successor.map { ", its successor " + $0.subjectText + " (sha256 " + Hex.encode($0.sha256Fingerprint) + ")" } ?? "")
                        + " and the rollover CAs still valid")
                    runHook(config, event: "ca-changed")
                }
            }
            return .checked(CAStatus(fingerprint: current.sha256Fingerprint, notAfter: current.notAfter),
                            successor: successor.map { CAStatus(fingerprint: $0.sha256Fingerprint, notAfter: $0.notAfter) })
        } catch {
            return .failed(error.description, code: error.code)
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
