import DER
import SystemSupport

/// One command: what dispatch runs, what it accepts, and what `--help` and the overview say about it.
/// The table below is the only list of commands and options: `Arguments` accepts exactly the options
/// a command lists, and its help is generated from the same rows.
struct Command {
    let name: String
    /// The overview's line.
    let summary: String
    /// The arguments after `scep-agent NAME` in the usage line.
    let synopsis: String
    /// What the command does, and the exit codes that are its own.
    let about: String
    let options: [Option]
    let run: (Arguments) throws(SCEPError) -> Void

    /// `scep-agent NAME --help`.
    var help: String {
        var text = "usage: scep-agent " + name + (synopsis.isEmpty ? "" : " " + synopsis) + "\n\n" + about + "\n"
        if !options.isEmpty { text += "\noptions:\n" }
        for option in options {
            var left = "  " + option.name + (option.valueName.map { " " + $0 } ?? "")
            if left.utf8.count >= Self.helpColumn { left += "\n" + Self.padding(Self.helpColumn) } else { left += Self.padding(Self.helpColumn - left.utf8.count) }
            let lines = option.help.split(separator: "\n").map(String.init)
            text += left + lines.joined(separator: "\n" + Self.padding(Self.helpColumn))
            text += option.defaultValue.map { " (default " + $0 + ")" } ?? ""
            text += (option.repeatable ? "; repeatable" : "") + "\n"
        }
        return text
    }

    static let helpColumn = 28

    static func padding(_ count: Int) -> String { String(repeating: " ", count: max(count, 1)) }
}

enum CommandTable {
    static let version = "0.1.0"

    static func command(_ name: String) -> Command? { commands.first { $0.name == name } }

    /// `scep-agent --help`: every command, then every exit code (`ExitCode`, the same table as README).
    static var overview: String {
        var text = "scep-agent " + version + ": certificate enrollment over SCEP (RFC 8894) for gateways\n\n"
            + "usage: scep-agent COMMAND [OPTIONS]     scep-agent COMMAND --help describes one command\n\ncommands:\n"
        for command in commands { text += "  " + command.name + Command.padding(14 - command.name.utf8.count) + command.summary + "\n" }
        text += "\nexit codes:\n"
        for code in ExitCode.allCases {
            let number = String(code.rawValue)
            text += Command.padding(4 - number.utf8.count) + number + "  " + code.status + Command.padding(21 - code.status.utf8.count) + code.meaning + "\n"
        }
        return text
    }

    // Options several commands share, each documented once.
    static let network: [Option] = [
        .value("--url", "URL", "SCEP endpoint, e.g. http://ca.example.net/scep (http or https)"),
        .value("--tls-ca", "FILE", "CA bundle for https (default: the system bundle)"),
        .value("--proxy", "URL", "HTTP proxy (default: http_proxy / https_proxy / no_proxy)"),
        .value("--timeout", "SECONDS", "total time for each HTTP exchange", default: "60"),
        .value("--connect-timeout", "SECONDS", "time to connect", default: "10"),
    ] + output
    static let output: [Option] = [
        .flag("--json", "print one JSON object on stdout, on success and on failure"),
    ] + chatter
    static let chatter: [Option] = [
        .flag("--verbose", "say what happens: info messages and progress"),
        .flag("--quiet", "print only warnings and errors (security warnings are never silenced)"),
    ]
    static let pinning: [Option] = [
        .value("--ca-fingerprint", "SHA256", "pin of the CA certificate (hex, colons optional; 'getca' prints it)"),
        .flag("--insecure-skip-ca-pin", "trust whatever CA the server sends (never in production; warns)"),
        .flag("--strict", "refuse a CA that offers no AES or SHA-256, or answers with single DES or SHA-1"),
    ]
    static let polling: [Option] = [
        .value("--poll-interval", "SECONDS", "first wait between polls while PENDING", default: "10"),
        .value("--max-poll-time", "SECONDS", "give up polling after this long, then exit 6", default: "600"),
    ]
    static let challengeSources: [Option] = [
        .value("--challenge-env", "VAR", "the challenge password from the environment"),
        .value("--challenge", "VALUE", "the challenge password in argv (other users can read it: avoid; warns)"),
    ]
    static let token: [Option] = [
        .value("--pkcs11-module", "FILE", "PKCS#11 module for a pkcs11: key (overrides the URI's module-path)"),
        .value("--pin-file", "FILE", "token PIN, first line of FILE (overrides the URI's pin-source)"),
    ]
    static let p12: [Option] = [
        .value("--p12", "FILE", "also install key, certificate and chain as one PKCS#12 file (0600)"),
        .value("--p12-passphrase-file", "FILE", "encrypt --p12 (PBES2, AES-256) with the first line of FILE"),
        .flag("--p12-unencrypted", "write --p12 without encryption"),
    ]
    static let keyTypes = "rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384"
    static let config: [Option] = [.value("--config", "FILE", "the configuration file (docs/config.md)")] + chatter

    // Computed, not stored: a closure is no Sendable value for a global, and it is read once or twice a run.
    static var commands: [Command] { [
        Command(
            name: "enroll", summary: "enroll a new device certificate and install key, certificate and chain",
            synopsis: "--url URL --ca-fingerprint SHA256 --subject DN [--san TYPE:VALUE]...\n"
                + "       [--challenge-file FILE | --challenge-env VAR] --key FILE --cert FILE [--chain FILE] [OPTIONS]",
            about: """
            Makes a key (mode 0600 from creation), sends a PKCSReq signed by a transient self-signed
            certificate, verifies the reply and installs key, certificate and chain as one set.
            """,
            options: [
                .value("--subject", "DN", "e.g. CN=gw-0042,O=Example,C=DE"),
                .value("--san", "TYPE:VALUE", "dns:NAME, ip:ADDR, email:ADDR or uri:URI", repeatable: true),
                .value("--challenge-file", "FILE", "challenge password, first line of FILE"),
            ] + challengeSources + [
                .value("--key", "FILE|URI", "where the private key goes (refused if it exists, unless --existing-key);\na pkcs11: URI makes the key on a token"),
                .value("--cert", "FILE", "where the certificate goes (PEM)"),
                .value("--chain", "FILE", "where the CA chain goes (PEM)"),
                .value("--key-type", "TYPE", keyTypes, default: "rsa:2048"),
                .flag("--existing-key", "enroll the key already at --key instead of making one"),
            ] + p12 + polling + pinning + token + network,
            run: Commands.enroll),
        Command(
            name: "renew", summary: "renew the installed certificate (RenewalReq signed by the current one)",
            synopsis: "--url URL --ca-fingerprint SHA256 --key FILE --cert FILE [--chain FILE] [--reuse-key] [OPTIONS]",
            about: """
            Renews the certificate at --cert: a RenewalReq signed by the current certificate and key when
            the CA offers Renewal (else a PKCSReq signed by them), for a NEW key of the same type unless
            --reuse-key. The current files stay in place (and as FILE.prev) until the new set is installed.
            """,
            options: [
                .value("--key", "FILE|URI", "the current key, replaced on success"),
                .value("--cert", "FILE", "the current certificate, replaced on success"),
                .value("--chain", "FILE", "where the CA chain goes (PEM)"),
                .flag("--reuse-key", "keep the current key"),
                .value("--key-type", "TYPE", keyTypes + " for the new key\n(default: that of the current key)"),
                .value("--challenge-file", "FILE", "the challenge: sent only if the CA refuses the renewal without it\n(FAILURE badRequest/badMessageCheck; RFC 8894 says omit it), and\nthe key of a reply encrypted to it (EC keys, PasswordRecipientInfo)"),
            ] + challengeSources + p12 + polling + pinning + token + network,
            run: Commands.renew),
        Command(
            name: "getcaps", summary: "print the CA's capabilities (GetCACaps)", synopsis: "--url URL [--json]",
            about: """
            Prints the capabilities the CA announces and what scep-agent would choose from them. An HTTP
            error (404 for a mistyped path) exits 4.
            """,
            options: network, run: Commands.getcaps),
        Command(
            name: "getca", summary: "print the CA/RA certificates with their SHA-256 fingerprints, to pin",
            synopsis: "--url URL [--out FILE] [--ca-fingerprint SHA256] [--json]",
            about: """
            Prints each certificate GetCACert returns: role (CA, RA, intermediate, or unverified when it does
            not verify under the CA), subject and SHA-256 fingerprint, the value to pin with --ca-fingerprint.
            With --ca-fingerprint, fails (exit 7) unless it matches.
            """,
            options: [
                .value("--out", "FILE", "write the CA and the CA certificates that verify under it as PEM"),
                .value("--ca-fingerprint", "SHA256", "the pin the CA must match (hex, colons optional)"),
            ] + network,
            run: Commands.getca),
        Command(
            name: "getnextca", summary: "fetch and verify the CA's successor (GetNextCACert)",
            synopsis: "--url URL --ca-fingerprint SHA256 [--out FILE] [--json]",
            about: """
            Fetches the certificate that will succeed the pinned CA (GetNextCACert, RFC 8894 §4.7.1) and
            prints it. Only a reply signed by the pinned CA (or its RA), with contentType and messageDigest
            signed, whose signed content holds a CA certificate taking over from the pinned one is accepted;
            anything else exits 7 and writes nothing. Exit 9 when the server does not offer GetNextCACert.
            """,
            options: [.value("--out", "FILE", "write the verified successor as PEM")] + pinning + network,
            run: Commands.getnextca),
        Command(
            name: "getcert", summary: "fetch a certificate by serial number (GetCert)",
            synopsis: "--url URL --ca-fingerprint SHA256 --key FILE --cert FILE --serial HEX --out FILE",
            about: """
            Asks the CA for the certificate with serial number HEX (GetCert), signing with --cert/--key, and
            writes it first, then its path to the pinned CA, all verified under the pinned CA (else exit 7).
            """,
            options: [
                .value("--key", "FILE|URI", "the key that signs the request"),
                .value("--cert", "FILE", "our certificate, which signs the request"),
                .value("--serial", "HEX", "serial number of the certificate to fetch"),
                .value("--out", "FILE", "where the certificate and its path go (PEM)"),
            ] + pinning + token + network,
            run: Commands.getcert),
        Command(
            name: "getcrl", summary: "fetch the CRL covering our certificate (GetCRL)",
            synopsis: "--url URL --ca-fingerprint SHA256 --key FILE --cert FILE --out FILE",
            about: """
            Asks the CA for the CRL that covers --cert (GetCRL) and writes it as PEM once its signature
            verifies with the pinned CA's key (else exit 7, nothing written).
            """,
            options: [
                .value("--key", "FILE|URI", "the key that signs the request"),
                .value("--cert", "FILE", "the certificate whose CRL is wanted; it signs the request"),
                .value("--out", "FILE", "where the CRL goes (PEM)"),
            ] + pinning + token + network,
            run: Commands.getcrl),
        Command(
            name: "csr", summary: "make a key and a PKCS#10 request offline",
            synopsis: "--subject DN [--san TYPE:VALUE]... [--challenge-file FILE] --key FILE --out FILE [OPTIONS]",
            about: """
            Writes a new private key (mode 0600 from creation; an existing file is refused unless
            --existing-key says to use it) and a PKCS#10 request for offline enrollment, and says what it wrote.
            """,
            options: [
                .value("--subject", "DN", "e.g. CN=gw-0042,O=Example,C=DE"),
                .value("--san", "TYPE:VALUE", "dns:NAME, ip:ADDR, email:ADDR or uri:URI", repeatable: true),
                .value("--challenge-file", "FILE", "challenge password to put in the request, first line of FILE"),
            ] + challengeSources + [
                .value("--key", "FILE|URI", "where the private key goes (a pkcs11: URI: made on the token)"),
                .value("--out", "FILE", "the request: mode 0600 when it carries a challenge password, else 0644"),
                .flag("--der", "write the request as DER instead of PEM"),
                .value("--key-type", "TYPE", keyTypes, default: "rsa:2048"),
                .flag("--existing-key", "use the key already at --key instead of making one"),
            ] + token + chatter,
            run: Commands.csr),
        Command(
            name: "run", summary: "the daemon: keep every certificate of a config file valid", synopsis: "--config FILE [--verbose]",
            about: """
            Keeps every [cert NAME] of FILE valid: renews at renew_at of the lifetime (minus jitter), retries
            with backoff, polls PENDING, re-enrolls an expired certificate when challenge_file is set, runs
            post_renew after each install. From ca_rollover before the CA ends it asks daily for the CA's
            successor (GetNextCACert), installs it beside the CA in `ca` and takes it as the pin once the
            server switches. Sleeps until the next due time; SIGHUP renews now; SIGTERM and
            SIGINT stop it between operations. Under systemd: Type=notify, STATUS= and WATCHDOG=1 messages.
            Exit 3 for a bad FILE, 8 when FILE or state_dir cannot be used or another daemon holds state_dir.
            """,
            options: config, run: DaemonCommands.run),
        Command(
            name: "status", summary: "what the daemon knows about each certificate", synopsis: "--config FILE [--json]",
            about: """
            Per certificate: subject, serial, notAfter, next renewal, last attempt and its result, failures,
            pending transaction; the CA's end, its successor when known, the pin after a switch, the next CA check.
            """,
            options: config + [.flag("--json", "print one JSON object on stdout")], run: DaemonCommands.status),
        Command(
            name: "check-config", summary: "validate a config file (every error as FILE:LINE: key, exit 3)", synopsis: "--config FILE",
            about: "Validates FILE and prints every error, in file order, as FILE:LINE: key 'K': reason (exit 3).",
            options: config, run: DaemonCommands.checkConfig),
        Command(
            name: "renew-now", summary: "renew now (signals a running daemon, else renews here)", synopsis: "--config FILE [--name NAME]",
            about: """
            Asks the running daemon to renew (all certificates, or NAME) through SIGHUP; with no daemon
            running, renews here and exits 0 when every renewal was issued, else with the failure's code
            (3: no such NAME, or nothing installed and no challenge_file to enroll with).
            """,
            options: config + [.value("--name", "NAME", "only the [cert NAME] section")], run: DaemonCommands.renewNow),
        Command(
            name: "wpa-config", summary: "print a wpa_supplicant 802.1X EAP-TLS network block for a [cert NAME]",
            synopsis: "--config FILE --name NAME [--iface IFACE] [--identity ID] [--include-pin]",
            about: """
            Prints a wpa_supplicant (2.10) network block for the installed [cert NAME] of FILE: key_mgmt=IEEE8021X,
            eap=TLS, eapol_flags=0, absolute paths of ca_cert (the installed ca file, else the chain),
            client_cert and private_key; a pkcs11: key becomes engine=1, engine_id="pkcs11" and key_id (needs
            libengine-pkcs11-openssl). After a renewal, reload with 'wpa_cli -i IFACE reconfigure' (post_renew).
            Exit 3 when FILE is invalid or has no [cert NAME], 8 when the certificate or CA is not installed.
            """,
            options: [
                .value("--config", "FILE", "the configuration file (docs/config.md)"),
                .value("--name", "NAME", "the [cert NAME] section"),
                .value("--iface", "IFACE", "print a whole wired config file (ap_scan=0 and the block) for IFACE"),
                .value("--identity", "ID", "the EAP identity (default: the certificate's CN, else NAME)"),
                .flag("--include-pin", "add pin=\"...\" for a pkcs11: key, read from the URI's pin-source, or\nprivate_key_passwd for a p12 file (the output then holds the secret: keep it at mode 0600)"),
            ],
            run: DaemonCommands.wpaConfig),
        Command(name: "version", summary: "print the version", synopsis: "", about: "Prints the version.", options: [],
                run: { _ throws(SCEPError) in Console.out("scep-agent " + CommandTable.version) }),
    ] }
}
