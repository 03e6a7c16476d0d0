#pragma once
// XXH3-128 checksums as stored in the WAL, the metadata and the checkpoint files.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vsr::storage {

/// An XXH3-128 digest. The all-zero value is reserved: it never results from a real hash in
/// practice and marks "no predecessor" in the WAL's hash chain.
struct Checksum {
  std::uint64_t low = 0;
  std::uint64_t high = 0;

  friend constexpr auto operator<=>(const Checksum&, const Checksum&) = default;
  friend constexpr bool operator==(const Checksum&, const Checksum&) = default;

  /// Returns true iff this is the reserved zero value.
  bool is_zero() const { return low == 0 && high == 0; }
  /// 32 lowercase hex digits, high half first (as xxhsum prints it).
  std::string hex() const;
  /// The 16-byte stored form: `low` then `high`, each little-endian.
  std::string bytes() const;
  /// Parses the 16-byte stored form; nullopt iff `raw` is not 16 bytes long.
  static std::optional<Checksum> from_bytes(std::string_view raw);
};

/// XXH3-128 of `data`.
Checksum checksum_of(std::string_view data);

}  // namespace vsr::storage
