import DER
import SCEPCrypto
import SystemSupport
import Testing
import TestSupport

@Suite struct PEMTests {
    @Test func encodeWrapsAt64ColumnsAndDecodesBack() throws {
        let der = (0..<200).map { UInt8($0) }
        let text = PEM.encode(label: "CERTIFICATE", der: der)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "-----BEGIN CERTIFICATE-----")
        #expect(lines.last == "-----END CERTIFICATE-----")
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.count <= 64 })
        #expect(lines[1].count == 64)
        #expect(text.hasSuffix("-----\n"))
        let blocks = try PEM.decode(text)
        #expect(blocks.count == 1)
        #expect(blocks[0].label == "CERTIFICATE")
        #expect(blocks[0].der == der)
    }

    @Test func decodesSeveralBlocksWithTextAndCRLF() throws {
        let text = "subject=CN=a\r\n" + PEM.encode(label: "CERTIFICATE", der: [1, 2, 3]).replacingOccurrences(of: "\n", with: "\r\n")
            + "between\n" + PEM.encode(label: "X509 CRL", der: [4, 5])
        let blocks = try PEM.decode(text)
        #expect(blocks.map(\.label) == ["CERTIFICATE", "X509 CRL"])
        #expect(blocks.map(\.der) == [[1, 2, 3], [4, 5]])
    }

    @Test func noBlocksIsEmpty() throws {
        #expect(try PEM.decode("nothing here\n").isEmpty)
    }

    @Test func unterminatedBlockIsRejected() {
        let error = #expect(throws: SCEPError.self) { try PEM.decode("-----BEGIN CERTIFICATE-----\nAQID\n") }
        #expect(error?.code == .fileFormat)
    }

    @Test func mismatchedEndLabelIsRejected() {
        let error = #expect(throws: SCEPError.self) {
            try PEM.decode("-----BEGIN CERTIFICATE-----\nAQID\n-----END PRIVATE KEY-----\n")
        }
        #expect(error?.code == .fileFormat)
    }

    @Test func legacyEncryptedHeadersAreRejected() {
        let error = #expect(throws: SCEPError.self) {
            try PEM.decode("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAQID\n-----END RSA PRIVATE KEY-----\n")
        }
        #expect(error?.code == .fileFormat)
    }

    @Test func badBase64IsRejected() {
        let error = #expect(throws: SCEPError.self) { try PEM.decode("-----BEGIN X-----\nA*ID\n-----END X-----\n") }
        #expect(error?.code == .derInvalidValue)
    }
}
