#pragma once
// Limits of the bundled apps, in one place, and the argument checks built on them. Every
// operation argument is checked against these before anything changes, so a hostile or
// buggy client can neither grow a reply without bound nor store an unbounded key.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app {

/// Longest name of an account, SKU, catalog key, lock, or client id stored in app state.
inline constexpr std::size_t kKeyBytesMax = 256;
/// Longest catalog value.
inline constexpr std::size_t kValueBytesMax = std::size_t{64} << 10;
/// Most entries one list reply carries (bank list, catalog list); more sets "truncated".
inline constexpr std::size_t kListEntriesMax = 1000;
/// Lock lease bounds, and the client-side default when `--ttl` is not given.
inline constexpr std::int64_t kLockTtlMsMin = 1;
inline constexpr std::int64_t kLockTtlMsMax = std::int64_t{24} * 60 * 60 * 1000;
inline constexpr std::int64_t kLockTtlMsDefault = 30'000;

/// Decoder limits for one app operation: a catalog value plus a few small fields.
inline constexpr tnet::Limits kOperationLimits{
    .max_size = kValueBytesMax + 4096, .max_elements = 16, .max_depth = 4};
/// Decoder limits for an app snapshot: state may be large, but its shape is shallow.
inline constexpr tnet::Limits kSnapshotLimits{
    .max_size = std::size_t{1} << 30, .max_elements = std::size_t{1} << 28, .max_depth = 8};

/// Returns true iff `text` is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view text);

/// Checks a name argument (account, SKU, key, lock): 1..kKeyBytesMax bytes of UTF-8
/// without control characters. Err: "<what> must not be empty", ...
Result<void, std::string> check_name(std::string_view what, std::string_view name);

/// Checks the calling client id for operations owned by a client (reservations, locks):
/// 1..kKeyBytesMax bytes.
Result<void, std::string> check_client_id(std::string_view client_id);

}  // namespace vsr::app
