// The locks app's client side: operation encoders and reply formatters (they run in the
// CLI and check the shape of every reply they read).

#include <fmt/format.h>

#include "locks/locks.hpp"
#include "vsr/app/operation.hpp"

namespace vsr::apps::locks {
namespace {

// The holder result: owner, token and expires_at_ms are all strings/integers, or all null.
Result<std::string, std::string> human_holder(const tnet::Value& result) {
  tnet::FieldReader fields(result, "locks result");
  fields.bytes("name");
  const auto owner = fields.optional("owner");
  const auto token = fields.optional("token");
  const auto expires = fields.optional("expires_at_ms");
  if (!fields.ok()) return fail(fields.error());
  if (result.size() != 4 || !owner || !token || !expires) {
    return fail(std::string("locks result: expected name, owner, token, expires_at_ms"));
  }
  if (owner->is_null() && token->is_null() && expires->is_null()) return std::string("none");
  if (!owner->is_bytes() || !token->is_integer() || !expires->is_integer()) {
    return fail(std::string("locks result: owner, token or expires_at_ms mistyped"));
  }
  return fmt::format("{} {} {}", owner->bytes(), token->integer(), expires->integer());
}

Result<std::string, std::string> human_result(Command command, const tnet::Value& result) {
  switch (command) {
    case Command::acquire: {
      auto holder = human_holder(result);
      if (!holder) return holder;
      const auto token = result.find("token");
      if (!token->is_integer()) return fail(std::string("locks result: acquire without token"));
      return fmt::format("{}", token->integer());
    }
    case Command::holder:
      return human_holder(result);
    case Command::release: {
      tnet::FieldReader fields(result, "locks result");
      fields.bytes("name");
      const bool released = fields.boolean("released");
      if (!fields.ok()) return fail(fields.error());
      if (!released) return fail(std::string("locks result: released must be true"));
      return std::string("released");
    }
  }
  return fail(std::string("locks: unknown command"));
}

std::string encode_named(std::string_view verb, std::string_view name) {
  app::OperationWriter writer(verb);
  writer.encoder().key("name");
  writer.encoder().bytes(name);
  return std::move(writer).finish();
}

}  // namespace

std::string encode_acquire(std::string_view name, std::int64_t ttl_ms) {
  app::OperationWriter writer("acquire");
  writer.encoder().key("name");
  writer.encoder().bytes(name);
  writer.encoder().key("ttl_ms");
  writer.encoder().integer(ttl_ms);
  return std::move(writer).finish();
}

std::string encode_release(std::string_view name) {
  return encode_named("release", name);
}

std::string encode_holder(std::string_view name) {
  return encode_named("holder", name);
}

Result<app::Json, std::string> format_json(Command command, const app::Reply& reply) {
  return app::format_json_with(reply,
                               [&](const tnet::Value& r) { return human_result(command, r); });
}

Result<std::string, std::string> format_human(Command command, const app::Reply& reply) {
  return app::format_human_with(reply,
                                [&](const tnet::Value& r) { return human_result(command, r); });
}

}  // namespace vsr::apps::locks
