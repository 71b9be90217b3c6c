# mbedTLS 2.28, linked statically (libmbedtls.a, libmbedx509.a, libmbedcrypto.a) as scep::mbedtls.
# Searched only in the target's directories (from the toolchain file), never the host's.
set(_scep_mbedtls_libs)
foreach(lib mbedtls mbedx509 mbedcrypto)
  find_library(SCEP_${lib}_ARCHIVE NAMES lib${lib}.a PATHS ${SCEP_TARGET_LIBRARY_DIRS}
    NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
  if(NOT SCEP_${lib}_ARCHIVE)
    message(FATAL_ERROR "lib${lib}.a not found in ${SCEP_TARGET_LIBRARY_DIRS}: "
      "install libmbedtls-dev for the target (Scripts/install-cross-deps.sh)")
  endif()
  list(APPEND _scep_mbedtls_libs "${SCEP_${lib}_ARCHIVE}")
endforeach()
find_path(SCEP_MBEDTLS_INCLUDE_DIR mbedtls/ssl.h PATHS ${SCEP_TARGET_INCLUDE_DIRS}
  NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(NOT SCEP_MBEDTLS_INCLUDE_DIR)
  message(FATAL_ERROR "mbedtls/ssl.h not found in ${SCEP_TARGET_INCLUDE_DIRS}")
endif()
message(STATUS "mbedTLS (static): ${_scep_mbedtls_libs}")

# Debian compiles mbedTLS with unwind tables (.eh_frame, about 60 KB of the aarch64 binary). mbedTLS is C
# without exceptions and nothing here unwinds through it (Embedded Swift traps, no pthread_cancel), so
# by default the build links copies of the archives without them; a board's own mbedTLS build gets the
# same with -fno-asynchronous-unwind-tables.
option(SCEP_DROP_MBEDTLS_UNWIND_TABLES "Link mbedTLS archives stripped of .eh_frame" ON)
if(SCEP_DROP_MBEDTLS_UNWIND_TABLES)
  set(_scep_stripped)
  foreach(archive IN LISTS _scep_mbedtls_libs)
    get_filename_component(_name "${archive}" NAME)
    set(_copy "${CMAKE_BINARY_DIR}/mbedtls/${_name}")
    add_custom_command(OUTPUT "${_copy}"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/mbedtls"
      COMMAND "${CMAKE_OBJCOPY}" --remove-section=.eh_frame "${archive}" "${_copy}"
      DEPENDS "${archive}"
      COMMENT "${_name} without unwind tables")
    list(APPEND _scep_stripped "${_copy}")
  endforeach()
  add_custom_target(scep_mbedtls_archives DEPENDS ${_scep_stripped})
  set(_scep_mbedtls_libs ${_scep_stripped})
endif()

add_library(scep_mbedtls INTERFACE)
add_library(scep::mbedtls ALIAS scep_mbedtls)
# For gcc only (Swift's Clang importer gets the target's include directories from the toolchain file).
# Debian's multiarch mbedTLS headers live in /usr/include beside the host's libc headers: a cross gcc
# must look there only after its own directories.
if(SCEP_MBEDTLS_INCLUDE_DIR STREQUAL "/usr/include")
  if(CMAKE_CROSSCOMPILING)
    target_compile_options(scep_mbedtls INTERFACE "$<$<COMPILE_LANGUAGE:C>:SHELL:-idirafter /usr/include>")
  endif()
else()
  target_compile_options(scep_mbedtls INTERFACE "$<$<COMPILE_LANGUAGE:C>:SHELL:-isystem ${SCEP_MBEDTLS_INCLUDE_DIR}>")
endif()
# Order matters for static archives: TLS uses X.509 uses crypto.
target_link_libraries(scep_mbedtls INTERFACE ${_scep_mbedtls_libs} ${CMAKE_DL_LIBS})
if(TARGET scep_mbedtls_archives)
  add_dependencies(scep_mbedtls scep_mbedtls_archives)
endif()
