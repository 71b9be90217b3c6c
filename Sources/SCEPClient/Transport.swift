// The transport contract: SCEP operations speak HTTP through this protocol, so tests can count
// requests and the real client can be swapped for a twin only where needed.
import DER

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

/// ASCII helpers that work the same in Embedded Swift (no Foundation, no Unicode tables needed).
public enum ASCII {
    public static func lowercased(_ text: some StringProtocol) -> String {
        String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }
    public static func trimmed(_ text: some StringProtocol) -> String {
        let bytes = Array(text.utf8)
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 32 || bytes[start] == 9 || bytes[start] == 10 || bytes[start] == 13 { start += 1 }
        while end > start, bytes[end - 1] == 32 || bytes[end - 1] == 9 || bytes[end - 1] == 10 || bytes[end - 1] == 13 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
