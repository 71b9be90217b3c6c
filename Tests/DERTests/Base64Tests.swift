import SystemSupport
import Testing
@testable import DER

@Suite struct Base64Tests {
    @Test func rfc4648Vectors() throws {
        let vectors: [(String, String)] = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64.decode(encoded) == Array(plain.utf8))
        }
    }
    @Test func rejectsCharactersOutsideAlphabet() {
        #expect(throws: SCEPError.self) { try Base64.decode("Zm9v!") }
    }
    @Test func rejectsDataAfterPadding() {
        #expect(throws: SCEPError.self) { try Base64.decode("Zg==Zg") }
    }
}
