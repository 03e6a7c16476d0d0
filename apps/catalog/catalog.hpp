#pragma once
// catalog: a versioned key-value map with compare-and-set (product.md §1).
//
//   put KEY VALUE [--if-version V]  stores VALUE; returns the new version (1 for a new key,
//                                   then +1 per put). With V: 0 means "KEY must not exist",
//                                   V > 0 means "KEY must be at version V"; else
//                                   version_conflict
//   get KEY                         value and version, or not_found
//   delete KEY [--if-version V]     removes KEY; returns the deleted version (not_found,
//                                   version_conflict). A later put starts again at 1.
//   list [PREFIX] [--limit N]       keys with versions sorted, at most N (1..1000, default
//                                   1000); "truncated": true when more keys match
//
// Keys are 1..256 bytes of UTF-8 without control characters; values 0..64 KiB of bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vsr/app/registry.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/base/result.hpp"

namespace vsr::apps::catalog {

inline constexpr std::string_view kAppName = "catalog";

/// The registry entry of the catalog app.
app::AppDescriptor descriptor();

/// The catalog's client commands.
enum class Command : std::uint8_t { put, get, remove, list };

/// Operation bytes of each command: {"op": "put", "key": K, "value": X, "if_version": V}...
/// An absent optional argument is left out of the operation.
std::string encode_put(std::string_view key, std::string_view value,
                       std::optional<std::int64_t> if_version = std::nullopt);
std::string encode_get(std::string_view key);
std::string encode_delete(std::string_view key,
                          std::optional<std::int64_t> if_version = std::nullopt);
std::string encode_list(std::string_view prefix = {},
                        std::optional<std::int64_t> limit = std::nullopt);

/// The product.md JSON object of a reply to `command` (op/view are the caller's to add).
/// Err: the reply's result does not have the shape `command` produces.
Result<app::Json, std::string> format_json(Command command, const app::Reply& reply);

/// The human output: when reply.ok, put and delete print the version, get the value
/// (raw bytes), list one "KEY VERSION" line per key; otherwise "code: message" for
/// stderr. Err: as format_json().
Result<std::string, std::string> format_human(Command command, const app::Reply& reply);

}  // namespace vsr::apps::catalog
