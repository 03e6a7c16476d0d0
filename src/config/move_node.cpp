// `vsr move-node`: a node's new address in both config files.
//
// Why client.tnet first: cluster.tnet is the file whose address check ("already at")
// decides whether the command has work to do. Written second, a crash between the two
// writes leaves cluster.tnet with the old address, so running the command again is not
// refused and rewrites both; written first, the rerun would say "already at" and leave
// client.tnet stale. The version is max(both) + 1 for the same reason: after such a crash
// the rerun still moves both files past every version either of them has carried.

#include "vsr/config/move_node.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace vsr::config {
namespace {

// The host in the spelling that makes equal endpoints compare equal: IPv6 in canonical
// text, everything else lowercase (hostnames are case-insensitive).
std::string host_identity(const std::string& host) {
  in6_addr address{};
  if (::inet_pton(AF_INET6, host.c_str(), &address) == 1) {
    char text[INET6_ADDRSTRLEN] = {};
    if (::inet_ntop(AF_INET6, &address, text, sizeof(text)) != nullptr) return std::string(text);
  }
  std::string lower = host;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string node_names(const ClusterConfig& cluster) {
  std::string names;
  for (const Node& node : cluster.nodes) names += (names.empty() ? "" : ", ") + node.name;
  return names;
}

Error invalid(std::string message) {
  return Error{ErrorKind::invalid, std::move(message)};
}

// The refusal for `address` as the new address of node `index`, if there is one.
std::optional<Error> address_refusal(const ClusterConfig& cluster, std::size_t index,
                                     const NodeAddress& address) {
  const Node& node = cluster.nodes[index];
  if (same_endpoint(node.address, address)) {
    return invalid(fmt::format("node '{}' is already at {}; nothing to change", node.name,
                               node.address.to_string()));
  }
  for (const Node& other : cluster.nodes) {
    if (other.name == node.name || !same_endpoint(other.address, address)) continue;
    return invalid(fmt::format("address {} is already used by node '{}'; choose another",
                               address.to_string(), other.name));
  }
  return std::nullopt;
}

}  // namespace

bool same_endpoint(const NodeAddress& a, const NodeAddress& b) {
  return a.port == b.port && host_identity(a.host) == host_identity(b.host);
}

Result<MoveOutcome, Error> move_node(const std::filesystem::path& cluster_dir,
                                     std::string_view name, std::string_view address) {
  MoveOutcome outcome;
  outcome.paths = ClusterPaths{cluster_dir};
  auto cluster = load_cluster(outcome.paths.cluster_file());
  if (!cluster) return fail(std::move(cluster).error());
  auto client = load_client(outcome.paths.client_file());
  if (!client) return fail(std::move(client).error());
  if (client->cluster_id != cluster->cluster_id) {
    return fail(invalid(
        fmt::format("{} belongs to cluster {}, but {} to cluster {}; copy the client.tnet that "
                    "init-cluster wrote with this cluster.tnet (or run init-cluster --force)",
                    outcome.paths.client_file().string(), client->cluster_id.hex(),
                    outcome.paths.cluster_file().string(), cluster->cluster_id.hex())));
  }

  const std::optional<std::size_t> index = cluster->find_node(name);
  if (!index) {
    return fail(invalid(fmt::format("no node '{}' in {} (nodes: {})", name,
                                    outcome.paths.cluster_file().string(), node_names(*cluster))));
  }
  auto parsed = parse_address(address);
  if (!parsed) return fail(invalid(parsed.error()));
  if (auto refusal = address_refusal(*cluster, *index, *parsed)) return fail(std::move(*refusal));

  outcome.replica = *index;
  outcome.old_address = cluster->nodes[*index].address;
  outcome.new_address = *parsed;
  outcome.old_version = std::max(cluster->config_version, client->config_version);
  outcome.new_version = outcome.old_version + 1;
  outcome.cluster = std::move(*cluster);
  outcome.cluster.nodes[*index].address = outcome.new_address;
  outcome.cluster.config_version = outcome.new_version;
  // The refusals above cover what can go wrong; this also catches a version at the limit.
  if (auto valid = validate(outcome.cluster); !valid) return fail(invalid(valid.error()));

  if (auto saved = save_client(outcome.paths.client_file(), client_config_of(outcome.cluster));
      !saved) {
    return fail(saved.error());
  }
  if (auto saved = save_cluster(outcome.paths.cluster_file(), outcome.cluster); !saved) {
    return fail(saved.error());
  }
  return outcome;
}

}  // namespace vsr::config
