import SystemSupport
import Testing
import DER
@testable import SCEPClient

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Feeds `input` in pieces of `piece` bytes and finishes at end of stream.
private func parse(_ input: [UInt8], piece: Int = Int.max, maxResponseBytes: Int = HTTPResponseParser.defaultMaxResponseBytes,
                   bodyless: Bool = false) throws(SCEPError) -> HTTPResponse {
    var parser = HTTPResponseParser(maxResponseBytes: maxResponseBytes, bodyless: bodyless)
    var i = 0
    while i < input.count && !parser.isComplete {
        let end = min(input.count, i + min(piece, input.count - i))
        try parser.feed(input[i..<end])
        i = end
    }
    if !parser.isComplete { try parser.finishAtEndOfStream() }
    return parser.response!
}

private func code(_ body: () throws(SCEPError) -> Void) -> SCEPError.Code? {
    do { try body(); return nil } catch { return error.code }
}

@Suite struct HTTPResponseParserTests {
    static let contentLength = bytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-pki-message\r\nContent-Length: 5\r\n\r\nhello")
    static let chunked = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;x\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n")
    static let readToClose = bytes("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it until close")

    @Test func contentLengthBody() throws {
        let r = try parse(Self.contentLength)
        #expect(r.status == 200)
        #expect(r.reason == "OK")
        #expect(r.body == bytes("hello"))
        #expect(r.contentType == "application/x-pki-message")
        #expect(r.header("content-length") == "5")
    }

    @Test func chunkedWithExtensionsAndTrailers() throws {
        let r = try parse(Self.chunked)
        #expect(r.body == bytes("hello world"))
    }

    @Test func chunkedUpperCaseHexAndLeadingZeros() throws {
        let r = try parse(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n"))
        #expect(r.body == bytes("0123456789"))
    }

    @Test func readToCloseHTTP10() throws {
        let r = try parse(Self.readToClose)
        #expect(r.status == 200)
        #expect(r.body == bytes("all of it until close"))
    }

    @Test func bareLineFeedsAccepted() throws {
        let r = try parse(bytes("HTTP/1.1 404 Not Found\nContent-Length: 2\n\nno"))
        #expect(r.status == 404)
        #expect(r.body == bytes("no"))
    }

    @Test func statusWithoutReason() throws {
        let r = try parse(bytes("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"))
        #expect(r.status == 200 && r.reason == "" && r.body.isEmpty)
    }

    @Test func interimContinueIsSkipped() throws {
        let r = try parse(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"))
        #expect(r.status == 201 && r.body == bytes("x"))
    }

    @Test func noBodyFor204And304AndBodyless() throws {
        #expect(try parse(bytes("HTTP/1.1 204 No Content\r\n\r\n")).body.isEmpty)
        #expect(try parse(bytes("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")).body.isEmpty)
        #expect(try parse(bytes("HTTP/1.1 200 Connection established\r\n\r\n"), bodyless: true).status == 200)
    }

    @Test func identicalDuplicateContentLengthAccepted() throws {
        let r = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc"))
        #expect(r.body == bytes("abc"))
    }

    @Test func surplusAfterCompleteIsCounted() throws {
        var p = HTTPResponseParser()
        try p.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxYZ"))
        #expect(p.isComplete && p.surplusBytes == 2)
    }

    /// Every prefix of every valid input either asks for more bytes or throws a coded error at end of
    /// stream; the full input parses the same whatever the piece size.
    @Test(arguments: [contentLength, chunked, readToClose])
    func dripFeed(input: [UInt8]) throws {
        let expected = try parse(input)
        for cut in 0..<input.count {
            var p = HTTPResponseParser()
            let fed = code { () throws(SCEPError) in try p.feed(input[0..<cut]) }
            #expect(fed == nil)
            if p.readsToClose { continue }  // a read-to-close body is complete at any cut after the head
            #expect(!p.isComplete)
            let finished = code { () throws(SCEPError) in try p.finishAtEndOfStream() }
            #expect(finished == .transportProtocol, "prefix of \(cut) bytes")
        }
        for piece in [1, 2, 3, 7, 64] {
            let r = try parse(input, piece: piece)
            #expect(r.body == expected.body && r.status == expected.status && r.headers.count == expected.headers.count)
        }
    }

    // MARK: - named negative tests

    @Test(arguments: ["HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2x0 OK", "HTTX/1.1 200 OK", "HTTP/1.1  200 OK",
                      "HTTP/1.1 200OK", "HTTP/1.2 200 OK", "SSH-2.0-OpenSSH", "HTTP/1.1 099 Low"])
    func rejectBadStatusLine(line: String) {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes(line + "\r\nContent-Length: 0\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectNegativeContentLength() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectOverflowingContentLength() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")) } == .transportTooLarge)
    }

    @Test func rejectConflictingDuplicateContentLength() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd")) } == .transportProtocol)
    }

    @Test func rejectEmptyOrNonDecimalContentLength() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n")) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectTransferEncodingWithContentLength() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectUnsupportedTransferEncoding() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx")) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")) } == .transportProtocol)
    }

    @Test(arguments: ["g\r\n", "\r\n", "-1\r\n", " 5\r\nhello\r\n", "5 x\r\nhello\r\n"])
    func rejectBadChunkSizeHex(chunkLine: String) {
        let input = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkLine + "0\r\n\r\n")
        #expect(code { () throws(SCEPError) in _ = try parse(input) } == .transportProtocol)
    }

    @Test func rejectOverflowingChunkSize() {
        let input = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n")
        #expect(code { () throws(SCEPError) in _ = try parse(input) } == .transportTooLarge)
    }

    @Test func rejectChunkDataWithoutCRLF() {
        let input = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n")
        #expect(code { () throws(SCEPError) in _ = try parse(input) } == .transportProtocol)
    }

    @Test func rejectOversizedHeaders() {
        let big = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: HTTPResponseParser.defaultMaxHeaderBytes) + "\r\n\r\n"
        #expect(code { () throws(SCEPError) in _ = try parse(bytes(big)) } == .transportTooLarge)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes(big), piece: 1000) } == .transportTooLarge)
    }

    @Test func rejectTooManyHeaders() {
        var text = "HTTP/1.1 200 OK\r\n"
        for i in 0...HTTPResponseParser.defaultMaxHeaderCount { text += "X-\(i): v\r\n" }
        #expect(code { () throws(SCEPError) in _ = try parse(bytes(text + "\r\n")) } == .transportTooLarge)
    }

    @Test func rejectOversizedTrailers() {
        let input = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "t", count: 20000) + "\r\n\r\n")
        #expect(code { () throws(SCEPError) in _ = try parse(input, piece: 512) } == .transportTooLarge)
    }

    @Test func rejectBodyOverTheCap() throws {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"), maxResponseBytes: 10) } == .transportTooLarge)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"), maxResponseBytes: 10) } == .transportTooLarge)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.0 200 OK\r\n\r\nhello world"), piece: 3, maxResponseBytes: 10) } == .transportTooLarge)
        #expect(try parse(bytes("HTTP/1.0 200 OK\r\n\r\nhello worl"), maxResponseBytes: 10).body.count == 10)
    }

    @Test func rejectObsoleteLineFolding() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectBadHeaderName() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n")) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n")) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\n: empty\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectControlBytesInHeaderValue() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nX: a\u{0}b\r\n\r\n")) } == .transportProtocol)
    }

    @Test func rejectTruncatedResponses() {
        #expect(code { () throws(SCEPError) in _ = try parse([]) } == .transportProtocol)
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")) } == .transportProtocol)
    }

    @Test func rejectSwitchingProtocolsAndEndlessInterim() {
        #expect(code { () throws(SCEPError) in _ = try parse(bytes("HTTP/1.1 101 Switching\r\n\r\n")) } == .transportProtocol)
        let many = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 20) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        #expect(code { () throws(SCEPError) in _ = try parse(bytes(many)) } == .transportProtocol)
    }

    /// 200 000 one-byte chunks in 16 KiB reads: consuming must not shift the buffer per chunk.
    @Test func tinyChunksParseInLinearTime() throws {
        var input = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = bytes("1;e\r\nx\r\n")
        for _ in 0..<200_000 { input += chunk }
        input += bytes("0\r\n\r\n")
        let clock = ContinuousClock()
        var r: HTTPResponse? = nil
        let elapsed = try clock.measure { r = try parse(input, piece: 16 * 1024) }
        #expect(r?.body.count == 200_000)
        #expect(elapsed < .seconds(10))
    }

    /// A cheap in-test fuzz: random mutations of valid inputs never trap.
    @Test func mutatedInputsNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [Self.contentLength, Self.chunked, Self.readToClose]
        for _ in 0..<3000 {
            var input = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<input.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: input[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: input.remove(at: i)
                default: input.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
            }
            let c = code { () throws(SCEPError) in _ = try parse(input, piece: Int.random(in: 1...32, using: &rng), maxResponseBytes: 64) }
            #expect(c == nil || c == .transportProtocol || c == .transportTooLarge)
        }
    }
}

@Suite struct URLTests {
    @Test func parsesHTTPAndHTTPS() throws {
        let a = try URL(parsing: "http://127.0.0.1:8080/scep?operation=GetCACaps#frag")
        #expect(a.scheme == "http" && a.host == "127.0.0.1" && a.port == 8080 && a.path == "/scep" && a.query == "operation=GetCACaps")
        let b = try URL(parsing: "HTTPS://LocalHost")
        #expect(b.scheme == "https" && b.host == "localhost" && b.port == 443 && b.path == "/" && b.query == nil)
        let c = try URL(parsing: "http://[::1]:9/x")
        #expect(c.host == "::1" && c.port == 9 && c.description == "http://[::1]:9/x" && c.hostHeader == "[::1]:9")
        #expect(try URL(parsing: "http://h?q").path == "/")
    }

    @Test(arguments: ["", "ftp://h/", "http:/h", "http://", "http://user@h/", "http://h:0/", "http://h:65536/", "http://h:x/",
                      "http://h /", "http://[::1/", "http://[zz]/", "http://h\u{e9}/", "http://:80/", "http://h:/"])
    func rejectsInvalid(text: String) {
        #expect(code { () throws(SCEPError) in _ = try URL(parsing: text) } == .transportURL)
    }

    @Test func resolvesLocations() throws {
        let base = try URL(parsing: "http://127.0.0.1:81/a/b?x")
        #expect(try base.resolving("/c").description == "http://127.0.0.1:81/c")
        #expect(try base.resolving("d?y=1").description == "http://127.0.0.1:81/a/d?y=1")
        #expect(try base.resolving("//[::1]:82/e").description == "http://[::1]:82/e")
        #expect(try base.resolving("https://localhost/f").description == "https://localhost:443/f")
    }

    @Test func percentEncoding() {
        #expect(percentEncodeQueryValue("aZ09-._~") == "aZ09-._~")
        #expect(percentEncodeQueryValue("a+b/c=") == "a%2Bb%2Fc%3D")
        #expect(percentEncodeQueryValue(" é") == "%20%C3%A9")
    }
}
