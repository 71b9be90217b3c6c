/// Every object identifier the project uses, in one table.
public enum OID {
    // PKCS #1 and friends: keys and signatures
    public static let rsaEncryption = "1.2.840.113549.1.1.1"
    public static let sha1WithRSAEncryption = "1.2.840.113549.1.1.5"
    public static let sha256WithRSAEncryption = "1.2.840.113549.1.1.11"
    public static let sha384WithRSAEncryption = "1.2.840.113549.1.1.12"
    public static let sha512WithRSAEncryption = "1.2.840.113549.1.1.13"
    public static let ecPublicKey = "1.2.840.10045.2.1"
    public static let ecdsaWithSHA1 = "1.2.840.10045.4.1"
    public static let ecdsaWithSHA256 = "1.2.840.10045.4.3.2"
    public static let ecdsaWithSHA384 = "1.2.840.10045.4.3.3"
    public static let ecdsaWithSHA512 = "1.2.840.10045.4.3.4"

    // Digests
    public static let sha1 = "1.3.14.3.2.26"
    public static let sha256 = "2.16.840.1.101.3.4.2.1"
    public static let sha384 = "2.16.840.1.101.3.4.2.2"
    public static let sha512 = "2.16.840.1.101.3.4.2.3"

    // Content encryption
    public static let aes128CBC = "2.16.840.1.101.3.4.1.2"
    public static let aes256CBC = "2.16.840.1.101.3.4.1.42"
    public static let desEDE3CBC = "1.2.840.113549.3.7"
    public static let desCBC = "1.3.14.3.2.7"

    // Password-based key encryption: PBKDF2 and its PRFs (RFC 8018), the PWRI key wrap (RFC 3211)
    public static let pbkdf2 = "1.2.840.113549.1.5.12"
    public static let hmacWithSHA1 = "1.2.840.113549.2.7"
    public static let hmacWithSHA256 = "1.2.840.113549.2.9"
    public static let hmacWithSHA384 = "1.2.840.113549.2.10"
    public static let hmacWithSHA512 = "1.2.840.113549.2.11"
    public static let pwriKEK = "1.2.840.113549.1.9.16.3.9"

    // CMS content types (RFC 5652)
    public static let data = "1.2.840.113549.1.7.1"
    // PKCS#12 (RFC 7292) and PBES2 (RFC 8018).
    public static let pbes2 = "1.2.840.113549.1.5.13"
    public static let keyBag = "1.2.840.113549.1.12.10.1.1"
    public static let pkcs8ShroudedKeyBag = "1.2.840.113549.1.12.10.1.2"
    public static let certBag = "1.2.840.113549.1.12.10.1.3"
    public static let x509CertificateBag = "1.2.840.113549.1.9.22.1"
    public static let localKeyID = "1.2.840.113549.1.9.21"
    public static let signedData = "1.2.840.113549.1.7.2"
    public static let envelopedData = "1.2.840.113549.1.7.3"

    // PKCS #9 attributes
    public static let emailAddress = "1.2.840.113549.1.9.1"
    public static let contentType = "1.2.840.113549.1.9.3"
    public static let messageDigest = "1.2.840.113549.1.9.4"
    public static let signingTime = "1.2.840.113549.1.9.5"
    public static let challengePassword = "1.2.840.113549.1.9.7"
    public static let extensionRequest = "1.2.840.113549.1.9.14"

    // SCEP attributes (RFC 8894 §3.2.1): id-VeriSign 2.16.840.1.113733, id-pki .1, id-attributes .1.9
    public static let scepMessageType = "2.16.840.1.113733.1.9.2"
    public static let scepPKIStatus = "2.16.840.1.113733.1.9.3"
    public static let scepFailInfo = "2.16.840.1.113733.1.9.4"
    public static let scepSenderNonce = "2.16.840.1.113733.1.9.5"
    public static let scepRecipientNonce = "2.16.840.1.113733.1.9.6"
    public static let scepTransactionID = "2.16.840.1.113733.1.9.7"
    /// id-scep-failInfoText (RFC 8894 §3.2.1.4)
    public static let scepFailInfoText = "1.3.6.1.5.5.7.24.1"

    // X.509 extensions
    public static let subjectKeyIdentifier = "2.5.29.14"
    public static let keyUsage = "2.5.29.15"
    public static let subjectAltName = "2.5.29.17"
    public static let basicConstraints = "2.5.29.19"
    public static let extKeyUsage = "2.5.29.37"

    // Extended key usages
    public static let serverAuth = "1.3.6.1.5.5.7.3.1"
    public static let clientAuth = "1.3.6.1.5.5.7.3.2"
    public static let codeSigning = "1.3.6.1.5.5.7.3.3"
    public static let emailProtection = "1.3.6.1.5.5.7.3.4"

    // Name attributes
    public static let commonName = "2.5.4.3"
    public static let surname = "2.5.4.4"
    public static let serialNumber = "2.5.4.5"
    public static let countryName = "2.5.4.6"
    public static let localityName = "2.5.4.7"
    public static let stateOrProvinceName = "2.5.4.8"
    public static let streetAddress = "2.5.4.9"
    public static let organizationName = "2.5.4.10"
    public static let organizationalUnitName = "2.5.4.11"
    public static let title = "2.5.4.12"
    public static let givenName = "2.5.4.42"
    public static let userID = "0.9.2342.19200300.100.1.1"
    public static let domainComponent = "0.9.2342.19200300.100.1.25"
}
