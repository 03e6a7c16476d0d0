#pragma once
// Strong types for the protocol's numbers, the checksum type, and the deterministic PRNG.
// A View is never an Op: each number has its own type so that the compiler catches a
// swapped argument, and arithmetic is spelled out where the protocol needs it.

#include <compare>
#include <cstdint>
#include <memory>
#include <string>

namespace vsr::core {

/// A number with a tag type so that different protocol numbers never mix.
template <class Tag, class Rep>
struct Strong {
  Rep value = 0;

  constexpr Strong() = default;
  constexpr explicit Strong(Rep v) : value(v) {}
  friend constexpr auto operator<=>(Strong, Strong) = default;
  friend constexpr bool operator==(Strong, Strong) = default;
};

struct ViewTag {};
struct OpTag {};
struct ReplicaTag {};
struct RequestTag {};

/// A view number: which replica is primary (view mod replica_count), §4.
using View = Strong<ViewTag, std::uint64_t>;
/// An op number: the position of a prepare in the log. Commit numbers are Ops too.
using Op = Strong<OpTag, std::uint64_t>;
/// A replica's index in the cluster configuration, [0, replica_count).
using ReplicaIndex = Strong<ReplicaTag, std::uint32_t>;
/// A client's request number: strictly increasing per client id.
using RequestNo = Strong<RequestTag, std::uint64_t>;

constexpr Op next(Op op) {
  return Op{op.value + 1};
}
constexpr Op prev(Op op) {
  return Op{op.value - 1};
}
constexpr View next(View view) {
  return View{view.value + 1};
}

/// An XXH3-128 checksum. Identifies a prepare (header + body) uniquely.
struct Checksum {
  std::uint64_t low = 0;
  std::uint64_t high = 0;

  friend constexpr auto operator<=>(const Checksum&, const Checksum&) = default;
  friend constexpr bool operator==(const Checksum&, const Checksum&) = default;
  /// 32 lowercase hex digits, for logs and test output.
  std::string hex() const;
  /// The 16 raw bytes, little-endian low then high (the wire form).
  std::string bytes() const;
  /// Parses the 16-byte wire form. Returns false iff `raw` is not 16 bytes.
  static bool from_bytes(std::string_view raw, Checksum& out);
};

/// XXH3-128 of `data`.
Checksum checksum_of(std::string_view data);

/// Encoded message bytes shared between the log, the WAL write and every send, so a
/// prepare is encoded once and never copied on its way to the peers and the disk.
using Bytes = std::shared_ptr<const std::string>;

/// Wraps a freshly encoded message.
inline Bytes make_bytes(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

/// A small deterministic generator (xoshiro256**, seeded via splitmix64). The core owns no
/// entropy source: the runtime seeds it, and the simulator derives every seed from one.
class Prng {
 public:
  explicit Prng(std::uint64_t seed);
  std::uint64_t next();
  /// Uniform in [0, bound). REQUIRES: bound > 0.
  std::uint64_t below(std::uint64_t bound);
  /// True with probability numerator / denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator);

 private:
  std::uint64_t s_[4];
};

}  // namespace vsr::core
