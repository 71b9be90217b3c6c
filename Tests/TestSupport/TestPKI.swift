import Foundation

/// A small PKI made by the openssl CLI once per test process: root, intermediate, leaves (one
/// expired, one past 2049), and a foreign CA with the root's name.
public struct TestPKI: Sendable {
    public let root: [UInt8]
    public let leaf: [UInt8]
    public let leafSPKI: [UInt8]
    public let leafFingerprint: String
    public let leafNotBefore: Int64
    public let leafNotAfter: Int64
    public let intermediate: [UInt8]
    public let leafUnderIntermediate: [UInt8]
    public let otherCA: [UInt8]
    public let otherLeaf: [UInt8]
    public let longLived: [UInt8]
    public let longLivedNotAfter: Int64
    /// Valid from 2020-01-01 to 2021-01-01 (UTC), under `root`.
    public let expired: [UInt8]
    /// The P-256 key of every leaf (PEM).
    public let leafKey: [UInt8]
    /// `leaf`'s twin signed by `root` with SHA-1.
    public let sha1Leaf: [UInt8]
    /// A CA with an RSA-1024 key (`weakCA`) and a leaf it signed with SHA-256.
    public let weakCA: [UInt8]
    public let leafUnderWeakCA: [UInt8]
    /// An RA certificate (keyEncipherment, digitalSignature, extended key usage id-kp-cmcRA) issued by `root`.
    public let ra: [UInt8]
    /// CRLs: by `root` (SHA-256), by `otherCA` (same name as root, another key), by `root` with SHA-1.
    public let rootCRL: [UInt8]
    public let otherCACRL: [UInt8]
    public let sha1RootCRL: [UInt8]

    public static let shared: TestPKI = try! TestPKI()

    private init() throws {
        let scratch = try ScratchDirectory()
        func path(_ name: String) -> String { scratch.path(name) }
        func der(_ name: String) throws -> [UInt8] {
            try OpenSSL.run(["x509", "-in", path(name), "-outform", "DER"])
        }
        func date(_ name: String, _ which: String) throws -> Int64 {
            // e.g. "notAfter=2026-12-04 20:40:00Z"
            let line = try OpenSSL.text(["x509", "-in", path(name), "-noout", "-" + which, "-dateopt", "iso_8601"])
            let value = line.split(separator: "=")[1].trimmingCharacters(in: .whitespacesAndNewlines)
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
            return Int64(formatter.date(from: value)!.timeIntervalSince1970)
        }

        try OpenSSL.run([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("root.key"), "-out", path("root.pem"),
            "-subj", "/CN=Test Root CA/O=Example", "-days", "30", "-set_serial", "1",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        _ = try scratch.write("leaf.ext", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth,serverAuth\n")
        _ = try scratch.write("ra.ext", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=1.3.6.1.5.5.7.3.28\n")
        _ = try scratch.write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        try OpenSSL.run([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("leaf.key"),
            "-subj", "/CN=gw-0042/O=Example", "-out", path("leaf.csr"),
        ])
        // Serial 128 must be encoded with a leading zero octet (02 02 00 80).
        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"),
            "-set_serial", "128", "-days", "10", "-extfile", path("leaf.ext"), "-out", path("leaf.pem"),
        ])
        try OpenSSL.run([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("inter.key"),
            "-subj", "/CN=Test Intermediate CA/O=Example", "-out", path("inter.csr"),
        ])
        try OpenSSL.run([
            "x509", "-req", "-in", path("inter.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"),
            "-set_serial", "2", "-days", "20", "-extfile", path("ca.ext"), "-out", path("inter.pem"),
        ])
        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("inter.pem"), "-CAkey", path("inter.key"),
            "-set_serial", "3", "-days", "10", "-extfile", path("leaf.ext"), "-out", path("leaf2.pem"),
        ])
        // Same subject as the root, different key: a name match alone must not pass.
        try OpenSSL.run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", path("other.key"),
            "-out", path("other.pem"), "-subj", "/CN=Test Root CA/O=Example", "-days", "30",
        ])
        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("other.pem"), "-CAkey", path("other.key"),
            "-set_serial", "4", "-days", "10", "-extfile", path("leaf.ext"), "-out", path("otherleaf.pem"),
        ])
        // notAfter beyond 2049 is a GeneralizedTime.
        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"),
            "-set_serial", "5", "-days", "40000", "-out", path("long.pem"),
        ])

        // `openssl ca` is the CLI that takes explicit dates.
        _ = try scratch.write("index.txt", "")
        _ = try scratch.write("serial.txt", "1000\n")
        _ = try scratch.write(
            "ca.cnf",
            "[ca]\ndefault_ca = test\n[test]\ndatabase = " + path("index.txt") + "\nserial = " + path("serial.txt")
                + "\nnew_certs_dir = " + scratch.url.path + "\ndefault_md = sha256\npolicy = anything\nunique_subject = no\n"
                + "[anything]\ncommonName = supplied\n")
        try OpenSSL.run([
            "ca", "-batch", "-config", path("ca.cnf"), "-cert", path("root.pem"), "-keyfile", path("root.key"),
            "-in", path("leaf.csr"), "-out", path("expired.pem"), "-startdate", "20200101000000Z",
            "-enddate", "20210101000000Z", "-notext",
        ])

        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"),
            "-set_serial", "6", "-days", "10", "-sha1", "-extfile", path("leaf.ext"), "-out", path("sha1leaf.pem"),
        ])
        try OpenSSL.run([
            "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", path("weak.key"), "-out", path("weak.pem"),
            "-subj", "/CN=Weak CA/O=Example", "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try OpenSSL.run([
            "x509", "-req", "-in", path("leaf.csr"), "-CA", path("weak.pem"), "-CAkey", path("weak.key"),
            "-set_serial", "7", "-days", "10", "-extfile", path("leaf.ext"), "-out", path("weakleaf.pem"),
        ])
        try OpenSSL.run([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ra.key"), "-subj", "/CN=Test RA/O=Example", "-out", path("ra.csr"),
        ])
        try OpenSSL.run([
            "x509", "-req", "-in", path("ra.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"),
            "-set_serial", "8", "-days", "10", "-extfile", path("ra.ext"), "-out", path("ra.pem"),
        ])
        func crl(_ certificate: String, _ key: String, _ digest: String, _ out: String) throws -> [UInt8] {
            try OpenSSL.run([
                "ca", "-batch", "-config", path("ca.cnf"), "-gencrl", "-cert", path(certificate), "-keyfile", path(key),
                "-crldays", "7", "-md", digest, "-out", path(out),
            ])
            return try OpenSSL.run(["crl", "-in", path(out), "-outform", "DER"])
        }
        rootCRL = try crl("root.pem", "root.key", "sha256", "root.crl")
        otherCACRL = try crl("other.pem", "other.key", "sha256", "other.crl")
        sha1RootCRL = try crl("root.pem", "root.key", "sha1", "sha1root.crl")
        sha1Leaf = try der("sha1leaf.pem")
        weakCA = try der("weak.pem")
        leafUnderWeakCA = try der("weakleaf.pem")
        ra = try der("ra.pem")

        root = try der("root.pem")
        leaf = try der("leaf.pem")
        leafSPKI = try OpenSSL.run(["pkey", "-in", path("leaf.key"), "-pubout", "-outform", "DER"])
        let fingerprintLine = try OpenSSL.text(["x509", "-in", path("leaf.pem"), "-noout", "-fingerprint", "-sha256"])
        leafFingerprint = String(fingerprintLine.split(separator: "=")[1]).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: ":", with: "").lowercased()
        leafNotBefore = try date("leaf.pem", "startdate")
        leafNotAfter = try date("leaf.pem", "enddate")
        intermediate = try der("inter.pem")
        leafUnderIntermediate = try der("leaf2.pem")
        otherCA = try der("other.pem")
        otherLeaf = try der("otherleaf.pem")
        longLived = try der("long.pem")
        longLivedNotAfter = try date("long.pem", "enddate")
        expired = try der("expired.pem")
        leafKey = Array(try Data(contentsOf: URL(fileURLWithPath: path("leaf.key"))))
    }
}

