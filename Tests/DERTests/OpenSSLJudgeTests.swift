import Foundation
import Testing
import TestSupport
@testable import DER

/// OpenSSL's asn1parse is the independent judge of what the writer emits.
@Suite struct OpenSSLJudgesDERTests {
    @Test func asn1parseAcceptsTheWriterOutput() throws {
        let structure = DER.sequence([
            DER.integer(65537), DER.oid("1.2.840.113549.1.9.7"), DER.printableString("secret"),
            DER.setOf([DER.utf8String("z"), DER.utf8String("a")]), DER.explicit(3, [DER.boolean(false)]),
            DER.time(unixSeconds: 1_795_000_000), DER.time(unixSeconds: 2_600_000_000),
        ])
        let output = try OpenSSL.text(["asn1parse", "-inform", "DER"], input: structure)
        #expect(output.contains("challengePassword"))
        #expect(output.contains("INTEGER           :010001"))
        #expect(output.contains("UTCTIME"))
        #expect(output.contains("GENERALIZEDTIME"))
    }
}

