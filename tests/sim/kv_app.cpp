// The simulator's KV app (see kv_app.hpp).

#include "kv_app.hpp"

#include <fmt/format.h>

#include <charconv>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::sim {

std::string kv_execute(std::map<std::string, std::int64_t>& state, const app::Context& context,
                       std::string_view operation) {
  const std::uint64_t op = context.op;
  auto space = operation.find(' ');
  std::string_view verb = operation.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? "" : operation.substr(space + 1);
  if (verb == "get") return fmt::format("{}={}", rest, state[std::string(rest)]);
  if (verb == "stamp") {
    std::int64_t& value = state[std::string(rest)];
    value = static_cast<std::int64_t>(context.timestamp_ms);
    return fmt::format("{}={}@{}", rest, value, op);
  }
  if (verb == "add") {
    auto split = rest.find(' ');
    if (split == std::string_view::npos) return "error: malformed";
    std::string key(rest.substr(0, split));
    std::string_view number = rest.substr(split + 1);
    std::int64_t delta = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), delta);
    if (ec != std::errc() || ptr != number.data() + number.size()) return "error: malformed";
    std::int64_t& value = state[key];
    value += delta;
    return fmt::format("{}={}@{}", key, value, op);
  }
  return "error: unknown";
}

void KvApp::execute(const app::Context& context, std::string_view operation, std::string& reply) {
  reply += kv_execute(state_, context, operation);
}

void KvApp::snapshot(std::string& out) const {
  tnet::Encoder e(out);
  e.begin_list();
  for (const auto& [key, value] : state_) {
    e.bytes(key);
    e.integer(value);
  }
  e.end_list();
}

Result<void, std::string> KvApp::restore(std::string_view snapshot) {
  auto value = tnet::decode(snapshot);
  if (!value || !value->is_list() || value->size() % 2 != 0) {
    return fail(std::string("kv snapshot: malformed"));
  }
  std::map<std::string, std::int64_t> state;
  std::string key;
  bool expect_key = true;
  for (tnet::Value item : value->items()) {
    if (expect_key) {
      if (!item.is_bytes()) return fail(std::string("kv snapshot: malformed"));
      key = std::string(item.bytes());
    } else {
      if (!item.is_integer()) return fail(std::string("kv snapshot: malformed"));
      state[key] = item.integer();
    }
    expect_key = !expect_key;
  }
  state_ = std::move(state);
  return {};
}

}  // namespace vsr::sim
