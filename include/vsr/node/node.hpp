#pragma once
// The daemon: one replica process (`vsr start-node NAME`).
//
// Shape (docs/vsr/architecture.md, "The runtime"): one io_context thread runs every coroutine, so
// it is the replica actor's strand; the actor owns the core (Replica) and the app, and is the only
// code that touches them. Inbound TCP sessions (a reader() and a writer() coroutine each) and one
// outbound worker per peer talk to the actor only through bounded channels. A steady timer ticks
// the core every tick_duration. Storage effects go, in order, to a disk thread
// (storage::ReplicaDisk) that group-commits whatever is pending when it wakes and posts the highest
// durable write id back to the actor, so a slow fsync never stalls the network. A signal_set
// (SIGINT, SIGTERM) stops the io_context; the disk thread then finishes what it was given, files
// are closed, and run_node() returns.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/config/cluster_config.hpp"

namespace vsr::node {

/// What start-node runs.
struct NodeSpec {
  config::ClusterConfig cluster;
  std::size_t replica = 0;            ///< index of the node in cluster.nodes
  std::filesystem::path cluster_dir;  ///< its nodes/NAME lives below
  std::vector<std::string> apps;      ///< --app (empty: every bundled app)
};

/// Why a node stopped with an error.
struct NodeError {
  enum class Kind : std::uint8_t {
    usage,        ///< bad apps, bad config (exit 2)
    environment,  ///< storage, lock, bind failures (exit 4)
  };
  Kind kind = Kind::environment;
  std::string message;
};

/// Runs the replica until SIGINT/SIGTERM (ok) or a fatal error.
Result<void, NodeError> run_node(const NodeSpec& spec);

}  // namespace vsr::node
