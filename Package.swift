// swift-tools-version: 6.0
// scep-agent: two build modes from one source tree.
//   swift build / swift test                        normal Swift (development, tests)
//   SCEP_EMBEDDED=1 swift build --scratch-path .build-embedded -c release
//                                                   Embedded Swift for the host (the shipped binary)
import PackageDescription

#if canImport(Glibc)
import Glibc
#endif

let embedded: Bool = {
    guard let value = getenv("SCEP_EMBEDDED") else { return false }
    return String(cString: value) == "1"
}()

/// The toolchain's Embedded runtime directory for the host triple, derived from the `swift` on PATH
/// (the toolchain that runs this manifest), never a fixed machine path.
func embeddedLibraryDirectory() -> String {
    var candidates: [String] = []
    if let path = getenv("PATH") {
        for dir in String(cString: path).split(separator: ":") {
            candidates.append(String(dir))
        }
    }
    for dir in candidates {
        let swiftc = dir + "/swiftc"
        if access(swiftc, X_OK) == 0 {
            var buffer = [CChar](repeating: 0, count: 4096)
            if realpath(swiftc, &buffer) != nil {
                let resolved = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // .../usr/bin/swiftc -> .../usr/lib/swift/embedded/x86_64-unknown-linux-gnu
                let usr = resolved.split(separator: "/").dropLast(2).joined(separator: "/")
                return "/" + usr + "/lib/swift/embedded/x86_64-unknown-linux-gnu"
            }
        }
    }
    return "/usr/lib/swift/embedded/x86_64-unknown-linux-gnu"
}

let productSwiftSettings: [SwiftSetting] = embedded
    ? [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize"])]
    : []

// -z now: symbols bound at start-up, so the idle daemon's wake-ups never run lazy binding in ld.so, whose
// code would be resident again after IdleMemory dropped it (as in cmake/EmbeddedSwift.cmake).
let executableLinkerSettings: [LinkerSetting] = embedded
    ? [.unsafeFlags(["-L", embeddedLibraryDirectory(), "-Xlinker", "-z", "-Xlinker", "now"]), .linkedLibrary("swiftUnicodeDataTables"), .linkedLibrary("m")]
    : []

/// The module graph, the one place it is written: CMakeLists.txt and FuzzTesting/build.sh read these
/// lines from this file, and Tests/integration/test_layout.py checks that the builds and the imports
/// agree with them. One module per line, below every module it imports: kind (c, library or
/// executable), the module (a folder in Sources/), then the modules it imports.
/// (Here and not in a file of its own: SwiftPM caches the evaluated manifest by this file's text, so a
/// manifest reading another file would miss an edit there until Package.swift changed too.)
let moduleGraph = """
    c           CSCEPShim
    library     SystemSupport   CSCEPShim
    library     DER             SystemSupport
    library     SCEPCrypto      CSCEPShim SystemSupport DER
    library     SCEPMessages    SystemSupport DER SCEPCrypto
    library     SCEPPKCS11      CSCEPShim SystemSupport DER SCEPCrypto
    library     SCEPClient      SystemSupport DER SCEPCrypto SCEPMessages
    library     SCEPAgent       SystemSupport DER SCEPCrypto SCEPMessages SCEPClient SCEPPKCS11
    executable  scep-agent      SystemSupport DER SCEPCrypto SCEPMessages SCEPPKCS11 SCEPClient SCEPAgent
    """

struct GraphModule {
    let kind: String
    let name: String
    let imports: [String]
}

let graphModules: [GraphModule] = moduleGraph.split(separator: "\n").map { line in
    let words = line.split(separator: " ").map(String.init)
    return GraphModule(kind: words[0], name: words[1], imports: Array(words.dropFirst(2)))
}

var targets: [Target] = graphModules.map { module in
    let dependencies = module.imports.map { Target.Dependency.byName(name: $0) }
    switch module.kind {
    case "c":
        return .target(
            name: module.name,
            linkerSettings: [.linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto"), .linkedLibrary("dl")]
        )
    case "library":
        return .target(name: module.name, dependencies: dependencies, swiftSettings: productSwiftSettings)
    case "executable":
        return .executableTarget(
            name: module.name,
            dependencies: dependencies,
            swiftSettings: productSwiftSettings,
            linkerSettings: executableLinkerSettings
        )
    default:
        fatalError("Package.swift moduleGraph: unknown kind '\(module.kind)' for \(module.name) (c, library or executable)")
    }
}

if !embedded {
    targets += [
        .target(name: "TestSupport", dependencies: ["SystemSupport", "DER"], path: "Tests/TestSupport"),
        .testTarget(name: "DERTests", dependencies: ["SystemSupport", "DER", "TestSupport"], path: "Tests/DERTests"),
        .testTarget(name: "SCEPCryptoTests", dependencies: ["SCEPCrypto", "SystemSupport", "DER", "TestSupport"], path: "Tests/SCEPCryptoTests"),
        .testTarget(
            name: "SCEPMessagesTests", dependencies: ["SCEPMessages", "SCEPCrypto", "SystemSupport", "DER", "TestSupport"], path: "Tests/SCEPMessagesTests"),
        .testTarget(name: "SCEPAgentTests", dependencies: ["SCEPAgent", "SCEPClient", "SCEPCrypto", "SCEPMessages", "SystemSupport", "DER", "TestSupport"], path: "Tests/SCEPAgentTests"),
        .testTarget(name: "SCEPClientTests", dependencies: ["SCEPClient", "SCEPCrypto", "SystemSupport", "DER", "TestSupport"], path: "Tests/SCEPClientTests",
            exclude: ["Servers"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"], path: "Tests/SystemSupportTests"),
        .testTarget(name: "SCEPPKCS11Tests", dependencies: ["SCEPPKCS11", "SCEPCrypto", "SystemSupport", "DER"], path: "Tests/SCEPPKCS11Tests"),
        .testTarget(name: "SCEPAgentPKCS11Tests", dependencies: ["SCEPAgent", "SCEPClient", "SCEPCrypto", "SCEPMessages", "SystemSupport", "DER", "TestSupport"], path: "Tests/SCEPAgentPKCS11Tests"),
    ]
}

let package = Package(
    name: "scep-agent",
    products: [
        .executable(name: "scep-agent", targets: graphModules.filter { $0.kind == "executable" }.map(\.name)),
        .library(name: "SCEPAgentKit", targets: graphModules.filter { $0.kind == "library" }.map(\.name)),
    ],
    targets: targets
)
