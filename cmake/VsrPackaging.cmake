# Installation and packaging with CPack (docs/vsr/release.md).
#
#   cmake --preset release && cmake --build --preset release
#   cd build/release && cpack -G DEB        # vsr_<version>_<arch>.deb
#   cd build/release && cpack -G TGZ        # vsr-<version>-Linux.tar.gz (the installed tree)
#   cd build/release && cpack --config CPackSourceConfig.cmake   # vsr-<version>.tar.gz
#
# What is installed: the one `vsr` executable to bin/, and the documentation (README,
# LICENSE, CHANGELOG, docs/) to share/doc/vsr/. Nothing else: vsr links its own libraries
# statically, and the tests, benchmarks and fuzzers are not part of a release.
include(GNUInstallDirs)

install(TARGETS vsr RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
# CMAKE_INSTALL_DOCDIR is share/doc/<project name>, i.e. share/doc/vsr.
install(FILES README.md LICENSE CHANGELOG.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
# Debian looks for the licence in share/doc/<package>/copyright.
install(FILES LICENSE DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME copyright)
# docs/*.md and docs/vsr/*.md side by side in share/doc/vsr/ (no share/doc/vsr/vsr/).
install(DIRECTORY docs/ DESTINATION "${CMAKE_INSTALL_DOCDIR}"
        FILES_MATCHING PATTERN "*.md" PATTERN "vsr" EXCLUDE)
install(DIRECTORY docs/vsr/ DESTINATION "${CMAKE_INSTALL_DOCDIR}" FILES_MATCHING PATTERN "*.md")

set(VSR_PACKAGE_MAINTAINER "The vsr authors <maintainers@users.noreply.r-seed-51ff94cc.example>"
    CACHE STRING "Maintainer field of the .deb (name <email>); set it when cutting a release")

# --- common ------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME "vsr")
set(CPACK_PACKAGE_VENDOR "The vsr authors")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Viewstamped Replication replicated state machine (replicas, admin tool and client)")
# The long description (the .deb's Description after its summary line).
set(CPACK_PACKAGE_DESCRIPTION [=[vsr runs a cluster of replica processes that execute the same operations in
the same order (Viewstamped Replication, Liskov and Cowling 2012), so that the
bundled apps (bank, inventory, catalog, locks) keep working and lose no
acknowledged write while a minority of replicas crash, restart or are cut off.
The one vsr executable sets up a cluster's files, runs the replicas, administers
them and acts as the apps' client.]=])
set(CPACK_PACKAGE_CONTACT "${VSR_PACKAGE_MAINTAINER}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_RESOURCE_FILE_README "${PROJECT_SOURCE_DIR}/README.md")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "TGZ;DEB")
set(CPACK_PACKAGE_CHECKSUM SHA256)

# --- source tarball ----------------------------------------------------------------------
# Everything in the source directory except build output and VCS metadata. CPack packs
# the directory as it is, untracked files included: cut a release from a clean checkout
# of the tag (docs/vsr/release.md).
set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_PACKAGE_FILE_NAME "vsr-${PROJECT_VERSION}")
# The patterns mirror .gitignore (build output, a local cluster, the fuzzer's corpus).
set(CPACK_SOURCE_IGNORE_FILES
    "/build/"
    "/\\\\.vsr/"
    "/fuzz-corpus/"
    "/\\\\.git/"
    "/\\\\.git$"
    "/\\\\.cache/"
    "/\\\\.vscode/"
    "/\\\\.idea/"
    "/compile_commands\\\\.json$"
    "~$"
    "\\\\.swp$")

# --- .deb --------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # vsr_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${VSR_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The shared libraries the binary needs (objdump -p vsr | grep NEEDED: libspdlog.so.1.10,
# libsodium.so.23, libfmt.so.9, libxxhash.so.0, libstdc++.so.6, libgcc_s.so.1, libc.so.6),
# as dpkg-shlibdeps states them on Debian 12 (docs/vsr/release.md shows how to recheck).
# spdlog's shlibs name the virtual package libspdlog1.10-fmt9 (spdlog built against
# fmt 9, which libspdlog1.10 provides); the real package is listed too, for readers.
string(CONCAT CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libfmt9 (>= 9.1.0+ds1), libgcc-s1 (>= 3.4), libsodium23 (>= 0.6.0), "
    "libspdlog1.10 (>= 1:1.10.0), libspdlog1.10-fmt9, libstdc++6 (>= 12), libxxhash0 (>= 0.8.0)")

include(CPack)
