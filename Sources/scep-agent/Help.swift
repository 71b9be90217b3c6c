/// Usage text of each subcommand, printed by `--help` and `scep-agent help COMMAND`.
enum Help {
    static let version = "0.1.0"

    static let overview = """
    scep-agent \(version): certificate enrollment over SCEP (RFC 8894) for gateways

    usage: scep-agent COMMAND [OPTIONS]

    commands:
      enroll    enroll a new device certificate and install key, certificate and chain
      renew     renew the installed certificate (RenewalReq signed by the current one)
      getcaps   print the CA's capabilities (GetCACaps)
      getca     print the CA/RA certificates with their SHA-256 fingerprints, to pin
      getnextca fetch and verify the CA's successor (GetNextCACert)
      getcert   fetch a certificate by serial number (GetCert)
      getcrl    fetch the CRL covering our certificate (GetCRL)
      csr       make a key and a PKCS#10 request offline
      run           the daemon: keep every certificate of a config file valid
      status        what the daemon knows about each certificate
      check-config  validate a config file (exit 3 with file:line: key on errors)
      renew-now     renew now (signals a running daemon, else renews here)
      wpa-config    print a wpa_supplicant 802.1X EAP-TLS network block for a [cert NAME]
      version   print the version

    'scep-agent COMMAND --help' describes each command. Exit codes: 0 issued, 2 usage,
    4 transport, 5 server FAILURE, 6 still PENDING, 7 verification failed, 8 file error,
    9 malformed reply, 1 internal error (README lists them all).
    """

    static let common = """
      --url URL                 SCEP endpoint, e.g. http://ca.example.net/scep (http or https)
      --tls-ca FILE             CA bundle for https (default: the system bundle)
      --proxy URL               HTTP proxy (default: http_proxy / https_proxy / no_proxy)
      --timeout SECONDS         total time for each HTTP exchange (default 60)
      --connect-timeout SECONDS time to connect (default 10)
      --verbose                 say what happens; --quiet: errors only
    """

    static let pinning = """
      --ca-fingerprint SHA256   pin of the CA certificate (hex, colons optional; 'getca' prints it)
      --insecure-skip-ca-pin    trust whatever CA the server sends (never in production)
      --strict                  refuse a CA that offers no AES or SHA-256, or answers with single DES or SHA-1
    """

    static let enroll = """
    usage: scep-agent enroll --url URL --ca-fingerprint SHA256 --subject DN [--san TYPE:VALUE]...
                             [--challenge-file FILE | --challenge-env VAR] --key FILE --cert FILE [--chain FILE]
                             [--key-type rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384] [--existing-key] [--json]

    Makes a key (mode 0600 from creation), sends a PKCSReq signed by a transient self-signed
    certificate, verifies the reply and installs key, certificate and chain as one set.

      --subject DN              e.g. CN=gw-0042,O=Example,C=DE
      --san TYPE:VALUE          dns:NAME, ip:ADDR, email:ADDR or uri:URI; repeatable
      --challenge-file FILE     challenge password, first line of FILE
      --challenge-env VAR       challenge password from the environment
      --challenge VALUE         challenge password in argv (other users can read it: avoid)
      --key FILE                where the private key goes (refused if it exists, unless --existing-key)
      --cert FILE               where the certificate goes (PEM)
      --chain FILE              where the CA chain goes (PEM)
      --key-type TYPE           rsa:2048 (default), rsa:3072, rsa:4096, ec:p256, ec:p384
      --existing-key            enroll the key already at --key instead of making one
      --poll-interval SECONDS   first wait between polls while PENDING (default 10)
      --max-poll-time SECONDS   give up polling after this long (default 600; exit 6)
      --json                    print one JSON object on stdout
    \(pinning)
    \(common)
    """

    static let renew = """
    usage: scep-agent renew --url URL --ca-fingerprint SHA256 --key FILE --cert FILE [--chain FILE]
                            [--reuse-key] [--challenge-file FILE] [--json]

    Renews the certificate at --cert: a RenewalReq signed by the current certificate and key when
    the CA offers Renewal (else a PKCSReq signed by them), for a NEW key of the same type unless
    --reuse-key. The current files stay in place (and as FILE.prev) until the new set is installed.

      --key FILE / --cert FILE  the current key and certificate, replaced on success
      --chain FILE              where the CA chain goes
      --reuse-key               keep the current key
      --key-type TYPE           type of the new key (default: that of the current key)
      --challenge-file FILE     the challenge: sent only if the CA refuses the renewal without it
                                (FAILURE badRequest/badMessageCheck; RFC 8894 says omit it), and
                                the key of a reply encrypted to it (EC keys, PasswordRecipientInfo)
      --challenge-env VAR       the same from the environment
      --poll-interval SECONDS, --max-poll-time SECONDS, --json  as for enroll
    \(pinning)
    \(common)
    """

    static let getcaps = """
    usage: scep-agent getcaps --url URL [--json]

    Prints the capabilities the CA announces and what scep-agent would choose from them.
    \(common)
    """

    static let getca = """
    usage: scep-agent getca --url URL [--out FILE] [--ca-fingerprint SHA256] [--json]

    Prints each certificate GetCACert returns: role (CA, RA, intermediate, or unverified when it does
    not verify under the CA), subject and SHA-256 fingerprint, the value to pin with --ca-fingerprint.
    With --ca-fingerprint, fails (exit 7) unless it matches.

      --out FILE                write the CA and the CA certificates that verify under it as PEM
    \(common)
    """

    static let getnextca = """
    usage: scep-agent getnextca --url URL --ca-fingerprint SHA256 [--out FILE] [--json]

    Fetches the certificate that will succeed the pinned CA (GetNextCACert, RFC 8894 §4.7.1) and
    prints it. Only a reply signed by the pinned CA (or its RA), with contentType and messageDigest
    signed, whose signed content holds a CA certificate taking over from the pinned one is accepted;
    anything else exits 7 and writes nothing. Exit 9 when the server does not offer GetNextCACert.

      --out FILE                write the verified successor as PEM
    \(pinning)
    \(common)
    """

    static let getcert = """
    usage: scep-agent getcert --url URL --ca-fingerprint SHA256 --key FILE --cert FILE --serial HEX --out FILE

    Asks the CA for the certificate with serial number HEX (GetCert), signing with --cert/--key, and
    writes it first, then its path to the pinned CA, all verified under the pinned CA (else exit 7).
    \(pinning)
    \(common)
    """

    static let getcrl = """
    usage: scep-agent getcrl --url URL --ca-fingerprint SHA256 --key FILE --cert FILE --out FILE

    Asks the CA for the CRL that covers --cert (GetCRL) and writes it as PEM once its signature
    verifies with the pinned CA's key (else exit 7, nothing written).
    \(pinning)
    \(common)
    """

    static let csr = """
    usage: scep-agent csr --subject DN [--san TYPE:VALUE]... [--challenge-file FILE]
                          [--key-type TYPE] --key KEYFILE --out CSRFILE [--der] [--existing-key]

    Writes a new private key (mode 0600 from creation; an existing file is refused unless
    --existing-key says to use it) and a PKCS#10 request for offline enrollment.

      --out CSRFILE             the request: mode 0600 when it carries a challenge password, else 0644
      --der                     write the request as DER instead of PEM
    """

    static let run = """
    usage: scep-agent run --config FILE [--verbose]

    Keeps every [cert NAME] of FILE valid: renews at renew_at of the lifetime (minus jitter), retries
    with backoff, polls PENDING, re-enrolls an expired certificate when challenge_file is set, runs
    post_renew after each install. From ca_rollover before the CA ends it asks daily for the CA's
    successor (GetNextCACert), installs it beside the CA in `ca` and takes it as the pin once the
    server switches. Sleeps until the next due time; SIGHUP renews now; SIGTERM and
    SIGINT stop it between operations. Under systemd: Type=notify, STATUS= and WATCHDOG=1 messages.
    docs/config.md documents the file.
    """

    static let status = """
    usage: scep-agent status --config FILE [--json]

    Per certificate: subject, serial, notAfter, next renewal, last attempt and its result, failures,
    pending transaction; the CA's end, its successor when known, the pin after a switch, the next CA check.
    """

    static let checkConfig = """
    usage: scep-agent check-config --config FILE

    Validates FILE; errors name the file, the line and the key (exit 3).
    """

    static let renewNow = """
    usage: scep-agent renew-now --config FILE [--name NAME]

    Asks the running daemon to renew (all certificates, or NAME) through SIGHUP; with no daemon
    running, renews here and exits 0 when every renewal was issued.
    """

    static let wpaConfig = """
    usage: scep-agent wpa-config --config FILE --name NAME [--iface IFACE] [--identity ID] [--include-pin]

    Prints a wpa_supplicant (2.10) network block for the installed [cert NAME] of FILE: key_mgmt=IEEE8021X,
    eap=TLS, eapol_flags=0, absolute paths of ca_cert (the installed ca file, else the chain),
    client_cert and private_key; a pkcs11: key becomes engine=1, engine_id="pkcs11" and key_id (needs
    libengine-pkcs11-openssl). The identity is the certificate's CN unless --identity says otherwise
    (no CN: NAME). After a renewal, reload with 'wpa_cli -i IFACE reconfigure' (post_renew).

      --iface IFACE             print a whole wired config file (ap_scan=0 and the block) for IFACE
      --identity ID             the EAP identity (default: the certificate's CN, else NAME)
      --include-pin             add pin="..." for a pkcs11: key, read from the URI's pin-source
                                (the output then holds the PIN: keep the file at mode 0600)

    Exit 3 when FILE is invalid or has no [cert NAME], 8 when the certificate or CA is not installed.
    """

    static func text(for command: String) -> String? {
        switch command {
        case "enroll": enroll
        case "renew": renew
        case "getcaps": getcaps
        case "getca": getca
        case "getnextca": getnextca
        case "getcert": getcert
        case "getcrl": getcrl
        case "csr": csr
        case "version": "usage: scep-agent version"
        case "run": run
        case "status": status
        case "check-config": checkConfig
        case "renew-now": renewNow
        case "wpa-config": wpaConfig
        default: nil
        }
    }
}
