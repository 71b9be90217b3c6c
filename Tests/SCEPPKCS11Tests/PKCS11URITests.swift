import DER
import SCEPPKCS11
import Testing

@Suite struct PKCS11URITests {
    func failure(_ text: String) -> PKCS11URI.Failure? {
        do {
            _ = try PKCS11URI(parsing: text)
            return nil
        } catch {
            #expect(error.code == .usage)
            return PKCS11URI.Failure(rawValue: error.detail)
        }
    }

    /// RFC 7512 section 3 examples.
    @Test func rfc7512Examples() throws {
        let empty = try PKCS11URI(parsing: "pkcs11:")
        #expect(empty == PKCS11URI())

        let a = try PKCS11URI(parsing: "pkcs11:object=my-pubkey;type=public")
        #expect(a.object == Array("my-pubkey".utf8))
        #expect(a.type == .publicKey)

        let b = try PKCS11URI(parsing: "pkcs11:object=my-key;type=private?pin-source=file:/etc/token")
        #expect(b.type == .privateKey)
        #expect(b.pinSource == "file:/etc/token")

        let c = try PKCS11URI(parsing: "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin")
        #expect(c.token == Array("The Software PKCS#11 Softtoken".utf8))
        #expect(c.manufacturer == Array("Snake Oil, Inc.".utf8))
        #expect(c.model == Array("1.0".utf8))
        #expect(c.type == .certificate)
        #expect(c.id == [0x69, 0x95, 0x3E, 0x5C, 0xF4, 0xBD, 0xEC, 0x91])
        #expect(c.serial == [])
        #expect(c.pinSource == "file:/etc/token_pin")

        let d = try PKCS11URI(parsing: "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11")
        #expect(d.moduleName == "mypkcs11")

        let e = try PKCS11URI(parsing: "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1")
        #expect(e.modulePath == "/mnt/libmypkcs11.so.1")

        let f = try PKCS11URI(parsing: "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin")
        #expect(f.pinValue == Array("the-pin".utf8))

        let g = try PKCS11URI(parsing: "pkcs11:slot-description=Sun%20Metaslot")
        #expect(g.slotDescription == Array("Sun Metaslot".utf8))

        let h = try PKCS11URI(parsing: "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23")
        #expect(h.libraryVersionMajor == 1 && h.libraryVersionMinor == 23)

        let i = try PKCS11URI(parsing: "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert")
        #expect(i.token == Array("A name with a substring %;".utf8))

        let j = try PKCS11URI(parsing: "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert")
        #expect(j.token == Array("Name with a small A with acute: á".utf8))
    }

    @Test func vendorAttributesNeedTheirPrefix() {
        // Deliberately stricter than RFC 7512's last example (vendor-aaa=...): a misspelt attribute
        // ("objcet=") must not silently widen the match, so only x- names are taken as vendor ones.
        #expect(failure("pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b") == .unknownAttribute)
        #expect(failure("pkcs11:token=t;x-aaa=a?x-bbb=b") == nil)
    }

    @Test func slotIDAndRoundTrip() throws {
        let uri = try PKCS11URI(parsing: "pkcs11:token=gw;slot-id=394178622;object=device%20key;id=%01%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
        #expect(uri.slotID == 394_178_622)
        #expect(uri.description == "pkcs11:token=gw;slot-id=394178622;object=device%20key;id=%01%FF;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so")
        #expect(try PKCS11URI(parsing: uri.rendered(includingPINValue: true)) == uri)
        #expect(try PKCS11URI(parsing: uri.description).pinValue == nil)
    }

    @Test func schemeIsCaseInsensitive() throws {
        #expect(PKCS11URI.isPKCS11("PKCS11:token=a"))
        #expect(!PKCS11URI.isPKCS11("/etc/key.pem"))
        #expect(!PKCS11URI.isPKCS11("pkcs11"))
        #expect(try PKCS11URI(parsing: "Pkcs11:token=a").token == [0x61])
    }

    @Test func rejectsWhatTheGrammarDoesNotAllow() {
        #expect(failure("pkcs12:token=a") == .notPKCS11)
        #expect(failure("") == .notPKCS11)
        #expect(failure("pkcs11:token=a;token=b") == .duplicateAttribute)
        #expect(failure("pkcs11:?pin-value=a&pin-value=b") == .duplicateAttribute)
        #expect(failure("pkcs11:token") == .malformedAttribute)
        #expect(failure("pkcs11:=a") == .malformedAttribute)
        #expect(failure("pkcs11:token=a;") == .malformedAttribute)
        #expect(failure("pkcs11:TOKEN=a") == .malformedAttribute)
        #expect(failure("pkcs11:colour=red") == .unknownAttribute)
        #expect(failure("pkcs11:?colour=red") == .unknownAttribute)
        #expect(failure("pkcs11:token=a%2") == .badPercentEncoding)
        #expect(failure("pkcs11:token=a%") == .badPercentEncoding)
        #expect(failure("pkcs11:token=a%zz") == .badPercentEncoding)
        #expect(failure("pkcs11:token=a b") == .invalidCharacter)
        #expect(failure("pkcs11:object=a/b") == .invalidCharacter)
        #expect(failure("pkcs11:token=a\"b") == .invalidCharacter)
        #expect(failure("pkcs11:type=secret") == .badType)
        #expect(failure("pkcs11:slot-id=-1") == .badSlotID)
        #expect(failure("pkcs11:slot-id=99999999999") == .badSlotID)
        #expect(failure("pkcs11:slot-id=") == .badSlotID)
        #expect(failure("pkcs11:library-version=1.2.3") == .badLibraryVersion)
        #expect(failure("pkcs11:library-version=a") == .badLibraryVersion)
        #expect(failure("pkcs11:?pin-source=f&pin-value=1") == .conflictingPIN)
        #expect(failure("pkcs11:?module-path=/a%00b") == .nulByte)
    }

    @Test func boundsAreEnforced() {
        #expect(failure("pkcs11:object=" + String(repeating: "a", count: PKCS11URI.maxValueLength + 1)) == .valueTooLong)
        #expect(failure("pkcs11:object=" + String(repeating: "%41", count: PKCS11URI.maxValueLength)) == nil)
        #expect(failure("pkcs11:object=" + String(repeating: "a", count: PKCS11URI.maxLength)) == .tooLong)
        var many = "pkcs11:"
        for n in 0...PKCS11URI.maxAttributes { many += (n == 0 ? "" : ";") + "x-a" + String(n) + "=1" }
        #expect(failure(many) == .tooManyAttributes)
    }

    /// Every prefix of a valid URI either parses or fails with a coded error; none traps.
    @Test func dripFeed() {
        let text = "pkcs11:token=The%20Token;object=k;id=%01%02;type=private;slot-id=7?module-path=/usr/lib/x.so&pin-source=file:/p"
        let bytes = Array(text.utf8)
        for end in 0...bytes.count {
            _ = failure(String(decoding: bytes[0..<end], as: UTF8.self))
        }
    }
}
