import Foundation
import SystemSupport
import Testing
import TestSupport
import DER
import SCEPCrypto
@testable import SCEPClient

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// A client that ignores the environment's proxy settings unless a test asks for them.
private func client(_ configure: (inout HTTPClientOptions) -> Void = { _ in }) -> HTTPClient {
    var options = HTTPClientOptions()
    options.useEnvironmentProxy = false
    options.connectTimeoutMs = 3000
    options.totalTimeoutMs = 10000
    configure(&options)
    return HTTPClient(options: options)
}

private func get(_ url: String) throws -> HTTPRequest { HTTPRequest(method: .get, url: try SCEPClient.URL(parsing: url)) }

private func errorCode(_ body: () throws(SCEPError) -> Void) -> SCEPError.Code? {
    do { try body(); return nil } catch { return error.code }
}

@Suite(.serialized) struct HTTPClientTests {
    @Test func getOverIPv4AndIPv6() throws {
        let server = try TestHTTPServer()
        for url in ["http://127.0.0.1:\(server.v4Port)/echo?operation=GetCACaps&message=a%2Bb", "http://[::1]:\(server.v6Port)/echo/v6"] {
            let response = try client().send(try get(url))
            #expect(response.status == 200)
            let body = text(response.body)
            let parsed = try SCEPClient.URL(parsing: url)
            #expect(body.hasPrefix("GET " + parsed.requestTarget + "\n"))
            #expect(body.contains("host: " + parsed.hostHeader + "\n"))
            #expect(body.contains("user-agent: scep-agent\n"))
            #expect(body.contains("connection: close\n"))
        }
    }

    @Test func postSendsBodyWithContentLength() throws {
        let server = try TestHTTPServer()
        let payload = [UInt8]((0..<70000).map { UInt8($0 % 251) })
        let request = HTTPRequest(method: .post, url: try SCEPClient.URL(parsing: "http://127.0.0.1:\(server.v4Port)/echo?operation=PKIOperation"),
                                  headers: [("Content-Type", "application/x-pki-message"), ("X-Custom", "yes")], body: payload)
        let response = try client().send(request)
        let marker = Array("\n\n".utf8)
        var split = 0
        for i in 0..<(response.body.count - 1) where response.body[i] == marker[0] && response.body[i + 1] == marker[1] { split = i; break }
        let head = text(Array(response.body[0..<split]))
        #expect(head.hasPrefix("POST /echo?operation=PKIOperation\n"))
        #expect(head.contains("content-length: 70000"))
        #expect(head.contains("x-custom: yes"))
        #expect(Array(response.body[(split + 2)...]) == payload)
    }

    @Test func chunkedReply() throws {
        let server = try TestHTTPServer()
        let response = try client().send(try get("http://127.0.0.1:\(server.v4Port)/chunked"))
        #expect(response.status == 200 && text(response.body) == "hello world")
    }

    @Test func http10ReadToClose() throws {
        let server = try TestHTTPServer()
        let response = try client().send(try get("http://[::1]:\(server.v6Port)/http10"))
        #expect(response.status == 200 && text(response.body) == "read until the server closes")
    }

    @Test func serverErrorIsReturnedAndRequireSuccessThrows() throws {
        let server = try TestHTTPServer()
        let request = try get("http://127.0.0.1:\(server.v4Port)/error500")
        let response = try client().send(request)
        #expect(response.status == 500 && text(response.body) == "internal failure: database on fire")
        #expect(errorCode { () throws(SCEPError) in try response.requireSuccess(for: request) } == .transportHTTPStatus)
    }

    @Test func slowDripHitsTotalTimeout() throws {
        let server = try TestHTTPServer()
        let start = Date()
        let request = try get("http://127.0.0.1:\(server.v4Port)/slow")
        let code = errorCode { () throws(SCEPError) in _ = try client { $0.totalTimeoutMs = 1200 }.send(request) }
        let elapsed = Date().timeIntervalSince(start)
        #expect(code == .transportTimeout)
        #expect(elapsed >= 1.1 && elapsed < 3.0, "elapsed \(elapsed)")
    }

    @Test func redirectChainIsFollowed() throws {
        let server = try TestHTTPServer()
        let response = try client().send(try get("http://127.0.0.1:\(server.v4Port)/redirect/3"))
        #expect(response.status == 200 && text(response.body).hasPrefix("GET /echo/final\n"))
    }

    @Test func tooManyRedirects() throws {
        let server = try TestHTTPServer()
        let request = try get("http://127.0.0.1:\(server.v4Port)/redirect/3")
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.maxRedirects = 2 }.send(request) } == .transportRedirects)
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.maxRedirects = 0 }.send(request) } == .transportRedirects)
    }

    @Test func redirectLoopIsDetected() throws {
        let server = try TestHTTPServer()
        let request = try get("http://127.0.0.1:\(server.v4Port)/loop-a")
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.maxRedirects = 10 }.send(request) } == .transportRedirects)
    }

    @Test func see303TurnsPostIntoGet() throws {
        let server = try TestHTTPServer()
        let request = HTTPRequest(method: .post, url: try SCEPClient.URL(parsing: "http://127.0.0.1:\(server.v4Port)/redirect303"), body: [1, 2, 3])
        let response = try client().send(request)
        #expect(text(response.body).hasPrefix("GET /echo/after303\n"))
    }

    @Test func oversizedBodyIsRefused() throws {
        let server = try TestHTTPServer()
        for path in ["/big", "/bigchunked"] {
            let request = try get("http://127.0.0.1:\(server.v4Port)" + path)
            #expect(errorCode { () throws(SCEPError) in _ = try client().send(request) } == .transportTooLarge)
        }
        let bigger = try client { $0.maxResponseBytes = 3 * 1024 * 1024 }.send(try get("http://127.0.0.1:\(server.v4Port)/bigchunked"))
        #expect(bigger.body.count == 2 * 1024 * 1024)
    }

    @Test func refusedConnection() throws {
        let port = try Peers.freePort()
        let request = try get("http://127.0.0.1:\(port)/")
        #expect(errorCode { () throws(SCEPError) in _ = try client().send(request) } == .transportConnect)
    }

    @Test func forwardProxyForHTTP() throws {
        let server = try TestHTTPServer()
        let request = try get("http://127.0.0.1:\(server.v4Port)/echo/proxied")
        let response = try client { $0.proxy = "127.0.0.1:\(server.proxyPort)" }.send(request)
        #expect(text(response.body).hasPrefix("GET /echo/proxied\n"))
        #expect(text(response.body).contains("x-via-proxy: yes"))
        #expect(server.proxyLogLines == ["FORWARD GET http://127.0.0.1:\(server.v4Port)/echo/proxied HTTP/1.1"])
    }

    /// http_proxy from the real environment is used, and no_proxy bypasses it. Other tests run with
    /// useEnvironmentProxy = false, so setting the variables here cannot leak into them.
    @Test func environmentProxyAndNoProxy() throws {
        let server = try TestHTTPServer()
        setenv("http_proxy", "127.0.0.1:\(server.proxyPort)", 1)
        defer { unsetenv("http_proxy"); unsetenv("no_proxy") }
        let viaProxy = try client { $0.useEnvironmentProxy = true }.send(try get("http://127.0.0.1:\(server.v4Port)/echo/env"))
        #expect(String(decoding: viaProxy.body, as: UTF8.self).contains("x-via-proxy: yes"))
        setenv("no_proxy", "example.test, 127.0.0.1", 1)
        let direct = try client { $0.useEnvironmentProxy = true }.send(try get("http://127.0.0.1:\(server.v4Port)/echo/direct"))
        #expect(!String(decoding: direct.body, as: UTF8.self).contains("x-via-proxy"))
        #expect(server.proxyLogLines == ["FORWARD GET http://127.0.0.1:\(server.v4Port)/echo/env HTTP/1.1"])
    }

    @Test func proxyRefusingConnectIsAConnectError() throws {
        let server = try TestHTTPServer()
        // The client never resolves the target when it goes through a proxy; the proxy refuses it.
        let request = try get("https://blocked.test/")
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.proxy = "http://127.0.0.1:\(server.proxyPort)" }.send(request) } == .transportConnect)
        #expect(server.proxyLogLines == ["CONNECT blocked.test:443"])
    }
}

@Suite struct ProxySelectionTests {
    let env: [String: String] = ["http_proxy": "http://127.0.0.1:3128", "HTTPS_PROXY": "127.0.0.1:3129",
                                 "no_proxy": "localhost, .internal.test,[::1]"]

    private func proxy(_ url: String, _ configure: (inout HTTPClientOptions) -> Void = { _ in }) throws -> String? {
        var options = HTTPClientOptions()
        configure(&options)
        let environment = env
        return try HTTPClient.proxyURL(for: try SCEPClient.URL(parsing: url), options: options, environment: { environment[$0] })?.description
    }

    @Test func environmentBySchemeAndNoProxy() throws {
        #expect(try proxy("http://ca.example.test/scep") == "http://127.0.0.1:3128/")
        #expect(try proxy("https://ca.example.test/scep") == "http://127.0.0.1:3129/")
        #expect(try proxy("http://localhost:8080/") == nil)
        #expect(try proxy("http://ca.internal.test/") == nil)
        #expect(try proxy("http://internal.test/") == nil)
        #expect(try proxy("http://notinternal.test/") == "http://127.0.0.1:3128/")
        #expect(try proxy("http://[::1]:80/") == nil)
        #expect(try proxy("http://ca.example.test/") { $0.useEnvironmentProxy = false } == nil)
    }

    @Test func explicitProxyWinsAndEmptyDisables() throws {
        #expect(try proxy("https://ca.example.test/") { $0.proxy = "http://127.0.0.1:8888" } == "http://127.0.0.1:8888/")
        #expect(try proxy("https://ca.example.test/") { $0.proxy = "" } == nil)
        #expect(try proxy("http://ca.example.test/") { $0.noProxy = "*" } == nil)
    }

    @Test func noProxyMatching() {
        #expect(HTTPClient.noProxyMatches(host: "a.b.example", list: "example"))
        #expect(HTTPClient.noProxyMatches(host: "example", list: " .example "))
        #expect(HTTPClient.noProxyMatches(host: "127.0.0.1", list: "127.0.0.1:8080"))
        #expect(!HTTPClient.noProxyMatches(host: "badexample", list: "example"))
        #expect(HTTPClient.noProxyMatches(host: "anything", list: "x,*"))
    }

    @Test func rejectsHTTPSProxy() throws {
        var options = HTTPClientOptions()
        options.proxy = "https://127.0.0.1:1"
        let url = try SCEPClient.URL(parsing: "http://a.test/")
        #expect(errorCode { () throws(SCEPError) in _ = try HTTPClient.proxyURL(for: url, options: options, environment: { _ in nil }) } == .transportURL)
    }

    @Test func requestSerialization() throws {
        let request = HTTPRequest(method: .post, url: try SCEPClient.URL(parsing: "http://[::1]:8080/scep?x=1"),
                                  headers: [("Content-Length", "99"), ("X-A", "b")], body: [1, 2])
        let origin = text(try HTTPClient.serialize(request, absoluteForm: false, userAgent: "scep-agent"))
        #expect(origin == "POST /scep?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: scep-agent\r\nAccept: */*\r\nConnection: close\r\nContent-Length: 2\r\nX-A: b\r\n\r\n")
        let absolute = text(try HTTPClient.serialize(HTTPRequest(method: .get, url: try SCEPClient.URL(parsing: "http://h/p")), absoluteForm: true, userAgent: "u"))
        #expect(absolute.hasPrefix("GET http://h/p HTTP/1.1\r\nHost: h\r\n"))
        let bad = HTTPRequest(method: .get, url: try SCEPClient.URL(parsing: "http://h/"), headers: [("X", "a\r\nInjected: 1")])
        #expect(errorCode { () throws(SCEPError) in _ = try HTTPClient.serialize(bad, absoluteForm: false, userAgent: "u") } == .transportProtocol)
    }
}

@Suite(.serialized) struct HTTPSClientTests {
    @Test func staticFileVerifiesWithRightCA() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let response = try client { $0.tlsCAFile = nginx.caFile }.send(try get("https://localhost:\(nginx.port)/hello.txt"))
        #expect(response.status == 200 && text(response.body) == "static file over TLS\n")
        let proxied = try client { $0.tlsCAFile = nginx.caFile }.send(HTTPRequest(method: .post, url: try SCEPClient.URL(parsing: "https://localhost:\(nginx.port)/echo/tls"), body: Array("over tls".utf8)))
        #expect(text(proxied.body).hasPrefix("POST /echo/tls\n") && text(proxied.body).hasSuffix("\n\nover tls"))
    }

    /// mbedTLS 2.28 matches only dNSName/CN; for an IP-literal URL the client checks the leaf's
    /// iPAddress SANs itself. The server certificate names IP:127.0.0.1 and DNS:localhost.
    @Test func ipLiteralHostMatchesTheIPAddressSAN() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let response = try client { $0.tlsCAFile = nginx.caFile }.send(try get("https://127.0.0.1:\(nginx.port)/hello.txt"))
        #expect(response.status == 200 && text(response.body) == "static file over TLS\n")
    }

    @Test func ipLiteralHostWithoutThatIPAddressSANFailsClosed() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let tlsClient = client { $0.tlsCAFile = nginx.caFile }
        let request = try get("https://[::1]:\(nginx.port)/hello.txt")
        var caught: SCEPError? = nil
        do throws(SCEPError) { _ = try tlsClient.send(request) } catch { caught = error }
        #expect(caught?.code == .transportTLS)
        #expect(caught?.reason.contains("no iPAddress subjectAltName ::1") == true)
    }

    @Test func wrongCAFailsVerification() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let request = try get("https://localhost:\(nginx.port)/hello.txt")
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.tlsCAFile = nginx.wrongCAFile }.send(request) } == .transportTLS)
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.tlsCAFile = nginx.directory + "/missing.pem" }.send(request) } == .transportTLS)
    }

    @Test func hostnameMismatchFails() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        // The certificate names localhost and 127.0.0.1; the TLS session is asked to check another name.
        let code = errorCode { () throws(SCEPError) in
            let configuration = try TLSConfiguration(caFile: nginx.caFile)
            let deadline = Deadline(atMs: Syscall.monotonicMilliseconds() + 5000, budgetMs: 5000, option: "test")
            let connection = try TCPConnection(host: "127.0.0.1", port: nginx.port, connectTimeoutMs: 3000, deadline: deadline, purpose: "test")
            let stream = TLSStream(connection: connection, session: try TLSSession(configuration: configuration, fd: connection.fd, hostname: "wrong.example", addressNamed: HTTPClient.certificateNamesAddress))
            try stream.handshake(deadline: deadline)
        }
        #expect(code == .transportTLS)
    }

    @Test func httpsThroughConnectProxy() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let response = try client { $0.tlsCAFile = nginx.caFile; $0.proxy = "http://127.0.0.1:\(server.proxyPort)" }
            .send(try get("https://localhost:\(nginx.port)/hello.txt"))
        #expect(text(response.body) == "static file over TLS\n")
        #expect(server.proxyLogLines == ["CONNECT localhost:\(nginx.port)"])
    }

    @Test func neverRedirectHTTPSToHTTP() throws {
        let server = try TestHTTPServer()
        let nginx = try TestNginx(upstreamPort: server.v4Port)
        let request = try get("https://localhost:\(nginx.port)/downgrade")
        #expect(errorCode { () throws(SCEPError) in _ = try client { $0.tlsCAFile = nginx.caFile }.send(request) } == .transportRedirects)
    }
}
