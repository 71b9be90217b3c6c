import CSCEPShim

/// Wiping secrets (a challenge password, a PIN, key material) from buffers we own, once used.
public enum SecureMemory {
    /// Overwrites every byte with zero (`mbedtls_platform_zeroize`, which the optimizer may not drop).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { mbedtls_platform_zeroize($0.baseAddress, $0.count) }
    }
}
