// CTR-DRBG (mbedtls_ctr_drbg) seeded from mbedtls_entropy (the OS source, getrandom on Linux).
import CSCEPShim
import DER
import SystemSupport

/// Owner of one mbedtls_entropy_context. Its address must not move: the DRBG keeps a pointer to it.
final class EntropySource {
    let context: UnsafeMutablePointer<mbedtls_entropy_context>

    init() {
        context = UnsafeMutablePointer<mbedtls_entropy_context>.allocate(capacity: 1)
        mbedtls_entropy_init(context)
    }

    deinit {
        mbedtls_entropy_free(context)
        context.deallocate()
    }
}

/// CTR-DRBG seeded from the OS entropy source. One per operation or process; not shared globally.
public final class RandomGenerator {
    /// Kept alive as long as the DRBG: the DRBG reseeds from it.
    private let entropy: EntropySource
    let context: UnsafeMutablePointer<mbedtls_ctr_drbg_context>

    /// Personalisation string mixed into the seed (SP 800-90A), so two programs seeded at the same
    /// instant from a weak source still diverge.
    private static let personalization: [UInt8] = Array("scep-agent SCEPCrypto".utf8)

    /// Seeds a new generator (`mbedtls_ctr_drbg_seed` over `mbedtls_entropy_func`).
    /// - Throws: `cryptoLibrary` when the entropy source fails.
    public init() throws(SCEPError) {
        entropy = EntropySource()
        context = UnsafeMutablePointer<mbedtls_ctr_drbg_context>.allocate(capacity: 1)
        mbedtls_ctr_drbg_init(context)
        let result = RandomGenerator.personalization.withUnsafeBufferPointer { custom in
            mbedtls_ctr_drbg_seed(context, CSCEPShim_entropy_func_fn(), entropy.context, custom.baseAddress, custom.count)
        }
        try checkMbedTLS(result, .cryptoLibrary, "cannot seed the random generator", function: "mbedtls_ctr_drbg_seed")
    }

    deinit {
        // mbedtls_ctr_drbg_free zeroizes the DRBG state.
        mbedtls_ctr_drbg_free(context)
        context.deallocate()
    }

    /// `count` random bytes (`mbedtls_ctr_drbg_random`, in requests the DRBG accepts).
    /// - Throws: `cryptoLibrary` when the DRBG fails (a reseed from a failing entropy source).
    public func bytes(_ count: Int) throws(SCEPError) -> [UInt8] {
        precondition(count >= 0, "negative random byte count")
        var output = [UInt8](repeating: 0, count: count)
        // MBEDTLS_CTR_DRBG_MAX_REQUEST (1024) bounds one call.
        let maximumRequest = 1024
        var offset = 0
        while offset < count {
            let length = min(maximumRequest, count - offset)
            let result = output.withUnsafeMutableBufferPointer { out in
                mbedtls_ctr_drbg_random(context, out.baseAddress! + offset, length)
            }
            try checkMbedTLS(result, .cryptoLibrary, "cannot draw random bytes", function: "mbedtls_ctr_drbg_random")
            offset += length
        }
        return output
    }

    /// The DRBG as the opaque `p_rng` argument of mbedTLS calls that keep it (TLS), to pass with
    /// `CSCEPShim_ctr_drbg_random_fn()`. Valid while this generator lives: keep a reference to it.
    var drbgHandle: UnsafeMutableRawPointer { UnsafeMutableRawPointer(context) }

    /// The f_rng callback mbedTLS functions take, paired with `context` as p_rng.
    var function: (@convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int) -> Int32)? {
        CSCEPShim_ctr_drbg_random_fn()
    }
}
