import DER
import SCEPCrypto
import SystemSupport

/// The transient self-signed certificate that signs a PKCSReq (RFC 8894 §2.3): "the requester
/// MUST use a self-signed certificate" when it has none from the CA. Same subject as the CSR.
///
///     TBSCertificate ::= SEQUENCE {
///         version         [0] EXPLICIT Version DEFAULT v1,
///         serialNumber    CertificateSerialNumber,
///         signature       AlgorithmIdentifier,
///         issuer          Name,
///         validity        Validity,
///         subject         Name,
///         subjectPublicKeyInfo SubjectPublicKeyInfo,
///         extensions      [3] EXPLICIT Extensions OPTIONAL }
public enum SignerCertificate {
    /// How long the transient certificate is valid around `now`: an hour back for clock skew,
    /// a week ahead to cover manual approval of a PENDING request.
    public static let backdateSeconds: Int64 = 3600
    public static let lifetimeSeconds: Int64 = 7 * 86_400

    public static func selfSigned(subject: DistinguishedName, key: PrivateKey, now: Int64, random: RandomGenerator,
                                  digest: DigestAlgorithm = .sha256) throws(SCEPError) -> [UInt8] {
        var serial = try random.bytes(8)
        serial[0] = (serial[0] & 0x7F) | 0x01
        let usage: KeyUsage = key.keyType.isRSA ? [.digitalSignature, .keyEncipherment] : [.digitalSignature]
        let tbs = DER.sequence([
            DER.explicit(0, [DER.integer(2)]),
            DER.unsignedInteger(serial),
            AlgorithmIdentifiers.signature(key.keyType, digest),
            subject.der,
            DER.sequence([DER.time(unixSeconds: now - backdateSeconds), DER.time(unixSeconds: now + lifetimeSeconds)]),
            subject.der,
            key.publicKeyInfo,
            DER.explicit(3, [DER.sequence([
                X509Extension.encode(OID.keyUsage, critical: true, value: DER.namedBitString([UInt8(usage.rawValue & 0xFF)])),
            ])]),
        ])
        let signature = try key.sign(digest: Digest.hash(digest, tbs), algorithm: digest)
        return DER.sequence([tbs, AlgorithmIdentifiers.signature(key.keyType, digest), DER.bitString(signature)])
    }
}

/// IssuerAndSerialNumber (RFC 5652 §10.2.4), also SCEP's GetCert and GetCRL content (RFC 8894 §3.3.3, §3.3.4).
///
///     IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
public enum IssuerAndSerialNumber {
    public static func encode(issuer: [UInt8], serial: [UInt8]) -> [UInt8] {
        DER.sequence([issuer, DER.tlv(DER.Tag.integer, serial)])
    }
    public static func encode(_ certificate: Certificate) -> [UInt8] {
        encode(issuer: certificate.issuerDER, serial: certificate.serial)
    }
}

/// IssuerAndSubject (RFC 8894 §3.3.2), the content of CertPoll.
///
///     IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }
public enum IssuerAndSubject {
    public static func encode(issuer: [UInt8], subject: [UInt8]) -> [UInt8] {
        DER.sequence([issuer, subject])
    }
}
