import DER
import SCEPCrypto
import SystemSupport

/// GetCACert replies (RFC 8894 §4.2.1): one DER certificate (`application/x-x509-ca-cert`), or a
/// degenerate certs-only SignedData with the CA and its RA certificates (`application/x-x509-ca-ra-cert`).
public enum CACertificates {
    /// The DER certificates in a GetCACert body, recognised by structure rather than content type.
    /// - Throws: `messageMalformed` when the body is neither a certificate nor a certs-only SignedData.
    public static func parse(_ body: [UInt8]) throws(SCEPError) -> [[UInt8]] {
        let node = try DERNode(parsing: body)
        guard let first = node.children.first, node.identifier == DER.Tag.sequence else {
            throw SCEPError(.messageMalformed, "GetCACert reply is not a certificate or a PKCS#7 chain")
        }
        if first.identifier == DER.Tag.objectIdentifier {
            let certificates = try SignedData(parsing: body).certificates
            guard !certificates.isEmpty else {
                throw SCEPError(.messageMalformed, "GetCACert PKCS#7 reply holds no certificates")
            }
            return certificates
        }
        return [body]
    }
}

/// The roles of the certificates a GetCACert returned, chosen as RFC 8894 §2.2 says, trusting
/// signatures and never names: a certificate other than the pinned CA gets a role only when it
/// verifies under the pinned CA (`Certificate.verifyChain`: signature, validity, path, algorithms).
/// An RA must also say it is one, with the extended key usage id-kp-cmcRA (RFC 6402) or Microsoft's
/// Certificate Request Agent (NDES): any other certificate of the CA, such as another device's, would
/// otherwise receive our challenge. With verified RA certificates present, encrypt to the one with
/// keyEncipherment and accept replies signed by those with digitalSignature; otherwise the CA does
/// both. The CA itself needs no keyUsage.
public struct CARoles {
    public let ca: Certificate
    public let encryption: Certificate
    /// Certificates whose signature on a CertRep (or a GetNextCACert reply) is accepted.
    public let signers: [Certificate]
    /// End-entity certificates that verify under the pinned CA and carry an RA extended key usage.
    public let raCertificates: [Certificate]
    /// CA certificates that verify under the pinned CA (intermediates: they may sign CRLs).
    public let intermediates: [Certificate]
    /// Certificates of the reply that do not verify under the pinned CA: never used, only reported.
    public let unverified: [UnverifiedCertificate]

    /// - Parameters:
    ///   - pinnedCA: the certificate that matched the pinned fingerprint.
    ///   - all: every certificate the GetCACert reply held.
    ///   - now: the agent's time, for validity.
    public init(pinnedCA: Certificate, all: [Certificate], now: Int64) {
        ca = pinnedCA
        var verified: [Certificate] = []
        var rejected: [UnverifiedCertificate] = []
        for certificate in all where certificate.der != pinnedCA.der {
            let others = all.filter { $0 !== certificate && $0.der != pinnedCA.der }
            do throws(SCEPError) {
                try Certificate.verifyChain(leaf: certificate, intermediates: others, trusted: [pinnedCA], at: now)
                verified.append(certificate)
            } catch {
                rejected.append(UnverifiedCertificate(certificate: certificate, reason: error.reason))
            }
        }
        intermediates = verified.filter { $0.isCA }
        var ras: [Certificate] = []
        for certificate in verified where !certificate.isCA {
            if certificate.extendedKeyUsage.contains(where: { Self.registrationAuthorityUsages.contains($0) }) {
                ras.append(certificate)
            } else {
                rejected.append(UnverifiedCertificate(certificate: certificate, reason: "it is issued by the pinned CA but is no RA certificate "
                    + "(no extended key usage id-kp-cmcRA or Certificate Request Agent), like any device's certificate"))
            }
        }
        unverified = rejected
        raCertificates = ras
        func allows(_ certificate: Certificate, _ usage: KeyUsage) -> Bool {
            guard let keyUsage = certificate.keyUsage else { return true }
            return keyUsage.contains(usage)
        }
        encryption = ras.first { allows($0, .keyEncipherment) && $0.publicKey.keyType.isRSA } ?? pinnedCA
        signers = ras.filter { allows($0, .digitalSignature) } + [pinnedCA]
    }

    /// id-kp-cmcRA (RFC 6402 §2.10) and Microsoft's Certificate Request Agent, which NDES RA certificates carry.
    public static let registrationAuthorityUsages = ["1.3.6.1.5.5.7.3.28", "1.3.6.1.4.1.311.20.2.1"]

    /// The verified CA certificates (the pinned CA and its intermediates): what a trust bundle holds.
    public var authorities: [Certificate] { [ca] + intermediates }

    /// Every certificate that has a role: the pinned CA, its verified intermediates and RA certificates.
    public var trusted: [Certificate] { authorities + raCertificates }
}

/// A certificate from a GetCACert reply that is not used, and why.
public struct UnverifiedCertificate {
    public let certificate: Certificate
    public let reason: String
}

/// GetCACaps (RFC 8894 §3.5.2): one keyword per line, case-insensitive; unknown keywords ignored.
public struct Capabilities: CustomStringConvertible, Equatable {
    /// "AES": AES-128-CBC (RFC 8894 Table 7).
    public var aes = false
    /// "AES256" or "AES-256": not in RFC 8894, sent by some servers to offer AES-256-CBC.
    public var aes256 = false
    public var des3 = false
    public var getNextCACert = false
    public var postPKIOperation = false
    public var renewal = false
    public var sha1 = false
    public var sha256 = false
    public var sha512 = false
    public var scepStandard = false
    public var update = false
    /// The keywords as the server sent them (for display).
    public var keywords: [String] = []

    public init() {}

    /// Whether `body` can be a GetCACaps answer: printable ASCII keywords, one per line (or nothing). An
    /// HTML page (a captive portal, a web server's index) is not: read as capabilities it would offer
    /// nothing and push the request down to 3DES and SHA-1.
    public static func isCapabilityList(_ body: [UInt8]) -> Bool {
        if ASCII.trimmed(body).first == UInt8(ascii: "<") { return false }
        return body.allSatisfy { ASCII.isBlank($0) || ($0 >= 0x20 && $0 < 0x7F) }
    }

    public init(parsing body: [UInt8]) {
        var lines: [String] = []
        var current: [UInt8] = []
        for byte in body + [UInt8(ascii: "\n")] {
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                let line = String(decoding: ASCII.trimmed(current), as: UTF8.self)
                if !line.isEmpty { lines.append(line) }
                current = []
            } else {
                current.append(byte)
            }
        }
        for line in lines {
            // Shown by getcaps and logged: bounded (the check above already keeps it printable).
            keywords.append(ASCII.printable(line))
            switch ASCII.uppercased(line) {
            case "AES": aes = true
            case "AES256", "AES-256": aes256 = true
            case "DES3": des3 = true
            case "GETNEXTCACERT": getNextCACert = true
            case "POSTPKIOPERATION": postPKIOperation = true
            case "RENEWAL": renewal = true
            case "SHA-1": sha1 = true
            case "SHA-256": sha256 = true
            case "SHA-512": sha512 = true
            case "SCEPSTANDARD": scepStandard = true
            case "UPDATE": update = true
            default: break
            }
        }
        // RFC 8894 §3.5.2: SCEPStandard implies AES, POSTPKIOperation and SHA-256.
        if scepStandard {
            aes = true
            postPKIOperation = true
            sha256 = true
        }
    }

    /// Strongest content cipher offered: AES-256 > AES-128 > 3DES. RFC 8894 defines "AES" as
    /// AES-128-CBC, so AES-256 is chosen only when the server names it explicitly.
    public var contentCipher: ContentCipher {
        if aes256 { return .aes256CBC }
        if aes { return .aes128CBC }
        return .tripleDESCBC
    }

    /// Strongest digest offered: SHA-512 > SHA-256 > SHA-1 (SHA-1 only when nothing else is offered).
    public var digest: DigestAlgorithm {
        if sha512 { return .sha512 }
        if sha256 { return .sha256 }
        return .sha1
    }

    /// True when nothing was offered: a legacy server (3DES + SHA-1 then, with a warning).
    public var isEmpty: Bool { keywords.isEmpty }

    public var description: String { keywords.joined(separator: " ") }
}
