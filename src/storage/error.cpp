#include "vsr/storage/error.hpp"

namespace vsr::storage {

const char* describe(Errc code) {
  switch (code) {
    case Errc::io:
      return "I/O error";
    case Errc::not_found:
      return "not found";
    case Errc::corruption:
      return "corruption";
    case Errc::nothing_valid:
      return "nothing valid remains";
  }
  return "unknown storage error";
}

}  // namespace vsr::storage
