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

var targets: [Target] = [
    .target(
        name: "CSCEPShim",
        linkerSettings: [.linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto"), .linkedLibrary("dl")]
    ),
    .target(name: "DER", swiftSettings: productSwiftSettings),
    .target(name: "SCEPCrypto", dependencies: ["CSCEPShim", "DER"], swiftSettings: productSwiftSettings),
    .target(name: "SCEPPKCS11", dependencies: ["CSCEPShim", "DER", "SCEPCrypto"], swiftSettings: productSwiftSettings),
    .target(name: "SCEPMessages", dependencies: ["DER", "SCEPCrypto"], swiftSettings: productSwiftSettings),
    .target(name: "SCEPClient", dependencies: ["CSCEPShim", "DER", "SCEPCrypto", "SCEPMessages"], swiftSettings: productSwiftSettings),
    .target(name: "SCEPAgent", dependencies: ["CSCEPShim", "DER", "SCEPCrypto", "SCEPMessages", "SCEPClient", "SCEPPKCS11"], swiftSettings: productSwiftSettings),
    .executableTarget(
        name: "scep-agent",
        dependencies: ["CSCEPShim", "DER", "SCEPCrypto", "SCEPMessages", "SCEPClient", "SCEPAgent", "SCEPPKCS11"],
        swiftSettings: productSwiftSettings,
        linkerSettings: executableLinkerSettings
    ),
]

if !embedded {
    targets += [
        .target(name: "TestSupport", dependencies: ["DER"], path: "Tests/TestSupport"),
        .testTarget(name: "DERTests", dependencies: ["DER", "TestSupport"], path: "Tests/DERTests"),
        .testTarget(name: "SCEPCryptoTests", dependencies: ["SCEPCrypto", "DER", "TestSupport"], path: "Tests/SCEPCryptoTests"),
        .testTarget(
            name: "SCEPMessagesTests", dependencies: ["SCEPMessages", "SCEPCrypto", "DER", "TestSupport"], path: "Tests/SCEPMessagesTests"),
        .testTarget(name: "SCEPAgentTests", dependencies: ["SCEPAgent", "SCEPClient", "SCEPCrypto", "SCEPMessages", "DER", "TestSupport"], path: "Tests/SCEPAgentTests"),
        .testTarget(name: "SCEPClientTests", dependencies: ["SCEPClient", "SCEPCrypto", "DER", "TestSupport"], path: "Tests/SCEPClientTests",
            exclude: ["Servers"]),
        .testTarget(name: "SCEPPKCS11Tests", dependencies: ["SCEPPKCS11", "SCEPCrypto", "DER"], path: "Tests/SCEPPKCS11Tests"),
        .testTarget(name: "SCEPAgentPKCS11Tests", dependencies: ["SCEPAgent", "SCEPClient", "SCEPCrypto", "SCEPMessages", "DER", "TestSupport"], path: "Tests/SCEPAgentPKCS11Tests"),
    ]
}

let package = Package(
    name: "scep-agent",
    products: [
        .executable(name: "scep-agent", targets: ["scep-agent"]),
        .library(name: "SCEPAgentKit", targets: ["DER", "SCEPCrypto", "SCEPPKCS11", "SCEPMessages", "SCEPClient", "SCEPAgent"]),
    ],
    targets: targets
)
