import DER
import SCEPCrypto
import SystemSupport

/// A verified GetNextCACert reply (RFC 8894 §4.7.1): the certificate that will succeed the current CA.
///
///     ContentInfo { signedData, SignedData {
///         encapContentInfo { eContentType data,
///                            eContent = ContentInfo { signedData, degenerate certs-only SignedData {
///                                           certificates { the new CA certificate(s) }, signerInfos {} } } },
///         certificates  -- outside the signature: never read
///         signerInfos { exactly one, by the current CA (or its RA), with signedAttrs
///                       contentType (= eContentType) and messageDigest (of eContent) } } }
///
/// "Clients MUST validate the signature on the message before trusting any of its contents" (§4.7.1):
/// the successor is taken only from the signed content. Signed attributes are required, so a bare
/// signature lifted from somewhere else the CA signed (its own certificate's TBSCertificate) is no
/// signature of this reply.
public struct NextCACertificate {
    /// The new CA certificate: basicConstraints cA, keyCertSign when keyUsage is present, valid from
    /// before the current CA ends until after it.
    public let successor: Certificate
    /// The certificate whose key signed the reply (one of the accepted signers).
    public let signer: Certificate

    /// Parses `bytes` and verifies it as a successor of `current` signed by one of `signers`.
    /// - Parameters:
    ///   - signers: the certificates allowed to sign for the CA (`CARoles.signers`).
    ///   - current: the CA in use now.
    /// - Throws: `verifySigner` (signer or signature), `messageSignatureInvalid` (signed attributes or
    ///   content type), `verifyChain` (the successor is no CA or its validity does not follow the
    ///   current CA's); `message*`/`der*` when malformed.
    public init(parsing bytes: [UInt8], signers: [Certificate], current: Certificate) throws(SCEPError) {
        let outer = try SignedData(parsing: bytes)
        guard outer.signerInfos.count == 1 else {
            throw SCEPError(.verifySigner, "GetNextCACert reply has " + String(outer.signerInfos.count)
                + " SignerInfos; exactly one, by the current CA " + current.subjectText + ", is required")
        }
        let signerInfo = outer.signerInfos[0]
        guard signerInfo.signedAttributesForSignature != nil else {
            throw SCEPError(.messageSignatureInvalid, "GetNextCACert reply's SignerInfo has no signed attributes: contentType and"
                + " messageDigest are required (RFC 8894 §3), so the signature covers this content and nothing else")
        }
        guard let typeNode = try signerInfo.attribute(OID.contentType) else {
            throw SCEPError(.messageSignatureInvalid, "GetNextCACert reply's signed attributes have no contentType")
        }
        let signedType = try typeNode.objectIdentifier("contentType attribute")
        guard signedType == outer.contentType else {
            throw SCEPError(.messageSignatureInvalid, "GetNextCACert reply's signed contentType " + signedType
                + " differs from its eContentType " + outer.contentType)
        }
        guard outer.contentType == OID.data else {
            throw SCEPError(.messageSignatureInvalid, "GetNextCACert reply's signed content has type " + outer.contentType
                + ", expected data (" + OID.data + ") holding a certificates-only SignedData (RFC 8894 §3, §4.7.1)")
        }
        guard let content = outer.content else {
            throw SCEPError(.messageSignatureInvalid, "GetNextCACert reply has no signed content: the new CA certificate must be inside it")
        }
        var verifiedBy: Certificate? = nil
        var failure = SCEPError(.verifySigner, "GetNextCACert reply is signed by a certificate that is neither the current CA "
            + current.subjectText + " nor one of its RAs allowed to sign")
        for candidate in signers where signerInfo.signer.matches(candidate) {
            do throws(SCEPError) {
                try signerInfo.verify(content: content, with: candidate)
                verifiedBy = candidate
                break
            } catch {
                failure = SCEPError(.verifySigner, "GetNextCACert reply signature check failed: " + error.reason)
            }
        }
        guard let verifiedBy else { throw failure }
        signer = verifiedBy

        let inner: SignedData
        do throws(SCEPError) {
            inner = try SignedData(parsing: content)
        } catch {
            throw SCEPError(error.code, "GetNextCACert signed content is not a certificates-only SignedData: " + error.reason)
        }
        guard inner.signerInfos.isEmpty, inner.content == nil else {
            throw SCEPError(.messageMalformed, "GetNextCACert signed content is not a degenerate certificates-only SignedData (it has "
                + String(inner.signerInfos.count) + " signers" + (inner.content == nil ? ")" : " and content)"))
        }
        var candidates: [Certificate] = []
        var refused: [String] = []
        for der in inner.certificates where der != current.der {
            let certificate = try Certificate(der: der)
            if certificate.isCA && certificate.keyUsage.map({ $0.contains(.keyCertSign) }) ?? true {
                candidates.append(certificate)
            } else {
                refused.append(certificate.subjectText)
            }
        }
        // A new root is self-issued; a new intermediate that comes with it is not the successor.
        guard let successor = candidates.first(where: { $0.subjectDER == $0.issuerDER }) ?? candidates.first else {
            throw SCEPError(.verifyChain, "GetNextCACert signed content holds no CA certificate (basicConstraints cA, keyUsage keyCertSign)"
                + " other than the current CA" + (refused.isEmpty ? "" : "; not a CA: " + refused.joined(separator: ", ")))
        }
        guard successor.notBefore <= successor.notAfter else {
            throw SCEPError(.verifyChain, "next CA " + successor.subjectText + " has notBefore "
                + CivilTime(unixSeconds: successor.notBefore).description + " after its notAfter " + CivilTime(unixSeconds: successor.notAfter).description)
        }
        guard successor.notBefore < current.notAfter, successor.notAfter > current.notAfter else {
            throw SCEPError(.verifyChain, "next CA " + successor.subjectText + " (valid " + CivilTime(unixSeconds: successor.notBefore).description
                + " to " + CivilTime(unixSeconds: successor.notAfter).description + ") does not take over from the current CA, which ends "
                + CivilTime(unixSeconds: current.notAfter).description + ": it must start before and end after that")
        }
        self.successor = successor
    }
}
