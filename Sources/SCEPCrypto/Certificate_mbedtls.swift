// X.509 certificates parsed by mbedTLS; chain verification with mbedtls_x509_crt_verify.
import CSCEPShim
import DER
import SystemSupport

/// Owner of one mbedtls_x509_crt list (a single certificate, or a chain built with `append`).
final class X509CertificateList {
    let context: UnsafeMutablePointer<mbedtls_x509_crt>

    init() {
        context = UnsafeMutablePointer<mbedtls_x509_crt>.allocate(capacity: 1)
        mbedtls_x509_crt_init(context)
    }

    deinit {
        mbedtls_x509_crt_free(context)
        context.deallocate()
    }

    /// Parses one DER certificate onto the end of the list (`mbedtls_x509_crt_parse_der`).
    /// - Throws: `cryptoBadCertificate` for anything mbedTLS refuses.
    func append(der: [UInt8]) throws(SCEPError) {
        let result = der.withUnsafeBufferPointer { bytes in
            mbedtls_x509_crt_parse_der(context, bytes.baseAddress, bytes.count)
        }
        try checkMbedTLS(
            result, .cryptoBadCertificate, "cannot parse the X.509 certificate (" + String(der.count) + " bytes of DER)",
            function: "mbedtls_x509_crt_parse_der")
    }
}

/// The bytes an mbedtls_x509_buf points at.
private func bytes(of buffer: mbedtls_x509_buf) -> [UInt8] {
    guard let start = buffer.p, buffer.len > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: start, count: buffer.len))
}

/// Seconds since the Unix epoch of an mbedTLS certificate time (UTCTime and GeneralizedTime are both
/// UTC), by `CivilTime`'s calendar arithmetic: no timegm, no time zone state.
func unixTime(_ time: mbedtls_x509_time) -> Int64 {
    CivilTime(
        year: Int(time.year), month: Int(time.mon), day: Int(time.day), hour: Int(time.hour),
        minute: Int(time.min), second: Int(time.sec)
    ).unixSeconds
}

/// An X.509 certificate parsed by mbedTLS; the DER stays available byte for byte.
public final class Certificate {
    private let parsed: X509CertificateList
    public let der: [UInt8]
    public let publicKey: PublicKey

    /// - Parameter der: exactly one DER certificate, nothing after it.
    /// - Throws: `cryptoBadCertificate` for DER mbedTLS refuses, trailing bytes, or a public key this
    ///   module cannot use.
    public init(der: [UInt8]) throws(SCEPError) {
        parsed = X509CertificateList()
        try parsed.append(der: der)
        // mbedTLS reads the outer SEQUENCE and ignores what follows it; a certificate field must not
        // carry anything else.
        let parsedLength = parsed.context.pointee.raw.len
        if parsedLength != der.count {
            throw SCEPError(
                .cryptoBadCertificate,
                "certificate DER has " + String(der.count - parsedLength) + " bytes after the certificate")
        }
        self.der = der
        do {
            publicKey = try PublicKey(subjectPublicKeyInfo: bytes(of: parsed.context.pointee.pk_raw))
        } catch {
            throw SCEPError(.cryptoBadCertificate, "certificate public key: " + error.reason, detail: error.detail)
        }
    }

    private var certificate: mbedtls_x509_crt { parsed.context.pointee }

    /// Raw DER of the subject Name (for IssuerAndSerialNumber, IssuerAndSubject).
    public var subjectDER: [UInt8] { bytes(of: certificate.subject_raw) }
    /// Raw DER of the issuer Name.
    public var issuerDER: [UInt8] { bytes(of: certificate.issuer_raw) }

    /// Subject as text, e.g. `CN=gw-0042, O=Example` (mbedTLS's rendering).
    public var subjectText: String {
        Certificate.text(of: &parsed.context.pointee.subject)
    }
    public var issuerText: String {
        Certificate.text(of: &parsed.context.pointee.issuer)
    }

    /// `mbedtls_x509_dn_gets`; empty for a name longer than the buffer (far beyond any real DN).
    /// mbedTLS replaces only some control bytes (it keeps 0x80 and 0xA0-0xFF, so a right-to-left
    /// override survives): the text goes through `ASCII.printable`, as all text from a server does.
    private static func text(of name: UnsafePointer<mbedtls_x509_name>) -> String {
        var buffer = [CChar](repeating: 0, count: 4_096)
        let written = buffer.withUnsafeMutableBufferPointer { out in
            mbedtls_x509_dn_gets(out.baseAddress, out.count, name)
        }
        guard written >= 0 else { return "" }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return ASCII.printable(buffer[..<end].map { UInt8(bitPattern: $0) }, limit: buffer.count)
    }

    /// Serial number content octets (big-endian, as encoded, possibly with a leading 0x00).
    public var serial: [UInt8] { bytes(of: certificate.serial) }

    /// Validity as seconds since the Unix epoch (UTC).
    public var notBefore: Int64 { unixTime(certificate.valid_from) }
    public var notAfter: Int64 { unixTime(certificate.valid_to) }

    /// The keyUsage extension, or nil when absent.
    public var keyUsage: KeyUsage? {
        guard certificate.ext_types & Int32(MBEDTLS_X509_EXT_KEY_USAGE) != 0 else { return nil }
        return KeyUsage(rawValue: UInt32(certificate.key_usage))
    }

    /// Dotted OIDs of extKeyUsage (empty when absent).
    public var extendedKeyUsage: [String] {
        guard certificate.ext_types & Int32(MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) != 0 else { return [] }
        var oids: [String] = []
        var node = certificate.ext_key_usage
        while true {
            var oid = node.buf
            var text = [CChar](repeating: 0, count: 128)
            let written = text.withUnsafeMutableBufferPointer { out in
                mbedtls_oid_get_numeric_string(out.baseAddress, out.count, &oid)
            }
            if written > 0 {
                oids.append(String(decoding: text[..<Int(written)].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            guard let next = node.next else { break }
            node = next.pointee
        }
        return oids
    }

    /// basicConstraints cA.
    public var isCA: Bool { certificate.ca_istrue != 0 }

    /// SHA-256 of the DER.
    public var sha256Fingerprint: [UInt8] { SHA256.hash(der) }

    /// How far a certificate's notBefore may lie ahead of the agent's clock and still count as valid:
    /// CAs backdate little (scepserver by 600 ns), and a device clock is often a little behind.
    public static let clockSkewSeconds: Int64 = 300

    /// Verifies `leaf` through some of `intermediates` up to one of `trusted` with mbedTLS
    /// (`mbedtls_x509_crt_verify_with_profile`): every signature on the path, CA flags, pathLen,
    /// keyCertSign, under `SignaturePolicy` (SHA-2 only, RSA of at least 2048 bits), and every
    /// certificate of the path, the trusted one included, valid at `now` by the agent's clock (not
    /// mbedTLS's, so a twin clock drives it too), with `clockSkewSeconds` of grace on notBefore.
    /// - Returns: the path mbedTLS built, leaf first, trusted certificate last, as DER.
    /// - Throws: `verifyChain` with mbedTLS's flags rendered as text.
    @discardableResult
    public static func verifyChain(leaf: Certificate, intermediates: [Certificate], trusted: [Certificate], at now: Int64) throws(SCEPError) -> [[UInt8]] {
        if trusted.isEmpty {
            throw SCEPError(.verifyChain, "cannot verify " + leaf.subjectText + ": no trusted certificate given")
        }
        let chain = X509CertificateList()
        try chain.append(der: leaf.der)
        for certificate in intermediates { try chain.append(der: certificate.der) }
        let anchors = X509CertificateList()
        for certificate in trusted { try anchors.append(der: certificate.der) }
        var flags: UInt32 = 0
        var context = PathContext(now: now)
        var profile = SignaturePolicy.profile
        let result = withUnsafeMutablePointer(to: &context) { contextPointer in
            mbedtls_x509_crt_verify_with_profile(chain.context, anchors.context, nil, &profile, nil, &flags, checkPathCertificate, contextPointer)
        }
        if result == 0 && flags == 0 { return context.path }
        var reason = "certificate " + leaf.subjectText + " (issuer " + leaf.issuerText + ") does not verify under " + trusted[0].subjectText + ": "
        if flags != 0 {
            reason += verifyFlagsText(flags)
        } else {
            reason += "mbedtls_x509_crt_verify_with_profile returned " + mbedtlsCodeText(result) + " (" + mbedtlsErrorText(result) + ")"
        }
        throw SCEPError(.verifyChain, reason, detail: result)
    }

    /// `mbedtls_x509_crt_verify_info`'s lines joined with "; ".
    private static func verifyFlagsText(_ flags: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: 1_024)
        let written = buffer.withUnsafeMutableBufferPointer { out in
            mbedtls_x509_crt_verify_info(out.baseAddress, out.count, "", flags)
        }
        guard written > 0 else { return "" }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        let lines = buffer[..<end].map { UInt8(bitPattern: $0) }.split(separator: UInt8(ascii: "\n"))
        var text = ""
        for line in lines {
            if !text.isEmpty { text += "; " }
            text += String(decoding: line, as: UTF8.self)
        }
        return text
    }

    /// True when `issuer`'s key verifies this certificate's signature under `SignaturePolicy` (no
    /// validity or CA-flag checks: `verifyChain` does those).
    /// Hashes tbsCertificate with the signature's digest and calls `mbedtls_pk_verify_ext`, which also
    /// handles RSASSA-PSS through `sig_opts`.
    public func isSigned(by issuer: Certificate) -> Bool {
        let certificate = self.certificate
        guard SignaturePolicy.allows(certificate.sig_md), SignaturePolicy.allows(key: issuer.publicKey),
            let digestInfo = mbedtls_md_info_from_type(certificate.sig_md) else { return false }
        let digestSize = Int(mbedtls_md_get_size(digestInfo))
        var digest = [UInt8](repeating: 0, count: digestSize)
        let hashed = digest.withUnsafeMutableBufferPointer { out in
            mbedtls_md(digestInfo, certificate.tbs.p, certificate.tbs.len, out.baseAddress)
        }
        guard hashed == 0 else { return false }
        let result = digest.withUnsafeBufferPointer { hash in
            mbedtls_pk_verify_ext(
                certificate.sig_pk, certificate.sig_opts, issuer.publicKey.key.context, certificate.sig_md,
                hash.baseAddress, hash.count, certificate.sig.p, certificate.sig.len)
        }
        return result == 0
    }
}

/// The signature algorithms and keys the agent accepts on anything it trusts: SHA-224 to SHA-512
/// (never MD5 or SHA-1, whatever the CA chose), RSA keys of at least 2048 bits, EC keys on P-256, P-384
/// or P-521.
public enum SignaturePolicy {
    static var profile: mbedtls_x509_crt_profile {
        func flag(_ digest: mbedtls_md_type_t) -> UInt32 { 1 << (UInt32(digest.rawValue) - 1) }
        func curve(_ group: mbedtls_ecp_group_id) -> UInt32 { 1 << (UInt32(group.rawValue) - 1) }
        return mbedtls_x509_crt_profile(
            allowed_mds: flag(MBEDTLS_MD_SHA224) | flag(MBEDTLS_MD_SHA256) | flag(MBEDTLS_MD_SHA384) | flag(MBEDTLS_MD_SHA512),
            allowed_pks: 0x0FFF_FFFF, allowed_curves: curve(MBEDTLS_ECP_DP_SECP256R1) | curve(MBEDTLS_ECP_DP_SECP384R1) | curve(MBEDTLS_ECP_DP_SECP521R1),
            rsa_min_bitlen: UInt32(minimumRSABits))
    }

    public static let minimumRSABits = 2048

    /// True for a signer's key the agent accepts: RSA of at least `minimumRSABits`, or any EC key.
    static func allows(key: PublicKey) -> Bool {
        !key.keyType.isRSA || mbedtls_pk_get_bitlen(key.key.context) >= minimumRSABits
    }

    /// True for a digest the agent accepts in a certificate or CRL signature.
    static func allows(_ digest: mbedtls_md_type_t) -> Bool { profile.allowed_mds & (1 << (UInt32(digest.rawValue) - 1)) != 0 }
}

/// What `checkPathCertificate` needs and records: the agent's time, and the path mbedTLS built.
struct PathContext {
    let now: Int64
    var path: [[UInt8]] = []
}

/// mbedTLS's per-certificate verify callback (called from the trusted end down to the leaf): the
/// validity flags are replaced by the agent's own clock, and the path is recorded leaf first.
private func checkPathCertificate(
    _ context: UnsafeMutableRawPointer?, _ certificate: UnsafeMutablePointer<mbedtls_x509_crt>?, _ depth: Int32,
    _ flags: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard let context, let certificate, let flags else { return MBEDTLS_ERR_X509_BAD_INPUT_DATA }
    let state = context.assumingMemoryBound(to: PathContext.self)
    let parsed = certificate.pointee
    var value = flags.pointee & ~UInt32(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)
    if unixTime(parsed.valid_to) <= state.pointee.now { value |= UInt32(MBEDTLS_X509_BADCERT_EXPIRED) }
    if unixTime(parsed.valid_from) > state.pointee.now + Certificate.clockSkewSeconds { value |= UInt32(MBEDTLS_X509_BADCERT_FUTURE) }
    flags.pointee = value
    while state.pointee.path.count <= Int(depth) { state.pointee.path.append([]) }
    state.pointee.path[Int(depth)] = bytes(of: parsed.raw)
    return 0
}
