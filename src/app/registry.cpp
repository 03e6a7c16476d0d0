// The list of compiled-in apps (vsr/app/registry.hpp). To add an app: one line below,
// one #include, and the app's folder under apps/ (CMake finds it there).

#include "vsr/app/registry.hpp"

#include <algorithm>

#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "inventory/inventory.hpp"
#include "locks/locks.hpp"

namespace vsr::app {
namespace {

std::vector<AppDescriptor> make_registry() {
  std::vector<AppDescriptor> apps = {
      apps::bank::descriptor(),
      apps::catalog::descriptor(),
      apps::inventory::descriptor(),
      apps::locks::descriptor(),
  };
  // Kept sorted so that help text, `--app` defaults and snapshots list apps in one order.
  std::sort(apps.begin(), apps.end(),
            [](const AppDescriptor& a, const AppDescriptor& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < apps.size(); ++i) {
    VSR_ASSERT_MSG(!apps[i].name.empty() && apps[i].factory != nullptr, "incomplete app");
    VSR_ASSERT_MSG(i == 0 || apps[i - 1].name != apps[i].name, "two apps share a name");
  }
  return apps;
}

}  // namespace

const std::vector<AppDescriptor>& registry() {
  static const std::vector<AppDescriptor> apps = make_registry();
  return apps;
}

const AppDescriptor* find_app(std::string_view name) {
  for (const AppDescriptor& app : registry()) {
    if (app.name == name) return &app;
  }
  return nullptr;
}

}  // namespace vsr::app
