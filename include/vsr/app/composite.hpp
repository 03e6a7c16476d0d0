#pragma once
// The composite state machine: what a replica actually executes. It serves a set of apps
// (every registered app by default, or the `--app` subset) and routes each operation by
// app name. Its operation is the tnetstring list
//
//   [APP_NAME ",", APP_OPERATION ","]       e.g.  26:4:bank,16:...the bank op...,]
//
// where APP_OPERATION is the app's own operation bytes, opaque here. The reply is the
// app's reply unchanged, or an unknown_app / invalid_request reply made here. Its
// snapshot holds every served app's snapshot, sorted by name (docs/vsr/apps.md).

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vsr/app/registry.hpp"
#include "vsr/app/state_machine.hpp"
#include "vsr/base/result.hpp"

namespace vsr::app {

/// Wraps an app operation for the composite: [app_name, operation].
std::string encode_composite_operation(std::string_view app_name, std::string_view operation);

/// A composite operation taken apart: views into its bytes.
struct CompositeOperation {
  std::string_view app_name;
  std::string_view operation;
};

/// Splits a composite operation. Err: why it is malformed.
Result<CompositeOperation, std::string> decode_composite_operation(std::string_view bytes);

/// Serves several apps as one StateMachine. Not thread-safe (the replica owns it).
class Composite final : public StateMachine {
 public:
  /// Serves the registered apps named in `app_names` (duplicates are ignored), or every
  /// registered app when `app_names` is empty. Err: "unknown app 'x' (known: bank, ...)".
  static Result<std::unique_ptr<Composite>, std::string> make(
      std::span<const std::string> app_names);

  /// Serves exactly `apps` (for tests and custom builds). REQUIRES: distinct non-empty
  /// names, non-null factories; the descriptors' strings outlive the composite.
  explicit Composite(std::span<const AppDescriptor> apps);

  std::string_view name() const override { return "composite"; }
  void execute(const Context& context, std::string_view operation, std::string& reply) override;
  void snapshot(std::string& out) const override;
  /// Restores every served app from a composite snapshot. Err (and state unchanged) when
  /// the snapshot is malformed, serves a different set of apps, or an app refuses its part.
  Result<void, std::string> restore(std::string_view snapshot) override;

  /// The served app names, sorted. Replicas of one cluster must serve the same set.
  std::vector<std::string_view> served_apps() const;

  /// XXH3-128 of snapshot(), as 32 lowercase hex digits: equal on replicas whose states
  /// are equal (the `state_digest` of `vsr status`).
  std::string state_digest() const;

 private:
  struct Served {
    AppDescriptor descriptor;
    std::unique_ptr<StateMachine> machine;
  };

  // Sorted by name: the order of dispatch lookups and of the snapshot. Set once by the
  // constructor; restore() replaces the machines, never the set.
  std::map<std::string, Served, std::less<>> apps_;
};

}  // namespace vsr::app
