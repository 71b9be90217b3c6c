import Foundation
import Testing
@testable import SystemSupport

/// IP literals become addresses without getaddrinfo (which costs an enrollment about 190 KB of
/// resident memory even for a literal); names and scoped IPv6 addresses still go to the resolver.
@Suite struct NumericAddressTests {
    @Test func ipv4LiteralIsItsOwnAddress() throws {
        let address = try #require(Syscall.numericAddress(host: "127.0.0.1", port: 8080))
        #expect(address.family == AF_INET)
        #expect(address.text == "127.0.0.1")
        // sockaddr_in: family, port 8080 in network order, then 127.0.0.1.
        #expect(address.storage.count == MemoryLayout<sockaddr_in>.size)
        #expect(Array(address.storage[2..<8]) == [0x1F, 0x90, 127, 0, 0, 1])
    }

    @Test func ipv6LiteralIsItsOwnAddress() throws {
        let address = try #require(Syscall.numericAddress(host: "::1", port: 443))
        #expect(address.family == AF_INET6)
        #expect(address.storage.count == MemoryLayout<sockaddr_in6>.size)
        #expect(Array(address.storage[2..<4]) == [0x01, 0xBB])
        #expect(Array(address.storage[8..<24]) == [UInt8](repeating: 0, count: 15) + [1])
    }

    @Test func namesAndScopedAddressesGoToTheResolver() {
        for host in ["localhost", "scep.example", "fe80::1%lo", "127.0.0.1.example", "", "1.2.3.4.5"] {
            #expect(Syscall.numericAddress(host: host, port: 80) == nil, "\(host)")
        }
    }

    @Test func resolveTakesTheLiteralPath() throws {
        let resolved = try Syscall.resolve(host: "127.0.0.1", port: 80)
        #expect(resolved.count == 1 && resolved[0].family == AF_INET)
    }
}
