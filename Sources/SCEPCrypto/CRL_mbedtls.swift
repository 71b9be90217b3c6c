// X.509 CRLs parsed by mbedTLS; the signature checked against the CA that must have issued them.
import CSCEPShim
import DER
import SystemSupport

/// A certificate revocation list (RFC 5280 §5) parsed by mbedTLS; the DER stays available byte for byte.
public final class CertificateRevocationList {
    private let context: UnsafeMutablePointer<mbedtls_x509_crl>
    public let der: [UInt8]

    /// - Throws: `cryptoBadCertificate` for DER mbedTLS refuses or bytes after the CRL.
    public init(der: [UInt8]) throws(SCEPError) {
        context = UnsafeMutablePointer<mbedtls_x509_crl>.allocate(capacity: 1)
        mbedtls_x509_crl_init(context)
        self.der = der
        let result = der.withUnsafeBufferPointer { bytes in mbedtls_x509_crl_parse_der(context, bytes.baseAddress, bytes.count) }
        try checkMbedTLS(result, .cryptoBadCertificate, "cannot parse the CRL (" + String(der.count) + " bytes of DER)",
                         function: "mbedtls_x509_crl_parse_der")
        if context.pointee.raw.len != der.count {
            throw SCEPError(.cryptoBadCertificate, "CRL DER has " + String(der.count - context.pointee.raw.len) + " bytes after the CRL")
        }
    }

    deinit {
        mbedtls_x509_crl_free(context)
        context.deallocate()
    }

    private var crl: mbedtls_x509_crl { context.pointee }

    /// Raw DER of the issuer Name.
    public var issuerDER: [UInt8] {
        guard let start = crl.issuer_raw.p, crl.issuer_raw.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: start, count: crl.issuer_raw.len))
    }

    public var thisUpdate: Int64 { unixTime(crl.this_update) }
    /// Nil when the CRL names no nextUpdate.
    public var nextUpdate: Int64? { crl.next_update.year == 0 ? nil : unixTime(crl.next_update) }

    /// Checks that `issuer` issued this CRL: its name, its right to sign CRLs (keyUsage cRLSign when
    /// present), and the signature under `SignaturePolicy` (never MD5 or SHA-1, RSA ≥ 2048 bits).
    /// - Throws: `verifySigner` naming what failed.
    public func verify(issuedBy issuer: Certificate) throws(SCEPError) {
        let crl = self.crl
        guard issuerDER == issuer.subjectDER else {
            throw SCEPError(.verifySigner, "CRL issuer is not " + issuer.subjectText)
        }
        if let usage = issuer.keyUsage, !usage.contains(.cRLSign) {
            throw SCEPError(.verifySigner, "CRL issuer " + issuer.subjectText + " may not sign CRLs (its keyUsage lacks cRLSign)")
        }
        guard SignaturePolicy.allows(crl.sig_md), SignaturePolicy.allows(key: issuer.publicKey),
            let digestInfo = mbedtls_md_info_from_type(crl.sig_md) else {
            throw SCEPError(.verifySigner, "CRL is signed with a digest or key the agent does not accept (SHA-2 and RSA of 2048 bits or more only)")
        }
        var digest = [UInt8](repeating: 0, count: Int(mbedtls_md_get_size(digestInfo)))
        let hashed = digest.withUnsafeMutableBufferPointer { out in mbedtls_md(digestInfo, crl.tbs.p, crl.tbs.len, out.baseAddress) }
        try checkMbedTLS(hashed, .cryptoLibrary, "cannot hash the CRL", function: "mbedtls_md")
        let result = digest.withUnsafeBufferPointer { hash in
            mbedtls_pk_verify_ext(crl.sig_pk, crl.sig_opts, issuer.publicKey.key.context, crl.sig_md, hash.baseAddress, hash.count,
                                  crl.sig.p, crl.sig.len)
        }
        guard result == 0 else {
            throw SCEPError(.verifySigner, "CRL signature does not verify with the key of " + issuer.subjectText, detail: result)
        }
    }
}
