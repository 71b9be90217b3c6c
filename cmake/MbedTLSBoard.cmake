# mbedTLS for the firmware builds, compiled from Debian's own source package (Scripts/fetch-mbedtls-source.sh
# unpacks it into deps/mbedtls-<version>/) with the project's configuration, cmake/mbedtls-board-config.h,
# as one static library: scep::mbedtls. The host build (SwiftPM) keeps Debian's libmbedtls-dev.
#   SCEP_MBEDTLS_SOURCE_DIR   the unpacked source (Scripts/build-firmware.sh passes it)
set(SCEP_MBEDTLS_SOURCE_DIR "" CACHE PATH "mbedTLS source tree (Scripts/fetch-mbedtls-source.sh prints it)")
if(NOT EXISTS "${SCEP_MBEDTLS_SOURCE_DIR}/include/mbedtls/config.h")
  message(FATAL_ERROR "SCEP_MBEDTLS_SOURCE_DIR='${SCEP_MBEDTLS_SOURCE_DIR}' is not an mbedTLS source tree: "
    "run Scripts/fetch-mbedtls-source.sh (as root the first time) and pass what it prints")
endif()
set(SCEP_MBEDTLS_CONFIG "${CMAKE_CURRENT_LIST_DIR}/mbedtls-board-config.h")
file(GLOB _scep_mbedtls_sources "${SCEP_MBEDTLS_SOURCE_DIR}/library/*.c")
add_library(scep_mbedtls STATIC ${_scep_mbedtls_sources})
add_library(scep::mbedtls ALIAS scep_mbedtls)
target_include_directories(scep_mbedtls SYSTEM BEFORE PUBLIC "${SCEP_MBEDTLS_SOURCE_DIR}/include")
target_include_directories(scep_mbedtls PUBLIC "${CMAKE_CURRENT_LIST_DIR}")
target_compile_definitions(scep_mbedtls PUBLIC "$<$<COMPILE_LANGUAGE:C>:MBEDTLS_CONFIG_FILE=\"mbedtls-board-config.h\">")
# Size: one section per function and object so --gc-sections drops what is never called; no unwind
# tables (C without exceptions; nothing unwinds through mbedTLS: Embedded Swift traps, no pthread_cancel).
target_compile_options(scep_mbedtls PRIVATE -Os -ffunction-sections -fdata-sections
  -fno-asynchronous-unwind-tables -fno-unwind-tables)
# Swift's Clang importer must see the same configuration, or it lays out mbedTLS structs differently.
target_compile_options(scep_mbedtls INTERFACE
  "$<$<COMPILE_LANGUAGE:Swift>:SHELL:-Xcc -I${SCEP_MBEDTLS_SOURCE_DIR}/include>"
  "$<$<COMPILE_LANGUAGE:Swift>:SHELL:-Xcc -I${CMAKE_CURRENT_LIST_DIR}>"
  "$<$<COMPILE_LANGUAGE:Swift>:SHELL:-Xcc '-DMBEDTLS_CONFIG_FILE=\"mbedtls-board-config.h\"'>")
set_property(TARGET scep_mbedtls APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${CMAKE_DL_LIBS})
message(STATUS "mbedTLS (board configuration): ${SCEP_MBEDTLS_SOURCE_DIR}")
