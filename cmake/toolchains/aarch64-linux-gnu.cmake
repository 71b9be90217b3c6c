# 64-bit ARM Linux (Raspberry Pi 4 class boards): Debian's gcc-aarch64-linux-gnu and libmbedtls-dev:arm64.
# Run the result with qemu-aarch64-static -L / on an x86_64 host.
set(SCEP_GNU_TRIPLE aarch64-linux-gnu)
set(SCEP_SWIFT_TARGET aarch64-none-none-elf)
set(SCEP_SYSROOT_ARCH arm64)
set(SCEP_TARGET_CFLAGS "")
set(SCEP_CROSS ON)
include("${CMAKE_CURRENT_LIST_DIR}/EmbeddedLinux.cmake")
