import DER
import Foundation
import SystemSupport
import Testing
@testable import SCEPAgent

@Suite struct ConfigTests {
    @Test func hookArgvSplitsOnBlanksAndGroupsQuotes() {
        #expect(ConfigFile.splitArguments("/usr/sbin/wpa_cli -i wlan0 reconfigure") == ["/usr/sbin/wpa_cli", "-i", "wlan0", "reconfigure"])
        #expect(ConfigFile.splitArguments("/bin/sh -c \"echo a  b\"") == ["/bin/sh", "-c", "echo a  b"])
        #expect(ConfigFile.splitArguments("/bin/x \"\" \"say \\\"hi\\\"\"") == ["/bin/x", "", "say \"hi\""])
        #expect(ConfigFile.splitArguments("/bin/x \"open") == nil)
    }

    @Test func durations() {
        #expect(ConfigFile.parseDuration("90") == 90)
        #expect(ConfigFile.parseDuration("15m") == 900)
        #expect(ConfigFile.parseDuration("6h") == 21_600)
        #expect(ConfigFile.parseDuration("2d") == 172_800)
        for bad in ["", "m", "1.5h", "-1", "10w", "9999999999"] { #expect(ConfigFile.parseDuration(bad) == nil, "\(bad)") }
    }

    @Test func fractions() {
        #expect(ConfigFile.parseFraction("0.66") == 0.66)
        #expect(ConfigFile.parseFraction("1") == 1)
        for bad in ["", ".", "0.6.6", "1e-3", "-0.5", "abc"] { #expect(ConfigFile.parseFraction(bad) == nil, "\(bad)") }
    }

    @Test func commentsAndQuotedHashes() throws {
        let text = "[agent]  # the agent\nstate_dir = /var/lib/x # here\n[cert a]\npost_renew = /bin/sh -c \"echo #1\" # hook\n"
        let file = try ConfigFile(path: "t", text: Array(text.utf8))
        #expect(file.sections[0].value("state_dir")?.value == "/var/lib/x")
        #expect(file.sections[1].value("post_renew")?.value == "/bin/sh -c \"echo #1\"")
    }

    @Test(arguments: [
        ("key = value\n", "t:1: key 'key': setting outside a section"),
        ("[agent\n", "t:1: section header must end with ']'"),
        ("[cert]\n", "t:1: write [cert NAME]"),
        ("[cert a b]\n", "t:1: write [cert NAME]"),
        ("[agent]\n[agent]\n", "t:2: [agent] appears twice"),
        ("[servers]\n", "t:1: unknown section"),
        ("[agent]\nnonsense\n", "t:2: expected 'key = value'"),
        ("[agent]\nlog = stderr\nlog = syslog\n", "t:3: key 'log': set twice"),
    ])
    func syntaxErrorsNameFileAndLine(_ text: String, _ message: String) {
        do {
            _ = try ConfigFile(path: "t", text: Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == .config)
            #expect(error.reason.hasPrefix(message), "\(error.reason)")
        }
    }

    /// check-config reports every error in one run, in file order, syntax and meaning mixed.
    @Test func everyErrorIsFoundInFileOrder() {
        let text = "[agent]\nstate_dir = relative\nlog = nowhere\n[cert wifi]\nurl = ftp://x\nsubject = XX=1\nkey = k.pem\ncert = /c.pem\n"
            + "insecure_skip_ca_pin = yes\nrenew_at = 2\ncolour = blue\n[bogus]\nx = 1\n[agent\n"
        let problems = AgentConfig.validate(ConfigFile(path: "t", collecting: Array(text.utf8))).problems
        let expected = ["t:2: key 'state_dir'", "t:3: key 'log'", "t:5: key 'url'", "t:6: key 'subject'", "t:7: key 'key'",
                        "t:10: key 'renew_at'", "t:11: key 'colour'", "t:12: unknown section", "t:14: section header"]
        #expect(problems.count == expected.count, "\(problems.map { $0.reason })")
        for (problem, prefix) in zip(problems, expected) { #expect(problem.reason.hasPrefix(prefix), "\(problem.reason)") }
    }

    @Test func theIssueExampleLoads() throws {
        let text = """
        [agent]
        state_dir = /var/lib/scep-agent

        [cert wifi]
        url = http://ca.example.net/scep
        ca_fingerprint = 3f0c:\(String(repeating: "ab", count: 29)):a1            # SHA-256, hex, colons optional
        subject = CN=gw-0042,O=Example
        challenge_file = /etc/scep-agent/wifi.challenge
        key = /etc/ssl/wifi/key.pem         # or a pkcs11: URI once hardware keys exist
        cert = /etc/ssl/wifi/cert.pem
        chain = /etc/ssl/wifi/chain.pem
        ca = /etc/ssl/wifi/ca.pem
        renew_at = 0.66                     # any fraction in (0,1) of the lifetime
        jitter = 0.1                        # fraction of the wait; 0 turns it off
        post_renew = /usr/sbin/wpa_cli -i wlan0 reconfigure   # argv: split on blanks, "double quotes" group, no shell
        """
        let config = try AgentConfig(file: ConfigFile(path: "example.conf", text: Array(text.utf8)))
        let wifi = config.certificates[0]
        #expect(wifi.name == "wifi" && wifi.renewal.renewAt == 0.66 && wifi.renewal.jitter == 0.1)
        #expect(wifi.postRenew == ["/usr/sbin/wpa_cli", "-i", "wlan0", "reconfigure"])
        #expect(wifi.paths.ca == "/etc/ssl/wifi/ca.pem" && wifi.paths.keyOwnership.mode == 0o600)
        #expect(wifi.caFingerprint?.count == 32)
        #expect(wifi.renewWithChallenge == .auto, "no renew_with_challenge line: auto")
    }

    @Test(arguments: [("auto", RenewalChallenge.auto), ("yes", .yes), ("true", .yes), ("no", .no), ("0", .no)])
    func renewWithChallenge(_ value: String, _ expected: RenewalChallenge) throws {
        let config = try AgentConfig(file: ConfigFile(path: "t", text: Array(Self.minimal("renew_with_challenge = " + value).utf8)))
        #expect(config.certificates[0].renewWithChallenge == expected)
    }

    @Test func renewWithChallengeRefusesOtherValues() {
        #expect(throws: SCEPError.self) {
            _ = try AgentConfig(file: ConfigFile(path: "t", text: Array(Self.minimal("renew_with_challenge = sometimes").utf8)))
        }
    }

    static func minimal(_ line: String) -> String {
        "[cert wifi]\nurl = http://127.0.0.1/scep\nca_fingerprint = " + String(repeating: "ab", count: 32)
            + "\nsubject = CN=x\nkey = /k.pem\ncert = /c.pem\n" + line + "\n"
    }

    /// `key` goes through the parser enroll and renew use: a URI it refuses fails here, at check-config,
    /// not at the first renewal; one it takes (any case) passes.
    @Test(arguments: [("pkcs11:object=a;object=b", "more than once"), ("PKCS11:id=%zz", "two hex digits"),
                      ("pkcs11:object=k?pin-source=/p&pin-value=1234", "both pin-source and pin-value"),
                      ("key.pem", "give an absolute path or a pkcs11: URI")])
    func keyIsReadWithTheAgentsOwnParser(_ value: String, _ problem: String) {
        let text = Self.minimal("").replacingOccurrences(of: "key = /k.pem", with: "key = " + value)
        let problems = AgentConfig.validate(ConfigFile(path: "t", collecting: Array(text.utf8))).problems
        #expect(problems.count == 1 && problems[0].code == .config, "\(problems.map { $0.reason })")
        let reason = problems.first?.reason ?? ""
        #expect(reason.hasPrefix("t:5: key 'key': ") && reason.contains(problem) && !reason.contains("1234"), "\(reason)")
    }

    @Test func aKeyURIInAnyCaseIsAToken() throws {
        let text = Self.minimal("").replacingOccurrences(of: "key = /k.pem", with: "key = PKCS11:object=k?pin-source=/p")
        let paths = try AgentConfig(file: ConfigFile(path: "t", text: Array(text.utf8))).certificates[0].paths
        #expect(paths.key.description == "pkcs11:object=k?pin-source=/p" && !paths.all.contains { $0.hasPrefix("pkcs11") })
    }

    @Test func p12NeedsAPassphraseFileOrUnencryptedSaidOutright() throws {
        #expect(throws: SCEPError.self) { try config("p12 = /x/wifi.p12") }
        #expect(throws: SCEPError.self) { try config("p12 = /x/wifi.p12\np12_passphrase_file = /x/pass\np12_unencrypted = yes") }
        let encrypted = try config("p12 = /x/wifi.p12\np12_passphrase_file = /x/pass").certificates[0].paths
        #expect(encrypted.p12 == "/x/wifi.p12" && encrypted.p12PassphraseFile == "/x/pass")
        #expect(encrypted.all.contains("/x/wifi.p12"), "installed with the set")
        #expect(try config("p12 = /x/wifi.p12\np12_unencrypted = yes").certificates[0].paths.p12PassphraseFile == nil)
    }
}
