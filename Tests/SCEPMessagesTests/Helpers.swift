import DER
import Foundation
import SCEPCrypto
import SCEPMessages
import TestSupport

let scepserver = "scepserver-2.1.0"

/// One RSA-2048 key generated per process (generation is the slow part); each test imports its own
/// copy because a key object's blinding RNG is not shared across threads.
let sharedRSAKeyPEM: String = {
    let random = try! RandomGenerator()
    return try! SoftwarePrivateKey.generate(.rsa(bits: 2048), random: random).pem()
}()

func rsaKey() throws -> SoftwarePrivateKey {
    try SoftwarePrivateKey(importing: Array(sharedRSAKeyPEM.utf8))
}

/// A throwaway CA made by the openssl CLI: RSA-2048 (or `newKey`'s algorithm), self-signed, with its key.
struct OpenSSLCA {
    let scratch: ScratchDirectory
    let certificatePath: String
    let keyPath: String
    let certificate: Certificate
    let key: SoftwarePrivateKey

    /// - Parameter newKey: `openssl req -newkey` and its options, e.g. `["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]`.
    init(name: String = "Test CA", newKey: [String] = ["rsa:2048"]) throws {
        scratch = try ScratchDirectory()
        keyPath = scratch.path("ca-key.pem")
        certificatePath = scratch.path("ca.pem")
        try OpenSSL.run(["req", "-x509", "-newkey"] + newKey + ["-nodes", "-keyout", keyPath, "-out", certificatePath,
                         "-subj", "/O=scep-agent tests/CN=" + name, "-days", "2"])
        let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        certificate = try Certificate(der: try PEM.decode(pem)[0].der)
        key = try SoftwarePrivateKey(importing: Array(try Data(contentsOf: URL(fileURLWithPath: keyPath))))
    }
}

func selfSignedCertificate(subject: String, key: PrivateKey) throws -> Certificate {
    let random = try RandomGenerator()
    let der = try SignerCertificate.selfSigned(subject: try DistinguishedName(parsing: subject), key: key, now: Int64(Date().timeIntervalSince1970), random: random)
    return try Certificate(der: der)
}
