import DER
import SCEPAgent
import SystemSupport
import Testing

@Suite struct WPASupplicantTests {
    @Test func fileKeyUsesPrivateKey() throws {
        let block = try WPASupplicant.networkBlock(identity: "gw-0042", caCertificate: "/etc/scep/ca.pem", clientCertificate: "/etc/scep/cert.pem",
                                                   key: try KeyLocation("/etc/scep/key.pem"))
        #expect(block == """
            network={
                key_mgmt=IEEE8021X
                eap=TLS
                eapol_flags=0
                identity="gw-0042"
                ca_cert="/etc/scep/ca.pem"
                client_cert="/etc/scep/cert.pem"
                private_key="/etc/scep/key.pem"
            }

            """)
    }

    @Test func tokenKeyUsesThePKCS11Engine() throws {
        let key = try KeyLocation("pkcs11:token=gw;object=device-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
        #expect(key.uri != nil && key.filePath == nil && !key.isExportable)
        #expect(key.description == "pkcs11:token=gw;object=device-key?module-path=/usr/lib/softhsm/libsofthsm2.so")
        let block = try WPASupplicant.networkBlock(identity: "gw-0042", caCertificate: "/etc/scep/ca.pem", clientCertificate: "/etc/scep/cert.pem",
                                                   key: key, pin: "1234")
        #expect(block.contains("    engine=1\n"))
        #expect(block.contains("    engine_id=\"pkcs11\"\n"))
        #expect(block.contains("    key_id=\"pkcs11:token=gw;object=device-key;type=private\"\n"))
        #expect(block.contains("    pin=\"1234\"\n"))
        #expect(!block.contains("private_key"))
    }

    @Test func refusesValuesThatBreakOutOfQuotes() throws {
        #expect(throws: SCEPError.self) {
            try WPASupplicant.networkBlock(identity: "a\"\n}\nnetwork={", caCertificate: "/c", clientCertificate: "/d", key: try KeyLocation("/k"))
        }
    }
}

@Suite struct WPASupplicantCommonNameTests {
    @Test func commonNameFromMbedTLSSubjectText() {
        #expect(WPASupplicant.commonName(ofSubjectText: "CN=gw-0042, O=Example") == "gw-0042")
        #expect(WPASupplicant.commonName(ofSubjectText: "O=Example, CN=gw-7") == "gw-7")
        #expect(WPASupplicant.commonName(ofSubjectText: "CN=a\\, b, O=Example") == "a, b")
        #expect(WPASupplicant.commonName(ofSubjectText: "O=Example + CN=multi") == "multi")
        #expect(WPASupplicant.commonName(ofSubjectText: "O=Example, C=DE") == nil)
        #expect(WPASupplicant.commonName(ofSubjectText: "") == nil)
    }
}
