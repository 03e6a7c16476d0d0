#pragma once
// Internal helpers of vsr_config for turning untrusted bytes into message text.

#include <cstddef>
#include <string>
#include <string_view>

namespace vsr::config::detail {

/// `bytes` made safe for a one-line message: printable ASCII kept, anything else as \xNN,
/// cut after `length_max` input bytes with "..." so hostile input cannot flood a terminal.
std::string printable(std::string_view bytes, std::size_t length_max = 48);

/// Lowercase hex of `bytes`.
std::string to_hex(const unsigned char* bytes, std::size_t size);

/// Decodes exactly `size` bytes from 2 * size lowercase hex digits; false on any other input.
bool from_hex(std::string_view hex, unsigned char* out, std::size_t size);

}  // namespace vsr::config::detail
