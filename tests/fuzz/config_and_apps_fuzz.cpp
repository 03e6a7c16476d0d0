// Fuzz targets for files an operator hands a node, and for what clients send to the apps:
//  - `config_file`: config::decode_cluster and decode_client (cluster.tnet, client.tnet).
//    A file that decodes and validates encodes to one that decodes to the same encoding.
//  - `app_operation`: the composite of every compiled-in app executing the input as one
//    operation, then the input as a list of operations (a tnetstring list of byte
//    strings), on a fresh state. Each reply is an app reply (vsr/app/reply.hpp), and the
//    state survives a snapshot and restore with the same digest.

#include <memory>
#include <string>
#include <string_view>

#include "targets.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/config/cluster_config.hpp"

namespace vsr::fuzz {

int config_file(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = as_text(data, size);
  if (auto cluster = config::decode_cluster(input); cluster && config::validate(*cluster)) {
    const std::string first = config::encode_cluster(*cluster);
    auto again = config::decode_cluster(first);
    FUZZ_CHECK("config_file", again.ok() && config::encode_cluster(*again) == first);
  }
  if (auto client = config::decode_client(input); client && config::validate(*client)) {
    const std::string first = config::encode_client(*client);
    auto again = config::decode_client(first);
    FUZZ_CHECK("config_file", again.ok() && config::encode_client(*again) == first);
  }
  return 0;
}

namespace {

void execute_checked(app::Composite& apps, std::uint64_t op, std::string_view operation) {
  std::string reply;
  apps.execute(app::Context{op, 1000 + op, "fuzz-client"}, operation, reply);
  FUZZ_CHECK("app_operation", app::parse_reply(reply).ok());
}

std::unique_ptr<app::Composite> every_app() {
  auto made = app::Composite::make({});
  FUZZ_CHECK("app_operation", made.ok());
  return std::move(*made);
}

}  // namespace

int app_operation(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = as_text(data, size);
  std::unique_ptr<app::Composite> apps = every_app();
  execute_checked(*apps, 1, input);
  tnet::Limits limits;
  limits.max_size = 1 << 16;
  limits.max_elements = 256;
  limits.max_depth = 4;
  if (auto list = tnet::decode(input, limits); list && list->is_list()) {
    std::uint64_t op = 2;
    for (tnet::Value item : list->items()) {
      if (item.is_bytes()) execute_checked(*apps, op++, item.bytes());
    }
  }
  std::string snapshot;
  apps->snapshot(snapshot);
  std::unique_ptr<app::Composite> restored = every_app();
  FUZZ_CHECK("app_operation", restored->restore(snapshot).ok());
  FUZZ_CHECK("app_operation", restored->state_digest() == apps->state_digest());
  return 0;
}

}  // namespace vsr::fuzz
