// Owners of the Cryptoki state: a module loaded with dlopen (C_GetFunctionList), and a logged-in
// read-write session on one token. C types stay inside this module; handles are UInt outside.
import CSCEPShim
import DER
import SCEPCrypto
import SystemSupport

/// A PKCS#11 module, loaded with dlopen and initialised; finalised when the last user lets go.
public final class PKCS11Module {
    public let path: String
    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    let finalize: Bool

    /// Loads `path` (dlopen, dlsym C_GetFunctionList, C_Initialize with OS locking).
    /// - Throws: `tokenError` naming the module and what to do.
    public init(path: String) throws(SCEPError) {
        self.path = path
        guard access(path, R_OK) == 0 else {
            throw SCEPError(.tokenError, "PKCS#11 module " + path + " does not exist or is not readable: install it (SoftHSM: /usr/lib/softhsm/libsofthsm2.so, TPM: /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so) or fix --pkcs11-module / module-path=", detail: CSCEPShim_errno())
        }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw SCEPError(.tokenError, "cannot load PKCS#11 module " + path + ": " + message)
        }
        guard let symbol = dlsym(handle, "C_GetFunctionList") else {
            throw SCEPError(.tokenError, path + " is not a PKCS#11 module (no C_GetFunctionList): check --pkcs11-module")
        }
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>? = nil
        let rv = CSCEPShim_C_GetFunctionList(symbol, &list)
        guard rv == CKR_OK, let list, let initialize = list.pointee.C_Initialize else {
            throw SCEPError(.tokenError, "PKCS#11 module " + path + ": C_GetFunctionList failed: " + PKCS11Module.name(rv), detail: Int32(truncatingIfNeeded: rv))
        }
        functions = list
        var arguments = CK_C_INITIALIZE_ARGS()
        arguments.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
        let initialized = initialize(&arguments)
        guard initialized == CKR_OK || initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            throw SCEPError(.tokenError, "PKCS#11 module " + path + ": C_Initialize failed: " + PKCS11Module.name(initialized) + " (is the token's backend reachable? for a TPM check TPM2_PKCS11_TCTI)", detail: Int32(truncatingIfNeeded: initialized))
        }
        finalize = initialized == CKR_OK
        // The library stays mapped: some modules (tpm2-pkcs11) leave atexit handlers behind after C_Finalize.
    }

    deinit {
        if finalize, let finalizeFunction = functions.pointee.C_Finalize { _ = finalizeFunction(nil) }
    }

    func missing(_ function: String) -> SCEPError {
        SCEPError(.tokenError, "PKCS#11 module " + path + " does not implement " + function)
    }

    func failure(_ function: String, _ rv: CK_RV, _ advice: String = "") -> SCEPError {
        SCEPError(.tokenError, "PKCS#11 " + function + " failed in " + path + ": " + PKCS11Module.name(rv) + (advice.isEmpty ? "" : "; " + advice),
                  detail: Int32(truncatingIfNeeded: rv))
    }

    /// The CKR_ name of a return value, for messages.
    static func name(_ rv: CK_RV) -> String {
        switch rv {
        case CK_RV(CKR_OK): "CKR_OK"
        case CK_RV(CKR_GENERAL_ERROR): "CKR_GENERAL_ERROR"
        case CK_RV(CKR_ARGUMENTS_BAD): "CKR_ARGUMENTS_BAD"
        case CK_RV(CKR_ATTRIBUTE_SENSITIVE): "CKR_ATTRIBUTE_SENSITIVE"
        case CK_RV(CKR_ATTRIBUTE_TYPE_INVALID): "CKR_ATTRIBUTE_TYPE_INVALID"
        case CK_RV(CKR_ATTRIBUTE_VALUE_INVALID): "CKR_ATTRIBUTE_VALUE_INVALID"
        case CK_RV(CKR_DEVICE_ERROR): "CKR_DEVICE_ERROR"
        case CK_RV(CKR_DEVICE_MEMORY): "CKR_DEVICE_MEMORY"
        case CK_RV(CKR_FUNCTION_FAILED): "CKR_FUNCTION_FAILED"
        case CK_RV(CKR_KEY_TYPE_INCONSISTENT): "CKR_KEY_TYPE_INCONSISTENT"
        case CK_RV(CKR_MECHANISM_INVALID): "CKR_MECHANISM_INVALID"
        case CK_RV(CKR_OBJECT_HANDLE_INVALID): "CKR_OBJECT_HANDLE_INVALID"
        case CK_RV(CKR_PIN_INCORRECT): "CKR_PIN_INCORRECT"
        case CK_RV(CKR_PIN_LEN_RANGE): "CKR_PIN_LEN_RANGE"
        case CK_RV(CKR_PIN_LOCKED): "CKR_PIN_LOCKED"
        case CK_RV(CKR_SESSION_HANDLE_INVALID): "CKR_SESSION_HANDLE_INVALID"
        case CK_RV(CKR_TEMPLATE_INCONSISTENT): "CKR_TEMPLATE_INCONSISTENT"
        case CK_RV(CKR_TEMPLATE_INCOMPLETE): "CKR_TEMPLATE_INCOMPLETE"
        case CK_RV(CKR_TOKEN_NOT_PRESENT): "CKR_TOKEN_NOT_PRESENT"
        case CK_RV(CKR_TOKEN_WRITE_PROTECTED): "CKR_TOKEN_WRITE_PROTECTED"
        case CK_RV(CKR_USER_NOT_LOGGED_IN): "CKR_USER_NOT_LOGGED_IN"
        case CK_RV(CKR_USER_PIN_NOT_INITIALIZED): "CKR_USER_PIN_NOT_INITIALIZED"
        case CK_RV(CKR_BUFFER_TOO_SMALL): "CKR_BUFFER_TOO_SMALL"
        case CK_RV(CKR_CRYPTOKI_NOT_INITIALIZED): "CKR_CRYPTOKI_NOT_INITIALIZED"
        case CK_RV(CKR_ENCRYPTED_DATA_INVALID): "CKR_ENCRYPTED_DATA_INVALID"
        case CK_RV(CKR_ENCRYPTED_DATA_LEN_RANGE): "CKR_ENCRYPTED_DATA_LEN_RANGE"
        case CK_RV(CKR_DATA_LEN_RANGE): "CKR_DATA_LEN_RANGE"
        default: "CKR 0x" + String(rv, radix: 16)
        }
    }
}

/// One attribute of a template: a CKA_ type and the raw value bytes.
public struct Attribute {
    public var type: UInt
    public var value: [UInt8]

    public init(_ type: UInt, bytes: [UInt8]) {
        self.type = type
        value = bytes
    }
    public init(_ type: UInt, bool: Bool) { self.init(type, bytes: [bool ? 1 : 0]) }
    public init(_ type: UInt, ulong: UInt) { self.init(type, bytes: withUnsafeBytes(of: ulong) { Array($0) }) }
}

/// A read-write session on one token, logged in at most once (a wrong PIN is never retried).
public final class PKCS11Session {
    public let module: PKCS11Module
    /// The token's label, trimmed of its blank padding.
    public let tokenLabel: String
    let slot: CK_SLOT_ID
    let session: CK_SESSION_HANDLE
    var f: CK_FUNCTION_LIST { module.functions.pointee }
    var loginAttempted = false

    /// Opens a session on the first token whose token-info fields match the URI's.
    public init(module: PKCS11Module, uri: PKCS11URI) throws(SCEPError) {
        self.module = module
        guard let getSlotList = module.functions.pointee.C_GetSlotList, let getTokenInfo = module.functions.pointee.C_GetTokenInfo,
              let openSession = module.functions.pointee.C_OpenSession else { throw module.missing("C_GetSlotList/C_GetTokenInfo/C_OpenSession") }
        var count: CK_ULONG = 0
        var rv = getSlotList(CK_BBOOL(CK_TRUE), nil, &count)
        guard rv == CKR_OK else { throw module.failure("C_GetSlotList", rv) }
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(min(count, 256)))
        count = CK_ULONG(slots.count)
        rv = slots.withUnsafeMutableBufferPointer { getSlotList(CK_BBOOL(CK_TRUE), $0.baseAddress, &count) }
        guard rv == CKR_OK else { throw module.failure("C_GetSlotList", rv) }
        var found: (CK_SLOT_ID, String)? = nil
        var present: [String] = []
        for slot in slots.prefix(Int(count)) {
            var info = CK_TOKEN_INFO()
            guard getTokenInfo(slot, &info) == CKR_OK else { continue }
            let label = PKCS11Session.unpadded(withUnsafeBytes(of: info.label) { Array($0) })
            let manufacturer = PKCS11Session.unpadded(withUnsafeBytes(of: info.manufacturerID) { Array($0) })
            let model = PKCS11Session.unpadded(withUnsafeBytes(of: info.model) { Array($0) })
            let serial = PKCS11Session.unpadded(withUnsafeBytes(of: info.serialNumber) { Array($0) })
            let labelText = String(decoding: label, as: UTF8.self)
            if info.flags & CK_FLAGS(CKF_TOKEN_INITIALIZED) != 0 { present.append(labelText) }
            if let want = uri.token, want != label { continue }
            if let want = uri.manufacturer, want != manufacturer { continue }
            if let want = uri.model, want != model { continue }
            if let want = uri.serial, want != serial { continue }
            if let want = uri.slotID, want != UInt64(slot) { continue }
            if info.flags & CK_FLAGS(CKF_TOKEN_INITIALIZED) == 0 { continue }
            found = (slot, labelText)
            break
        }
        guard let (slot, label) = found else {
            throw SCEPError(.tokenError, "no initialised token matching " + uri.description + " in PKCS#11 module " + module.path + "; tokens present: "
                + (present.isEmpty ? "none" : present.joined(separator: ", ")) + ". Check token= in the URI, or initialise the token (softhsm2-util --init-token, pkcs11-tool --init-token)")
        }
        self.slot = slot
        tokenLabel = label
        var handle: CK_SESSION_HANDLE = 0
        rv = openSession(slot, CK_FLAGS(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil, &handle)
        guard rv == CKR_OK else { throw module.failure("C_OpenSession", rv, "token " + label) }
        session = handle
    }

    deinit {
        if let closeSession = module.functions.pointee.C_CloseSession { _ = closeSession(session) }
    }

    /// A fixed-width CK_TOKEN_INFO field without its blank (or NUL) padding.
    static func unpadded(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        while let last = out.last, last == 0x20 || last == 0 { out.removeLast() }
        return out
    }

    /// C_Login as the user, once per session: a second call is a programmer error. Refuses to try when
    /// the token says the PIN is locked or one more wrong PIN would lock it.
    public func login(pin: [UInt8]) throws(SCEPError) {
        precondition(!loginAttempted, "C_Login is attempted at most once per run")
        loginAttempted = true
        guard let getTokenInfo = f.C_GetTokenInfo, let login = f.C_Login else { throw module.missing("C_Login") }
        var info = CK_TOKEN_INFO()
        var rv = getTokenInfo(slot, &info)
        guard rv == CKR_OK else { throw module.failure("C_GetTokenInfo", rv) }
        if info.flags & CK_FLAGS(CKF_USER_PIN_LOCKED) != 0 {
            throw SCEPError(.tokenError, "the user PIN of token " + tokenLabel + " is locked: unlock it with the SO PIN (pkcs11-tool --init-pin --login --login-type so)")
        }
        if info.flags & CK_FLAGS(CKF_USER_PIN_FINAL_TRY) != 0 {
            throw SCEPError(.tokenError, "token " + tokenLabel + " locks its user PIN after one more wrong PIN, so scep-agent will not try: check the PIN by hand (pkcs11-tool --login --test)")
        }
        var bytes = pin
        rv = bytes.withUnsafeMutableBufferPointer { login(session, CK_USER_TYPE(CKU_USER), $0.baseAddress, CK_ULONG($0.count)) }
        SecureMemory.wipe(&bytes)
        if rv == CKR_USER_ALREADY_LOGGED_IN { return }
        if rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE {
            throw SCEPError(.tokenError, "wrong PIN for token " + tokenLabel + " (module " + module.path + "): check --pin-file or the URI's pin-source/pin-value; scep-agent tried once and will not retry, so the token is not locked by it",
                            detail: Int32(truncatingIfNeeded: rv))
        }
        if rv == CKR_PIN_LOCKED {
            throw SCEPError(.tokenError, "the user PIN of token " + tokenLabel + " is locked: unlock it with the SO PIN", detail: Int32(truncatingIfNeeded: rv))
        }
        guard rv == CKR_OK else { throw module.failure("C_Login", rv, "token " + tokenLabel) }
    }

    /// Runs `body` with a CK_ATTRIBUTE array whose values point into one scratch buffer. Each value
    /// starts at CK_ULONG alignment: modules read CK_ULONG values through a CK_ULONG pointer.
    static func withTemplate<T>(_ attributes: [Attribute], _ body: (UnsafeMutablePointer<CK_ATTRIBUTE>?, CK_ULONG) throws(SCEPError) -> T) throws(SCEPError) -> T {
        let alignment = MemoryLayout<CK_ULONG>.alignment
        func aligned(_ offset: Int) -> Int { (offset + alignment - 1) / alignment * alignment }
        var total = 0
        for attribute in attributes { total = aligned(total) + attribute.value.count }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: alignment)
        let template = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: max(attributes.count, 1))
        defer {
            storage.deallocate()
            template.deallocate()
        }
        var offset = 0
        for (index, attribute) in attributes.enumerated() {
            offset = aligned(offset)
            let pointer = storage + offset
            attribute.value.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            template[index] = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(attribute.type), pValue: pointer, ulValueLen: CK_ULONG(attribute.value.count))
            offset += attribute.value.count
        }
        return try body(attributes.isEmpty ? nil : template, CK_ULONG(attributes.count))
    }

    /// C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal: at most 64 handles.
    public func findObjects(_ attributes: [Attribute]) throws(SCEPError) -> [UInt] {
        guard let initFind = f.C_FindObjectsInit, let find = f.C_FindObjects, let final = f.C_FindObjectsFinal else { throw module.missing("C_FindObjects") }
        let rv = try Self.withTemplate(attributes) { (template, count) throws(SCEPError) -> CK_RV in initFind(session, template, count) }
        guard rv == CKR_OK else { throw module.failure("C_FindObjectsInit", rv) }
        var handles = [CK_OBJECT_HANDLE](repeating: 0, count: 64)
        var found: CK_ULONG = 0
        let findRV = handles.withUnsafeMutableBufferPointer { find(session, $0.baseAddress, 64, &found) }
        _ = final(session)
        guard findRV == CKR_OK else { throw module.failure("C_FindObjects", findRV) }
        return handles.prefix(Int(found)).map { UInt($0) }
    }

    /// C_GetAttributeValue for one attribute; nil when the object has none or it is sensitive.
    public func attribute(_ object: UInt, _ type: UInt) throws(SCEPError) -> [UInt8]? {
        guard let get = f.C_GetAttributeValue else { throw module.missing("C_GetAttributeValue") }
        var query = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(type), pValue: nil, ulValueLen: 0)
        var rv = get(session, CK_OBJECT_HANDLE(object), &query, 1)
        if rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID { return nil }
        guard rv == CKR_OK else { throw module.failure("C_GetAttributeValue", rv) }
        if query.ulValueLen == CK_ULONG.max { return nil }  // CK_UNAVAILABLE_INFORMATION
        guard query.ulValueLen <= 16_384 else { throw SCEPError(.tokenError, "PKCS#11 attribute 0x" + String(type, radix: 16) + " is larger than 16 KiB") }
        var value = [UInt8](repeating: 0, count: Int(query.ulValueLen))
        rv = value.withUnsafeMutableBytes { buffer in
            query.pValue = buffer.baseAddress
            return get(session, CK_OBJECT_HANDLE(object), &query, 1)
        }
        guard rv == CKR_OK else { throw module.failure("C_GetAttributeValue", rv) }
        return Array(value.prefix(Int(query.ulValueLen)))
    }

    /// C_SetAttributeValue for one attribute.
    public func setAttribute(_ object: UInt, _ attribute: Attribute) throws(SCEPError) {
        guard let set = f.C_SetAttributeValue else { throw module.missing("C_SetAttributeValue") }
        let rv = try Self.withTemplate([attribute]) { (template, count) throws(SCEPError) -> CK_RV in set(session, CK_OBJECT_HANDLE(object), template, count) }
        guard rv == CKR_OK else { throw module.failure("C_SetAttributeValue", rv) }
    }

    /// C_DestroyObject.
    public func destroy(_ object: UInt) throws(SCEPError) {
        guard let destroyObject = f.C_DestroyObject else { throw module.missing("C_DestroyObject") }
        let rv = destroyObject(session, CK_OBJECT_HANDLE(object))
        guard rv == CKR_OK else { throw module.failure("C_DestroyObject", rv) }
    }

    /// True when the token offers `mechanism` (C_GetMechanismInfo).
    public func supports(_ mechanism: UInt) -> Bool {
        guard let info = f.C_GetMechanismInfo else { return false }
        var details = CK_MECHANISM_INFO()
        return info(slot, CK_MECHANISM_TYPE(mechanism), &details) == CKR_OK
    }

    /// C_GenerateKeyPair; returns (public, private) handles.
    public func generateKeyPair(mechanism: UInt, publicTemplate: [Attribute], privateTemplate: [Attribute]) throws(SCEPError) -> (UInt, UInt) {
        guard let generate = f.C_GenerateKeyPair else { throw module.missing("C_GenerateKeyPair") }
        var publicHandle: CK_OBJECT_HANDLE = 0
        var privateHandle: CK_OBJECT_HANDLE = 0
        var mech = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism), pParameter: nil, ulParameterLen: 0)
        let rv = try Self.withTemplate(publicTemplate) { (pub, pubCount) throws(SCEPError) -> CK_RV in
            try Self.withTemplate(privateTemplate) { (priv, privCount) throws(SCEPError) -> CK_RV in
                generate(session, &mech, pub, pubCount, priv, privCount, &publicHandle, &privateHandle)
            }
        }
        guard rv == CKR_OK else { throw module.failure("C_GenerateKeyPair", rv, "token " + tokenLabel) }
        return (UInt(publicHandle), UInt(privateHandle))
    }

    /// C_SignInit + C_Sign with a parameterless mechanism.
    public func sign(_ key: UInt, mechanism: UInt, data: [UInt8]) throws(SCEPError) -> [UInt8] {
        guard let signInit = f.C_SignInit, let sign = f.C_Sign else { throw module.missing("C_Sign") }
        var mech = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism), pParameter: nil, ulParameterLen: 0)
        var rv = signInit(session, &mech, CK_OBJECT_HANDLE(key))
        guard rv == CKR_OK else { throw module.failure("C_SignInit", rv) }
        var input = data
        var output = [UInt8](repeating: 0, count: 1024)
        var length = CK_ULONG(output.count)
        rv = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                sign(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), outBuffer.baseAddress, &length)
            }
        }
        guard rv == CKR_OK, length <= CK_ULONG(output.count) else { throw module.failure("C_Sign", rv) }
        return Array(output.prefix(Int(length)))
    }

    /// C_DecryptInit + C_Decrypt with a parameterless mechanism.
    public func decrypt(_ key: UInt, mechanism: UInt, data: [UInt8]) throws(SCEPError) -> [UInt8] {
        guard let decryptInit = f.C_DecryptInit, let decrypt = f.C_Decrypt else { throw module.missing("C_Decrypt") }
        var mech = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism), pParameter: nil, ulParameterLen: 0)
        var rv = decryptInit(session, &mech, CK_OBJECT_HANDLE(key))
        guard rv == CKR_OK else { throw module.failure("C_DecryptInit", rv) }
        var input = data
        var output = [UInt8](repeating: 0, count: max(data.count, 16))
        var length = CK_ULONG(output.count)
        rv = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                decrypt(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), outBuffer.baseAddress, &length)
            }
        }
        guard rv == CKR_OK, length <= CK_ULONG(output.count) else {
            throw SCEPError(.cryptoDecryptFailed, "the token could not decrypt the CA's reply: " + PKCS11Module.name(rv), detail: Int32(truncatingIfNeeded: rv))
        }
        let plaintext = Array(output.prefix(Int(length)))
        for index in output.indices { output[index] = 0 }
        return plaintext
    }
}
