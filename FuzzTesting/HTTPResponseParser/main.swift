// libFuzzer entry for HTTPResponseParser. Byte 0 picks the piece size (1...17); the rest is the
// response. Only transportProtocol / transportTooLarge may come out; anything else (or a trap) is a bug.
// Build and run: FuzzTesting/HTTPResponseParser/run.sh [seconds]
import DER

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let piece = size > 0 ? Int(bytes[0] % 17) + 1 : 1
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
        precondition(error.code == .transportProtocol || error.code == .transportTooLarge)
    }
    return 0
}
