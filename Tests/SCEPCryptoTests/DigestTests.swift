import DER
import SCEPCrypto
import Testing
import TestSupport

@Suite struct DigestTests {
    let abc = Array("abc".utf8)

    /// FIPS 180-2 appendix examples for the one-block message "abc".
    @Test func knownAnswersForABC() {
        #expect(hex(Insecure.SHA1.hash(abc)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA256.hash(abc)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(SHA384.hash(abc))
                == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        #expect(
            hex(SHA512.hash(abc))
                == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    }

    @Test func emptyMessage() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hash(.sha1, []).count == DigestAlgorithm.sha1.outputSize)
    }

    @Test func sizesMatchTheAlgorithm() {
        for algorithm in [DigestAlgorithm.sha1, .sha256, .sha384, .sha512] {
            #expect(Digest.hash(algorithm, Array(repeating: 0x61, count: 1_000)).count == algorithm.outputSize)
        }
    }

    @Test func agreesWithOpenSSLOnALongMessage() throws {
        let message = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let answer = try OpenSSL.text(["dgst", "-sha384", "-r"], input: message)
        #expect(answer.hasPrefix(hex(SHA384.hash(message))))
    }
}

@Suite struct RandomGeneratorTests {
    @Test func producesRequestedLengthsAcrossRequestLimit() throws {
        let random = try RandomGenerator()
        #expect(try random.bytes(0).isEmpty)
        let large = try random.bytes(5_000)
        #expect(large.count == 5_000)
        #expect(large.contains { $0 != 0 })
        #expect(try random.bytes(32) != random.bytes(32))
    }

    @Test func twoGeneratorsDiverge() throws {
        #expect(try RandomGenerator().bytes(32) != RandomGenerator().bytes(32))
    }
}
