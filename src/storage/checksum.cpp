// XXH3-128 from libxxhash: fast enough to checksum every WAL record on the hot path, and
// 128 bits so that an accidental match is never the explanation.

#include "vsr/storage/checksum.hpp"

#include <xxhash.h>

#include <fmt/format.h>

namespace vsr::storage {

std::string Checksum::hex() const {
  return fmt::format("{:016x}{:016x}", high, low);
}

std::string Checksum::bytes() const {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>((low >> (8 * i)) & 0xff);
    out[static_cast<std::size_t>(8 + i)] = static_cast<char>((high >> (8 * i)) & 0xff);
  }
  return out;
}

std::optional<Checksum> Checksum::from_bytes(std::string_view raw) {
  if (raw.size() != 16) return std::nullopt;
  Checksum sum;
  for (int i = 7; i >= 0; --i) {
    sum.low = (sum.low << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(i)]);
    sum.high = (sum.high << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(8 + i)]);
  }
  return sum;
}

Checksum checksum_of(std::string_view data) {
  const XXH128_hash_t hash = XXH3_128bits(data.data(), data.size());
  return Checksum{hash.low64, hash.high64};
}

}  // namespace vsr::storage
