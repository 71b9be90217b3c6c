import DER
import SCEPCrypto
import SystemSupport

/// A PKCS#12 file (RFC 7292) holding a private key, its certificate and the chain: one file a reader
/// such as wpa_supplicant (`private_key`, `client_cert` unset) takes in one open, so it can never pair
/// a new key with an old certificate while a set is being installed.
///
/// ```
/// PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
/// AuthenticatedSafe ::= SEQUENCE OF ContentInfo      -- each `data` holding SafeContents
/// SafeBag ::= SEQUENCE { bagId OBJECT IDENTIFIER, bagValue [0] EXPLICIT ANY, bagAttributes SET OF Attribute OPTIONAL }
/// CertBag ::= SEQUENCE { certId OBJECT IDENTIFIER, certValue [0] EXPLICIT OCTET STRING }
/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
/// ```
/// With a passphrase the key is a pkcs8ShroudedKeyBag, PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC
/// (what OpenSSL 3 writes by default), and the file carries an HMAC-SHA-256 MAC keyed by the PKCS#12
/// KDF (Appendix B). Without one (the user said so) the key is a plain keyBag and there is no MAC.
public enum PKCS12 {
    static let iterations = 10_000
    static let saltSize = 16

    /// - Parameters:
    ///   - key: the private key's PKCS#1 (RSA) or SEC1 (EC) DER, as `SoftwarePrivateKey` writes it.
    ///   - publicKeyInfo: its SubjectPublicKeyInfo, whose AlgorithmIdentifier PKCS#8 repeats.
    ///   - certificates: the key's certificate first, then the chain (DER).
    ///   - passphrase: nil for an unencrypted file.
    public static func build(key: [UInt8], publicKeyInfo: [UInt8], certificates: [[UInt8]], passphrase: [UInt8]?, random: RandomGenerator) throws(SCEPError) -> [UInt8] {
        var spki = try DERNode(parsing: publicKeyInfo).elements(DER.Tag.sequence, "SubjectPublicKeyInfo")
        let privateKeyInfo = DER.sequence([DER.integer(0), try spki.next(DER.Tag.sequence, "algorithm").bytes, DER.octetString(key)])
        // Any value both bags carry pairs key and certificate; the public key's hash names the pair.
        let localKeyID = DER.setOf([DER.sequence([DER.oid(OID.localKeyID), DER.setOf([DER.octetString(SHA256.hash(publicKeyInfo))])])])
        let keyBag: [UInt8]
        if let passphrase {
            let salt = try random.bytes(saltSize)
            let iv = try random.bytes(16)
            let derived = try PBKDF2.deriveKey(password: passphrase, salt: salt, iterations: iterations, keyLength: 32, prf: .sha256)
            let encrypted = try BlockCipher.encrypt(.aes256CBC, key: derived, iv: iv, plaintext: privateKeyInfo)
            let pbes2 = DER.sequence([DER.oid(OID.pbes2), DER.sequence([
                DER.sequence([DER.oid(OID.pbkdf2), DER.sequence([DER.octetString(salt), DER.integer(iterations),
                                                                  DER.sequence([DER.oid(OID.hmacWithSHA256), DER.null()])])]),
                DER.sequence([DER.oid(OID.aes256CBC), DER.octetString(iv)]),
            ])])
            keyBag = bag(OID.pkcs8ShroudedKeyBag, DER.sequence([pbes2, DER.octetString(encrypted)]), localKeyID)
        } else {
            keyBag = bag(OID.keyBag, privateKeyInfo, localKeyID)
        }
        var certificateBags: [[UInt8]] = []
        for (index, certificate) in certificates.enumerated() {
            let value = DER.sequence([DER.oid(OID.x509CertificateBag), DER.explicit(0, [DER.octetString(certificate)])])
            certificateBags.append(bag(OID.certBag, value, index == 0 ? localKeyID : []))
        }
        let authenticatedSafe = DER.sequence([data(DER.sequence([keyBag])), data(DER.sequence(certificateBags))])
        var pfx = [DER.integer(3), data(authenticatedSafe)]
        if let passphrase {
            let salt = try random.bytes(saltSize)
            let macKey = try kdf(password: bmpPassword(passphrase), salt: salt, id: 3, iterations: iterations, length: 32)
            let mac = try HMAC.authenticate(.sha256, key: macKey, data: authenticatedSafe)
            pfx.append(DER.sequence([DER.sequence([AlgorithmIdentifiers.digest(.sha256), DER.octetString(mac)]), DER.octetString(salt), DER.integer(iterations)]))
        }
        return DER.sequence(pfx)
    }

    static func bag(_ type: String, _ value: [UInt8], _ attributes: [UInt8]) -> [UInt8] {
        DER.sequence([DER.oid(type), DER.explicit(0, [value]), attributes])
    }

    /// ContentInfo of type `data`.
    static func data(_ contents: [UInt8]) -> [UInt8] {
        DER.sequence([DER.oid(OID.data), DER.explicit(0, [DER.octetString(contents)])])
    }

    /// The password as the PKCS#12 KDF takes it: BMPString (UTF-16 big-endian) with two zero bytes at the end.
    static func bmpPassword(_ utf8: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for unit in String(decoding: utf8, as: UTF8.self).utf16 { out += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        return out + [0, 0]
    }

    /// RFC 7292 Appendix B.2 with SHA-256 (u = 32, v = 64): `length` bytes of key material of kind `id`
    /// (3: MAC key).
    static func kdf(password: [UInt8], salt: [UInt8], id: UInt8, iterations: Int, length: Int) throws(SCEPError) -> [UInt8] {
        let v = 64
        func stretched(_ bytes: [UInt8]) -> [UInt8] {
            guard !bytes.isEmpty else { return [] }
            let count = v * ((bytes.count + v - 1) / v)
            return (0..<count).map { bytes[$0 % bytes.count] }
        }
        var input = stretched(salt) + stretched(password)
        var out: [UInt8] = []
        while out.count < length {
            var block = SHA256.hash([UInt8](repeating: id, count: v) + input)
            for _ in 1..<max(iterations, 1) { block = SHA256.hash(block) }
            out += block
            let b = stretched(block)
            // Each v-byte block of the input becomes (block + B + 1) mod 2^(8v).
            for start in stride(from: 0, to: input.count, by: v) {
                var carry = 1
                for offset in stride(from: v - 1, through: 0, by: -1) {
                    let sum = Int(input[start + offset]) + Int(b[offset]) + carry
                    input[start + offset] = UInt8(sum & 0xFF)
                    carry = sum >> 8
                }
            }
        }
        return Array(out.prefix(length))
    }
}
