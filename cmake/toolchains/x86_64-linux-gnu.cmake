# The host (x86_64 Debian): the Embedded binary built the firmware way, for the integration suite and the
# footprint benchmark.
set(SCEP_GNU_TRIPLE x86_64-linux-gnu)
set(SCEP_SWIFT_TARGET x86_64-unknown-linux-gnu)
set(SCEP_TARGET_CFLAGS "")
set(SCEP_CROSS OFF)
include("${CMAKE_CURRENT_LIST_DIR}/EmbeddedLinux.cmake")
