import DER
import Testing
import TestSupport
import SCEPMessages

@Suite struct DistinguishedNameTests {
    @Test func rfc4514TextIsEncodedLeastSpecificFirst() throws {
        let name = try DistinguishedName(parsing: "CN=gw-0042,O=Example,C=DE")
        #expect(name.relativeNames.map { $0[0].shortName } == ["C", "O", "CN"])
        #expect(name.commonName == "gw-0042")
        #expect(name.description == "CN=gw-0042,O=Example,C=DE")
    }

    @Test func slashFormKeepsItsOrder() throws {
        let name = try DistinguishedName(parsing: "/C=DE/O=Example/CN=gw-0042")
        #expect(name.der == (try DistinguishedName(parsing: "CN=gw-0042,O=Example,C=DE")).der)
    }

    @Test func escapesAndMultiValuedRDNs() throws {
        let name = try DistinguishedName(parsing: "CN=Smith\\, J.+UID=42,O=Example")
        #expect(name.relativeNames.count == 2)
        #expect(name.relativeNames[1].map { $0.value } == ["Smith, J.", "42"])
    }

    @Test func dottedOIDTypes() throws {
        let name = try DistinguishedName(parsing: "2.5.4.3=dotted")
        #expect(name.commonName == "dotted")
    }

    @Test(arguments: ["", "CN", "XX=1", "CN=", "C=Germany", "CN=a\\"])
    func malformedSubjectsAreUsageErrors(_ text: String) {
        #expect(errorCode { try DistinguishedName(parsing: text) } == .usage)
    }
}

@Suite struct SubjectAltNameTests {
    @Test func ipv6Forms() throws {
        #expect(IPAddress.parse("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddress.parse("::") == Array(repeating: 0, count: 16))
        #expect(IPAddress.parse("2001:db8::7") == [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [7])
        #expect(IPAddress.parse("fe80::") == [0xfe, 0x80] + Array(repeating: 0, count: 14))
        #expect(IPAddress.parse("::ffff:192.0.2.1") == Array(repeating: 0, count: 10) + [0xff, 0xff, 192, 0, 2, 1])
        #expect(IPAddress.parse("1:2:3:4:5:6:7:8")?.count == 16)
    }

    @Test(arguments: ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", ":1", "1:", "g::1"])
    func malformedAddressesAreRejected(_ text: String) {
        #expect(IPAddress.parse(text) == nil)
    }

    @Test func typesAreCaseInsensitive() throws {
        #expect(try SubjectAltName(parsing: "DNS:a.example") == .dns("a.example"))
        #expect(try SubjectAltName(parsing: "ip:10.0.0.1").description == "ip:10.0.0.1")
    }

    @Test(arguments: ["a.example", "dns:", "x400:foo", "ip:nope"])
    func malformedSANsAreUsageErrors(_ text: String) {
        #expect(errorCode { try SubjectAltName(parsing: text) } == .usage)
    }
}

@Suite struct CapabilitiesTests {
    @Test func crlfCaseAndUnknownKeywords() {
        let caps = Capabilities(parsing: Array("aes\r\nsha-512\r\n  POSTPKIOperation \r\nFutureThing\r\n".utf8))
        #expect(caps.aes && caps.sha512 && caps.postPKIOperation)
        #expect(caps.digest == .sha512)
        #expect(caps.keywords.count == 4)
    }

    @Test func aes256OnlyWhenNamed() {
        #expect(Capabilities(parsing: Array("AES\nAES256".utf8)).contentCipher == .aes256CBC)
        #expect(Capabilities(parsing: Array("DES3".utf8)).contentCipher == .tripleDESCBC)
    }

    @Test func onlyPrintableKeywordLinesAreACapabilityList() {
        #expect(Capabilities.isCapabilityList(Array("AES\r\nSHA-256\r\nPOSTPKIOperation\r\n".utf8)))
        #expect(Capabilities.isCapabilityList([]))
        #expect(!Capabilities.isCapabilityList(Array("\r\n  <!DOCTYPE html><html><body>log in</body></html>".utf8)))
        #expect(!Capabilities.isCapabilityList([0x41, 0x45, 0x53, 0x00, 0x0A]))
        #expect(!Capabilities.isCapabilityList(Array("AES\nSHA-256\n".utf8) + [0xC3, 0xA9]))
    }

    @Test func emptyMeansLegacy() {
        let caps = Capabilities(parsing: [])
        #expect(caps.isEmpty)
        #expect(caps.digest == .sha1)
        #expect(caps.contentCipher == .tripleDESCBC)
    }

    @Test func scepStandardImpliesAESPostAndSHA256() {
        let caps = Capabilities(parsing: Array("SCEPStandard".utf8))
        #expect(caps.aes && caps.postPKIOperation && caps.sha256)
    }
}
