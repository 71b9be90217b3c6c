// Keys in a PKCS#11 token: find, generate (non-extractable, sensitive), relabel, destroy; and the
// `PrivateKey` that signs and decrypts on the token.
import CSCEPShim
import DER
import SCEPCrypto
import SystemSupport

/// A private key that lives in a token. Its secret never leaves it: sign and decrypt run there.
public final class PKCS11PrivateKey: PrivateKey {
    public let session: PKCS11Session
    /// The private key object's handle (valid for this session).
    public let handle: UInt
    /// CKA_ID shared by the private and public objects of the pair.
    public let id: [UInt8]
    /// CKA_LABEL of the private key object.
    public let label: [UInt8]
    public let keyType: KeyType
    public let publicKeyInfo: [UInt8]

    init(session: PKCS11Session, handle: UInt, id: [UInt8], label: [UInt8], keyType: KeyType, publicKeyInfo: [UInt8]) {
        self.session = session
        self.handle = handle
        self.id = id
        self.label = label
        self.keyType = keyType
        self.publicKeyInfo = publicKeyInfo
    }

    /// RSA: CKM_RSA_PKCS over the DigestInfo built here. EC: CKM_ECDSA over the digest, r||s turned into
    /// a DER ECDSA-Sig-Value.
    public func sign(digest: [UInt8], algorithm: DigestAlgorithm) throws(SCEPError) -> [UInt8] {
        switch keyType {
        case .rsa:
            return try session.sign(handle, mechanism: UInt(CKM_RSA_PKCS), data: try KeyEncoding.digestInfo(algorithm: algorithm, digest: digest))
        case .ec(let curve):
            let raw = try session.sign(handle, mechanism: UInt(CKM_ECDSA), data: digest)
            return try KeyEncoding.ecdsaSignature(raw: raw, curve: curve)
        }
    }

    /// CKM_RSA_PKCS decryption on the token.
    public func decrypt(_ ciphertext: [UInt8]) throws(SCEPError) -> [UInt8] {
        guard keyType.isRSA else { throw SCEPError(.cryptoUnsupported, "an EC key cannot decrypt a KeyTransRecipientInfo") }
        return try session.decrypt(handle, mechanism: UInt(CKM_RSA_PKCS), data: ciphertext)
    }
}

/// The token a PKCS#11 URI names, opened and (with a PIN) logged in once.
public final class PKCS11KeyStore {
    public let session: PKCS11Session
    public let uri: PKCS11URI

    /// Loads the module (`modulePath`, else the URI's module-path), opens the token the URI names and
    /// logs in with `pin` when one is given.
    public init(uri: PKCS11URI, modulePath: String?, pin: [UInt8]?) throws(SCEPError) {
        guard let path = modulePath ?? uri.modulePath else {
            throw SCEPError(.tokenError, "no PKCS#11 module for " + uri.description + ": give --pkcs11-module PATH or module-path= in the URI")
        }
        self.uri = uri
        session = try PKCS11Session(module: try PKCS11Module(path: path), uri: uri)
        if let pin { try session.login(pin: pin) }
    }

    /// Private keys with the given label and/or id (nil matches any).
    public func keys(label: [UInt8]?, id: [UInt8]?) throws(SCEPError) -> [PKCS11PrivateKey] {
        var template = [Attribute(UInt(CKA_CLASS), ulong: UInt(CKO_PRIVATE_KEY))]
        if let label { template.append(Attribute(UInt(CKA_LABEL), bytes: label)) }
        if let id { template.append(Attribute(UInt(CKA_ID), bytes: id)) }
        var keys: [PKCS11PrivateKey] = []
        for handle in try session.findObjects(template) { keys.append(try load(handle)) }
        return keys
    }

    /// The one private key the URI names (object= and/or id=).
    public func key() throws(SCEPError) -> PKCS11PrivateKey {
        if let type = uri.type, type != .privateKey {
            throw SCEPError(.usage, "PKCS#11 URI " + uri.description + " names type=" + type.rawValue + ": a key needs type=private (or no type)")
        }
        guard uri.object != nil || uri.id != nil else {
            throw SCEPError(.usage, "PKCS#11 URI " + uri.description + " names no key: add object=LABEL (or id=)")
        }
        let found = try keys(label: uri.object, id: uri.id)
        guard found.count == 1 else {
            throw SCEPError(.tokenError, found.isEmpty
                ? "no private key " + uri.description + " on token " + session.tokenLabel + " (a wrong PIN source hides private objects too): check object=/id=, or enroll without --existing-key to make one"
                : String(found.count) + " private keys on token " + session.tokenLabel + " match " + uri.description + ": add id= to the URI")
        }
        return found[0]
    }

    /// The public twin of the private key with `id` and `label`. While a renewal runs, the old and the new
    /// pair share the URI's CKA_ID and differ in label (see TokenKeySlot), so the label decides; a pair
    /// made by another tool may label its halves differently, so the CKA_ID alone is the fallback.
    func publicObject(id: [UInt8], label: [UInt8]) throws(SCEPError) -> UInt? {
        let byID = [Attribute(UInt(CKA_CLASS), ulong: UInt(CKO_PUBLIC_KEY)), Attribute(UInt(CKA_ID), bytes: id)]
        if let twin = try session.findObjects(byID + [Attribute(UInt(CKA_LABEL), bytes: label)]).first { return twin }
        return try session.findObjects(byID).first
    }

    /// Reads the public half of a private key object: CKA_MODULUS/CKA_PUBLIC_EXPONENT (from the
    /// private object, else its public twin), or CKA_EC_PARAMS + the public twin's CKA_EC_POINT.
    func load(_ handle: UInt) throws(SCEPError) -> PKCS11PrivateKey {
        let id = try session.attribute(handle, UInt(CKA_ID)) ?? []
        let label = try session.attribute(handle, UInt(CKA_LABEL)) ?? []
        guard let typeBytes = try session.attribute(handle, UInt(CKA_KEY_TYPE)), typeBytes.count == MemoryLayout<UInt>.size else {
            throw SCEPError(.tokenError, "private key object on token " + session.tokenLabel + " has no CKA_KEY_TYPE")
        }
        var keyTypeValue: UInt = 0
        withUnsafeMutableBytes(of: &keyTypeValue) { $0.copyBytes(from: typeBytes) }
        if keyTypeValue == UInt(CKK_RSA) {
            var modulus = try session.attribute(handle, UInt(CKA_MODULUS))
            var exponent = try session.attribute(handle, UInt(CKA_PUBLIC_EXPONENT))
            if modulus == nil || exponent == nil, let twin = try publicObject(id: id, label: label) {
                modulus = try session.attribute(twin, UInt(CKA_MODULUS))
                exponent = try session.attribute(twin, UInt(CKA_PUBLIC_EXPONENT))
            }
            guard let modulus, let exponent else {
                throw SCEPError(.tokenError, "cannot read the public key of RSA key " + String(decoding: label, as: UTF8.self) + " on token " + session.tokenLabel)
            }
            let spki = try KeyEncoding.rsaSubjectPublicKeyInfo(modulus: modulus, exponent: exponent)
            return PKCS11PrivateKey(session: session, handle: handle, id: id, label: label, keyType: .rsa(bits: KeyEncoding.rsaBits(modulus: modulus)), publicKeyInfo: spki)
        }
        if keyTypeValue == UInt(CKK_EC) {
            guard let params = try session.attribute(handle, UInt(CKA_EC_PARAMS)), let curve = KeyEncoding.curve(ecParameters: params) else {
                throw SCEPError(.tokenError, "EC key " + String(decoding: label, as: UTF8.self) + " on token " + session.tokenLabel + " is not on P-256 or P-384")
            }
            guard let twin = try publicObject(id: id, label: label), let point = try session.attribute(twin, UInt(CKA_EC_POINT)) else {
                throw SCEPError(.tokenError, "EC key " + String(decoding: label, as: UTF8.self) + " on token " + session.tokenLabel + " has no public key object with the same CKA_ID")
            }
            return PKCS11PrivateKey(session: session, handle: handle, id: id, label: label, keyType: .ec(curve),
                                    publicKeyInfo: try KeyEncoding.ecSubjectPublicKeyInfo(curve: curve, ecPoint: point))
        }
        throw SCEPError(.tokenError, "key " + String(decoding: label, as: UTF8.self) + " on token " + session.tokenLabel + " is neither RSA nor EC (CKK 0x" + String(keyTypeValue, radix: 16) + ")")
    }

    /// Generates a key pair on the token: private half CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
    /// CKA_EXTRACTABLE, CKA_SIGN (+ CKA_DECRYPT for RSA); both halves carry `id` and `label`.
    public func generate(_ type: KeyType, label: [UInt8], id: [UInt8]) throws(SCEPError) -> PKCS11PrivateKey {
        let common = [Attribute(UInt(CKA_TOKEN), bool: true), Attribute(UInt(CKA_ID), bytes: id), Attribute(UInt(CKA_LABEL), bytes: label)]
        var privateTemplate = common + [
            Attribute(UInt(CKA_PRIVATE), bool: true), Attribute(UInt(CKA_SENSITIVE), bool: true),
            Attribute(UInt(CKA_EXTRACTABLE), bool: false), Attribute(UInt(CKA_SIGN), bool: true),
        ]
        var publicTemplate = common + [Attribute(UInt(CKA_VERIFY), bool: true), Attribute(UInt(CKA_PRIVATE), bool: false)]
        let mechanism: UInt
        switch type {
        case .rsa(let bits):
            mechanism = UInt(CKM_RSA_PKCS_KEY_PAIR_GEN)
            guard session.supports(mechanism) else {
                throw SCEPError(.tokenError, "token " + session.tokenLabel + " (module " + session.module.path + ") cannot generate RSA keys (no CKM_RSA_PKCS_KEY_PAIR_GEN); the CA needs RSA: use a token that offers it")
            }
            privateTemplate.append(Attribute(UInt(CKA_DECRYPT), bool: true))
            publicTemplate += [Attribute(UInt(CKA_ENCRYPT), bool: true), Attribute(UInt(CKA_MODULUS_BITS), ulong: UInt(bits)),
                               Attribute(UInt(CKA_PUBLIC_EXPONENT), bytes: [0x01, 0x00, 0x01])]
        case .ec(let curve):
            mechanism = UInt(CKM_EC_KEY_PAIR_GEN)
            guard session.supports(mechanism) else {
                throw SCEPError(.tokenError, "token " + session.tokenLabel + " (module " + session.module.path + ") cannot generate EC keys (no CKM_EC_KEY_PAIR_GEN): use --key-type rsa:2048")
            }
            publicTemplate.append(Attribute(UInt(CKA_EC_PARAMS), bytes: KeyEncoding.ecParameters(curve)))
        }
        let (_, privateHandle) = try session.generateKeyPair(mechanism: mechanism, publicTemplate: publicTemplate, privateTemplate: privateTemplate)
        return try load(privateHandle)
    }

    /// Sets CKA_LABEL on both halves of the pair.
    public func relabel(_ key: PKCS11PrivateKey, to label: [UInt8]) throws(SCEPError) {
        if let twin = try publicObject(id: key.id, label: key.label) { try session.setAttribute(twin, Attribute(UInt(CKA_LABEL), bytes: label)) }
        try session.setAttribute(key.handle, Attribute(UInt(CKA_LABEL), bytes: label))
    }

    /// Destroys the private key object and its public twin.
    public func destroy(_ key: PKCS11PrivateKey) throws(SCEPError) {
        if !key.id.isEmpty, let twin = try publicObject(id: key.id, label: key.label) { try session.destroy(twin) }
        try session.destroy(key.handle)
    }
}
