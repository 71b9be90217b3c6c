import DER
import SCEPCrypto
import SystemSupport

/// Reading keys and certificates from files, with errors that name the file.
public enum CredentialFiles {
    /// Runs `body`, putting in front of its error what the file is for and the option or config key
    /// that named it ("challenge file (--challenge-file): open /x: No such file or directory").
    public static func naming<T>(_ role: String, setBy: String, _ body: () throws(SCEPError) -> T) throws(SCEPError) -> T {
        do throws(SCEPError) {
            return try body()
        } catch {
            var named = error
            named.reason = role + " (" + setBy + "): " + error.reason
            throw named
        }
    }

    public static func loadPrivateKey(_ path: String) throws(SCEPError) -> SoftwarePrivateKey {
        let bytes = try FileSystem.read(path)
        do throws(SCEPError) {
            return try SoftwarePrivateKey(importing: bytes)
        } catch {
            throw SCEPError(.fileFormat, "key file " + path + " is not a usable private key: " + error.reason, detail: error.detail)
        }
    }

    /// Certificates in a PEM (any number of blocks) or DER file.
    public static func loadCertificates(_ path: String) throws(SCEPError) -> [Certificate] {
        let bytes = try FileSystem.read(path)
        do throws(SCEPError) {
            if bytes.first == 0x30 { return [try Certificate(der: bytes)] }
            var certificates: [Certificate] = []
            for block in try PEM.decode(String(decoding: bytes, as: UTF8.self)) where block.label == "CERTIFICATE" {
                certificates.append(try Certificate(der: block.der))
            }
            guard !certificates.isEmpty else { throw SCEPError(.fileFormat, "no CERTIFICATE block") }
            return certificates
        } catch {
            throw SCEPError(.fileFormat, "certificate file " + path + " is not a PEM or DER certificate: " + error.reason, detail: error.detail)
        }
    }

    public static func loadCertificate(_ path: String) throws(SCEPError) -> Certificate {
        try loadCertificates(path)[0]
    }

    public static func pem(_ certificates: [Certificate]) -> [UInt8] {
        var text = ""
        for certificate in certificates { text += PEM.encode(label: "CERTIFICATE", der: certificate.der) }
        return Array(text.utf8)
    }

    /// A challenge password from a file: the first line, without its line ending.
    public static func loadChallenge(_ path: String) throws(SCEPError) -> String {
        var bytes = try FileSystem.read(path, limit: 64 * 1024)
        defer { SecureMemory.wipe(&bytes) }
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        guard !line.isEmpty else { throw SCEPError(.fileFormat, "challenge file " + path + " is empty") }
        return String(decoding: line, as: UTF8.self)
    }
}
