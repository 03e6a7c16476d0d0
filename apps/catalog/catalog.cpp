// The catalog state machine. Entries live in a std::map so that list (a range scan from
// the prefix) and the snapshot iterate in key order on every replica.
//
// Versions are per key and restart at 1 after a delete, as in ZooKeeper and etcd's
// per-key version: a version names a value within one lifetime of its key.

#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "catalog/catalog.hpp"
#include "vsr/app/limits.hpp"
#include "vsr/app/operation.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::apps::catalog {
namespace {

using app::ErrorCode;

constexpr std::int64_t kSnapshotFormat = 1;

struct Entry {
  std::string value;
  std::int64_t version = 0;  // >= 1
};

using Refusal = std::pair<ErrorCode, std::string>;

Result<void, Refusal> invalid(std::string message) {
  return fail(Refusal{ErrorCode::invalid_request, std::move(message)});
}

Result<void, Refusal> check_if_version(std::optional<std::int64_t> if_version) {
  if (if_version && *if_version < 0) {
    return invalid(fmt::format("if_version must be >= 0, got {}", *if_version));
  }
  return {};
}

class Catalog final : public app::StateMachine {
 public:
  std::string_view name() const override { return kAppName; }

  void execute(const app::Context& /*context*/, std::string_view operation,
               std::string& reply) override {
    auto op = app::OperationReader::parse(kAppName, operation);
    if (!op) return app::encode_error(reply, ErrorCode::invalid_request, op.error());
    // A handler either appends a success reply or returns a refusal and changes nothing.
    auto outcome = dispatch(*op, reply);
    if (!outcome) app::encode_error(reply, outcome.error().first, outcome.error().second);
  }

  void snapshot(std::string& out) const override {
    tnet::Encoder encoder(out);
    encoder.begin_dict();
    encoder.key("format");
    encoder.integer(kSnapshotFormat);
    encoder.key("entries");
    encoder.begin_dict();
    for (const auto& [key, entry] : entries_) {
      encoder.key(key);
      encoder.begin_dict();
      encoder.key("value");
      encoder.bytes(entry.value);
      encoder.key("version");
      encoder.integer(entry.version);
      encoder.end_dict();
    }
    encoder.end_dict();
    encoder.end_dict();
  }

  Result<void, std::string> restore(std::string_view snapshot) override {
    auto decoded = tnet::decode(snapshot, app::kSnapshotLimits);
    if (!decoded) return fail(fmt::format("catalog snapshot: {}", decoded.error().message()));
    tnet::FieldReader fields(*decoded, "catalog snapshot");
    const std::int64_t format = fields.integer("format");
    const tnet::Value entries = fields.dict("entries");
    if (!fields.ok()) return fail(fields.error());
    if (format != kSnapshotFormat || decoded->size() != 2) {
      return fail(fmt::format("catalog snapshot: unsupported format {}", format));
    }
    std::map<std::string, Entry, std::less<>> restored;
    for (const tnet::Entry item : entries.entries()) {
      if (auto valid = app::check_name("catalog snapshot: key", item.key); !valid) {
        return fail(valid.error());
      }
      tnet::FieldReader entry(item.value, "catalog snapshot: entry");
      const std::string_view value = entry.bytes("value");
      const std::int64_t version = entry.integer("version");
      if (!entry.ok()) return fail(entry.error());
      if (item.value.size() != 2 || version < 1 || value.size() > app::kValueBytesMax) {
        return fail(fmt::format("catalog snapshot: entry '{}' is malformed", item.key));
      }
      restored.emplace(item.key, Entry{std::string(value), version});
    }
    entries_ = std::move(restored);
    return {};
  }

 private:
  Result<void, Refusal> dispatch(app::OperationReader& op, std::string& reply) {
    const std::string_view verb = op.verb();
    if (verb == "put") return on_put(op, reply);
    if (verb == "get") return on_get(op, reply);
    if (verb == "delete") return on_delete(op, reply);
    if (verb == "list") return on_list(op, reply);
    return invalid(fmt::format("catalog: unknown operation '{}'", verb));
  }

  // The checks every keyed handler starts with: well-formed fields and a valid key.
  static Result<void, Refusal> check_key(const app::OperationReader& op, std::string_view key) {
    if (auto finished = op.finish(); !finished) return invalid(finished.error());
    if (auto valid = app::check_name("key", key); !valid) return invalid(valid.error());
    return {};
  }

  Result<void, Refusal> on_put(app::OperationReader& op, std::string& reply) {
    const std::string_view key = op.bytes("key");
    const std::string_view value = op.bytes("value");
    const auto if_version = op.optional_integer("if_version");
    if (auto valid = check_key(op, key); !valid) return valid;
    if (auto valid = check_if_version(if_version); !valid) return valid;
    if (value.size() > app::kValueBytesMax) {
      return invalid(fmt::format("value is {} bytes, more than the limit of {}", value.size(),
                                 app::kValueBytesMax));
    }
    const auto found = entries_.find(key);
    const std::int64_t current = found == entries_.end() ? 0 : found->second.version;
    if (if_version && *if_version != current) {
      return fail(Refusal{ErrorCode::version_conflict, conflict(key, *if_version, current)});
    }
    if (current == std::numeric_limits<std::int64_t>::max()) {
      return fail(
          Refusal{ErrorCode::overflow, fmt::format("key '{}' is at the last version", key)});
    }
    const std::int64_t version = current + 1;
    if (found == entries_.end()) {
      entries_.emplace(std::string(key), Entry{std::string(value), version});
    } else {
      found->second = Entry{std::string(value), version};
    }
    write_key_version(reply, key, version);
    return {};
  }

  Result<void, Refusal> on_get(app::OperationReader& op, std::string& reply) const {
    const std::string_view key = op.bytes("key");
    if (auto valid = check_key(op, key); !valid) return valid;
    const auto found = entries_.find(key);
    if (found == entries_.end()) return not_found(key);
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("key");
      e.bytes(key);
      e.key("value");
      e.bytes(found->second.value);
      e.key("version");
      e.integer(found->second.version);
    });
    return {};
  }

  Result<void, Refusal> on_delete(app::OperationReader& op, std::string& reply) {
    const std::string_view key = op.bytes("key");
    const auto if_version = op.optional_integer("if_version");
    if (auto valid = check_key(op, key); !valid) return valid;
    if (auto valid = check_if_version(if_version); !valid) return valid;
    const auto found = entries_.find(key);
    if (found == entries_.end()) return not_found(key);
    const std::int64_t version = found->second.version;
    if (if_version && *if_version != version) {
      return fail(Refusal{ErrorCode::version_conflict, conflict(key, *if_version, version)});
    }
    entries_.erase(found);
    write_key_version(reply, key, version);
    return {};
  }

  Result<void, Refusal> on_list(app::OperationReader& op, std::string& reply) const {
    const std::string_view prefix = op.optional_bytes("prefix").value_or("");
    const auto limit = op.optional_integer("limit");
    if (auto finished = op.finish(); !finished) return invalid(finished.error());
    if (prefix.size() > app::kKeyBytesMax) {
      return invalid(fmt::format("prefix is longer than {} bytes", app::kKeyBytesMax));
    }
    const auto max_entries = static_cast<std::int64_t>(app::kListEntriesMax);
    if (limit && (*limit < 1 || *limit > max_entries)) {
      return invalid(fmt::format("limit must be in 1..{}, got {}", max_entries, *limit));
    }
    const auto wanted = static_cast<std::size_t>(limit.value_or(max_entries));
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("entries");
      e.begin_list();
      std::size_t listed = 0;
      auto it = entries_.lower_bound(prefix);
      for (; it != entries_.end() && it->first.starts_with(prefix) && listed < wanted; ++it) {
        e.begin_dict();
        e.key("key");
        e.bytes(it->first);
        e.key("version");
        e.integer(it->second.version);
        e.end_dict();
        ++listed;
      }
      e.end_list();
      if (it != entries_.end() && it->first.starts_with(prefix)) {
        e.key("truncated");
        e.boolean(true);
      }
    });
    return {};
  }

  static void write_key_version(std::string& reply, std::string_view key, std::int64_t version) {
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("key");
      e.bytes(key);
      e.key("version");
      e.integer(version);
    });
  }

  static Result<void, Refusal> not_found(std::string_view key) {
    return fail(Refusal{ErrorCode::not_found, fmt::format("key '{}' does not exist", key)});
  }

  static std::string conflict(std::string_view key, std::int64_t expected, std::int64_t current) {
    if (current == 0) {
      return fmt::format("key '{}' does not exist (expected version {})", key, expected);
    }
    return fmt::format("key '{}' is at version {}, not {}", key, current, expected);
  }

  // key -> value and version. Changed by put and delete, replaced by restore.
  std::map<std::string, Entry, std::less<>> entries_;
};

const app::CommandInfo kCommands[] = {
    {"put", "KEY VALUE [--if-version V]", "stores VALUE; prints the new version"},
    {"get", "KEY", "prints KEY's value"},
    {"delete", "KEY [--if-version V]", "removes KEY; prints the deleted version"},
    {"list", "[PREFIX] [--limit N]", "prints keys with versions, sorted"},
};

}  // namespace

app::AppDescriptor descriptor() {
  return app::AppDescriptor{
      .name = kAppName,
      .summary = "versioned key-value map with compare-and-set: put, get, delete, list",
      .factory = []() -> std::unique_ptr<app::StateMachine> { return std::make_unique<Catalog>(); },
      .commands = kCommands,
  };
}

}  // namespace vsr::apps::catalog
