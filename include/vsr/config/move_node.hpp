#pragma once
// `vsr move-node` as a library call: gives one node a new address in cluster.tnet and
// client.tnet, with the config version bumped. Only the files change; what the operator
// must restart, and why, is in docs/vsr/static_membership.md ("move-node").

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"
#include "vsr/config/cluster_config.hpp"

namespace vsr::config {

/// What move_node() changed.
struct MoveOutcome {
  ClusterPaths paths;
  ClusterConfig cluster;  ///< the config as written (new address, new version)
  std::size_t replica = 0;
  NodeAddress old_address;
  NodeAddress new_address;
  std::uint64_t old_version = 0;  ///< the higher of the two files' versions before
  std::uint64_t new_version = 0;  ///< old_version + 1, in both files
};

/// Returns true iff `a` and `b` surely name the same endpoint: the same port, and hosts
/// equal ignoring case, or equal IPv6 addresses in any spelling. (Different hostnames that
/// resolve to the same machine are not detected: that would need DNS.)
bool same_endpoint(const NodeAddress& a, const NodeAddress& b);

/// Moves node `name` of the cluster in `cluster_dir` to `address` ("HOST:PORT" or
/// "[IPV6]:PORT"): loads both files, checks that they belong to the same cluster, and
/// writes client.tnet, then cluster.tnet (each atomically, mode 0600) with the node's new
/// address and config_version = max(both versions) + 1. Nothing else changes: node order
/// (so replica indexes), keys, tuning, timeouts.
/// Fails with `invalid`, changing nothing, when the node is unknown, the address does not
/// parse, another node uses it, or the node is already at it; `missing` when a file is
/// absent; `environment` when the OS refuses. A crash between the two writes leaves
/// client.tnet ahead; running the same command again completes the move.
Result<MoveOutcome, Error> move_node(const std::filesystem::path& cluster_dir,
                                     std::string_view name, std::string_view address);

}  // namespace vsr::config
