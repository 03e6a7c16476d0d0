// The catalog's client side: operation encoders and reply formatters (they run in the
// CLI and check the shape of every reply they read).

#include <fmt/format.h>

#include "catalog/catalog.hpp"
#include "vsr/app/operation.hpp"

namespace vsr::apps::catalog {
namespace {

struct KeyVersion {
  std::string_view key;
  std::int64_t version = 0;
};

Result<KeyVersion, std::string> read_key_version(const tnet::Value& value) {
  tnet::FieldReader fields(value, "catalog result");
  KeyVersion out;
  out.key = fields.bytes("key");
  out.version = fields.integer("version");
  if (!fields.ok()) return fail(fields.error());
  if (value.size() != 2) return fail(std::string("catalog result: unexpected fields"));
  return out;
}

Result<std::string, std::string> human_result(Command command, const tnet::Value& result) {
  tnet::FieldReader fields(result, "catalog result");
  switch (command) {
    case Command::put:
    case Command::remove: {
      auto entry = read_key_version(result);
      if (!entry) return fail(entry.error());
      return fmt::format("{}", entry->version);
    }
    case Command::get: {
      fields.bytes("key");
      const std::string_view value = fields.bytes("value");
      fields.integer("version");
      if (!fields.ok()) return fail(fields.error());
      return std::string(value);
    }
    case Command::list: {
      const tnet::Value entries = fields.list("entries");
      const auto truncated = fields.optional("truncated");
      if (!fields.ok()) return fail(fields.error());
      if (truncated && !truncated->is_boolean()) {
        return fail(std::string("catalog result: field 'truncated' must be a boolean"));
      }
      std::string text;
      for (const tnet::Value item : entries.items()) {
        auto entry = read_key_version(item);
        if (!entry) return fail(entry.error());
        if (!text.empty()) text += '\n';
        fmt::format_to(std::back_inserter(text), "{} {}", entry->key, entry->version);
      }
      return text;
    }
  }
  return fail(std::string("catalog: unknown command"));
}

void write_if_version(app::OperationWriter& writer, std::optional<std::int64_t> if_version) {
  if (!if_version) return;
  writer.encoder().key("if_version");
  writer.encoder().integer(*if_version);
}

}  // namespace

std::string encode_put(std::string_view key, std::string_view value,
                       std::optional<std::int64_t> if_version) {
  app::OperationWriter writer("put");
  writer.encoder().key("key");
  writer.encoder().bytes(key);
  writer.encoder().key("value");
  writer.encoder().bytes(value);
  write_if_version(writer, if_version);
  return std::move(writer).finish();
}

std::string encode_get(std::string_view key) {
  app::OperationWriter writer("get");
  writer.encoder().key("key");
  writer.encoder().bytes(key);
  return std::move(writer).finish();
}

std::string encode_delete(std::string_view key, std::optional<std::int64_t> if_version) {
  app::OperationWriter writer("delete");
  writer.encoder().key("key");
  writer.encoder().bytes(key);
  write_if_version(writer, if_version);
  return std::move(writer).finish();
}

std::string encode_list(std::string_view prefix, std::optional<std::int64_t> limit) {
  app::OperationWriter writer("list");
  if (!prefix.empty()) {
    writer.encoder().key("prefix");
    writer.encoder().bytes(prefix);
  }
  if (limit) {
    writer.encoder().key("limit");
    writer.encoder().integer(*limit);
  }
  return std::move(writer).finish();
}

Result<app::Json, std::string> format_json(Command command, const app::Reply& reply) {
  return app::format_json_with(reply,
                               [&](const tnet::Value& r) { return human_result(command, r); });
}

Result<std::string, std::string> format_human(Command command, const app::Reply& reply) {
  return app::format_human_with(reply,
                                [&](const tnet::Value& r) { return human_result(command, r); });
}

}  // namespace vsr::apps::catalog
