#pragma once
// Helpers shared by the app unit tests: run one operation and see its reply as JSON, so
// that expectations read like product.md's result objects.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "vsr/app/registry.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/app/state_machine.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app::test {

/// A state machine from the registry entry of app `name`.
inline std::unique_ptr<StateMachine> make_app(std::string_view name) {
  const AppDescriptor* app = find_app(name);
  if (app == nullptr) {
    ADD_FAILURE() << "no app " << name;
    return nullptr;
  }
  return app->factory();
}

/// Executes `operation` and returns the reply as JSON: {"ok":true,"result":{...}} or
/// {"ok":false,"error":CODE,"message":TEXT}; null when the reply is not a valid reply.
inline Json run(StateMachine& machine, std::string_view operation, const Context& context) {
  std::string bytes = "prefix";  // execute() appends: what was there must stay
  machine.execute(context, operation, bytes);
  EXPECT_EQ(bytes.substr(0, 6), "prefix");
  auto reply = parse_reply(std::string_view(bytes).substr(6));
  if (!reply) {
    ADD_FAILURE() << "malformed reply: " << reply.error();
    return nullptr;
  }
  if (!reply->ok) {
    EXPECT_FALSE(reply->message.empty()) << "a refusal should explain itself";
    EXPECT_TRUE(parse_error_code(reply->error).has_value()) << reply->error;
    return error_json(*reply);
  }
  return Json{{"ok", true}, {"result", to_json(reply->result)}};
}

/// A field of a hand-made operation: a string or an integer.
using RawField = std::pair<std::string_view, std::variant<std::string_view, std::int64_t>>;

/// A dict operation with exactly `fields`, for malformed operations the encoders never make.
inline std::string raw_op(std::initializer_list<RawField> fields) {
  std::string out;
  tnet::Encoder encoder(out);
  encoder.begin_dict();
  for (const auto& [key, value] : fields) {
    encoder.key(key);
    if (const auto* text = std::get_if<std::string_view>(&value)) {
      encoder.bytes(*text);
    } else {
      encoder.integer(std::get<std::int64_t>(value));
    }
  }
  encoder.end_dict();
  return out;
}

/// The whole state of `machine`.
inline std::string snapshot_of(const StateMachine& machine) {
  std::string out;
  machine.snapshot(out);
  return out;
}

/// The error code of a refusal, or "" for a success.
inline std::string error_of(const Json& reply) {
  return reply.value("ok", false) ? std::string() : reply.value("error", std::string("?"));
}

/// A fixture for one app: `run(op)` with a settable context.
class AppTest : public ::testing::Test {
 protected:
  explicit AppTest(std::string_view app_name) : machine_(make_app(app_name)) {}

  Json run(std::string_view operation) { return test::run(*machine_, operation, context_); }

  /// Runs an operation that must be refused with `code` and must not change the state.
  void expect_refused(std::string_view operation, std::string_view code) {
    const std::string before = snapshot_of(*machine_);
    const Json reply = run(operation);
    EXPECT_EQ(error_of(reply), code) << dump_json(reply);
    EXPECT_EQ(snapshot_of(*machine_), before) << "a refused operation changed the state";
  }

  std::unique_ptr<StateMachine> machine_;
  Context context_{.op = 1, .timestamp_ms = 1'000'000, .client_id = "client-a"};
};

}  // namespace vsr::app::test
