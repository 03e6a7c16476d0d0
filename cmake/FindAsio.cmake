# FindAsio: standalone asio (Debian's libasio-dev ships headers only, no CMake config).
#
# Defines Asio::asio, an INTERFACE target that carries the include directory and the
# definitions every translation unit using asio needs: standalone mode, C++20 coroutines
# (clang 14 only detects them with ASIO_HAS_CO_AWAIT / ASIO_HAS_STD_COROUTINE set), and
# the thread library.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_version "${_asio_version_line}")
  math(EXPR _asio_major "${_asio_version} / 100000")
  math(EXPR _asio_minor "${_asio_version} / 100 % 1000")
  math(EXPR _asio_patch "${_asio_version} % 100")
  set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::asio)
  find_package(Threads REQUIRED)
  add_library(Asio::asio INTERFACE IMPORTED)
  target_include_directories(Asio::asio INTERFACE "${Asio_INCLUDE_DIR}")
  target_compile_definitions(Asio::asio INTERFACE
    ASIO_STANDALONE ASIO_NO_DEPRECATED ASIO_HAS_CO_AWAIT=1 ASIO_HAS_STD_COROUTINE=1)
  target_link_libraries(Asio::asio INTERFACE Threads::Threads)
endif()
mark_as_advanced(Asio_INCLUDE_DIR)
