import DER
import SCEPCrypto
import SystemSupport

/// What goes into a PKCS#10 request besides the key.
public struct CertificationRequestTemplate {
    public var subject: DistinguishedName
    public var subjectAltNames: [SubjectAltName]
    /// RFC 8894 §2.2 / §3.3.1: the shared secret, in the challengePassword attribute.
    public var challengePassword: String?
    /// keyUsage bits to request (first octet of the named BIT STRING); nil leaves it out.
    public var keyUsage: KeyUsage?
    /// extKeyUsage OIDs to request; empty leaves it out.
    public var extendedKeyUsages: [String]
    public var digest: DigestAlgorithm

    public init(subject: DistinguishedName, subjectAltNames: [SubjectAltName] = [], challengePassword: String? = nil,
                keyUsage: KeyUsage? = nil, extendedKeyUsages: [String] = [], digest: DigestAlgorithm = .sha256) {
        self.subject = subject
        self.subjectAltNames = subjectAltNames
        self.challengePassword = challengePassword
        self.keyUsage = keyUsage
        self.extendedKeyUsages = extendedKeyUsages
        self.digest = digest
    }

    /// The usual device certificate: digitalSignature (+ keyEncipherment for RSA), clientAuth.
    public static func device(subject: DistinguishedName, subjectAltNames: [SubjectAltName], challengePassword: String?, keyType: KeyType) -> CertificationRequestTemplate {
        CertificationRequestTemplate(
            subject: subject, subjectAltNames: subjectAltNames, challengePassword: challengePassword,
            keyUsage: keyType.isRSA ? [.digitalSignature, .keyEncipherment] : [.digitalSignature],
            extendedKeyUsages: [OID.clientAuth])
    }
}

/// PKCS#10 (RFC 2986) certification request.
///
///     CertificationRequest ::= SEQUENCE {
///         certificationRequestInfo CertificationRequestInfo,
///         signatureAlgorithm       AlgorithmIdentifier,
///         signature                BIT STRING }
///     CertificationRequestInfo ::= SEQUENCE {
///         version       INTEGER { v1(0) },
///         subject       Name,
///         subjectPKInfo SubjectPublicKeyInfo,
///         attributes    [0] IMPLICIT SET OF Attribute }
public enum CertificationRequest {
    /// Builds and signs a CSR with `key`.
    public static func build(_ template: CertificationRequestTemplate, key: PrivateKey) throws(SCEPError) -> [UInt8] {
        var attributes: [[UInt8]] = []
        if let challenge = template.challengePassword {
            // DirectoryString: PrintableString where the characters allow, else UTF8String.
            let value = isPrintable(challenge) ? DER.printableString(challenge) : DER.utf8String(challenge)
            attributes.append(DER.sequence([DER.oid(OID.challengePassword), DER.setOf([value])]))
        }
        let extensions = requestedExtensions(template)
        if !extensions.isEmpty {
            attributes.append(DER.sequence([DER.oid(OID.extensionRequest), DER.setOf([DER.sequence(extensions)])]))
        }
        let info = DER.sequence([
            DER.integer(0),
            template.subject.der,
            key.publicKeyInfo,
            DER.implicit(0, DER.setOf(attributes)),
        ])
        let signature = try key.sign(digest: Digest.hash(template.digest, info), algorithm: template.digest)
        return DER.sequence([info, AlgorithmIdentifiers.signature(key.keyType, template.digest), DER.bitString(signature)])
    }

    static func requestedExtensions(_ template: CertificationRequestTemplate) -> [[UInt8]] {
        var extensions: [[UInt8]] = []
        if !template.subjectAltNames.isEmpty {
            extensions.append(X509Extension.encode(OID.subjectAltName, critical: false, value: DER.sequence(template.subjectAltNames.map { $0.der })))
        }
        if let usage = template.keyUsage {
            extensions.append(X509Extension.encode(OID.keyUsage, critical: true, value: DER.namedBitString([UInt8(usage.rawValue & 0xFF)])))
        }
        if !template.extendedKeyUsages.isEmpty {
            extensions.append(X509Extension.encode(OID.extKeyUsage, critical: false, value: DER.sequence(template.extendedKeyUsages.map { DER.oid($0) })))
        }
        return extensions
    }

    static func isPrintable(_ text: String) -> Bool {
        text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: " "), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "+"), UInt8(ascii: ","),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: "?"): true
            default: false
            }
        }
    }
}

/// X.509 Extension.
///
///     Extension ::= SEQUENCE {
///         extnID    OBJECT IDENTIFIER,
///         critical  BOOLEAN DEFAULT FALSE,
///         extnValue OCTET STRING }
public enum X509Extension {
    public static func encode(_ oid: String, critical: Bool, value: [UInt8]) -> [UInt8] {
        // DER omits a BOOLEAN equal to its DEFAULT.
        critical
            ? DER.sequence([DER.oid(oid), DER.boolean(true), DER.octetString(value)])
            : DER.sequence([DER.oid(oid), DER.octetString(value)])
    }
}
