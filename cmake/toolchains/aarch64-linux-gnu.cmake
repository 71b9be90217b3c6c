# 64-bit ARM Linux (Raspberry Pi 4 class boards): Debian's gcc-aarch64-linux-gnu.
# Run the result with qemu-aarch64-static -L / on an x86_64 host.
set(SCEP_GNU_TRIPLE aarch64-linux-gnu)
set(SCEP_SWIFT_TARGET aarch64-none-none-elf)
set(SCEP_TARGET_CFLAGS "")
set(SCEP_CROSS ON)
# ELF segments aligned for kernels with 4 KB or 16 KB pages (Raspberry Pi 4 and 5, Debian arm64) instead of
# binutils' 64 KB default, which costs up to 64 KB of file padding. Set 65536 for a 64 KB-page kernel.
set(SCEP_MAX_PAGE_SIZE 16384 CACHE STRING "ELF max-page-size for the target kernel")
include("${CMAKE_CURRENT_LIST_DIR}/EmbeddedLinux.cmake")
