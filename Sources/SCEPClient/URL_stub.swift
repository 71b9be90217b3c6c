// Stub: replaced by the HTTP client work. The signature is the contract.
import DER

/// An http or https URL: `http://127.0.0.1:8080/scep`, `https://[::1]/scep?x=1`.
public struct URL: CustomStringConvertible, Equatable {
    public var scheme: String   // "http" or "https", lowercased
    public var host: String     // without brackets for IPv6
    public var port: Int        // explicit or the scheme's default
    public var path: String     // begins with "/"; "/" when absent
    public var query: String?   // without "?"

    public init(parsing text: String) throws(SCEPError) { fatalError("unimplemented: URL") }
    public init(scheme: String, host: String, port: Int, path: String, query: String?) {
        self.scheme = scheme; self.host = host; self.port = port; self.path = path; self.query = query
    }
    public var description: String {
        let hostPart = host.utf8.contains(UInt8(ascii: ":")) ? "[" + host + "]" : host
        return scheme + "://" + hostPart + ":" + String(port) + path + (query.map { "?" + $0 } ?? "")
    }
}

public func percentEncodeQueryValue(_ s: String) -> String { fatalError("unimplemented: percentEncodeQueryValue") }
