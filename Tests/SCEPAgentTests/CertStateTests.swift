import DER
import Foundation
import SCEPAgent
import SCEPClient
import SCEPMessages
import SystemSupport
import Testing
import TestSupport

/// CertState on real files in a fresh temporary directory: typed results round-trip, a state file of
/// the version before typed results still loads (its schedule kept), and hostile values load without a trap.
@Suite final class CertStateTests {
    let directory: String
    let files = FileManager.default
    var path: String { directory + "/wifi.state" }
    var warnings: [String] = []

    init() throws {
        directory = NSTemporaryDirectory() + "scep-agent-state-" + UUID().uuidString
        try files.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    deinit { try? files.removeItem(atPath: directory) }

    func write(_ text: String) throws {
        try? files.removeItem(atPath: path)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    func load() throws -> CertState {
        final class Collected { var warnings: [String] = [] }
        let collected = Collected()
        let state = try CertState.load(path, log: Log { _, message in collected.warnings.append(message) })
        warnings = collected.warnings
        return state
    }

    static let fingerprint = [UInt8](repeating: 0x3f, count: 32)
    static let successor = [UInt8](repeating: 0x9c, count: 32)

    /// One of each kind (AttemptResult holds a discovery, so it is no Sendable test argument).
    static var results: [AttemptResult] { [
        AttemptResult.issued(InstalledCertificate(notBefore: 1_800_000_000, notAfter: 1_831_536_000, serial: "0A1B")),
        { var due = AttemptResult.issued(InstalledCertificate(notBefore: 1_800_000_000, notAfter: 1_800_086_400, serial: "02"))
          due.systemTime = 1_900_000_000
          due.backingOffUntil = 1_900_003_600
          return due }(),
        AttemptResult(kind: .pending),
        .failed("FAILURE badRequest: invalid challenge\nsecond line \u{7}", code: .serverFailure),
        .failed("the request was still PENDING after pending_max"),
        .waiting(systemTime: 1_800_000_000, notBefore: 1_800_086_400),
    ] }

    @Test func everyResultRoundTripsAndPrintsTheSameAfterLoading() throws {
        for result in Self.results {
            var state = CertState()
            state.nextDue = 1_810_000_000
            state.lastResult = result
            try state.save(path)
            let loaded = try load()
            #expect(loaded.nextDue == 1_810_000_000 && warnings.isEmpty, "\(warnings)")
            #expect(loaded.lastResult?.kind == result.kind && loaded.lastResult?.code == result.code)
            // Control bytes are stored escaped, as status always printed them.
            #expect(loaded.lastResult?.description == ASCII.printable(result.description, limit: ASCII.lineLimit))
            if !result.description.utf8.contains(where: { $0 < 0x20 }) { #expect(loaded.lastResult == result) }
        }
    }

    @Test func caCheckResultsRoundTrip() throws {
        for check in [CACheckResult.checked(ca: Self.fingerprint, successor: nil), .checked(ca: Self.fingerprint, successor: Self.successor),
                      .failed("GetNextCACert: not signed by the CA", code: .verifySigner)] {
            var state = CertState()
            state.caCheckResult = check
            try state.save(path)
            #expect(try load().caCheckResult == check)
            #expect(warnings.isEmpty, "\(warnings)")
        }
        #expect(CACheckResult.checked(ca: Self.fingerprint, successor: nil).description == "checked: CA sha256 " + Hex.encode(Self.fingerprint) + ", no successor known")
        #expect(CACheckResult.checked(ca: Self.fingerprint, successor: Self.successor).description
            == "checked: CA sha256 " + Hex.encode(Self.fingerprint) + ", successor " + Hex.encode(Self.successor))
    }

    @Test func theTypedFormIsWhatTheFileHolds() throws {
        var state = CertState()
        state.lastResult = .failed("connect to 127.0.0.1: connection refused", code: .transportConnect)
        state.caCheckResult = .checked(ca: Self.fingerprint, successor: nil)
        try state.save(path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("last_result=failed\n") && text.contains("last_result_code=transportConnect\n")
            && text.contains("last_result_reason=connect to 127.0.0.1: connection refused\n"))
        #expect(text.contains("ca_check_result=checked\n") && text.contains("ca_check_ca=" + Hex.encode(Self.fingerprint) + "\n"))
    }

    /// Lines as the version before typed results wrote them (`CertState.save` of main at e013beb).
    @Test func aStateFileFromBeforeTypedResultsLoadsWithItsSchedule() throws {
        let ca = Hex.encode(Self.fingerprint), next = Hex.encode(Self.successor)
        let schedule = "next_due=1810000000\nscheduled_for_serial=0A1B\nlast_attempt=1800000000\nlast_success=1800000000\n"
            + "consecutive_failures=2\ntotal_failures=5\nca_check_due=1820000000\n"
        try write(schedule + "last_result=issued serial 0A1B\nca_check_result=checked: CA sha256 " + ca + ", successor " + next + "\n")
        var state = try load()
        #expect(state.nextDue == 1_810_000_000 && state.scheduledFor == "0A1B" && state.lastAttempt == 1_800_000_000)
        #expect(state.consecutiveFailures == 2 && state.totalFailures == 5 && state.caCheckDue == 1_820_000_000)
        #expect(state.lastResult?.kind == .issued && state.lastResult?.serial == "0A1B")
        #expect(state.lastResult?.description == "issued serial 0A1B")
        #expect(state.caCheckResult == .checked(ca: Self.fingerprint, successor: Self.successor))
        #expect(warnings.isEmpty, "\(warnings)")

        try write(schedule + "last_result=issued serial 02 (valid 2027-01-01T00:00:00Z to 2027-01-02T00:00:00Z) but it was due for renewal at once "
            + "at system time 2030-01-01T00:00:00Z: the clock or the CA is wrong; backing off until 2030-01-01T01:00:00Z\n"
            + "ca_check_result=checked: CA sha256 " + ca + ", no successor known\n")
        state = try load()
        #expect(state.lastResult?.kind == .issued && state.lastResult?.serial == "02" && state.nextDue == 1_810_000_000)
        #expect(state.caCheckResult == .checked(ca: Self.fingerprint, successor: nil))

        try write(schedule + "last_result=failed: FAILURE badRequest (code 2)\nca_check_result=failed: connect to 127.0.0.1: connection refused\n")
        state = try load()
        #expect(state.lastResult == .failed("FAILURE badRequest (code 2)"))
        #expect(state.caCheckResult == .failed("connect to 127.0.0.1: connection refused", code: nil))
        #expect(state.lastResult?.description == "failed: FAILURE badRequest (code 2)")

        try write(schedule + "last_result=pending\npending_transaction=request 1F is still PENDING\n")
        state = try load()
        #expect(state.lastResult == AttemptResult(kind: .pending) && state.pendingTransaction == "request 1F is still PENDING")

        // Judged again by the daemon's next pass before anything else: dropped without a warning.
        try write(schedule + "last_result=waiting: system time 2026-12-01T00:00:00Z is before the installed certificate's notBefore\n")
        state = try load()
        #expect(state.lastResult == nil && state.nextDue == 1_810_000_000 && warnings.isEmpty)
    }

    @Test func hostileValuesLoadWithoutATrapAndAreIgnoredWithAWarning() throws {
        let huge = "9223372036854775807", beyond = "99999999999999999999999999", negative = "-9223372036854775808"
        try write("next_due=1810000000\nlast_result=issued\nlast_result_serial=\u{1b}[2J\u{7}0A\nlast_result_not_before=" + huge
            + "\nlast_result_not_after=" + negative + "\nlast_result_system_time=" + beyond + "\nlast_result_backing_off_until=x\n"
            + "last_result_code=noSuchCode\nlast_result_reason=" + String(repeating: "A", count: 10_000) + "\n"
            + "ca_check_result=checked\nca_check_ca=zz\nca_check_successor=" + Hex.encode(Self.successor) + "00\n"
            + "ca_check_code=\u{0}\n")
        let state = try load()
        #expect(state.nextDue == 1_810_000_000)
        let result = try #require(state.lastResult)
        #expect(result.kind == .issued && result.notBefore == nil && result.notAfter == nil && result.systemTime == nil
            && result.backingOffUntil == nil && result.code == nil)
        #expect(result.serial == "\\x1b[2J\\x070A", "control bytes escaped")
        #expect(result.reason.utf8.count <= ASCII.lineLimit + 3)
        #expect(state.caCheckResult == nil, "checked without a valid fingerprint is no result")
        for key in ["last_result_not_before", "last_result_not_after", "last_result_system_time", "last_result_backing_off_until",
                    "last_result_code", "ca_check_ca", "ca_check_successor", "ca_check_code", "ca_check_result"] {
            #expect(warnings.contains { $0.contains(key) }, "a warning names \(key): \(warnings)")
        }
        // Every field may print: nothing traps on the missing validity.
        #expect(result.description == "issued serial \\x1b[2J\\x070A")
        var due = result
        due.backingOffUntil = 1
        #expect(due.description.contains("(valid ? to ?)"))

        for garbage in ["last_result=\n", "last_result=issued serial\n", "last_result=failed\n", "last_result=waiting\n",
                        "last_result=\u{ff}\u{fe}\n", "ca_check_result=checked: CA sha256 nothex\n", "ca_check_result=failed\n",
                        "last_result=failed\nlast_result=issued\n", "=\n", "last_result\n", String(repeating: "=", count: 60_000) + "\n",
                        "last_result=issued serial " + String(repeating: " ", count: 5000) + "\n"] {
            try write(garbage)
            let state = try load()
            _ = state.lastResult?.description
            _ = state.caCheckResult?.description
        }
    }

    @Test func theRenewNeedsChallengeFileOfBeforeIsTakenOverOnceAndRemoved() throws {
        let legacy = directory + "/wifi.renew-needs-challenge"
        try Hex.encode(Self.fingerprint).uppercased().appending("\n").write(toFile: legacy, atomically: false, encoding: .utf8)
        try write("next_due=1810000000\nlast_result=issued serial 01\n")
        var state = try load()
        #expect(state.renewNeedsChallenge == nil)
        var states = try DaemonRunner.loadStates(try agentConfig(), log: .discarding())
        #expect(states[0].renewNeedsChallenge == Hex.encode(Self.fingerprint) && states[0].nextDue == 1_810_000_000)
        #expect(!files.fileExists(atPath: legacy), "read once")
        state = try load()
        #expect(state.renewNeedsChallenge == Hex.encode(Self.fingerprint) && state.lastResult?.serial == "01", "saved in the state file")

        // What the state says wins over a file beside it; garbage in such a file is dropped with it.
        for text in [Hex.encode(Self.successor), "not hex", String(repeating: "f", count: 300)] {
            try text.write(toFile: legacy, atomically: false, encoding: .utf8)
            states = try DaemonRunner.loadStates(try agentConfig(), log: .discarding())
            #expect(states[0].renewNeedsChallenge == Hex.encode(Self.fingerprint) && !files.fileExists(atPath: legacy))
        }
        try write("")
        try "not hex\n".write(toFile: legacy, atomically: false, encoding: .utf8)
        states = try DaemonRunner.loadStates(try agentConfig(), log: .discarding())
        #expect(states[0].renewNeedsChallenge == nil && !files.fileExists(atPath: legacy))
    }

    /// One certificate, `wifi`, with its state in this test's directory.
    func agentConfig() throws -> AgentConfig {
        let text = "[agent]\nstate_dir = " + directory + "\n\n[cert wifi]\nurl = http://127.0.0.1:1/scep\nsubject = CN=gw-0042\n"
            + "ca_fingerprint = " + Hex.encode(Self.fingerprint) + "\n"
            + "key = " + directory + "/key.pem\ncert = " + directory + "/cert.pem\n"
        return try AgentConfig(file: ConfigFile(path: directory + "/agent.conf", text: Array(text.utf8)))
    }

    @Test func aStateFileOfAnotherUserIsStillRefused() throws {
        try write("last_result=issued\nlast_result_serial=01\n")
        #expect(chown(path, 65534, 65534) == 0)
        #expect(errorCode { try CertState.load(self.path, log: .discarding()) } == .fileIO)
    }
}
