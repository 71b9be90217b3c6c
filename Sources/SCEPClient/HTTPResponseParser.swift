// An incremental HTTP/1.x response parser for hostile input: every limit is a named constant, every
// malformed byte sequence throws `transportProtocol` or `transportTooLarge`, nothing traps.
import DER
import SystemSupport

/// Parses one HTTP/1.0 or HTTP/1.1 response from bytes fed in pieces of any size.
///
/// Framing follows RFC 9112 section 6.3: no body for 1xx/204/304 and for bodyless requests (HEAD,
/// CONNECT); otherwise chunked transfer coding, else Content-Length, else read to close. Interim 1xx
/// responses (such as `100 Continue`) are skipped. A response with both Transfer-Encoding and
/// Content-Length, or with conflicting Content-Length values, is refused (request smuggling shapes).
///
/// Use: `feed(_:)` each piece read; stop reading once `isComplete`; at end of stream call
/// `finishAtEndOfStream()`. Then `response` holds the result.
public struct HTTPResponseParser {
    /// The most bytes of status line plus header fields (and, separately, of trailer fields).
    public static let defaultMaxHeaderBytes = 16 * 1024
    /// The most header fields (and, separately, trailer fields).
    public static let defaultMaxHeaderCount = 100
    /// The most body bytes after transfer decoding.
    public static let defaultMaxResponseBytes = 1024 * 1024
    /// The longest chunk-size line, extensions included.
    public static let maxChunkLineBytes = 4096
    /// The most hex digits of a chunk size (leading zeros included): 16 would already overflow the cap.
    public static let maxChunkSizeDigits = 16
    /// The most interim (1xx) responses skipped before the final one.
    public static let maxInterimResponses = 8

    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    public var maxResponseBytes: Int

    /// Where the parsed response came from, for messages (`http://127.0.0.1:8080/scep`).
    public var source: String

    private enum State {
        case head
        case body(remaining: Int)
        case readToClose
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case done
    }

    private var state: State = .head
    private let bodyless: Bool
    private var buffer = ByteQueue()
    /// How far `buffer` has been scanned for a line end (avoids rescanning on every piece).
    private var scanned = 0
    private var interimCount = 0
    private var trailerBytes = 0
    private var trailerCount = 0

    private var status = 0
    private var reason = ""
    private var headers: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var isHTTP10 = false

    /// - Parameters:
    ///   - maxResponseBytes: the body cap after transfer decoding (default 1 MiB).
    ///   - maxHeaderBytes: the cap on status line plus headers.
    ///   - maxHeaderCount: the cap on the number of header fields.
    ///   - bodyless: true when the request was HEAD or CONNECT: the response has no body whatever it says.
    ///   - source: the URL or peer named in error messages.
    public init(maxResponseBytes: Int = HTTPResponseParser.defaultMaxResponseBytes,
                maxHeaderBytes: Int = HTTPResponseParser.defaultMaxHeaderBytes,
                maxHeaderCount: Int = HTTPResponseParser.defaultMaxHeaderCount,
                bodyless: Bool = false, source: String = "the server") {
        precondition(maxResponseBytes >= 0 && maxHeaderBytes > 0 && maxHeaderCount > 0, "parser limits must be positive")
        self.maxResponseBytes = maxResponseBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.bodyless = bodyless
        self.source = source
    }

    /// True once a whole response has been parsed; further input is ignored.
    public var isComplete: Bool { if case .done = state { return true } else { return false } }

    /// True while the body runs to the end of the stream (no length given).
    public var readsToClose: Bool { if case .readToClose = state { return true } else { return false } }

    /// The parsed response once `isComplete`.
    public var response: HTTPResponse? {
        isComplete ? HTTPResponse(status: status, reason: reason, headers: headers, body: body) : nil
    }

    /// Bytes fed after the response was complete (for example a tunnel's first bytes); 0 normally.
    public private(set) var surplusBytes = 0

    private func protocolError(_ what: String) -> SCEPError {
        SCEPError(.transportProtocol, "malformed HTTP response from " + source + ": " + what + "; the server or a proxy in between is not speaking HTTP/1.1 correctly")
    }

    private func tooLarge(_ what: String) -> SCEPError {
        SCEPError(.transportTooLarge, "HTTP response from " + source + " is too large: " + what)
    }

    /// Feeds the next bytes read from the connection.
    /// - Throws: `transportProtocol` for malformed input, `transportTooLarge` past a limit.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(SCEPError) {
        if isComplete { surplusBytes += bytes.count; return }
        buffer.append(contentsOf: bytes)
        try advance()
    }

    /// Signals the end of the stream: completes a read-to-close body, throws if anything else is cut.
    /// - Throws: `transportProtocol` when the response is truncated.
    public mutating func finishAtEndOfStream() throws(SCEPError) {
        switch state {
        case .done: return
        case .readToClose: state = .done
        case .head:
            throw protocolError(buffer.isEmpty && status == 0 ? "connection closed before any response" : "connection closed inside the response headers")
        case .body(let remaining):
            throw protocolError("connection closed with \(remaining) bytes of the Content-Length body missing")
        case .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            throw protocolError("connection closed inside the chunked body")
        }
    }

    // MARK: - state machine

    private mutating func advance() throws(SCEPError) {
        while true {
            switch state {
            case .done:
                surplusBytes += buffer.count
                buffer.removeFirst(buffer.count)
                return
            case .head:
                guard let end = try findHeadEnd() else { return }
                guard end.headerEnd <= maxHeaderBytes else { throw tooLarge("response headers exceed \(maxHeaderBytes) bytes") }
                let head = Array(buffer[0..<end.headerEnd])
                consume(end.consumed)
                try parseHead(head)
            case .body(let remaining):
                if buffer.isEmpty { return }
                let take = min(remaining, buffer.count)
                body.append(contentsOf: buffer[0..<take])
                consume(take)
                state = remaining - take == 0 ? .done : .body(remaining: remaining - take)
            case .readToClose:
                if buffer.isEmpty { return }
                guard body.count + buffer.count <= maxResponseBytes else {
                    throw tooLarge("body exceeds the cap of \(maxResponseBytes) bytes")
                }
                body.append(contentsOf: buffer[0..<buffer.count])
                consume(buffer.count)
            case .chunkSize:
                guard let line = try takeLine(limit: HTTPResponseParser.maxChunkLineBytes, what: "chunk-size line") else { return }
                let size = try parseChunkSize(line)
                if size == 0 {
                    state = .trailers
                } else {
                    guard size <= maxResponseBytes - body.count else {
                        throw tooLarge("chunked body exceeds the cap of \(maxResponseBytes) bytes")
                    }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                if buffer.isEmpty { return }
                let take = min(remaining, buffer.count)
                body.append(contentsOf: buffer[0..<take])
                consume(take)
                state = remaining - take == 0 ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                if buffer.isEmpty { return }
                if buffer[0] == 10 { consume(1); state = .chunkSize; continue }
                guard buffer[0] == 13 else { throw protocolError("chunk data not followed by CRLF") }
                if buffer.count < 2 { return }
                guard buffer[1] == 10 else { throw protocolError("chunk data not followed by CRLF") }
                consume(2)
                state = .chunkSize
            case .trailers:
                let remainingBudget = maxHeaderBytes - trailerBytes
                guard let line = try takeLine(limit: remainingBudget, what: "trailer section") else { return }
                trailerBytes += line.count + 2
                if line.isEmpty { state = .done; continue }
                trailerCount += 1
                guard trailerCount <= maxHeaderCount else { throw tooLarge("more than \(maxHeaderCount) trailer fields") }
                // Trailer fields are checked for shape and then dropped: nothing SCEP needs lives there.
                _ = try parseField(line[...])
            }
        }
    }

    private mutating func consume(_ n: Int) {
        buffer.removeFirst(n)
        scanned = 0
    }

    /// Finds the empty line ending the head. Accepts CRLF and bare LF line ends.
    private mutating func findHeadEnd() throws(SCEPError) -> (headerEnd: Int, consumed: Int)? {
        var i = max(scanned, 0)
        while i < buffer.count {
            if buffer[i] == 10 {
                // LF LF or LF CR LF ends the head
                if i + 1 < buffer.count, buffer[i + 1] == 10 { return (i + 1, i + 2) }
                if i + 2 < buffer.count, buffer[i + 1] == 13, buffer[i + 2] == 10 { return (i + 1, i + 3) }
                if i + 1 >= buffer.count || (buffer[i + 1] == 13 && i + 2 >= buffer.count) {
                    scanned = i
                    break
                }
            }
            i += 1
            scanned = i
        }
        if buffer.count > maxHeaderBytes { throw tooLarge("response headers exceed \(maxHeaderBytes) bytes") }
        return nil
    }

    /// Takes one line without its CRLF (or LF); nil when more bytes are needed.
    private mutating func takeLine(limit: Int, what: String) throws(SCEPError) -> [UInt8]? {
        var i = scanned
        while i < buffer.count {
            if buffer[i] == 10 {
                var end = i
                if end > 0, buffer[end - 1] == 13 { end -= 1 }
                guard end <= limit else { throw tooLarge(what + " exceeds \(limit) bytes") }
                let line = Array(buffer[0..<end])
                consume(i + 1)
                return line
            }
            i += 1
        }
        scanned = i
        if buffer.count > limit { throw tooLarge(what + " exceeds \(limit) bytes") }
        return nil
    }

    private func splitLines(_ head: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for i in 0..<head.count where head[i] == 10 {
            var end = i
            if end > start, head[end - 1] == 13 { end -= 1 }
            lines.append(head[start..<end])
            start = i + 1
        }
        if start < head.count { lines.append(head[start...]) }
        return lines
    }

    private mutating func parseHead(_ head: [UInt8]) throws(SCEPError) {
        let lines = splitLines(head)
        guard let statusLine = lines.first else { throw protocolError("empty response head") }
        try parseStatusLine(statusLine)
        var fields: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard fields.count < maxHeaderCount else { throw tooLarge("more than \(maxHeaderCount) header fields") }
            fields.append(try parseField(line))
        }
        headers = fields

        if status >= 100 && status < 200 {
            guard status != 101 else { throw protocolError("unexpected 101 Switching Protocols") }
            interimCount += 1
            guard interimCount <= HTTPResponseParser.maxInterimResponses else {
                throw protocolError("more than \(HTTPResponseParser.maxInterimResponses) interim 1xx responses")
            }
            headers = []
            state = .head
            return
        }
        try chooseFraming()
    }

    private mutating func parseStatusLine(_ line: ArraySlice<UInt8>) throws(SCEPError) {
        let l = Array(line)
        // HTTP/1.x SP 3DIGIT [SP reason]
        let prefix = Array("HTTP/1.".utf8)
        guard l.count >= 12, Array(l[0..<7]) == prefix, l[7] == UInt8(ascii: "0") || l[7] == UInt8(ascii: "1"), l[8] == 32
        else { throw protocolError("bad status line '" + ASCII.printable(l) + "'") }
        isHTTP10 = l[7] == UInt8(ascii: "0")
        var code = 0
        for b in l[9..<12] {
            guard b >= 0x30 && b <= 0x39 else { throw protocolError("bad status code in '" + ASCII.printable(l) + "'") }
            code = code * 10 + Int(b - 0x30)
        }
        guard code >= 100 else { throw protocolError("status code \(code) out of range") }
        if l.count > 12 {
            guard l[12] == 32 else { throw protocolError("bad status line '" + ASCII.printable(l) + "'") }
        }
        let reasonBytes = l.count > 13 ? l[13...] : []
        for b in reasonBytes where (b < 0x20 && b != 9) || b == 0x7F {
            throw protocolError("control character in reason phrase")
        }
        status = code
        reason = String(decoding: reasonBytes, as: UTF8.self)
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) { return true }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    /// `field-name ":" OWS field-value OWS`; obsolete line folding is refused.
    private func parseField(_ line: ArraySlice<UInt8>) throws(SCEPError) -> (name: String, value: String) {
        guard let first = line.first else { throw protocolError("empty header line") }
        if first == 32 || first == 9 { throw protocolError("obsolete header line folding") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw protocolError("header line without ':' ('" + ASCII.printable(line) + "')")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty else { throw protocolError("empty header name") }
        for b in name where !HTTPResponseParser.isTokenByte(b) {
            throw protocolError("invalid character in header name '" + ASCII.printable(name) + "'")
        }
        var value = line[(colon + 1)...]
        for b in value where (b < 0x20 && b != 9) || b == 0x7F {
            throw protocolError("control character in header '" + ASCII.printable(name) + "'")
        }
        while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
        while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private mutating func chooseFraming() throws(SCEPError) {
        if bodyless || status == 204 || status == 304 { state = .done; return }
        var transferCodings: [String] = []
        var contentLength: Int? = nil
        for field in headers {
            let name = ASCII.lowercased(field.name)
            if name == "transfer-encoding" {
                for coding in field.value.split(separator: ",") {
                    let c = ASCII.lowercased(ASCII.trimmed(coding))
                    if !c.isEmpty { transferCodings.append(c) }
                }
            } else if name == "content-length" {
                for part in field.value.split(separator: ",", omittingEmptySubsequences: false) {
                    let value = try parseContentLength(ASCII.trimmed(part))
                    if let previous = contentLength, previous != value {
                        throw protocolError("conflicting Content-Length values \(previous) and \(value)")
                    }
                    contentLength = value
                }
            }
        }
        if !transferCodings.isEmpty {
            guard contentLength == nil else { throw protocolError("both Transfer-Encoding and Content-Length") }
            guard !isHTTP10 else { throw protocolError("Transfer-Encoding in an HTTP/1.0 response") }
            guard transferCodings.last == "chunked" else {
                throw protocolError("unsupported Transfer-Encoding '" + transferCodings.joined(separator: ", ") + "' (only chunked)")
            }
            guard transferCodings.count == 1 else {
                throw protocolError("unsupported Transfer-Encoding '" + transferCodings.joined(separator: ", ") + "' (only chunked)")
            }
            state = .chunkSize
        } else if let length = contentLength {
            guard length <= maxResponseBytes else {
                throw tooLarge("Content-Length \(length) exceeds the cap of \(maxResponseBytes) bytes")
            }
            state = length == 0 ? .done : .body(remaining: length)
        } else {
            state = .readToClose
        }
    }

    private func parseContentLength(_ text: String) throws(SCEPError) -> Int {
        let digits = Array(text.utf8)
        guard !digits.isEmpty else { throw protocolError("empty Content-Length") }
        var value = 0
        for b in digits {
            guard b >= 0x30 && b <= 0x39 else { throw protocolError("Content-Length '" + ASCII.printable(digits) + "' is not a decimal number") }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - 0x30))
            guard !o1, !o2 else { throw tooLarge("Content-Length '" + ASCII.printable(digits) + "' overflows") }
            value = sum
        }
        return value
    }

    /// `chunk-size [ chunk-ext ]`: hex digits, then optional `;name[=value]` extensions (ignored).
    private func parseChunkSize(_ line: [UInt8]) throws(SCEPError) -> Int {
        var i = 0
        var size = 0
        while i < line.count, URL.isHexDigit(line[i]) {
            guard i < HTTPResponseParser.maxChunkSizeDigits else { throw tooLarge("chunk size has more than \(HTTPResponseParser.maxChunkSizeDigits) hex digits") }
            let b = line[i]
            let digit = b <= 0x39 ? Int(b - 0x30) : Int((b | 0x20) - 0x61 + 10)
            guard size <= (Int.max >> 4) else { throw tooLarge("chunk size overflows") }
            size = size << 4 | digit
            i += 1
        }
        guard i > 0 else { throw protocolError("bad chunk size '" + ASCII.printable(line) + "'") }
        while i < line.count, line[i] == 32 || line[i] == 9 { i += 1 }
        if i < line.count {
            guard line[i] == UInt8(ascii: ";") else { throw protocolError("bad chunk size '" + ASCII.printable(line) + "'") }
            for b in line[i...] where (b < 0x20 && b != 9) || b == 0x7F {
                throw protocolError("control character in chunk extension")
            }
        }
        return size
    }
}

/// A byte FIFO whose `removeFirst` is O(1): consumed bytes are dropped only when they outweigh the
/// rest, so a stream of tiny chunks costs linear time, not quadratic.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    subscript(i: Int) -> UInt8 { storage[head + i] }
    subscript(range: Range<Int>) -> ArraySlice<UInt8> { storage[(head + range.lowerBound)..<(head + range.upperBound)] }

    mutating func append(contentsOf bytes: some Collection<UInt8>) {
        if head > 0 && head >= storage.count - head {
            storage.removeFirst(head)
            head = 0
        }
        storage.append(contentsOf: bytes)
    }

    mutating func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count, "ByteQueue.removeFirst past the end")
        head += n
        if head == storage.count { storage.removeAll(keepingCapacity: true); head = 0 }
    }
}
