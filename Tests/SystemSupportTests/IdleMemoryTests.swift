import Foundation
import Testing
@testable import SystemSupport

@Suite struct IdleMemoryTests {
    /// Shaped like /proc/self/smaps of the idle daemon (fields trimmed to those read; the kernel pads the
    /// inode column with spaces).
    static let smaps = """
        55d0c4a00000-55d0c4a1e000 r--p 00000000 08:01 1311 /usr/bin/scep-agent
        Rss:                 120 kB
        Anonymous:             0 kB
        55d0c4a1e000-55d0c4ac9000 r-xp 0001e000 08:01 1311                       /usr/bin/scep-agent
        Rss:                 680 kB
        Anonymous:             0 kB
        55d0c4ac9000-55d0c4ad1000 r--p 000c9000 08:01 1311 /usr/bin/scep-agent
        Rss:                  16 kB
        Anonymous:            16 kB
        55d0c4ad1000-55d0c4ad2000 rw-p 000d1000 08:01 1311 /usr/bin/scep-agent
        Rss:                   4 kB
        Anonymous:             4 kB
        55d0c5000000-55d0c5021000 rw-p 00000000 00:00 0 [heap]
        Rss:                 104 kB
        Anonymous:           104 kB
        7f1200000000-7f1200010000 r-xp 00000000 08:01 77 /usr/lib/libunused.so
        Rss:                   0 kB
        Anonymous:             0 kB
        7f1200100000-7f1200200000 r-xp 00026000 08:01 78                         /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                1108 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me sd
        7f1200300000-7f1200301000 r-xp 00000000 08:01 79 /tmp/patched code
        Rss:                   4 kB
        Anonymous:             4 kB
        7ffd1e7f0000-7ffd1e7f2000 r-xp 00000000 00:00 0 [vdso]
        Rss:                   4 kB
        Anonymous:             0 kB
        """

    /// An address inside the sample's r-xp scep-agent mapping.
    static let ownCode: UInt = 0x55d0_c4a2_0000

    @Test func dropsOnlyUnmodifiedReadOnlyFileMappings() {
        let found = IdleMemory.droppable(Array(Self.smaps.utf8), codeAddress: Self.ownCode)
        #expect(found == [
            IdleMemory.Mapping(start: 0x55d0_c4a0_0000, length: 0x1e000),
            IdleMemory.Mapping(start: 0x55d0_c4a1_e000, length: 0xab000),
            IdleMemory.Mapping(start: 0x7f12_0010_0000, length: 0x100000),
        ])
    }

    @Test func relocatedOrWritableOrAnonymousMappingsAreKept() {
        let found = IdleMemory.droppable(Array(Self.smaps.utf8), codeAddress: Self.ownCode)
        for kept: UInt in [0x55d0_c4ac_9000, 0x55d0_c4ad_1000, 0x55d0_c500_0000, 0x7f12_0030_0000, 0x7ffd_1e7f_0000, 0x7f12_0000_0000] {
            #expect(!found.contains { $0.start == kept }, "0x\(String(kept, radix: 16))")
        }
    }

    @Test func aMappingWithoutAnAnonymousCountIsKept() {
        #expect(IdleMemory.droppable(Array("1000-2000 r-xp 0 0 0 /x\nRss: 4 kB\n".utf8), codeAddress: 0x1800).isEmpty)
        #expect(IdleMemory.droppable(Array("1000-2000 r-xp 0 0 0 /x\nRss: 4 kB\nAnonymous: 0 kB".utf8), codeAddress: 0x1800).count == 1)
    }

    /// qemu-user's view: code translated, every mapping without x, and its madvise zeroes file pages.
    @Test func nothingWhenOurCodeIsNotInAnExecutableMapping() {
        let emulated = Self.smaps.replacingOccurrences(of: "r-xp", with: "r--p")
        #expect(IdleMemory.droppable(Array(emulated.utf8), codeAddress: Self.ownCode).isEmpty)
        #expect(IdleMemory.droppable(Array(Self.smaps.utf8), codeAddress: 0x1000).isEmpty)
    }

    @Test func malformedTextFindsNothing() {
        for text in ["", "\n\n", "zzzz-1000 r-xp 0 0 0 /x\nRss: 4 kB\nAnonymous: 0 kB\n", "2000-1000 r-xp 0 0 0 /x\nRss: 4 kB\nAnonymous: 0 kB\n",
                     "1000-2000 r-xp\nRss: 4 kB\nAnonymous: 0 kB\n", "1000-2000 rw-p 0 0 0 /x\nRss: 4 kB\nAnonymous: 0 kB\n"] {
            #expect(IdleMemory.droppable(Array(text.utf8), codeAddress: 0x1800).isEmpty, "\(text)")
        }
    }

    @Test func releaseKeepsTheProcessWorking() {
        // Code and read-only data come back from the page cache on the next touch.
        IdleMemory.release()
        #expect(IdleMemory.droppable(Array("1000-2000 r-xp 0 0 0 /x\nRss: 4 kB\nAnonymous: 0 kB\n".utf8), codeAddress: 0x1000).count == 1)
    }
}
