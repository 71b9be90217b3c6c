// How mbedTLS failures become SCEPError: the raw negative code stays in `detail`, and the reason names
// the failing function and carries mbedTLS's own text, so a report can be matched to the library.
import CSCEPShim
import DER
import SystemSupport

/// mbedTLS's description of `code` (`mbedtls_strerror`), e.g. "PK - Invalid key tag or value".
func mbedtlsErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 200)
    buffer.withUnsafeMutableBufferPointer { text in
        mbedtls_strerror(code, text.baseAddress, text.count)
    }
    let end = buffer.firstIndex(of: 0) ?? buffer.count
    return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `-0x3D00` style rendering, as mbedTLS's documentation writes its codes.
func mbedtlsCodeText(_ code: Int32) -> String {
    let magnitude = code < 0 ? -Int64(code) : Int64(code)
    return (code < 0 ? "-0x" : "0x") + String(magnitude, radix: 16, uppercase: true)
}

/// `mbedtls_ssl_handshake returned -0x2700 (X509 - Certificate verification failed)`: a failed call
/// as every message about one says it.
func mbedtlsFailureText(function: String, result: Int32) -> String {
    function + " returned " + mbedtlsCodeText(result) + " (" + mbedtlsErrorText(result) + ")"
}

extension SCEPError {
    /// An error for a failed mbedTLS call.
    /// - Parameters:
    ///   - code: the SCEPError code callers match on.
    ///   - what: what we were doing, for a person ("cannot import the private key").
    ///   - function: the mbedTLS function that failed.
    ///   - result: its negative return value, kept in `detail`.
    static func mbedtls(_ code: SCEPError.Code, _ what: String, function: String, result: Int32) -> SCEPError {
        SCEPError(
            code,
            what + ": " + mbedtlsFailureText(function: function, result: result),
            detail: result)
    }
}

/// Throws `SCEPError.mbedtls(...)` when `result` is not zero.
@inline(__always)
func checkMbedTLS(_ result: Int32, _ code: SCEPError.Code, _ what: String, function: String) throws(SCEPError) {
    if result != 0 { throw SCEPError.mbedtls(code, what, function: function, result: result) }
}
