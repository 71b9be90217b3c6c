# Shared by the toolchain files: Embedded Swift for a Linux (glibc) target, linked by the target's gcc.
# The including toolchain file sets:
#   SCEP_GNU_TRIPLE      e.g. aarch64-linux-gnu (cross gcc prefix and Debian multiarch directory)
#   SCEP_SWIFT_TARGET    e.g. aarch64-none-none-elf (Swift target; also the embedded runtime directory)
#   SCEP_TARGET_CFLAGS   optional: extra flags for gcc and (through -Xcc) for Swift's Clang importer
#   SCEP_CROSS           ON when the compilers are cross compilers
# Nothing here names a machine path: the Swift toolchain is found from the swiftc on PATH.

set(CMAKE_SYSTEM_NAME Linux)
if(SCEP_CROSS)
  string(REGEX MATCH "^[^-]+" CMAKE_SYSTEM_PROCESSOR "${SCEP_GNU_TRIPLE}")
  set(CMAKE_C_COMPILER "${SCEP_GNU_TRIPLE}-gcc")
  # Compiler checks compile only: linking a test executable would need the project's runtime libraries.
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
else()
  set(CMAKE_C_COMPILER gcc)
endif()
set(CMAKE_LIBRARY_ARCHITECTURE "${SCEP_GNU_TRIPLE}")

find_program(SCEP_SWIFTC swiftc REQUIRED)
set(CMAKE_Swift_COMPILER "${SCEP_SWIFTC}")
set(CMAKE_Swift_COMPILER_TARGET "${SCEP_SWIFT_TARGET}")
file(REAL_PATH "${SCEP_SWIFTC}" _scep_swiftc_real)
get_filename_component(_scep_swift_bin "${_scep_swiftc_real}" DIRECTORY)
get_filename_component(_scep_swift_usr "${_scep_swift_bin}" DIRECTORY)
set(SCEP_EMBEDDED_LIBRARY_DIR "${_scep_swift_usr}/lib/swift/embedded/${SCEP_SWIFT_TARGET}")

# Where the target's headers are: the cross gcc's own tree, Debian multiarch, then the architecture-independent
# headers (the PKCS#11 header). mbedTLS comes from source (cmake/MbedTLSBoard.cmake), ahead of all of these.
set(SCEP_TARGET_INCLUDE_DIRS)
if(SCEP_CROSS)
  list(APPEND SCEP_TARGET_INCLUDE_DIRS "/usr/${SCEP_GNU_TRIPLE}/include")
endif()
list(APPEND SCEP_TARGET_INCLUDE_DIRS "/usr/include/${SCEP_GNU_TRIPLE}" "/usr/include")

# Swift's Clang importer parses glibc and mbedTLS headers for a bare-metal triple: it needs every
# include directory spelled out, in gcc's order.
set(_scep_swift_flags "")
if(SCEP_CROSS)
  foreach(dir IN LISTS SCEP_TARGET_INCLUDE_DIRS)
    string(APPEND _scep_swift_flags " -Xcc -isystem -Xcc ${dir}")
  endforeach()
endif()
foreach(flag IN LISTS SCEP_TARGET_CFLAGS)
  string(APPEND _scep_swift_flags " -Xcc ${flag}")
endforeach()
string(REPLACE ";" " " _scep_cflags "${SCEP_TARGET_CFLAGS}")
# All Swift for these targets is Embedded (there is no full stdlib for the bare-metal triples), so the
# feature is part of the target flags; each module adds it again with -wmo -Osize (cmake/EmbeddedSwift.cmake).
set(CMAKE_Swift_FLAGS_INIT "-enable-experimental-feature Embedded -wmo${_scep_swift_flags}")
set(CMAKE_C_FLAGS_INIT "${_scep_cflags}")
