# 32-bit ARMv7 Linux, hard-float (BeagleBone Black class boards): Debian's gcc-arm-linux-gnueabihf.
# Run the result with qemu-arm-static -L / on an x86_64 host.
set(SCEP_GNU_TRIPLE arm-linux-gnueabihf)
set(SCEP_SWIFT_TARGET armv7-none-none-eabi)
# Debian armhf's ABI: VFPv3-D16, hard-float calling convention.
set(SCEP_TARGET_CFLAGS -mfloat-abi=hard -mfpu=vfpv3-d16 -mthumb)
set(SCEP_CROSS ON)
# 32-bit ARM Linux uses 4 KB pages; binutils' 64 KB default only adds file padding.
set(SCEP_MAX_PAGE_SIZE 4096 CACHE STRING "ELF max-page-size for the target kernel")
# The toolchain's armv7 Embedded Unicode tables are tagged soft-float: cmake/EmbeddedSwift.cmake links a
# copy without the .ARM.attributes sections.
set(SCEP_STRIP_ARM_ATTRIBUTES ON)
include("${CMAKE_CURRENT_LIST_DIR}/EmbeddedLinux.cmake")
