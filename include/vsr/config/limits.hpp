#pragma once
// Every bound on the cluster configuration, in one place: the validator, the file decoder,
// `vsr init-cluster --help` and docs/vsr/config.md all read them from here. A tunable has a
// name (its field in cluster.tnet), an inclusive range and a default.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vsr::config::limits {

/// A number an operator may choose, with the bounds a replica can work with.
struct Tunable {
  std::string_view name;  ///< field name in cluster.tnet / client.tnet
  std::uint32_t min;
  std::uint32_t default_value;
  std::uint32_t max;
  std::string_view unit;  ///< for messages and --help, e.g. "ms"
};

// Cluster shape.

/// Replicas in one cluster: what the core runs (core::Options::max_replicas; node/settings.cpp
/// asserts they agree), so that every cluster init-cluster writes can start. Every size is
/// safe: quorums are majorities (n/2 + 1), so any two intersect, and an even size tolerates
/// as many faults as the odd size below it. Beyond that a VSR primary spends its time
/// fanning out prepares.
inline constexpr std::size_t node_count_max = 16;
/// Node names: [A-Za-z0-9_-]{1,node_name_length_max}.
inline constexpr std::size_t node_name_length_max = 32;
/// A DNS name is at most 253 characters, each label at most 63 (RFC 1035 §2.3.4).
inline constexpr std::size_t host_length_max = 253;
inline constexpr std::size_t host_label_length_max = 63;

// Batching and pipelining (product.md §3). They must be equal on every replica: a view
// change reasons about "at most max_pipeline_depth uncommitted ops past the commit point".

/// Client requests the primary packs into one Prepare.
inline constexpr Tunable max_batch_size{"max_batch_size", 1, 64, 1024, "requests"};
/// How long the primary waits for more requests before sending a partial batch; 0 sends at
/// once.
inline constexpr Tunable max_batch_delay_ms{"max_batch_delay_ms", 0, 1, 1000, "ms"};
/// Uncommitted Prepares the primary keeps in flight.
inline constexpr Tunable max_pipeline_depth{"max_pipeline_depth", 1, 8, 128, "prepares"};
/// Ops between checkpoints; the WAL before the last checkpoint may be truncated, so this
/// also bounds the disk a replica uses and how far back repair from the log can reach.
inline constexpr Tunable checkpoint_interval{"checkpoint_interval", 1, 1024, 1u << 20, "ops"};

// Timeouts, in milliseconds of wall time; the runtime turns them into core ticks.

/// How often an idle primary sends Commit messages so backups know it is alive.
inline constexpr Tunable heartbeat_ms{"heartbeat_ms", 10, 100, 10'000, "ms"};
/// Silence from the primary after which a backup starts a view change. Must be at least
/// view_change_heartbeats_min heartbeats so that one late heartbeat does not depose it.
inline constexpr Tunable view_change_timeout_ms{"view_change_timeout_ms", 50, 500, 60'000, "ms"};
inline constexpr std::uint32_t view_change_heartbeats_min = 2;
/// How long a client waits for a reply from one node before it retries (same client id and
/// request number), possibly at another node.
inline constexpr Tunable request_timeout_ms{"request_timeout_ms", 10, 1000, 600'000, "ms"};

// Admission of connections (docs/vsr/config.md, "Connections"): the fields of cluster.tnet's
// "connections" dict, the same on every node.

/// A connection must complete its handshake and send a first frame that opens (a peer's
/// hello, a client's request or status query) within this long, or it is closed.
inline constexpr Tunable handshake_timeout_ms{"handshake_timeout_ms", 100, 5'000, 60'000, "ms"};
/// An authenticated client connection that sends nothing for this long is closed (the
/// client library reconnects when it next has something to send).
inline constexpr Tunable client_idle_timeout_ms{"client_idle_timeout_ms", 1'000, 300'000,
                                                86'400'000, "ms"};
/// Connections that have not authenticated yet, at most; when a new one arrives at the
/// limit, the oldest of them is closed, so a flood of silent connections cannot keep an
/// honest client (which authenticates at once) out.
inline constexpr Tunable unauthenticated_connections_max{"unauthenticated_connections_max", 1, 256,
                                                         65'536, "connections"};
/// What connections that have not authenticated may hold in frame buffers, in total: the
/// limit above shrinks until that many request-sized frames fit in it.
inline constexpr Tunable unauthenticated_buffer_mib{"unauthenticated_buffer_mib", 1, 24, 4'096,
                                                    "MiB"};
/// Authenticated client connections, at most; one more is refused.
inline constexpr Tunable client_connections_max{"client_connections_max", 1, 1'024, 1'000'000,
                                                "connections"};
/// File descriptors the node keeps for its own files, beyond its connections and peer
/// links; the connection limits shrink to fit the process's descriptor limit
/// (RLIMIT_NOFILE, raised to its hard limit at start) minus this reserve.
inline constexpr Tunable descriptor_reserve{"descriptor_reserve", 16, 64, 65'536, "descriptors"};
/// Log lines about refused or closed connections, at most per 10 s; the rest are counted
/// and summarised once per 10 s, by reason.
inline constexpr Tunable rejection_log_lines_per_10s{"rejection_log_lines_per_10s", 1, 10, 1'000,
                                                     "lines"};

// Files.

/// cluster.tnet and client.tnet are a few KiB even at node_count_max; anything larger is
/// not one of ours, and reading it is refused before it is allocated.
inline constexpr std::size_t config_file_size_max = 1u << 20;
/// Nesting of the files: envelope, body, nodes list, node dict.
inline constexpr std::size_t config_file_depth_max = 8;
/// Format version this build writes and reads.
inline constexpr std::int64_t config_format_version = 1;
/// Random cluster id and keys, in bytes (the files hold them as lowercase hex).
inline constexpr std::size_t cluster_id_size = 16;
inline constexpr std::size_t key_size = 32;
/// Checksum of a file's body (BLAKE2b output length), in bytes.
inline constexpr std::size_t checksum_size = 16;

}  // namespace vsr::config::limits
