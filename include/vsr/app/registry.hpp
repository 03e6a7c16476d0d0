#pragma once
// The registry of compiled-in apps: the one list that the daemon (which apps a replica
// can serve) and the CLI (which app commands exist) both read. Adding an app is adding a
// folder under apps/ and one line in src/app/registry.cpp (plus its link line in
// src/app/CMakeLists.txt). An explicit list, not static self-registration: registrars in
// static libraries are dropped by the linker when nothing references them.

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "vsr/app/state_machine.hpp"

namespace vsr::app {

/// One client command of an app, for help text: `vsr bank transfer FROM TO AMOUNT`.
struct CommandInfo {
  std::string_view name;     ///< "transfer"
  std::string_view args;     ///< "FROM TO AMOUNT"
  std::string_view summary;  ///< "moves AMOUNT (> 0) from FROM to TO, atomically"
};

/// A compiled-in app.
struct AppDescriptor {
  std::string_view name;     ///< registry name, also the first word of its CLI commands
  std::string_view summary;  ///< one line for `vsr --help`
  /// Makes a fresh instance with empty state. Never null.
  std::unique_ptr<StateMachine> (*factory)() = nullptr;
  std::span<const CommandInfo> commands;  ///< its client commands, in help order
};

/// Every compiled-in app, sorted by name. The same list on every build of one version.
const std::vector<AppDescriptor>& registry();

/// The app registered as `name`, or nullptr.
const AppDescriptor* find_app(std::string_view name);

}  // namespace vsr::app
