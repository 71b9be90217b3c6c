# Helpers that turn Sources/<Module>/ into CMake targets compiled as Embedded Swift.
#
#   scep_c_module(NAME)                       Sources/NAME/*.c, public headers in Sources/NAME/include
#   scep_swift_module(NAME [DEPENDS ...])     Sources/NAME/*.swift as a static library
#   scep_swift_executable(NAME [DEPENDS ...]) Sources/NAME/*.swift as the linked executable
#   scep_modules_from_graph(MANIFEST)         one of the three above per line of Package.swift's moduleGraph
#
# Sources are globbed (CONFIGURE_DEPENDS), so a new file in a module directory is picked up without
# editing CMake. The toolchain file provides SCEP_EMBEDDED_LIBRARY_DIR (the Swift toolchain's
# usr/lib/swift/embedded/<triple> directory) and the target flags.

set(CMAKE_Swift_COMPILATION_MODE wholemodule)
# -function-sections lets --gc-sections drop unused functions (the stdlib code each module carries too).
# -disable-incremental-llvm-codegen: multi-threaded WMO otherwise keeps an object whose IR hash
# (.swift_modhash) is unchanged, so a changed code-generation flag would silently not take effect.
# SHELL: groups keep CMake's option de-duplication from dropping a repeated -Xfrontend.
set(SCEP_EMBEDDED_SWIFT_FLAGS
  "SHELL:-enable-experimental-feature Embedded" -wmo -Osize
  "SHELL:-Xfrontend -function-sections" "SHELL:-Xfrontend -disable-incremental-llvm-codegen")

# A per-build-directory module cache: Clang silently reuses a stale cache across targets otherwise.
set(SCEP_MODULE_CACHE "${CMAKE_BINARY_DIR}/module-cache")
add_compile_options("$<$<COMPILE_LANGUAGE:Swift>:SHELL:-module-cache-path ${SCEP_MODULE_CACHE}>")

# No RUNPATH/RPATH in the binaries, not even for the build tree.
set(CMAKE_SKIP_RPATH ON)
set(CMAKE_SKIP_BUILD_RPATH ON)

set(SCEP_SOURCES_DIR "${PROJECT_SOURCE_DIR}/Sources")

function(scep_c_module name)
  file(GLOB sources CONFIGURE_DEPENDS "${SCEP_SOURCES_DIR}/${name}/*.c")
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC "${SCEP_SOURCES_DIR}/${name}/include")
  # SwiftPM synthesizes the module map from include/<name>.h; do the same for the CMake build.
  set(map_dir "${CMAKE_BINARY_DIR}/modulemaps/${name}")
  file(WRITE "${map_dir}/module.modulemap.in"
    "module ${name} {\n    umbrella header \"${SCEP_SOURCES_DIR}/${name}/include/${name}.h\"\n    export *\n}\n")
  configure_file("${map_dir}/module.modulemap.in" "${map_dir}/module.modulemap" COPYONLY)
  target_compile_options(${name} INTERFACE "$<$<COMPILE_LANGUAGE:Swift>:SHELL:-I ${map_dir}>")
  target_compile_options(${name} PRIVATE -Os -ffunction-sections -fdata-sections)
  if(CMAKE_CROSSCOMPILING)
    # The PKCS#11 header (libp11-kit-dev) is architecture independent and lives among the host's headers:
    # a cross gcc looks there only after its own directories.
    target_compile_options(${name} PRIVATE "SHELL:-idirafter /usr/include")
  endif()
  target_link_libraries(${name} PUBLIC scep::mbedtls)
endfunction()

function(_scep_swift_target name)
  target_compile_options(${name} PRIVATE ${SCEP_EMBEDDED_SWIFT_FLAGS})
  set_target_properties(${name} PROPERTIES Swift_MODULE_DIRECTORY "${CMAKE_BINARY_DIR}/swift-modules")
endfunction()

function(scep_swift_module name)
  cmake_parse_arguments(arg "" "" "DEPENDS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS "${SCEP_SOURCES_DIR}/${name}/*.swift")
  add_library(${name} STATIC ${sources})
  _scep_swift_target(${name})
  set_target_properties(${name} PROPERTIES Swift_MODULE_NAME ${name})
  target_link_libraries(${name} PUBLIC ${arg_DEPENDS})
endfunction()

function(scep_swift_executable name)
  cmake_parse_arguments(arg "" "" "DEPENDS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS "${SCEP_SOURCES_DIR}/${name}/*.swift")
  add_executable(${name} ${sources})
  _scep_swift_target(${name})
  string(REPLACE "-" "_" module_name "${name}")
  set_target_properties(${name} PROPERTIES
    Swift_MODULE_NAME ${module_name}
    LINKER_LANGUAGE C)
  # The Embedded stdlib needs these two from the toolchain's embedded directory (and libc, libm).
  target_link_libraries(${name} PRIVATE ${arg_DEPENDS} ${SCEP_UNICODE_DATA_TABLES} m)
  target_link_options(${name} PRIVATE ${SCEP_EXECUTABLE_LINK_OPTIONS})
  if(TARGET scep_unicode_tables)
    add_dependencies(${name} scep_unicode_tables)
  endif()
endfunction()

# Package.swift's moduleGraph is the one place the modules and their imports are written: a line per
# module ("kind name imports..."), between `let moduleGraph = """` and the closing `"""`. Reconfigures
# when Package.swift changes.
function(scep_modules_from_graph manifest)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${manifest}")
  file(STRINGS "${manifest}" lines)
  set(inside FALSE)
  set(count 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^let moduleGraph = \"\"\"$")
      set(inside TRUE)
    elseif(inside AND line MATCHES "^ *\"\"\"$")
      break()
    elseif(inside)
      string(STRIP "${line}" line)
      string(REGEX REPLACE " +" ";" words "${line}")
      list(POP_FRONT words kind name)
      foreach(dependency IN LISTS words)
        if(NOT TARGET ${dependency})
          message(FATAL_ERROR "${manifest} moduleGraph: ${name} imports ${dependency}, which is not a module "
            "on a line above it")
        endif()
      endforeach()
      if(kind STREQUAL "c")
        scep_c_module(${name})
      elseif(kind STREQUAL "library")
        scep_swift_module(${name} DEPENDS ${words})
      elseif(kind STREQUAL "executable")
        scep_swift_executable(${name} DEPENDS ${words})
      else()
        message(FATAL_ERROR "${manifest} moduleGraph: unknown kind '${kind}' for ${name} (c, library or executable)")
      endif()
      math(EXPR count "${count} + 1")
    endif()
  endforeach()
  if(count EQUAL 0)
    message(FATAL_ERROR "${manifest}: no moduleGraph lines found")
  endif()
endfunction()

# The Embedded stdlib's Unicode tables (String comparison, Character) from the toolchain.
set(SCEP_UNICODE_DATA_TABLES "${SCEP_EMBEDDED_LIBRARY_DIR}/libswiftUnicodeDataTables.a")
if(NOT EXISTS "${SCEP_UNICODE_DATA_TABLES}")
  message(FATAL_ERROR "${SCEP_UNICODE_DATA_TABLES} not found: does this Swift toolchain support Embedded "
    "Swift for ${CMAKE_Swift_COMPILER_TARGET}?")
endif()
if(SCEP_STRIP_ARM_ATTRIBUTES)
  # armv7's archive is tagged soft-float; the tables are plain data, so drop the tags in a copy. Its
  # unwind index entries go too: they are the binary's only reference to the EHABI personality routine
  # __aeabi_unwind_cpp_pr0, which would make it need libgcc_s.so.1; nothing unwinds through a table lookup.
  set(_tables "${CMAKE_BINARY_DIR}/embedded-runtime/libswiftUnicodeDataTables.a")
  add_custom_command(OUTPUT "${_tables}"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/embedded-runtime"
    COMMAND "${CMAKE_OBJCOPY}" --remove-section=.ARM.attributes "--remove-section=.ARM.exidx*"
      "--remove-section=.ARM.extab*" "${SCEP_UNICODE_DATA_TABLES}" "${_tables}"
    DEPENDS "${SCEP_UNICODE_DATA_TABLES}"
    COMMENT "Unicode tables without soft-float .ARM.attributes and unwind index")
  add_custom_target(scep_unicode_tables DEPENDS "${_tables}")
  set(SCEP_UNICODE_DATA_TABLES "${_tables}")
endif()

# Size: drop unreferenced sections at link time. -z now: every library symbol is bound at start-up, so the
# daemon's wake-ups never run the dynamic linker's lazy binding, whose code would be resident again after
# IdleMemory dropped it (and the GOT becomes read-only).
set(SCEP_EXECUTABLE_LINK_OPTIONS -Wl,--gc-sections -Wl,--as-needed -Wl,-z,now)
# Embedded Swift specialises generics per module, leaving many byte-identical functions: lld's
# identical code folding merges them. lld ships with the Swift toolchain (next to swiftc).
find_program(SCEP_LLD ld.lld HINTS "${SCEP_SWIFT_BIN_DIR}")
option(SCEP_IDENTICAL_CODE_FOLDING "Link with lld --icf=all when lld is available" ON)
if(SCEP_IDENTICAL_CODE_FOLDING AND SCEP_LLD)
  get_filename_component(_lld_dir "${SCEP_LLD}" DIRECTORY)
  list(APPEND SCEP_EXECUTABLE_LINK_OPTIONS "-B${_lld_dir}" -fuse-ld=lld -Wl,--icf=all)
  # A PIE's pointers each need a relative relocation (24 bytes on 64-bit); RELR packs them into
  # bitmaps. glibc reads DT_RELR from 2.36 on (Debian 12), which the target glibc already has to be.
  option(SCEP_PACK_RELATIVE_RELOCS "Pack relative relocations (needs glibc 2.36 on the board)" ON)
  if(SCEP_PACK_RELATIVE_RELOCS)
    list(APPEND SCEP_EXECUTABLE_LINK_OPTIONS -Wl,-z,pack-relative-relocs)
  endif()
endif()
# The linker map, for Benchmarks/footprint.sh's size attribution.
list(APPEND SCEP_EXECUTABLE_LINK_OPTIONS "-Wl,-Map=${CMAKE_BINARY_DIR}/scep-agent.map")
if(SCEP_MAX_PAGE_SIZE)
  # GNU ld pads the file so that RELRO ends on a max-page-size boundary: up to 64 KB on ARM by default.
  list(APPEND SCEP_EXECUTABLE_LINK_OPTIONS "-Wl,-z,max-page-size=${SCEP_MAX_PAGE_SIZE}")
endif()
option(SCEP_STATIC_PIE "Link a static PIE (no shared libc needed on the board)" OFF)
if(SCEP_STATIC_PIE)
  # Plain -static fails on a copy relocation; -static-pie works.
  list(APPEND SCEP_EXECUTABLE_LINK_OPTIONS -static-pie)
endif()
