// The mapping from cluster.tnet to the core's options and the runtime's keys.

#include "vsr/node/settings.hpp"

#include <algorithm>
#include <cstring>

#include "vsr/config/limits.hpp"
#include "vsr/core/message.hpp"
#include "vsr/net/stream.hpp"

namespace vsr::node {
namespace {

std::uint32_t ticks(std::uint32_t ms) {
  const auto tick_ms = static_cast<std::uint32_t>(tick_duration.count());
  return std::max<std::uint32_t>(1, ms / tick_ms);
}

template <std::size_t N>
net::Key key_of(const std::array<std::uint8_t, N>& bytes) {
  static_assert(N == net::key_size);
  net::Key key;
  std::memcpy(key.bytes.data(), bytes.data(), N);
  return key;
}

// A config that validates must be one the core can run (else a replica would abort at
// start-up): the node limit is the core's replica limit.
static_assert(config::limits::node_count_max == core::Options::max_replicas);

}  // namespace

std::uint64_t core_cluster_id(const config::ClusterId& id) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | id.bytes[static_cast<std::size_t>(i)];
  // The wire carries it as a non-negative int64.
  return value & 0x7fff'ffff'ffff'ffffULL;
}

core::Options core_options(const config::ClusterConfig& cluster) {
  core::Options o;
  o.cluster_id = core_cluster_id(cluster.cluster_id);
  o.replica_count = static_cast<std::uint32_t>(cluster.nodes.size());
  o.max_batch_size = cluster.tuning.max_batch_size;
  // A delay shorter than a tick means "do not wait": the pipeline batches by itself.
  o.max_batch_delay_ticks =
      cluster.tuning.max_batch_delay_ms / static_cast<std::uint32_t>(tick_duration.count());
  o.max_pipeline_depth = cluster.tuning.max_pipeline_depth;
  o.checkpoint_interval = cluster.tuning.checkpoint_interval;
  o.client_table_size = RuntimeLimits::client_table_size;
  // Each client has one request outstanding: a queue as long as the session table never
  // drops a request for lack of room while a prepare is in flight (adaptive batching).
  o.max_request_queue = RuntimeLimits::client_table_size;
  const std::uint32_t heartbeat = ticks(cluster.timeouts.heartbeat_ms);
  const std::uint32_t view_change = ticks(cluster.timeouts.view_change_timeout_ms);
  o.commit_heartbeat_ticks = heartbeat;
  o.prepare_retry_ticks = std::max<std::uint32_t>(2, heartbeat);
  o.primary_timeout_ticks = view_change;
  o.view_change_timeout_ticks = view_change;
  o.timeout_jitter_ticks = std::max<std::uint32_t>(1, view_change / 2);
  o.view_change_resend_ticks = std::max<std::uint32_t>(1, heartbeat);
  o.repair_retry_ticks = std::max<std::uint32_t>(2, heartbeat / 2);
  return o;
}

PeerLinkOptions peer_link_options(const config::ClusterConfig& cluster) {
  PeerLinkOptions o;
  o.cluster_id = core_cluster_id(cluster.cluster_id);
  o.protocol_version = core::protocol_version;
  o.ping_interval = std::chrono::milliseconds(cluster.timeouts.heartbeat_ms);
  o.silence_limit = std::max(RuntimeLimits::peer_silence_min,
                             o.ping_interval * RuntimeLimits::peer_silence_heartbeats);
  o.backoff_min = RuntimeLimits::backoff_min;
  o.backoff_max = RuntimeLimits::backoff_max;
  o.queue_capacity = RuntimeLimits::peer_queue_capacity;
  o.frames_per_write = RuntimeLimits::frames_per_write;
  return o;
}

core::DecodeLimits client_decode_limits(const config::ClientConfig& client) {
  core::Options o;
  o.cluster_id = core_cluster_id(client.cluster_id);
  o.replica_count = static_cast<std::uint32_t>(client.nodes.size());
  return core::decode_limits(o);
}

std::size_t max_frame_bytes() {
  return net::frame_bytes_max(core::Options{}.max_message_bytes);
}

net::Keyring replica_keyring(const config::ClusterConfig& cluster) {
  net::Keyring keys;
  keys.replica = key_of(cluster.replica_key.bytes);
  keys.client = key_of(cluster.client_key.bytes);
  keys.has_replica = true;
  return keys;
}

net::Keyring client_keyring(const config::ClientConfig& client) {
  net::Keyring keys;
  keys.client = key_of(client.client_key.bytes);
  keys.has_replica = false;
  return keys;
}

}  // namespace vsr::node
