#pragma once
// How the runtime turns the cluster configuration into the core's options, keys and
// limits, in one place: the daemon and the client library read the same values.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "vsr/config/cluster_config.hpp"
#include "vsr/core/message.hpp"
#include "vsr/core/options.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/node/peer_link.hpp"

namespace vsr::node {

/// One core tick. The config's timeouts are milliseconds; the core counts ticks.
inline constexpr std::chrono::milliseconds tick_duration{10};

/// Limits of the runtime (docs/vsr/architecture.md: everything that could grow has a limit).
struct RuntimeLimits {
  static constexpr std::size_t inbox_capacity = 4096;          ///< messages to the actor
  static constexpr std::size_t peer_queue_capacity = 4096;     ///< frames per peer link
  static constexpr std::size_t session_queue_capacity = 4096;  ///< frames per inbound session
  static constexpr std::size_t max_client_routes = 65536;      ///< client id -> session
  /// Frames a link's writer takes off its queue for one write (one sendmsg).
  static constexpr std::size_t frames_per_write = 256;
  /// Messages the actor takes from its inbox before it executes their effects (one wake-up
  /// of the disk thread for all of them: group commit).
  static constexpr std::size_t inbox_batch = 256;
  static constexpr std::uint32_t client_table_size = 1024;  ///< the core's sessions
  static constexpr std::chrono::milliseconds backoff_min{50};
  static constexpr std::chrono::milliseconds backoff_max{2000};
  /// A peer link that hears no pong for this many heartbeats reconnects (peer_link.hpp)...
  static constexpr std::uint32_t peer_silence_heartbeats = 20;
  /// ...but never sooner than this, so that a short stall of either process is ridden out.
  static constexpr std::chrono::milliseconds peer_silence_min{1000};
};

/// The core's 64-bit cluster id: the first 8 bytes of the config's id, little-endian.
std::uint64_t core_cluster_id(const config::ClusterId& id);

/// The core's options for `cluster` (timeouts mapped to ticks of tick_duration).
core::Options core_options(const config::ClusterConfig& cluster);

/// How the daemon's links to its peers ping, give up and reconnect (heartbeat_ms sets
/// the pace).
PeerLinkOptions peer_link_options(const config::ClusterConfig& cluster);

/// The decode limits a client uses for replies.
core::DecodeLimits client_decode_limits(const config::ClientConfig& client);

/// The largest frame either side accepts.
std::size_t max_frame_bytes();

net::Keyring replica_keyring(const config::ClusterConfig& cluster);
net::Keyring client_keyring(const config::ClientConfig& client);

}  // namespace vsr::node
