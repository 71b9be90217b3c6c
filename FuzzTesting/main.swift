// One libFuzzer binary for every fuzz target; SCEP_FUZZ_TARGET picks the target:
//   der        DERNode(parsing:limits:) with .ber and .der limits
//   certrep    CertRep(parsing:signers: [fixture CA]) and, when it parses, decryptContent(fixture client key)
//   getcacert  CACertificates.parse, then Certificate(der:) and CARoles on what it returns
//   getnextca  NextCACertificate(parsing:signers:current:) with the fixture CA as signer and current CA
//   getcacaps  Capabilities.isCapabilityList and Capabilities(parsing:)
//   http       HTTPResponseParser fed in pieces (byte 0 picks the piece size, 1...17)
//   config     ConfigFile(path:text:) then AgentConfig(file:)
//   pkcs11uri  PKCS11URI(parsing:)
// Thrown SCEPErrors are fine; a trap or a sanitizer report is a bug.
// Build: FuzzTesting/build.sh. Run: FuzzTesting/run.sh TARGET [SECONDS]. CI: FuzzTesting/ci.sh [SECONDS].
#if canImport(Glibc)
import Glibc
#endif
import DER
import SCEPAgent
import SCEPClient
import SCEPCrypto
import SCEPMessages
import SCEPPKCS11
import SystemSupport

enum Target: String {
    case der, certrep, getcacert, getnextca, getcacaps, http, config, pkcs11uri
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

let target: Target = {
    guard let name = environment("SCEP_FUZZ_TARGET"), let target = Target(rawValue: name) else {
        fputs("scep-fuzz: set SCEP_FUZZ_TARGET to der|certrep|getcacert|getnextca|getcacaps|http|config|pkcs11uri\n", stderr)
        exit(2)
    }
    return target
}()

func readFixture(_ name: String) -> [UInt8] {
    let directory = environment("SCEP_FUZZ_FIXTURES") ?? "Tests/Fixtures/scepserver-2.1.0"
    let path = directory + "/" + name
    guard let file = fopen(path, "rb") else {
        fputs("scep-fuzz: cannot open " + path + " (set SCEP_FUZZ_FIXTURES)\n", stderr)
        exit(2)
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return bytes
}

/// The fixture CA and client key, loaded once, outside the fuzz loop.
struct CertRepFixtures {
    let signers: [Certificate]
    let clientKey: SoftwarePrivateKey
}

let certRepFixtures: CertRepFixtures = {
    do throws(SCEPError) {
        return CertRepFixtures(
            signers: [try Certificate(der: readFixture("getcacert-ca.der"))],
            clientKey: try SoftwarePrivateKey(importing: readFixture("client-key.pem")))
    } catch {
        fputs("scep-fuzz: fixtures: " + error.description + "\n", stderr)
        exit(2)
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if target == .certrep || target == .getnextca { _ = certRepFixtures }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case .der: fuzzDER(bytes)
    case .certrep: fuzzCertRep(bytes)
    case .getcacert: fuzzGetCACert(bytes)
    case .getnextca:
        _ = try? NextCACertificate(parsing: bytes, signers: certRepFixtures.signers, current: certRepFixtures.signers[0]).successor.subjectText
    case .getcacaps: _ = (Capabilities.isCapabilityList(bytes), Capabilities(parsing: bytes).description)
    case .http: fuzzHTTP(bytes)
    case .config: fuzzConfig(bytes)
    case .pkcs11uri: fuzzPKCS11URI(bytes)
    }
    return 0
}

func walk(_ node: DERNode) -> Int {
    var count = 1
    for child in node.children { count += walk(child) }
    return count
}

func fuzzDER(_ bytes: [UInt8]) {
    if let node = try? DERNode(parsing: bytes, limits: .ber) { _ = walk(node) }
    if let node = try? DERNode(parsing: bytes, limits: .der) { _ = walk(node) }
}

func fuzzCertRep(_ bytes: [UInt8]) {
    guard let reply = try? CertRep(parsing: bytes, signers: certRepFixtures.signers) else { return }
    _ = try? reply.decryptContent(with: certRepFixtures.clientKey)
}

func fuzzGetCACert(_ bytes: [UInt8]) {
    guard let ders = try? CACertificates.parse(bytes) else { return }
    var certificates: [Certificate] = []
    for der in ders {
        if let certificate = try? Certificate(der: der) { certificates.append(certificate) }
    }
    guard let first = certificates.first else { return }
    let roles = CARoles(pinnedCA: first, all: certificates, now: first.notBefore)
    _ = roles.encryption.subjectText
    _ = roles.signers.count
}

func fuzzHTTP(_ bytes: [UInt8]) {
    let piece = bytes.isEmpty ? 1 : Int(bytes[0] % 17) + 1
    var parser = HTTPResponseParser(maxResponseBytes: 4096, maxHeaderBytes: 2048, maxHeaderCount: 16)
    do throws(SCEPError) {
        var i = 1
        while i < bytes.count && !parser.isComplete {
            let end = min(bytes.count, i + piece)
            try parser.feed(bytes[i..<end])
            i = end
        }
        if !parser.isComplete { try parser.finishAtEndOfStream() }
        if let r = parser.response { _ = r.contentType; _ = r.header("Location") }
    } catch {
        // Only these two may come out of the parser; anything else is a bug.
        precondition(error.code == .transportProtocol || error.code == .transportTooLarge)
    }
}

func fuzzConfig(_ bytes: [UInt8]) {
    guard let file = try? ConfigFile(path: "fuzz.conf", text: bytes) else { return }
    _ = try? AgentConfig(file: file)
}

func fuzzPKCS11URI(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let uri = try? PKCS11URI(parsing: text) else { return }
    // A parsed URI must render (pin-value included; description hides it) to text that parses to the same URI.
    _ = uri.description
    precondition((try? PKCS11URI(parsing: uri.rendered(includingPINValue: true))) == uri, "PKCS11URI round trip")
}
