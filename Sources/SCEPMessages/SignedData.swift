import DER
import SCEPCrypto
import SystemSupport

/// One CMS attribute: `Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }`.
public struct CMSAttribute {
    public let oid: String
    public let values: [DERNode]
}

/// How a SignerInfo names its signer's certificate.
public enum SignerIdentifier {
    case issuerAndSerialNumber(issuer: [UInt8], serial: [UInt8])
    case subjectKeyIdentifier([UInt8])

    /// True when `certificate` is the one named (always true for a key identifier: the signature decides).
    public func matches(_ certificate: Certificate) -> Bool {
        switch self {
        case .issuerAndSerialNumber(let issuer, let serial):
            return certificate.issuerDER == issuer && certificate.serial == serial
        case .subjectKeyIdentifier:
            return true
        }
    }
}

/// SignerInfo (RFC 5652 §5.3).
///
///     SignerInfo ::= SEQUENCE {
///         version            CMSVersion,
///         sid                SignerIdentifier,
///         digestAlgorithm    DigestAlgorithmIdentifier,
///         signedAttrs        [0] IMPLICIT SignedAttributes OPTIONAL,
///         signatureAlgorithm SignatureAlgorithmIdentifier,
///         signature          SignatureValue,
///         unsignedAttrs      [1] IMPLICIT UnsignedAttributes OPTIONAL }
public struct SignerInfo {
    public let signer: SignerIdentifier
    public let digest: DigestAlgorithm
    public let signedAttributes: [CMSAttribute]
    /// The signed attributes re-tagged as `SET OF`, exactly the bytes the signature covers (§5.4).
    public let signedAttributesForSignature: [UInt8]?
    public let signatureAlgorithmOID: String
    public let signature: [UInt8]

    init(parsing node: DERNode) throws(SCEPError) {
        var fields = try node.elements(DER.Tag.sequence, "SignerInfo")
        _ = try fields.next("version").smallInteger("SignerInfo.version")
        let sid = try fields.next("sid")
        if sid.identifier == DER.Tag.sequence {
            var issuerAndSerial = try sid.elements(DER.Tag.sequence, "SignerInfo.sid")
            let issuer = try issuerAndSerial.next(DER.Tag.sequence, "issuer").bytes
            let serial = try issuerAndSerial.next("serialNumber").integerBytes("SignerInfo.sid.serialNumber")
            signer = .issuerAndSerialNumber(issuer: issuer, serial: serial)
        } else if sid.identifier == DER.Tag.contextPrimitive(0) {
            signer = .subjectKeyIdentifier(Array(sid.contents))
        } else {
            throw SCEPError(.messageMalformed, "SignerInfo.sid has unexpected tag 0x" + String(sid.identifier, radix: 16))
        }
        var digestAlgorithm = try fields.next(DER.Tag.sequence, "digestAlgorithm").elements(DER.Tag.sequence, "digestAlgorithm")
        let digestOID = try digestAlgorithm.next("algorithm").objectIdentifier("SignerInfo.digestAlgorithm")
        guard let digest = AlgorithmIdentifiers.digestAlgorithm(oid: digestOID) else {
            throw SCEPError(.messageUnsupported, "SignerInfo digest algorithm " + digestOID + " is not supported (MD5 is never accepted)")
        }
        self.digest = digest
        if let attributesNode = fields.optional(DER.Tag.contextConstructed(0)) {
            var attributes: [CMSAttribute] = []
            for child in attributesNode.children {
                var attribute = try child.elements(DER.Tag.sequence, "Attribute")
                let oid = try attribute.next("attrType").objectIdentifier("Attribute.attrType")
                let values = try attribute.next(DER.Tag.set, "attrValues").children
                try attribute.finish()
                attributes.append(CMSAttribute(oid: oid, values: values))
            }
            signedAttributes = attributes
            var retagged = attributesNode.bytes
            retagged[0] = DER.Tag.set
            signedAttributesForSignature = retagged
        } else {
            signedAttributes = []
            signedAttributesForSignature = nil
        }
        var signatureAlgorithm = try fields.next(DER.Tag.sequence, "signatureAlgorithm").elements(DER.Tag.sequence, "signatureAlgorithm")
        signatureAlgorithmOID = try signatureAlgorithm.next("algorithm").objectIdentifier("SignerInfo.signatureAlgorithm")
        signature = try fields.next("signature").octets("SignerInfo.signature")
        _ = fields.optional(DER.Tag.contextConstructed(1))
        try fields.finish()
    }

    /// The single value of a signed attribute; nil when absent.
    /// - Throws: `messageBadAttribute` when it is present with other than one value.
    public func attribute(_ oid: String) throws(SCEPError) -> DERNode? {
        for attribute in signedAttributes where attribute.oid == oid {
            guard attribute.values.count == 1 else {
                throw SCEPError(.messageBadAttribute, "signed attribute " + oid + " has " + String(attribute.values.count) + " values, expected 1")
            }
            return attribute.values[0]
        }
        return nil
    }

    /// Checks the messageDigest attribute against `content` and the signature against `certificate`.
    /// - Throws: `messageSignatureInvalid` when either does not match.
    public func verify(content: [UInt8]?, with certificate: Certificate) throws(SCEPError) {
        let signedBytes: [UInt8]
        if let attributes = signedAttributesForSignature {
            guard let digestNode = try attribute(OID.messageDigest) else {
                throw SCEPError(.messageSignatureInvalid, "SignerInfo has signed attributes but no messageDigest")
            }
            let expected = try digestNode.octets("messageDigest")
            guard expected == Digest.hash(digest, content ?? []) else {
                throw SCEPError(.messageSignatureInvalid, "messageDigest does not match the signed content")
            }
            signedBytes = attributes
        } else {
            signedBytes = content ?? []
        }
        let valid = try certificate.publicKey.verify(signature: signature, digest: Digest.hash(digest, signedBytes), algorithm: digest)
        guard valid else {
            throw SCEPError(.messageSignatureInvalid, "signature does not verify with the certificate of " + certificate.subjectText)
        }
    }
}

/// CMS SignedData (RFC 5652 §5.1), parsed.
///
///     SignedData ::= SEQUENCE {
///         version          CMSVersion,
///         digestAlgorithms DigestAlgorithmIdentifiers,
///         encapContentInfo EncapsulatedContentInfo,
///         certificates     [0] IMPLICIT CertificateSet OPTIONAL,
///         crls             [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///         signerInfos      SignerInfos }
///     EncapsulatedContentInfo ::= SEQUENCE {
///         eContentType ContentType,
///         eContent     [0] EXPLICIT OCTET STRING OPTIONAL }
public struct SignedData {
    public let contentType: String
    /// The encapsulated content; nil when absent (a degenerate or detached SignedData).
    public let content: [UInt8]?
    /// DER of each certificate in `certificates`.
    public let certificates: [[UInt8]]
    /// DER of each CRL in `crls`.
    public let crls: [[UInt8]]
    public let signerInfos: [SignerInfo]

    /// Parses a SignedData ContentInfo.
    public init(parsing bytes: [UInt8], limits: DERLimits = .ber) throws(SCEPError) {
        let node = try DERNode(parsing: bytes, limits: limits)
        let info = try ContentInfo(parsing: node)
        guard info.contentType == OID.signedData else {
            throw SCEPError(.messageUnsupported, "expected CMS SignedData, found content type " + info.contentType)
        }
        var fields = try info.content.elements(DER.Tag.sequence, "SignedData")
        _ = try fields.next("version").smallInteger("SignedData.version")
        _ = try fields.next(DER.Tag.set, "digestAlgorithms")
        var encapsulated = try fields.next(DER.Tag.sequence, "encapContentInfo").elements(DER.Tag.sequence, "EncapsulatedContentInfo")
        contentType = try encapsulated.next("eContentType").objectIdentifier("eContentType")
        if let wrapper = encapsulated.optional(DER.Tag.contextConstructed(0)) {
            guard wrapper.children.count == 1 else { throw SCEPError(.messageMalformed, "eContent must hold one OCTET STRING") }
            content = try wrapper.children[0].octets("eContent")
        } else {
            content = nil
        }
        try encapsulated.finish()
        certificates = fields.optional(DER.Tag.contextConstructed(0))?.children.map { $0.bytes } ?? []
        crls = fields.optional(DER.Tag.contextConstructed(1))?.children.map { $0.bytes } ?? []
        var signers: [SignerInfo] = []
        for child in try fields.next(DER.Tag.set, "signerInfos").children {
            signers.append(try SignerInfo(parsing: child))
        }
        signerInfos = signers
        try fields.finish()
    }

    /// Builds a SignedData ContentInfo over `content` (eContentType data) with one signer and the
    /// given signed attributes (contentType and messageDigest are added here).
    public static func build(content: [UInt8], attributes: [[UInt8]], signerCertificate: Certificate, key: PrivateKey,
                             digest: DigestAlgorithm) throws(SCEPError) -> [UInt8] {
        let signedAttributes = DER.setOf([
            attribute(OID.contentType, DER.oid(OID.data)),
            attribute(OID.messageDigest, DER.octetString(Digest.hash(digest, content))),
        ] + attributes)
        let signature = try key.sign(digest: Digest.hash(digest, signedAttributes), algorithm: digest)
        let signerInfo = DER.sequence([
            DER.integer(1),
            IssuerAndSerialNumber.encode(signerCertificate),
            AlgorithmIdentifiers.digest(digest),
            DER.implicit(0, signedAttributes),
            AlgorithmIdentifiers.signerSignature(key.keyType, digest),
            DER.octetString(signature),
        ])
        let signedData = DER.sequence([
            DER.integer(1),
            DER.setOf([AlgorithmIdentifiers.digest(digest)]),
            DER.sequence([DER.oid(OID.data), DER.explicit(0, [DER.octetString(content)])]),
            DER.implicit(0, DER.setOf([signerCertificate.der])),
            DER.setOf([signerInfo]),
        ])
        return ContentInfo.encode(contentType: OID.signedData, content: signedData)
    }

    /// A degenerate certs-only SignedData (RFC 8894 §3.4), as a CA sends its chain.
    public static func certificatesOnly(_ certificates: [[UInt8]]) -> [UInt8] {
        let signedData = DER.sequence([
            DER.integer(1),
            DER.setOf([]),
            DER.sequence([DER.oid(OID.data)]),
            DER.implicit(0, DER.setOf(certificates)),
            DER.setOf([]),
        ])
        return ContentInfo.encode(contentType: OID.signedData, content: signedData)
    }

    /// An Attribute with one value.
    public static func attribute(_ oid: String, _ value: [UInt8]) -> [UInt8] {
        DER.sequence([DER.oid(oid), DER.setOf([value])])
    }
}
