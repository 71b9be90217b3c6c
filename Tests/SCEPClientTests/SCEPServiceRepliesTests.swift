import DER
import SystemSupport
import Testing
import TestSupport
import SCEPClient

/// What GetCACert and PKIOperation say when the server answers 200 with something that is not SCEP
/// (an HTML login page, random bytes): exit 9 with the operation, Content-Type and the body's start.
@Suite struct SCEPServiceRepliesTests {
    final class Canned: Transport {
        let response: HTTPResponse
        init(_ contentType: String, _ body: [UInt8]) {
            response = HTTPResponse(status: 200, reason: "OK", headers: [(name: "Content-Type", value: contentType)], body: body)
        }
        func send(_ request: HTTPRequest) throws(SCEPError) -> HTTPResponse { response }
    }

    static let page = Array("<!DOCTYPE html><html><body>Please log in to the guest network</body></html>".utf8)

    func service(_ transport: Transport, warnings: Box) throws -> SCEPService {
        SCEPService(url: try URL(parsing: "http://127.0.0.1:8080/scep"), transport: transport,
                    log: Log(threshold: .warning) { _, text in warnings.lines.append(text) })
    }

    final class Box { var lines: [String] = [] }

    @Test func htmlInsteadOfTheCACertificateNamesTheContentType() throws {
        let warnings = Box()
        var caught: SCEPError? = nil
        let scep = try service(Canned("text/html", Self.page), warnings: warnings)
        do throws(SCEPError) { _ = try scep.getCACert() } catch { caught = error }
        let error = try #require(caught)
        #expect(error.code == .messageMalformed || error.code.rawValue.hasPrefix("der"))
        #expect(error.reason.hasPrefix("GetCACert reply from http://127.0.0.1:8080/scep is not a DER certificate"))
        #expect(error.reason.contains("Content-Type text/html, " + String(Self.page.count) + " bytes, starting '<!DOCTYPE html>"))
        #expect(warnings.lines.contains { $0.contains("GetCACert reply has Content-Type text/html") })
    }

    @Test func htmlInsteadOfACertRepNamesTheContentType() throws {
        var caught: SCEPError? = nil
        let scep = try service(Canned("text/html", Self.page), warnings: Box())
        do throws(SCEPError) { _ = try scep.pkiOperation([0x30, 0x00], usePOST: true) } catch { caught = error }
        let error = try #require(caught)
        #expect(error.reason.hasPrefix("PKIOperation reply from http://127.0.0.1:8080/scep is not a PKCS#7 CertRep (Content-Type text/html"))
    }

    @Test func aWellFormedBodyUnderAWrongLabelIsAcceptedWithAWarning() throws {
        let warnings = Box()
        let body: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x05]
        #expect(try service(Canned("text/html", body), warnings: warnings).pkiOperation([0x30, 0x00], usePOST: true) == body)
        #expect(warnings.lines.contains { $0.contains("PKIOperation reply has Content-Type text/html") })
    }
}
