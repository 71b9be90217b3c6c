import Foundation
import Testing
@testable import DER

/// OpenSSL's asn1parse is the independent judge of what the writer emits.
@Suite struct OpenSSLJudgesDERTests {
    @Test func asn1parseAcceptsTheWriterOutput() throws {
        let structure = DER.sequence([
            DER.integer(65537), DER.oid("1.2.840.113549.1.9.7"), DER.printableString("secret"),
            DER.setOf([DER.utf8String("z"), DER.utf8String("a")]), DER.explicit(3, [DER.boolean(false)]),
            DER.time(unixSeconds: 1_795_000_000), DER.time(unixSeconds: 2_600_000_000),
        ])
        let output = try OpenSSL.run(["asn1parse", "-inform", "DER"], input: structure)
        #expect(output.contains("challengePassword"))
        #expect(output.contains("INTEGER           :010001"))
        #expect(output.contains("UTCTIME"))
        #expect(output.contains("GENERALIZEDTIME"))
    }
}

enum OpenSSL {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `openssl ARGS` with `input` on stdin; returns stdout, throws with stderr on a non-zero exit.
    static func run(_ arguments: [String], input: [UInt8] = []) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl " + arguments.joined(separator: " ") + ": " + String(decoding: err, as: UTF8.self))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
