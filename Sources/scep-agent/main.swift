import CSCEPShim
import SCEPCrypto

func run() {
    var args: [String] = []
    let argv = CSCEPShim_argv()
    for i in 0..<Int(CSCEPShim_argc()) {
        if let p = argv?[i] { args.append(String(cString: p)) }
    }
    let out = "hello \(args.count) \(args.last ?? "")\n"
    var buf = Array(out.utf8)
    _ = write(1, &buf, buf.count)
    var ctx = mbedtls_sha256_context()
    mbedtls_sha256_init(&ctx)
}
run()
