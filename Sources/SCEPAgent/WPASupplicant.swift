// A wpa_supplicant network block for the installed credentials (INTEROP.md, wpa_supplicant 2.10).
import DER
import SCEPPKCS11

public enum WPASupplicant {
    /// Renders an 802.1X EAP-TLS `network={...}` block. A file key becomes `private_key="PATH"`; a token
    /// key becomes `engine=1`, `engine_id="pkcs11"`, `key_id="pkcs11:..."` (the URI's path part: the
    /// engine loads its own module) and `pin="..."` when a PIN is given (libengine-pkcs11-openssl).
    /// - Parameters:
    ///   - identity: the EAP identity (usually the certificate's CN).
    ///   - caCertificate: absolute path of the CA certificate(s).
    ///   - clientCertificate: absolute path of the client certificate.
    ///   - key: where the private key is.
    ///   - pin: the token's user PIN, if wpa_supplicant should log in with it.
    /// - Throws: `usage` when a value would break out of its quoted string (a quote, a newline, a NUL).
    public static func networkBlock(identity: String, caCertificate: String, clientCertificate: String, key: KeyLocation, pin: String? = nil) throws(SCEPError) -> String {
        var lines = ["network={", "    key_mgmt=IEEE8021X", "    eap=TLS", "    eapol_flags=0"]
        lines.append("    identity=" + (try quoted(identity, "identity")))
        lines.append("    ca_cert=" + (try quoted(caCertificate, "ca_cert")))
        lines.append("    client_cert=" + (try quoted(clientCertificate, "client_cert")))
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
            lines.append("    private_key=" + (try quoted(key.path, "private_key")))
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
