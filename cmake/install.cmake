# What `cmake --install` puts in a prefix, and the Debian package (CPack) made of the same:
#   PREFIX/bin/moonrun
#   PREFIX/share/moonrun/lua      moonrun's Lua library (found from the executable: ../share/moonrun/lua)
#   PREFIX/share/moonrun/types    editor files (LuaLS definitions, from types/ in the source tree)
#   PREFIX/share/moonrun/bootstrap make_zip.py and check_elf.py, which `moonrun package` runs
#   PREFIX/share/man/man1/moonrun.1 the manual page (docs/moonrun.1, written by hand in roff)
#   PREFIX/share/moonrun/layers   moonrun-layer-ARCH.zip, when MOONRUN_LAYERS_DIR names a folder of
#                                 them (bootstrap/package.sh --layers-only --arch all --out DIR):
#                                 the runtime layers `moonrun package` copies into a project's dist/
# The Lambda zips are bootstrap/package.sh's, with a layout of their own.
include(GNUInstallDirs)

# lua_paths.c looks for the library at <bin>/../share/moonrun/lua: another layout would lose it.
if(NOT CMAKE_INSTALL_BINDIR STREQUAL "bin" OR NOT CMAKE_INSTALL_DATADIR STREQUAL "share")
  message(FATAL_ERROR "moonrun installs to bin/ and share/ under the prefix (it finds its Lua "
                      "library from its executable); leave CMAKE_INSTALL_BINDIR and CMAKE_INSTALL_DATADIR alone")
endif()

install(TARGETS moonrun RUNTIME DESTINATION bin)
install(DIRECTORY lua/ DESTINATION share/moonrun/lua FILES_MATCHING PATTERN "*.lua")
# moonrun init's scaffold is real files of every kind (template.yaml, README.md, a rockspec, ...)
install(DIRECTORY lua/moonrun/scaffold/ DESTINATION share/moonrun/lua/moonrun/scaffold)
if(EXISTS ${CMAKE_SOURCE_DIR}/types)
  install(DIRECTORY types/ DESTINATION share/moonrun/types)
else()
  install(DIRECTORY DESTINATION share/moonrun/types) # reserved: an empty folder until it is filled
endif()
install(PROGRAMS bootstrap/make_zip.py bootstrap/check_elf.py DESTINATION share/moonrun/bootstrap)
# Uncompressed: man-db reads a plain page as well as a gzipped one, and the test can compare bytes.
install(FILES docs/moonrun.1 DESTINATION share/man/man1)

# Building the layers takes a cross build of moonrun and libcurl (minutes), so it is not part of
# this build: package.sh makes them, and this option puts them in the install and the .deb.
set(MOONRUN_LAYERS_DIR "" CACHE PATH
    "A folder of moonrun-layer-x86_64.zip/moonrun-layer-arm64.zip (bootstrap/package.sh --layers-only) to install")
if(MOONRUN_LAYERS_DIR)
  file(GLOB MOONRUN_LAYER_ZIPS "${MOONRUN_LAYERS_DIR}/moonrun-layer-*.zip")
  if(NOT MOONRUN_LAYER_ZIPS)
    message(FATAL_ERROR "MOONRUN_LAYERS_DIR (${MOONRUN_LAYERS_DIR}) holds no moonrun-layer-ARCH.zip: "
                        "make them with bootstrap/package.sh --layers-only --arch all --out ${MOONRUN_LAYERS_DIR}")
  endif()
  install(FILES ${MOONRUN_LAYER_ZIPS} DESTINATION share/moonrun/layers)
endif()

# The .deb: `cmake --build BUILD --target package` (or `cpack --config BUILD/CPackConfig.cmake`)
# writes moonrun_VERSION_ARCH.deb in BUILD. Its Depends are the libraries moonrun loads with
# dlopen (so no tool can find them in the executable): libcurl, OpenSSL's libcrypto,
# libmicrohttpd and libyaml for `moonrun dev`, libedit for the REPL. Debian 13 renamed some
# of them (the 64-bit time_t transition, "t64"), hence the alternatives.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME moonrun)
set(CPACK_PACKAGE_VENDOR moonrun)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "AWS Lambda custom runtime for Lua 5.4 handlers, with local tools")
set(CPACK_PACKAGE_DESCRIPTION
  "moonrun runs Lua 5.4 handlers on AWS Lambda (provided.al2023) and on this machine: one-shot\ninvocations, a REPL, and moonrun dev, which runs a SAM template's service locally.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # moonrun_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "moonrun maintainers <moonrun@localhost>" CACHE STRING
    "The .deb's Maintainer field")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libcurl4 | libcurl4t64, libssl3 | libssl3t64, libmicrohttpd12 | libmicrohttpd12t64, libyaml-0-2, libedit2")
# busted runs `moonrun test`, luarocks installs a project's dependencies (moonrun deps); the rest
# of moonrun works without them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "lua-busted, luarocks")
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # adds libc6 (>= the newest symbol version used)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.34), ${CPACK_DEBIAN_PACKAGE_DEPENDS}")
endif()
include(CPack)
