// http and https URLs, parsed strictly: the agent only ever needs scheme, host, port, path, query.
import DER
import SystemSupport

/// An http or https URL: `http://127.0.0.1:8080/scep`, `https://[::1]/scep?x=1`.
///
/// Parsing is strict and byte-level (no Foundation): user info (`user@`) is refused, the fragment is
/// dropped, the host is lowercased, and control characters, spaces and non-ASCII bytes are refused.
public struct URL: CustomStringConvertible, Equatable {
    public var scheme: String   // "http" or "https", lowercased
    public var host: String     // without brackets for IPv6
    public var port: Int        // explicit or the scheme's default
    public var path: String     // begins with "/"; "/" when absent
    public var query: String?   // without "?"

    /// The longest URL text accepted.
    public static let maxLength = 8192

    /// Parses an absolute http or https URL.
    /// - Parameter text: the URL, for example `http://127.0.0.1:8080/scep`.
    /// - Throws: `transportURL` naming the rule the text breaks.
    public init(parsing text: String) throws(SCEPError) {
        let bytes = Array(text.utf8)
        func fail(_ why: String) -> SCEPError {
            SCEPError(.transportURL, "invalid URL '" + ASCII.printable(bytes) + "': " + why + "; give an absolute URL such as http://host:port/path")
        }
        guard bytes.count <= URL.maxLength else { throw fail("longer than \(URL.maxLength) bytes") }
        for b in bytes where b <= 0x20 || b >= 0x7F {
            throw fail("contains a space, control character or non-ASCII byte (percent-encode it)")
        }
        // scheme
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
              bytes.count >= colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { throw fail("missing 'scheme://'") }
        let scheme = ASCII.lowercased(String(decoding: bytes[0..<colon], as: UTF8.self))
        let defaultPort: Int
        switch scheme {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: throw fail("scheme '" + scheme + "' is not http or https")
        }
        // authority
        let authorityStart = colon + 3
        var authorityEnd = authorityStart
        while authorityEnd < bytes.count, bytes[authorityEnd] != UInt8(ascii: "/"), bytes[authorityEnd] != UInt8(ascii: "?"),
              bytes[authorityEnd] != UInt8(ascii: "#") { authorityEnd += 1 }
        let authority = bytes[authorityStart..<authorityEnd]
        if authority.contains(UInt8(ascii: "@")) { throw fail("user information ('user@') is not supported") }
        guard !authority.isEmpty else { throw fail("missing host") }
        var host: String
        var portBytes: ArraySlice<UInt8>? = nil
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { throw fail("unterminated '[' in IPv6 host") }
            let inner = authority[(authority.startIndex + 1)..<close]
            guard !inner.isEmpty, inner.contains(UInt8(ascii: ":")) else { throw fail("empty or malformed IPv6 host") }
            for b in inner where !(URL.isHexDigit(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: ".")) {
                throw fail("IPv6 host has a character other than hex digits, ':' and '.'")
            }
            host = ASCII.lowercased(String(decoding: inner, as: UTF8.self))
            let rest = authority[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { throw fail("unexpected text after ']'") }
                portBytes = rest.dropFirst()
            }
        } else {
            var hostPart = authority
            if let portColon = authority.firstIndex(of: UInt8(ascii: ":")) {
                hostPart = authority[authority.startIndex..<portColon]
                portBytes = authority[(portColon + 1)...]
            }
            guard !hostPart.isEmpty else { throw fail("missing host") }
            for b in hostPart {
                let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                if !ok { throw fail("host has a character other than letters, digits, '-', '.', '_'") }
            }
            host = ASCII.lowercased(String(decoding: hostPart, as: UTF8.self))
        }
        var port = defaultPort
        if let digits = portBytes {
            guard !digits.isEmpty, digits.count <= 5 else { throw fail("port must be 1 to 65535") }
            var value = 0
            for b in digits {
                guard b >= 0x30 && b <= 0x39 else { throw fail("port is not a decimal number") }
                value = value * 10 + Int(b - 0x30)
            }
            guard value >= 1 && value <= 65535 else { throw fail("port must be 1 to 65535") }
            port = value
        }
        // path, query; the fragment is never sent
        var end = bytes.count
        if let hash = bytes[authorityEnd...].firstIndex(of: UInt8(ascii: "#")) { end = hash }
        let rest = bytes[authorityEnd..<end]
        var path = "/"
        var query: String? = nil
        if let q = rest.firstIndex(of: UInt8(ascii: "?")) {
            if q > rest.startIndex { path = String(decoding: rest[rest.startIndex..<q], as: UTF8.self) }
            query = String(decoding: rest[(q + 1)...], as: UTF8.self)
        } else if !rest.isEmpty {
            path = String(decoding: rest, as: UTF8.self)
        }
        self.init(scheme: scheme, host: host, port: port, path: path, query: query)
    }

    public init(scheme: String, host: String, port: Int, path: String, query: String?) {
        self.scheme = scheme; self.host = host; self.port = port; self.path = path; self.query = query
    }

    /// Always with the port: `http://127.0.0.1:80/scep`.
    public var description: String {
        scheme + "://" + hostAndPort + path + (query.map { "?" + $0 } ?? "")
    }

    /// `host:port` with brackets around an IPv6 host (the CONNECT target form).
    public var hostAndPort: String { bracketedHost + ":" + String(port) }

    /// The host with brackets when it is an IPv6 literal.
    public var bracketedHost: String { host.utf8.contains(UInt8(ascii: ":")) ? "[" + host + "]" : host }

    /// The port of the scheme when none is given.
    public var defaultPort: Int { scheme == "https" ? 443 : 80 }

    /// The Host header value: the port only when it is not the scheme's default.
    public var hostHeader: String { port == defaultPort ? bracketedHost : hostAndPort }

    /// Path and query as sent in an origin-form request line.
    public var requestTarget: String { path + (query.map { "?" + $0 } ?? "") }

    /// Resolves a `Location` header value against this URL (absolute, scheme-relative, absolute-path
    /// or relative-path reference).
    /// - Throws: `transportURL` when the result is not a valid http(s) URL.
    public func resolving(_ reference: String) throws(SCEPError) -> URL {
        let r = Array(reference.utf8)
        if r.count >= 2, r[0] == UInt8(ascii: "/"), r[1] == UInt8(ascii: "/") {
            return try URL(parsing: scheme + ":" + reference)
        }
        if let colon = r.firstIndex(of: UInt8(ascii: ":")),
           !r[0..<colon].contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            return try URL(parsing: reference)
        }
        let origin = scheme + "://" + hostAndPort
        if r.first == UInt8(ascii: "/") { return try URL(parsing: origin + reference) }
        if r.first == UInt8(ascii: "?") { return try URL(parsing: origin + path + reference) }
        // relative path: replace the last segment of the current path
        let p = Array(path.utf8)
        let lastSlash = p.lastIndex(of: UInt8(ascii: "/")) ?? 0
        return try URL(parsing: origin + String(decoding: p[0...lastSlash], as: UTF8.self) + reference)
    }

    static func isHexDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }
}

/// Percent-encodes a query value for SCEP GET (`operation=PKIOperation&message=...`).
///
/// Every byte of the UTF-8 form except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is
/// written as `%XX` with upper-case hex, so base64's `+`, `/` and `=` are encoded.
/// - Parameter s: the raw value.
/// - Returns: the encoded value, safe inside a query string.
public func percentEncodeQueryValue(_ s: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    for b in s.utf8 {
        let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
        if unreserved { out.append(b) } else { out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]] }
    }
    return String(decoding: out, as: UTF8.self)
}
