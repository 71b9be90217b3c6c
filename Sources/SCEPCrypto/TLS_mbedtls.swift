// The TLS 1.2 client for https: Swift owners of the mbedTLS contexts, driven over a non-blocking
// socket through our own send/recv callbacks so the client's poll-based deadlines cover TLS too.
import CSCEPShim
import SystemSupport

/// A TLS 1.2 client configuration: the CA bundle to verify servers against, verification required.
public final class TLSConfiguration {
    let config: UnsafeMutablePointer<mbedtls_ssl_config>
    let caChain: UnsafeMutablePointer<mbedtls_x509_crt>
    /// The handshake's randomness; mbedTLS keeps a pointer to it, so the configuration holds it.
    let random: RandomGenerator
    let caFile: String

    /// - Parameter caFile: PEM or DER file of trusted CA certificates.
    /// - Throws: `transportTLS` when the bundle cannot be loaded or the configuration fails.
    public init(caFile: String) throws(SCEPError) {
        config = .allocate(capacity: 1)
        caChain = .allocate(capacity: 1)
        mbedtls_ssl_config_init(config)
        mbedtls_x509_crt_init(caChain)
        self.caFile = caFile
        random = try RandomGenerator()
        let parsed = mbedtls_x509_crt_parse_file(caChain, caFile)
        guard parsed >= 0, caChain.pointee.version != 0 else {
            throw SCEPError(.transportTLS, "cannot load the TLS CA bundle '" + caFile + "': "
                + (parsed < 0 ? mbedtlsFailureText(function: "mbedtls_x509_crt_parse_file", result: parsed) : "no certificate in it")
                + "; set tlsCAFile to a readable PEM file of CA certificates", detail: parsed)
        }
        let rc = mbedtls_ssl_config_defaults(config, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)
        guard rc == 0 else {
            throw SCEPError(.transportTLS, "cannot configure TLS: " + mbedtlsFailureText(function: "mbedtls_ssl_config_defaults", result: rc), detail: rc)
        }
        mbedtls_ssl_conf_authmode(config, MBEDTLS_SSL_VERIFY_REQUIRED)
        mbedtls_ssl_conf_ca_chain(config, caChain, nil)
        mbedtls_ssl_conf_rng(config, CSCEPShim_ctr_drbg_random_fn(), random.drbgHandle)
        mbedtls_ssl_conf_min_version(config, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3)
    }

    deinit {
        mbedtls_ssl_config_free(config)
        mbedtls_x509_crt_free(caChain)
        config.deallocate()
        caChain.deallocate()
    }
}

/// What the send/recv callbacks see: the descriptor and the last errno they hit.
struct TLSTransportState {
    var fd: Int32
    var lastError: SystemCallError?
}

/// f_send for mbedtls_ssl_set_bio: non-blocking send, WANT_WRITE when the socket is full.
private func tlsSendCallback(_ context: UnsafeMutableRawPointer?, _ buffer: UnsafePointer<UInt8>?, _ length: Int) -> Int32 {
    guard let context, let buffer else { return MBEDTLS_ERR_NET_INVALID_CONTEXT }
    let state = context.assumingMemoryBound(to: TLSTransportState.self)
    do throws(SystemCallError) {
        guard let n = try Syscall.send(state.pointee.fd, UnsafeRawBufferPointer(start: buffer, count: min(length, Int(Int32.max)))) else {
            return MBEDTLS_ERR_SSL_WANT_WRITE
        }
        return Int32(n)
    } catch {
        state.pointee.lastError = error
        return MBEDTLS_ERR_NET_SEND_FAILED
    }
}

/// f_recv for mbedtls_ssl_set_bio: non-blocking recv, WANT_READ when nothing is there yet.
private func tlsRecvCallback(_ context: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<UInt8>?, _ length: Int) -> Int32 {
    guard let context, let buffer else { return MBEDTLS_ERR_NET_INVALID_CONTEXT }
    let state = context.assumingMemoryBound(to: TLSTransportState.self)
    do throws(SystemCallError) {
        guard let n = try Syscall.recv(state.pointee.fd, UnsafeMutableRawBufferPointer(start: buffer, count: min(length, Int(Int32.max)))) else {
            return MBEDTLS_ERR_SSL_WANT_READ
        }
        return Int32(n)
    } catch {
        state.pointee.lastError = error
        return MBEDTLS_ERR_NET_RECV_FAILED
    }
}

/// Whether a certificate (its DER) names `address` (4 or 16 bytes) in an iPAddress subjectAltName.
/// The caller brings the subjectAltName parser (SCEPMessages), which sits above this module.
public typealias TLSAddressNameCheck = (_ certificateDER: [UInt8], _ address: [UInt8]) -> Bool

/// What `tlsVerifyIPAddressCallback` compares: the IP-literal host's bytes, and how to read a leaf's names.
final class TLSExpectedAddress {
    let address: [UInt8]
    let certificateNames: TLSAddressNameCheck

    init(address: [UInt8], certificateNames: @escaping TLSAddressNameCheck) {
        self.address = address
        self.certificateNames = certificateNames
    }
}

/// Verifies an IP-literal host ourselves: mbedTLS 2.28 matches only DNS names and the CN, so for
/// `https://192.0.2.1/` the leaf must carry an iPAddress subjectAltName with exactly these bytes
/// (RFC 6125 §6.2.1); otherwise the handshake fails with the name-mismatch flag.
private func tlsVerifyIPAddressCallback(
    _ context: UnsafeMutableRawPointer?, _ certificate: UnsafeMutablePointer<mbedtls_x509_crt>?, _ depth: Int32, _ flags: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard depth == 0, let context, let certificate, let flags else { return 0 }
    let expected = Unmanaged<TLSExpectedAddress>.fromOpaque(context).takeUnretainedValue()
    let raw = certificate.pointee.raw
    guard let base = raw.p else {
        flags.pointee |= UInt32(MBEDTLS_X509_BADCERT_CN_MISMATCH)
        return 0
    }
    let der = Array(UnsafeBufferPointer(start: base, count: raw.len))
    if !expected.certificateNames(der, expected.address) {
        flags.pointee |= UInt32(MBEDTLS_X509_BADCERT_CN_MISMATCH)
    }
    return 0
}

/// One TLS client session over a connected socket; the socket itself stays owned by its caller.
public final class TLSSession {
    let ssl: UnsafeMutablePointer<mbedtls_ssl_context>
    let transport: UnsafeMutablePointer<TLSTransportState>
    let configuration: TLSConfiguration
    let hostname: String
    /// The address an IP-literal host must match (see `tlsVerifyIPAddressCallback`), which holds it
    /// unretained: the session keeps it alive.
    let expectedAddress: TLSExpectedAddress?

    /// - Parameters:
    ///   - configuration: the shared client configuration (kept alive by the session).
    ///   - fd: the connected non-blocking socket.
    ///   - hostname: the name (or IP literal) the certificate must match (mbedtls_ssl_set_hostname).
    ///   - addressNamed: for an IP-literal `hostname`, whether the server's certificate names it.
    public init(configuration: TLSConfiguration, fd: Int32, hostname: String, addressNamed: @escaping TLSAddressNameCheck) throws(SCEPError) {
        ssl = .allocate(capacity: 1)
        transport = .allocate(capacity: 1)
        transport.initialize(to: TLSTransportState(fd: fd, lastError: nil))
        mbedtls_ssl_init(ssl)
        self.configuration = configuration
        self.hostname = hostname
        expectedAddress = TLSSession.ipAddressBytes(hostname).map { TLSExpectedAddress(address: $0, certificateNames: addressNamed) }
        let rc = mbedtls_ssl_setup(ssl, configuration.config)
        guard rc == 0 else {
            throw SCEPError(.transportTLS, "cannot set up TLS for " + hostname + ": " + mbedtlsFailureText(function: "mbedtls_ssl_setup", result: rc), detail: rc)
        }
        if let expectedAddress {
            mbedtls_ssl_set_verify(ssl, tlsVerifyIPAddressCallback, Unmanaged.passUnretained(expectedAddress).toOpaque())
        } else {
            let rc = mbedtls_ssl_set_hostname(ssl, hostname)
            guard rc == 0 else {
                throw SCEPError(.transportTLS, "cannot set the TLS server name '" + hostname + "': " + mbedtlsFailureText(function: "mbedtls_ssl_set_hostname", result: rc), detail: rc)
            }
        }
        mbedtls_ssl_set_bio(ssl, UnsafeMutableRawPointer(transport), tlsSendCallback, tlsRecvCallback, nil)
    }

    deinit {
        mbedtls_ssl_free(ssl)
        ssl.deallocate()
        transport.deinitialize(count: 1)
        transport.deallocate()
    }

    /// The outcome of one mbedTLS call on a non-blocking socket.
    public enum Step { case done(Int), wantRead, wantWrite, endOfStream }

    private func step(_ rc: Int32, _ function: String) throws(SCEPError) -> Step {
        if rc >= 0 { return .done(Int(rc)) }
        switch rc {
        case MBEDTLS_ERR_SSL_WANT_READ: return .wantRead
        case MBEDTLS_ERR_SSL_WANT_WRITE: return .wantWrite
        case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY, MBEDTLS_ERR_SSL_CONN_EOF: return .endOfStream
        case MBEDTLS_ERR_NET_SEND_FAILED, MBEDTLS_ERR_NET_RECV_FAILED:
            let cause = transport.pointee.lastError.map { $0.description } ?? mbedtlsErrorText(rc)
            throw SCEPError(.transportIO, "TLS connection to " + hostname + " failed: " + cause + "; the server or network dropped the connection", detail: rc)
        case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
            let flags = mbedtls_ssl_get_verify_result(ssl)
            var buffer = [CChar](repeating: 0, count: 512)
            _ = mbedtls_x509_crt_verify_info(&buffer, buffer.count, "", flags)
            var info = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            info = ASCII.trimmed(String(decoding: info.utf8.map { $0 == 10 ? UInt8(ascii: ";") : $0 }, as: UTF8.self))
            if flags & UInt32(MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0, expectedAddress != nil {
                info = "the certificate has no iPAddress subjectAltName " + hostname
            }
            throw SCEPError(.transportTLS, "TLS server certificate of " + hostname + " failed verification against '" + configuration.caFile
                + "': " + info + " (flags 0x" + String(flags, radix: 16) + "); check tlsCAFile and that the URL's host matches the certificate", detail: rc)
        default:
            throw SCEPError(.transportTLS, "TLS with " + hostname + " failed: " + mbedtlsFailureText(function: function, result: rc)
                + "; the server must speak TLS 1.2 with a certificate the CA bundle '" + configuration.caFile + "' trusts", detail: rc)
        }
    }

    /// One mbedtls_ssl_handshake attempt.
    public func handshakeStep() throws(SCEPError) -> Step { try step(mbedtls_ssl_handshake(ssl), "mbedtls_ssl_handshake") }

    /// One mbedtls_ssl_write attempt.
    public func writeStep(_ bytes: UnsafeRawBufferPointer) throws(SCEPError) -> Step {
        guard let base = bytes.baseAddress else { return .done(0) }
        return try step(mbedtls_ssl_write(ssl, base.assumingMemoryBound(to: UInt8.self), bytes.count), "mbedtls_ssl_write")
    }

    /// One mbedtls_ssl_read attempt; 0 bytes means end of stream.
    public func readStep(_ buffer: UnsafeMutableRawBufferPointer) throws(SCEPError) -> Step {
        guard let base = buffer.baseAddress else { return .done(0) }
        let result = try step(mbedtls_ssl_read(ssl, base.assumingMemoryBound(to: UInt8.self), buffer.count), "mbedtls_ssl_read")
        if case .done(0) = result { return .endOfStream }
        return result
    }

    /// The 4 or 16 address bytes of an IPv4 or IPv6 literal (inet_pton), or nil for a name.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var address = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, host, &address) == 1 { return Array(address.prefix(4)) }
        if inet_pton(AF_INET6, host, &address) == 1 { return address }
        return nil
    }

    /// Best-effort close_notify (mbedtls_ssl_close_notify); never waits.
    public func closeNotify() { _ = mbedtls_ssl_close_notify(ssl) }
}
