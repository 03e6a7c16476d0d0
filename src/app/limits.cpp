// Argument checks shared by the bundled apps (vsr/app/limits.hpp).

#include "vsr/app/limits.hpp"

#include <fmt/format.h>

namespace vsr::app {
namespace {

// The length of the UTF-8 sequence that starts with `lead`, or 0 if no sequence does.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // continuation byte, overlong lead (C0, C1) or beyond U+10FFFF (F5..FF)
}

bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

}  // namespace

bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = sequence_length(lead);
    if (length == 0 || text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if (!is_continuation(static_cast<unsigned char>(text[i + k]))) return false;
    }
    if (length >= 3) {
      // RFC 3629 §4: the second byte's range rules out overlongs, surrogates, > U+10FFFF.
      const auto second = static_cast<unsigned char>(text[i + 1]);
      if (lead == 0xE0 && second < 0xA0) return false;
      if (lead == 0xED && second > 0x9F) return false;
      if (lead == 0xF0 && second < 0x90) return false;
      if (lead == 0xF4 && second > 0x8F) return false;
    }
    i += length;
  }
  return true;
}

Result<void, std::string> check_name(std::string_view what, std::string_view name) {
  if (name.empty()) return fail(fmt::format("{} must not be empty", what));
  if (name.size() > kKeyBytesMax) {
    return fail(
        fmt::format("{} is {} bytes, more than the limit of {}", what, name.size(), kKeyBytesMax));
  }
  if (!is_utf8(name)) return fail(fmt::format("{} is not valid UTF-8", what));
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    // Names are printed one per line in human output: no newlines, tabs or escapes.
    if (byte < 0x20 || byte == 0x7F) {
      return fail(fmt::format("{} contains a control character", what));
    }
  }
  return {};
}

Result<void, std::string> check_client_id(std::string_view client_id) {
  if (client_id.empty()) return fail(std::string("the request carries no client id"));
  if (client_id.size() > kKeyBytesMax) {
    return fail(fmt::format("client id is {} bytes, more than the limit of {}", client_id.size(),
                            kKeyBytesMax));
  }
  return {};
}

}  // namespace vsr::app
