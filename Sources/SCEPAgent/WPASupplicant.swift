// A wpa_supplicant network block for the installed credentials (INTEROP.md, wpa_supplicant 2.10).
import DER
import SCEPCrypto
import SCEPPKCS11
import SystemSupport

public enum WPASupplicant {
    /// Renders an 802.1X EAP-TLS `network={...}` block. A file key becomes `private_key="PATH"`; a token
    /// key becomes `engine=1`, `engine_id="pkcs11"`, `key_id="pkcs11:..."` (the URI's path part: the
    /// engine loads its own module) and `pin="..."` when a PIN is given (libengine-pkcs11-openssl).
    /// - Parameters:
    ///   - identity: the EAP identity (usually the certificate's CN).
    ///   - caCertificate: absolute path of the CA certificate(s).
    ///   - clientCertificate: absolute path of the client certificate.
    ///   - key: where the private key is.
    ///   - clientCertificate: nil when `key` is a PKCS#12 file that holds the certificate too.
    ///   - pin: the token's user PIN, if wpa_supplicant should log in with it; for a PKCS#12 file its passphrase.
    /// - Throws: `usage` when a value would break out of its quoted string (a quote, a newline, a NUL).
    public static func networkBlock(identity: String, caCertificate: String, clientCertificate: String?, key: KeyLocation, pin: String? = nil) throws(SCEPError) -> String {
        var lines = ["network={", "    key_mgmt=IEEE8021X", "    eap=TLS", "    eapol_flags=0"]
        lines.append("    identity=" + (try quoted(identity, "identity")))
        lines.append("    ca_cert=" + (try quoted(caCertificate, "ca_cert")))
        if let clientCertificate { lines.append("    client_cert=" + (try quoted(clientCertificate, "client_cert"))) }
        if var uri = key.uri {
            uri.pinSource = nil
            uri.pinValue = nil
            uri.modulePath = nil
            uri.moduleName = nil
            if uri.type == nil { uri.type = .privateKey }
            lines.append("    engine=1")
            lines.append("    engine_id=\"pkcs11\"")
            lines.append("    key_id=" + (try quoted(uri.description, "key_id")))
            if let pin { lines.append("    pin=" + (try quoted(pin, "pin"))) }
        } else {
            lines.append("    private_key=" + (try quoted(key.description, "private_key")))
            if clientCertificate == nil, let pin { lines.append("    private_key_passwd=" + (try quoted(pin, "private_key_passwd"))) }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func quoted(_ value: String, _ field: String) throws(SCEPError) -> String {
        for byte in value.utf8 where byte == UInt8(ascii: "\"") || byte < 0x20 || byte == 0x7F {
            throw SCEPError(.usage, "wpa_supplicant " + field + " cannot hold a quote or control character")
        }
        return "\"" + value + "\""
    }
}

extension WPASupplicant {
    /// The network block for one `[cert NAME]` of a configuration file, from its installed files:
    /// `ca_cert` is the installed `ca` file (else the chain), identity defaults to the certificate's CN
    /// (else the section name). A pkcs11: key gets the engine settings; its PIN (from the URI's
    /// pin-value or pin-source) only when `includePIN` says so.
    /// - Throws: `fileIO` when the certificate or its CA file is not installed.
    public static func networkBlock(for certificate: CertConfig, identity: String?, includePIN: Bool) throws(SCEPError) -> String {
        let certPath = certificate.paths.certificate
        guard FileSystem.exists(certPath) else {
            throw SCEPError(.fileIO, "[cert " + certificate.name + "]: no certificate installed at " + certPath + " (enroll first)")
        }
        let installed = try CredentialFiles.loadCertificate(certPath)
        var caPath: String? = nil
        for candidate in [certificate.paths.ca, certificate.paths.chain] {
            if let candidate, FileSystem.exists(candidate) {
                caPath = candidate
                break
            }
        }
        guard let caPath else {
            throw SCEPError(.fileIO, "[cert " + certificate.name + "]: no CA certificate installed (set ca or chain in the config and enroll)")
        }
        let name = identity ?? commonName(ofSubjectText: installed.subjectText) ?? certificate.name
        // A PKCS#12 file is read in one open: never a new key with the old certificate during an install.
        if let p12 = certificate.paths.p12 {
            let passphrase = try certificate.paths.p12PassphraseFile.map { path throws(SCEPError) in try CredentialFiles.loadChallenge(path) }
            return try networkBlock(identity: name, caCertificate: caPath, clientCertificate: nil, key: KeyLocation(filePath: p12), pin: includePIN ? passphrase : nil)
        }
        let key = certificate.paths.key
        var pin: String? = nil
        if includePIN, let uri = key.uri {
            pin = String(decoding: try TokenKeySlot.pin(uri: uri, options: TokenOptions()), as: UTF8.self)
        }
        return try networkBlock(identity: name, caCertificate: caPath, clientCertificate: certPath, key: key, pin: pin)
    }

    /// The CN of a subject as mbedTLS renders it (`CN=gw-0042, O=Example`, specials escaped with `\`),
    /// or nil when there is none.
    public static func commonName(ofSubjectText text: String) -> String? {
        var components: [[UInt8]] = [[]]
        var escaped = false
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if escaped {
                components[components.count - 1].append(byte)
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "+") {
                components.append([])
                while index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: " ") { index += 1 }
            } else if byte == UInt8(ascii: " ") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "+") {
                // " + " between the attributes of a multi-valued RDN
            } else {
                components[components.count - 1].append(byte)
            }
            index += 1
        }
        let prefix = Array("CN=".utf8)
        for component in components where component.count > prefix.count && component.starts(with: prefix) {
            return String(decoding: component.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }
}
