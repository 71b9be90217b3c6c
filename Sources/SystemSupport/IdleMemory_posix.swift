import CSCEPShim

/// What the daemon gives back before it sleeps until the next renewal (hours to days): free heap pages
/// (malloc_trim), and its mappings of unmodified file pages: program and library code and read-only
/// data that an enrollment made resident (the kernel maps up to 64 KB around every page fault, so
/// libc alone stays about 1.1 MB resident). The pages stay in the page cache; the next wake-up maps
/// back the few it touches. Page-cache pages that no process maps are the first a board short of
/// memory reclaims, and the idle daemon's RSS shows what it really holds.
public enum IdleMemory {
    /// A mapping from /proc/self/smaps that `madvise(MADV_DONTNEED)` may drop.
    struct Mapping: Equatable {
        var start: UInt
        var length: Int

        func contains(_ address: UInt) -> Bool { address >= start && address - start < UInt(length) }
    }

    /// Trims the heap and drops the mappings `droppable` finds; failures change nothing and are ignored
    /// (the daemon merely stays larger).
    public static func release() {
        // Any function of ours marks where our code is: a C function of the shim, as a pointer.
        let code = unsafeBitCast(CSCEPShim_argc as @convention(c) () -> Int32, to: UInt.self)
        if let smaps = try? FileSystem.read("/proc/self/smaps") {
            for mapping in droppable(smaps, codeAddress: code) {
                _ = madvise(UnsafeMutableRawPointer(bitPattern: mapping.start), mapping.length, MADV_DONTNEED)
            }
        }
        // Last, so the smaps buffer just freed goes back too.
        _ = malloc_trim(0)
    }

    /// Private, non-writable file mappings without a single anonymous (copied-on-write) page: every
    /// resident page equals the file's bytes, so dropping it changes nothing the process reads
    /// (MADV_DONTNEED on a private file mapping refills from the file, madvise(2)). Relocated data
    /// (RELRO) has anonymous pages and is kept, as are the stack, heap, vDSO and anything writable.
    /// Nothing at all unless `codeAddress` (our own code) lies in an executable mapping: under an emulator
    /// such as qemu-user the code is translated, shows as `r--p`, and the emulated madvise zeroes it.
    static func droppable(_ smaps: [UInt8], codeAddress: UInt) -> [Mapping] {
        var result: [Mapping] = []
        var candidate: Mapping?
        // Both must be read as such: a kernel without the Anonymous field leaves the mapping alone.
        var resident = false
        var unmodified = false
        var nativeCode = false
        func finish() {
            if let found = candidate, resident, unmodified { result.append(found) }
        }
        var lineStart = 0
        while lineStart < smaps.count {
            var lineEnd = lineStart
            while lineEnd < smaps.count && smaps[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = smaps[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            // A mapping's header starts with its lowercase hex address range; its fields with a capital.
            if line.isEmpty || isHexDigit(line[line.startIndex]) {
                finish()
                let header = line.isEmpty ? nil : droppableHeader(line)
                candidate = header?.mapping
                if let header, header.executable, header.mapping.contains(codeAddress) { nativeCode = true }
                resident = false
                unmodified = false
            } else if candidate != nil, let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let zero = line[(colon + 1)...].drop(while: { $0 == UInt8(ascii: " ") }).starts(with: [UInt8(ascii: "0"), UInt8(ascii: " ")])
                switch String(decoding: line[..<colon], as: UTF8.self) {
                case "Anonymous": unmodified = zero
                case "Rss": resident = !zero
                default: break
                }
            }
        }
        finish()
        return nativeCode ? result : []
    }

    /// `start-end perms offset dev inode path`: a mapping when it is `r-xp` or `r--p` of a file.
    private static func droppableHeader(_ line: ArraySlice<UInt8>) -> (mapping: Mapping, executable: Bool)? {
        // The kernel pads the inode column with spaces; a path may contain spaces itself.
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count == 6, fields[5].first(where: { $0 != UInt8(ascii: " ") }) == UInt8(ascii: "/") else { return nil }
        let perms = fields[1]
        guard perms.count == 4, perms.first == UInt8(ascii: "r"), perms.dropFirst().first == UInt8(ascii: "-"),
            perms.last == UInt8(ascii: "p"), let dash = fields[0].firstIndex(of: UInt8(ascii: "-")),
            let start = ASCII.unsigned(String(decoding: fields[0][..<dash], as: UTF8.self), radix: 16).flatMap(UInt.init(exactly:)),
            let end = ASCII.unsigned(String(decoding: fields[0][(dash + 1)...], as: UTF8.self), radix: 16).flatMap(UInt.init(exactly:)), end > start
        else { return nil }
        return (Mapping(start: start, length: Int(end - start)), perms.dropFirst(2).first == UInt8(ascii: "x"))
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
