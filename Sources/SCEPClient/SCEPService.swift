import DER
import SCEPCrypto
import SCEPMessages
import SystemSupport

/// The SCEP operations on the wire (RFC 8894 §4): GetCACaps, GetCACert, GetNextCACert and
/// PKIOperation over GET or POST. No policy here: negotiation and checks live in `Enrollment`.
public final class SCEPService {
    public let url: URL
    let transport: Transport
    let log: Log

    /// Largest GET URL we send; longer PKIOperation messages need POST (servers cap request lines).
    public static let maxGETMessageBytes = 8 * 1024

    public init(url: URL, transport: Transport, log: Log) {
        self.url = url
        self.transport = transport
        self.log = log
    }

    func operationURL(_ operation: String, message: String? = nil) -> URL {
        var target = url
        var query = (url.query.map { $0 + "&" } ?? "") + "operation=" + operation
        if let message { query += "&message=" + message }
        target.query = query
        return target
    }

    /// GetCACaps. An empty body yields empty capabilities (a legacy server). An HTTP error is thrown
    /// (`transportHTTPStatus`): only `Enrollment.discover` may take it for a legacy server, once
    /// GetCACert works at the same URL, since a mistyped path answers 404 to both.
    public func getCACaps() throws(SCEPError) -> Capabilities {
        let response = try transport.send(HTTPRequest(method: .get, url: operationURL("GetCACaps")))
        try Self.requireStatusOK(response, operation: "GetCACaps", url: url)
        guard Capabilities.isCapabilityList(response.body) else {
            throw Self.unreadable(response, operation: "GetCACaps", url: url, expected: "a capability list (one keyword per line)",
                                  SCEPError(.messageMalformed, "it holds markup or bytes that are not printable ASCII"))
        }
        return Capabilities(parsing: response.body)
    }

    /// GetCACert: the CA certificate, or the CA and its RA certificates.
    public func getCACert() throws(SCEPError) -> [Certificate] {
        try certificates(operation: "GetCACert")
    }

    /// GetNextCACert (§3.6): the CA certificate that will succeed the current one, in a SignedData
    /// signed by the current CA. Returns the SignedData bytes for the caller to verify.
    public func getNextCACert() throws(SCEPError) -> [UInt8] {
        let response = try transport.send(HTTPRequest(method: .get, url: operationURL("GetNextCACert")))
        try Self.requireSuccess(response, operation: "GetNextCACert", url: url)
        return response.body
    }

    func certificates(operation: String) throws(SCEPError) -> [Certificate] {
        let response = try transport.send(HTTPRequest(method: .get, url: operationURL(operation)))
        try Self.requireSuccess(response, operation: operation, url: url)
        if let type = response.contentType, type != "application/x-x509-ca-cert", type != "application/x-x509-ca-ra-cert" {
            log.warning(operation + " reply has Content-Type " + ASCII.printable(type) + ", expected application/x-x509-ca-cert or application/x-x509-ca-ra-cert")
        }
        var parsed: [Certificate] = []
        do throws(SCEPError) {
            for der in try CACertificates.parse(response.body) {
                parsed.append(try Certificate(der: der))
            }
        } catch {
            throw Self.unreadable(response, operation: operation, url: url, expected: "a DER certificate or a PKCS#7 certificate chain", error)
        }
        return parsed
    }

    /// PKIOperation: POST the DER when the server allows it, else GET with base64 then percent-encoding.
    /// - Returns: the CertRep bytes.
    public func pkiOperation(_ message: [UInt8], usePOST: Bool) throws(SCEPError) -> [UInt8] {
        let request: HTTPRequest
        if usePOST {
            request = HTTPRequest(method: .post, url: operationURL("PKIOperation"),
                                  headers: [(name: "Content-Type", value: "application/x-pki-message")], body: message)
        } else {
            let encoded = percentEncodeQueryValue(Base64.encode(message))
            if encoded.utf8.count > Self.maxGETMessageBytes {
                log.warning("PKIOperation message is " + String(encoded.utf8.count) + " bytes in a GET URL; the server may refuse it")
            }
            request = HTTPRequest(method: .get, url: operationURL("PKIOperation", message: encoded))
        }
        let response = try transport.send(request)
        try Self.requireSuccess(response, operation: "PKIOperation", url: url)
        if let type = response.contentType, type != "application/x-pki-message" {
            log.warning("PKIOperation reply has Content-Type " + ASCII.printable(type) + ", expected application/x-pki-message")
        }
        // Only the framing here (an HTML page or random bytes get a message that says so); CertRep
        // checks the content.
        do throws(SCEPError) {
            _ = try DERNode(parsing: response.body)
        } catch {
            throw Self.unreadable(response, operation: "PKIOperation", url: url, expected: "a PKCS#7 CertRep", error)
        }
        return response.body
    }

    /// A reply whose body is not what `operation` answers: the parser's error (same code, so the same
    /// exit code), with the operation, the URL, the Content-Type and the start of the body, so an HTML
    /// login page or a proxy's error page is recognisable.
    static func unreadable(_ response: HTTPResponse, operation: String, url: URL, expected: String, _ error: SCEPError) -> SCEPError {
        let start = ASCII.printable(response.body, limit: 48)
        return SCEPError(error.code, operation + " reply from " + url.description + " is not " + expected + " (Content-Type "
            + ASCII.printable(response.contentType ?? "none") + ", " + String(response.body.count) + " bytes, starting '" + start
            + "'): " + error.reason + "; is the URL really the SCEP endpoint?")
    }

    static func requireStatusOK(_ response: HTTPResponse, operation: String, url: URL) throws(SCEPError) {
        guard response.status == 200 else {
            // The body is the server's text: shown, but only as printable ASCII on one line.
            let text = ASCII.printable(ASCII.trimmed(response.body))
            let hint = response.status == 404 ? "; is the URL's path right? (scepserver serves /scep, NDES /certsrv/mscep/mscep.dll)" : ""
            throw SCEPError(.transportHTTPStatus, operation + " at " + url.description + " answered HTTP " + String(response.status) + " "
                + ASCII.printable(response.reason) + (text.isEmpty ? "" : ": " + text) + hint, detail: Int32(response.status))
        }
    }

    static func requireSuccess(_ response: HTTPResponse, operation: String, url: URL) throws(SCEPError) {
        try requireStatusOK(response, operation: operation, url: url)
        guard !response.body.isEmpty else {
            throw SCEPError(.transportProtocol, operation + " at " + url.description + " answered with an empty body")
        }
    }
}
