// The locks state machine. Only held leases are stored: a lease is dropped when it is
// released or when an operation stamped at or after its expiry runs (sweep()). One
// counter, last_token_, issues every fencing token, so a lock's tokens increase without
// remembering anything about locks that are free.

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "locks/locks.hpp"
#include "vsr/app/operation.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::apps::locks {
namespace {

using app::ErrorCode;

constexpr std::int64_t kSnapshotFormat = 1;
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

struct Lease {
  std::string owner;  // client id
  std::int64_t token = 0;
  std::int64_t expires_at_ms = 0;
};

using Refusal = std::pair<ErrorCode, std::string>;

Result<void, Refusal> invalid(std::string message) {
  return fail(Refusal{ErrorCode::invalid_request, std::move(message)});
}

class Locks final : public app::StateMachine {
 public:
  std::string_view name() const override { return kAppName; }

  void execute(const app::Context& context, std::string_view operation,
               std::string& reply) override {
    // The primary's stamp, never a local clock; beyond int64 it is clamped (unreachable
    // for milliseconds since 1970, and still deterministic).
    const auto now = static_cast<std::int64_t>(
        std::min<std::uint64_t>(context.timestamp_ms, static_cast<std::uint64_t>(kInt64Max)));
    sweep(now);
    auto op = app::OperationReader::parse(kAppName, operation);
    if (!op) return app::encode_error(reply, ErrorCode::invalid_request, op.error());
    auto outcome = dispatch(*op, context.client_id, now, reply);
    if (!outcome) app::encode_error(reply, outcome.error().first, outcome.error().second);
  }

  void snapshot(std::string& out) const override {
    tnet::Encoder encoder(out);
    encoder.begin_dict();
    encoder.key("format");
    encoder.integer(kSnapshotFormat);
    encoder.key("last_token");
    encoder.integer(last_token_);
    encoder.key("locks");
    encoder.begin_dict();
    for (const auto& [name, lease] : leases_) {
      encoder.key(name);
      encoder.begin_dict();
      encoder.key("owner");
      encoder.bytes(lease.owner);
      encoder.key("token");
      encoder.integer(lease.token);
      encoder.key("expires_at_ms");
      encoder.integer(lease.expires_at_ms);
      encoder.end_dict();
    }
    encoder.end_dict();
    encoder.end_dict();
  }

  Result<void, std::string> restore(std::string_view snapshot) override {
    auto decoded = tnet::decode(snapshot, app::kSnapshotLimits);
    if (!decoded) return fail(fmt::format("locks snapshot: {}", decoded.error().message()));
    tnet::FieldReader fields(*decoded, "locks snapshot");
    const std::int64_t format = fields.integer("format");
    const std::int64_t last_token = fields.integer_in("last_token", 0, kInt64Max);
    const tnet::Value locks = fields.dict("locks");
    if (!fields.ok()) return fail(fields.error());
    if (format != kSnapshotFormat || decoded->size() != 3) {
      return fail(fmt::format("locks snapshot: unsupported format {}", format));
    }
    std::map<std::string, Lease, std::less<>> leases;
    std::set<std::pair<std::int64_t, std::string>, std::less<>> expiries;
    for (const tnet::Entry entry : locks.entries()) {
      auto lease = restore_lease(entry, last_token);
      if (!lease) return fail(lease.error());
      expiries.emplace(lease->expires_at_ms, entry.key);
      leases.emplace(entry.key, std::move(lease).value());
    }
    leases_ = std::move(leases);
    expiries_ = std::move(expiries);
    last_token_ = last_token;
    return {};
  }

 private:
  Result<void, Refusal> dispatch(app::OperationReader& op, std::string_view client_id,
                                 std::int64_t now, std::string& reply) {
    const std::string_view verb = op.verb();
    if (verb == "acquire") return on_acquire(op, client_id, now, reply);
    if (verb == "release") return on_release(op, client_id, reply);
    if (verb == "holder") return on_holder(op, reply);
    return invalid(fmt::format("locks: unknown operation '{}'", verb));
  }

  static Result<Lease, std::string> restore_lease(const tnet::Entry& entry,
                                                  std::int64_t last_token) {
    if (auto valid = app::check_name("locks snapshot: lock name", entry.key); !valid) {
      return fail(valid.error());
    }
    tnet::FieldReader fields(entry.value, "locks snapshot: lock");
    Lease lease;
    lease.owner = std::string(fields.bytes("owner"));
    lease.token = fields.integer_in("token", 1, last_token);
    lease.expires_at_ms = fields.integer_in("expires_at_ms", 0, kInt64Max);
    if (!fields.ok()) return fail(fields.error());
    if (entry.value.size() != 3 || !app::check_client_id(lease.owner)) {
      return fail(fmt::format("locks snapshot: lock '{}' is malformed", entry.key));
    }
    return lease;
  }

  // Drops every lease that has expired at `now`. Timestamps never go backwards, so a
  // dropped lease could not have been held by any later operation either.
  void sweep(std::int64_t now) {
    while (!expiries_.empty() && expiries_.begin()->first <= now) {
      leases_.erase(expiries_.begin()->second);
      expiries_.erase(expiries_.begin());
    }
  }

  // The checks every handler starts with: well-formed fields, a valid lock name.
  static Result<void, Refusal> check_args(const app::OperationReader& op, std::string_view name) {
    if (auto finished = op.finish(); !finished) return invalid(finished.error());
    if (auto valid = app::check_name("lock name", name); !valid) return invalid(valid.error());
    return {};
  }

  Result<void, Refusal> on_acquire(app::OperationReader& op, std::string_view client_id,
                                   std::int64_t now, std::string& reply) {
    const std::string_view name = op.bytes("name");
    const std::int64_t ttl_ms = op.integer("ttl_ms");
    if (auto valid = check_args(op, name); !valid) return valid;
    if (auto valid = app::check_client_id(client_id); !valid) return invalid(valid.error());
    if (ttl_ms < app::kLockTtlMsMin || ttl_ms > app::kLockTtlMsMax) {
      return invalid(fmt::format("ttl_ms must be in {}..{}, got {}", app::kLockTtlMsMin,
                                 app::kLockTtlMsMax, ttl_ms));
    }
    if (now > kInt64Max - ttl_ms) {
      return fail(Refusal{ErrorCode::overflow, "the lease would expire beyond int64 ms"});
    }
    const std::int64_t expires_at_ms = now + ttl_ms;
    auto found = leases_.find(name);
    if (found != leases_.end() && found->second.owner != client_id) {
      const Lease& lease = found->second;
      return fail(Refusal{ErrorCode::held,
                          fmt::format("lock '{}' is held by '{}' (token {}) until {} ms", name,
                                      lease.owner, lease.token, lease.expires_at_ms)});
    }
    if (found == leases_.end()) {
      if (last_token_ == kInt64Max) {
        return fail(Refusal{ErrorCode::overflow, "fencing tokens are exhausted"});
      }
      found =
          leases_.emplace(std::string(name), Lease{std::string(client_id), ++last_token_, 0}).first;
    } else {
      expiries_.erase({found->second.expires_at_ms, found->first});  // renewal keeps the token
    }
    found->second.expires_at_ms = expires_at_ms;
    expiries_.emplace(expires_at_ms, found->first);
    write_holder(reply, name, &found->second);
    return {};
  }

  Result<void, Refusal> on_release(app::OperationReader& op, std::string_view client_id,
                                   std::string& reply) {
    const std::string_view name = op.bytes("name");
    if (auto valid = check_args(op, name); !valid) return valid;
    const auto found = leases_.find(name);
    if (found == leases_.end()) {
      return fail(Refusal{ErrorCode::not_owner,
                          fmt::format("lock '{}' is not held (released or expired)", name)});
    }
    if (found->second.owner != client_id) {
      return fail(Refusal{ErrorCode::not_owner,
                          fmt::format("lock '{}' is held by '{}'", name, found->second.owner)});
    }
    expiries_.erase({found->second.expires_at_ms, found->first});
    leases_.erase(found);
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("name");
      e.bytes(name);
      e.key("released");
      e.boolean(true);
    });
    return {};
  }

  Result<void, Refusal> on_holder(app::OperationReader& op, std::string& reply) const {
    const std::string_view name = op.bytes("name");
    if (auto valid = check_args(op, name); !valid) return valid;
    const auto found = leases_.find(name);
    write_holder(reply, name, found == leases_.end() ? nullptr : &found->second);
    return {};
  }

  // {name, owner, token, expires_at_ms}; all but name null when `lease` is null (free).
  static void write_holder(std::string& reply, std::string_view name, const Lease* lease) {
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("name");
      e.bytes(name);
      e.key("owner");
      lease != nullptr ? e.bytes(lease->owner) : e.null();
      e.key("token");
      lease != nullptr ? e.integer(lease->token) : e.null();
      e.key("expires_at_ms");
      lease != nullptr ? e.integer(lease->expires_at_ms) : e.null();
    });
  }

  // Held leases by lock name; a lease with expires_at_ms <= the latest stamp seen is gone.
  std::map<std::string, Lease, std::less<>> leases_;
  // (expires_at_ms, name) of every entry of leases_, so sweep() finds expired ones first.
  std::set<std::pair<std::int64_t, std::string>, std::less<>> expiries_;
  // The last fencing token issued (0: none yet). Only grows; survives snapshot/restore.
  std::int64_t last_token_ = 0;
};

const app::CommandInfo kCommands[] = {
    {"acquire", "NAME [--ttl MS]", "takes or renews the lease; prints its fencing token"},
    {"release", "NAME", "frees the lease (owner only)"},
    {"holder", "NAME", "prints owner, token and expiry, or none"},
};

}  // namespace

app::AppDescriptor descriptor() {
  return app::AppDescriptor{
      .name = kAppName,
      .summary = "leases with fencing tokens: acquire, release, holder",
      .factory = []() -> std::unique_ptr<app::StateMachine> { return std::make_unique<Locks>(); },
      .commands = kCommands,
  };
}

}  // namespace vsr::apps::locks
