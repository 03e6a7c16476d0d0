#pragma once
// The simulator's own deterministic state machine: a tiny key-value store of signed
// counters. Operations: "add KEY DELTA" (reply "KEY=VALUE@OP"), "get KEY" (reply
// "KEY=VALUE") and "stamp KEY", which stores the prepare's timestamp (the primary's clock,
// Context::timestamp_ms) under KEY (reply "KEY=STAMP@OP"), so that the replicas' states and
// the replies show which time each replica executed with. Small on purpose: the checkers
// replay it as a model of the app.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "vsr/app/state_machine.hpp"

namespace vsr::sim {

/// Executes one KV operation against `state`; shared by the app and the checker's model
/// so that the model is the specification the replicas are checked against.
std::string kv_execute(std::map<std::string, std::int64_t>& state, const app::Context& context,
                       std::string_view operation);

class KvApp final : public app::StateMachine {
 public:
  std::string_view name() const override { return "kv"; }
  void execute(const app::Context& context, std::string_view operation,
               std::string& reply) override;
  void snapshot(std::string& out) const override;
  Result<void, std::string> restore(std::string_view snapshot) override;

  const std::map<std::string, std::int64_t>& state() const { return state_; }

 private:
  std::map<std::string, std::int64_t> state_;
};

}  // namespace vsr::sim
