#pragma once
// The application interface: a deterministic state machine that the consensus core
// executes committed operations on. Every replica executes the same operations in the
// same order and must reach byte-identical state, so an implementation reads no clock,
// draws no random number, and never iterates an unordered container into its output.

#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"

namespace vsr::app {

/// What an operation may know besides its own bytes. All of it is decided by the primary
/// and replicated, so every replica sees the same values.
struct Context {
  std::uint64_t op = 0;            ///< the op number of the prepare that carries it
  std::uint64_t timestamp_ms = 0;  ///< the primary's stamp: never goes backwards
  std::string_view client_id;      ///< who sent the request (locks and reservations use it)
};

/// One replicated application. Operations and replies are opaque bytes to the core; the
/// bundled apps encode both as tnetstrings (see vsr/app/reply.hpp).
class StateMachine {
 public:
  virtual ~StateMachine() = default;

  /// The app's registry name, e.g. "bank".
  virtual std::string_view name() const = 0;

  /// Executes one committed operation and appends its reply to `reply`. Deterministic;
  /// malformed operations produce an error reply, never an exception or a crash.
  virtual void execute(const Context& context, std::string_view operation, std::string& reply) = 0;

  /// Appends the whole state to `out`. Equal states give equal bytes on every replica.
  virtual void snapshot(std::string& out) const = 0;

  /// Replaces the state with one produced by snapshot(). On error the state is unchanged.
  virtual Result<void, std::string> restore(std::string_view snapshot) = 0;
};

}  // namespace vsr::app
