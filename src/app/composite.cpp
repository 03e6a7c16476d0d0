// The composite state machine (vsr/app/composite.hpp): one StateMachine that routes each
// committed operation to the app it names. Replicas of a cluster must serve the same set
// of apps; served_apps() and the snapshot's app list are how a mismatch is detected.

#include "vsr/app/composite.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <xxhash.h>

#include "vsr/app/limits.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app {
namespace {

// Snapshot layout version: bump it when the layout changes, so an old node refuses a new
// snapshot instead of misreading it.
constexpr std::int64_t kSnapshotFormat = 1;
constexpr std::size_t kAppNameBytesMax = 64;

constexpr tnet::Limits kCompositeOperationLimits{
    .max_size = kOperationLimits.max_size + 128, .max_elements = 2, .max_depth = 1};
// The composite snapshot nests each app's snapshot as bytes: shallow, a few entries.
constexpr tnet::Limits kCompositeSnapshotLimits{
    .max_size = kSnapshotLimits.max_size, .max_elements = 1024, .max_depth = 2};

std::string join_names(const std::vector<std::string_view>& names) {
  return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::string encode_composite_operation(std::string_view app_name, std::string_view operation) {
  std::string out;
  out.reserve(operation.size() + app_name.size() + 32);
  tnet::Encoder encoder(out);
  encoder.begin_list();
  encoder.bytes(app_name);
  encoder.bytes(operation);
  encoder.end_list();
  return out;
}

Result<CompositeOperation, std::string> decode_composite_operation(std::string_view bytes) {
  auto decoded = tnet::decode(bytes, kCompositeOperationLimits);
  if (!decoded) {
    return fail(fmt::format("operation is not a valid tnetstring ({})", decoded.error().message()));
  }
  if (!decoded->is_list() || decoded->size() != 2) {
    return fail(std::string("operation must be the list [app_name, app_operation]"));
  }
  auto item = decoded->items().begin();
  const tnet::Value app_name = *item;
  const tnet::Value operation = *++item;
  if (!app_name.is_bytes() || !operation.is_bytes()) {
    return fail(std::string("operation must be the list [app_name, app_operation] of strings"));
  }
  if (app_name.bytes().size() > kAppNameBytesMax) {
    return fail(fmt::format("app name is longer than {} bytes", kAppNameBytesMax));
  }
  if (auto valid = check_name("app name", app_name.bytes()); !valid) return fail(valid.error());
  return CompositeOperation{app_name.bytes(), operation.bytes()};
}

Result<std::unique_ptr<Composite>, std::string> Composite::make(
    std::span<const std::string> app_names) {
  if (app_names.empty()) return std::make_unique<Composite>(registry());
  std::vector<AppDescriptor> chosen;
  for (const std::string& name : app_names) {
    const AppDescriptor* app = find_app(name);
    if (app == nullptr) {
      std::vector<std::string_view> known;
      for (const AppDescriptor& d : registry()) known.push_back(d.name);
      return fail(fmt::format("unknown app '{}' (known: {})", name, join_names(known)));
    }
    const bool seen = std::any_of(chosen.begin(), chosen.end(),
                                  [&](const AppDescriptor& d) { return d.name == name; });
    if (!seen) chosen.push_back(*app);
  }
  return std::make_unique<Composite>(chosen);
}

Composite::Composite(std::span<const AppDescriptor> apps) {
  for (const AppDescriptor& app : apps) {
    VSR_ASSERT_MSG(!app.name.empty() && app.factory != nullptr, "incomplete app descriptor");
    auto machine = app.factory();
    VSR_ASSERT_MSG(machine != nullptr, "an app factory returned null");
    const bool inserted =
        apps_.emplace(std::string(app.name), Served{app, std::move(machine)}).second;
    VSR_ASSERT_MSG(inserted, "two served apps share a name");
  }
}

void Composite::execute(const Context& context, std::string_view operation, std::string& reply) {
  auto parsed = decode_composite_operation(operation);
  if (!parsed) {
    encode_error(reply, ErrorCode::invalid_request, parsed.error());
    return;
  }
  const auto app = apps_.find(parsed->app_name);
  if (app == apps_.end()) {
    encode_error(reply, ErrorCode::unknown_app,
                 fmt::format("this cluster does not serve app '{}' (served: {})", parsed->app_name,
                             join_names(served_apps())));
    return;
  }
  app->second.machine->execute(context, parsed->operation, reply);
}

void Composite::snapshot(std::string& out) const {
  tnet::Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("format");
  encoder.integer(kSnapshotFormat);
  encoder.key("apps");
  encoder.begin_dict();
  std::string part;
  for (const auto& [name, served] : apps_) {  // std::map: sorted by name
    part.clear();
    served.machine->snapshot(part);
    encoder.key(name);
    encoder.bytes(part);
  }
  encoder.end_dict();
  encoder.end_dict();
  VSR_ASSERT(encoder.complete());
}

Result<void, std::string> Composite::restore(std::string_view snapshot) {
  auto decoded = tnet::decode(snapshot, kCompositeSnapshotLimits);
  if (!decoded) return fail(fmt::format("app snapshot: {}", decoded.error().message()));
  tnet::FieldReader fields(*decoded, "app snapshot");
  const std::int64_t format = fields.integer("format");
  const tnet::Value parts = fields.dict("apps");
  if (!fields.ok()) return fail(fields.error());
  if (format != kSnapshotFormat) {
    return fail(
        fmt::format("app snapshot: format {} is not the supported {}", format, kSnapshotFormat));
  }
  if (decoded->size() != 2) return fail(std::string("app snapshot: unexpected fields"));

  std::vector<std::string_view> snapshot_apps;
  for (const tnet::Entry entry : parts.entries()) snapshot_apps.push_back(entry.key);
  std::sort(snapshot_apps.begin(), snapshot_apps.end());
  if (snapshot_apps != served_apps()) {
    return fail(fmt::format("app snapshot holds apps [{}] but this node serves [{}]",
                            join_names(snapshot_apps), join_names(served_apps())));
  }

  // Restore into fresh instances first and swap only when every app accepted its part,
  // so that a bad snapshot leaves the whole composite unchanged.
  std::map<std::string_view, std::unique_ptr<StateMachine>> fresh;
  for (const tnet::Entry entry : parts.entries()) {
    if (!entry.value.is_bytes()) {
      return fail(fmt::format("app snapshot: part '{}' must be bytes", entry.key));
    }
    const Served& served = apps_.find(entry.key)->second;
    auto machine = served.descriptor.factory();
    VSR_ASSERT(machine != nullptr);
    if (auto restored = machine->restore(entry.value.bytes()); !restored) {
      return fail(fmt::format("app snapshot: app '{}': {}", entry.key, restored.error()));
    }
    fresh.emplace(entry.key, std::move(machine));
  }
  for (auto& [name, served] : apps_) served.machine = std::move(fresh.at(name));
  return {};
}

std::vector<std::string_view> Composite::served_apps() const {
  std::vector<std::string_view> names;
  names.reserve(apps_.size());
  for (const auto& entry : apps_) names.push_back(entry.first);
  return names;
}

std::string Composite::state_digest() const {
  std::string bytes;
  snapshot(bytes);
  const XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);  // big-endian: high 64 bits first
  std::string hex;
  hex.reserve(2 * sizeof(canonical.digest));
  for (const unsigned char byte : canonical.digest)
    fmt::format_to(std::back_inserter(hex), "{:02x}", byte);
  return hex;
}

}  // namespace vsr::app
