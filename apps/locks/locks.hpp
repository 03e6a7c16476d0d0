#pragma once
// locks: leases with fencing tokens (product.md §1).
//
//   acquire NAME [--ttl MS]  grants NAME to the calling client id for MS milliseconds
//                            (1..86400000) with a fencing token; the owner re-acquiring
//                            renews the lease and keeps its token; held by another client:
//                            `held`, naming the holder
//   release NAME             frees NAME; only its owner may (`not_owner` otherwise, also
//                            when the lease has expired)
//   holder NAME              owner, token and expiry, or owner/token/expiry null when free
//
// Tokens come from one counter for the whole app, so they are strictly increasing per
// lock and never reused, across release, expiry and snapshot/restore. Time is only ever
// Context::timestamp_ms (the primary's stamp): a lease is held while now < expires_at_ms.

#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/app/limits.hpp"
#include "vsr/app/registry.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/base/result.hpp"

namespace vsr::apps::locks {

inline constexpr std::string_view kAppName = "locks";

/// The registry entry of the locks app.
app::AppDescriptor descriptor();

/// The locks app's client commands.
enum class Command : std::uint8_t { acquire, release, holder };

/// Operation bytes of each command: {"op": "acquire", "name": L, "ttl_ms": MS}, ...
std::string encode_acquire(std::string_view name, std::int64_t ttl_ms = app::kLockTtlMsDefault);
std::string encode_release(std::string_view name);
std::string encode_holder(std::string_view name);

/// The product.md JSON object of a reply to `command` (op/view are the caller's to add).
/// Err: the reply's result does not have the shape `command` produces.
Result<app::Json, std::string> format_json(Command command, const app::Reply& reply);

/// The human output: when reply.ok, acquire prints the token, release "released", holder
/// "OWNER TOKEN EXPIRES_AT_MS" or "none"; otherwise "code: message" for stderr.
/// Err: as format_json().
Result<std::string, std::string> format_human(Command command, const app::Reply& reply);

}  // namespace vsr::apps::locks
