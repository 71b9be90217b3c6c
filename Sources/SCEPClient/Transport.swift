// The transport contract: SCEP operations speak HTTP through this protocol, so tests can count
// requests and the real client can be swapped for a twin only where needed.
import DER
import SystemSupport

/// One HTTP request. `target` is the absolute URL including any query string.
public struct HTTPRequest {
    public enum Method: String, CustomStringConvertible, Sendable { case get = "GET", post = "POST"; public var description: String { rawValue } }
    public var method: Method
    public var url: URL
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: Method, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// One HTTP response after transfer decoding (chunked removed), redirects already followed.
public struct HTTPResponse {
    public var status: Int
    public var reason: String
    /// Header names as received; look-ups with `header(_:)` are case-insensitive.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, reason: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = ASCII.lowercased(name)
        for header in headers where ASCII.lowercased(header.name) == wanted { return header.value }
        return nil
    }

    /// The media type without parameters, lowercased (`application/x-pki-message`).
    public var contentType: String? {
        guard let value = header("Content-Type") else { return nil }
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? value
        return ASCII.lowercased(ASCII.trimmed(mediaType))
    }
}

/// Sends HTTP requests. The built-in implementation is `HTTPClient` (POSIX sockets + mbedTLS TLS).
public protocol Transport: AnyObject {
    func send(_ request: HTTPRequest) throws(SCEPError) -> HTTPResponse
}
