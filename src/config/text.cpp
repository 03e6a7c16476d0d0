// Hex and message-text helpers. Hex is lowercase only, so that one value has one spelling
// and a flipped case bit in a file is a detected change, not a silent equivalent.

#include "text.hpp"

#include <fmt/format.h>

namespace vsr::config::detail {

std::string printable(std::string_view bytes, std::size_t length_max) {
  std::string out;
  const std::size_t shown = bytes.size() < length_max ? bytes.size() : length_max;
  for (std::size_t i = 0; i < shown; i++) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (shown < bytes.size()) out += "...";
  return out;
}

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; i++) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0x0f];
  }
  return out;
}

namespace {

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

bool from_hex(std::string_view hex, unsigned char* out, std::size_t size) {
  if (hex.size() != size * 2) return false;
  for (std::size_t i = 0; i < size; i++) {
    const int high = hex_digit_value(hex[2 * i]);
    const int low = hex_digit_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<unsigned char>((high << 4) | low);
  }
  return true;
}

}  // namespace vsr::config::detail
