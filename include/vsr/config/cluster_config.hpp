#pragma once
// The cluster configuration: what cluster.tnet and client.tnet hold, how it is validated,
// encoded, loaded and written, and `init-cluster` as a library call. The file grammar is in
// docs/vsr/config.md; every bound is in vsr/config/limits.hpp.
//
// cluster.tnet is the replicas' file (both keys, all tuning); client.tnet is the clients'
// file and holds only what a client needs: a holder of client.tnet can send requests but
// cannot forge replica messages. A replica's index is its position in `nodes`.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/config/limits.hpp"

namespace vsr::config {

/// The random identity of a cluster; messages carrying another id are dropped.
struct ClusterId {
  std::array<std::uint8_t, limits::cluster_id_size> bytes{};
  /// 32 lowercase hex digits.
  std::string hex() const;
  friend bool operator==(const ClusterId&, const ClusterId&) = default;
};

/// Authenticates replica-to-replica messages. Only in cluster.tnet.
struct ReplicaKey {
  std::array<std::uint8_t, limits::key_size> bytes{};
  friend bool operator==(const ReplicaKey&, const ReplicaKey&) = default;
};

/// Authenticates client requests. In both files.
struct ClientKey {
  std::array<std::uint8_t, limits::key_size> bytes{};
  friend bool operator==(const ClientKey&, const ClientKey&) = default;
};

/// Where a node listens. `host` is a hostname, an IPv4 dotted quad, or an IPv6 address
/// without brackets (canonical form, e.g. "::1").
struct NodeAddress {
  std::string host;
  std::uint16_t port = 0;
  /// "host:port", or "[v6]:port" for an IPv6 host.
  std::string to_string() const;
  friend bool operator==(const NodeAddress&, const NodeAddress&) = default;
};

/// One replica. Its replica index is its position in the config's node list.
struct Node {
  std::string name;
  NodeAddress address;
  friend bool operator==(const Node&, const Node&) = default;
};

/// Batching, pipelining and checkpointing; equal on every replica (see limits.hpp).
struct Tuning {
  std::uint32_t max_batch_size = limits::max_batch_size.default_value;
  std::uint32_t max_batch_delay_ms = limits::max_batch_delay_ms.default_value;
  std::uint32_t max_pipeline_depth = limits::max_pipeline_depth.default_value;
  std::uint32_t checkpoint_interval = limits::checkpoint_interval.default_value;
  friend bool operator==(const Tuning&, const Tuning&) = default;
};

/// Failure detection and retry timing (see limits.hpp).
struct Timeouts {
  std::uint32_t heartbeat_ms = limits::heartbeat_ms.default_value;
  std::uint32_t view_change_timeout_ms = limits::view_change_timeout_ms.default_value;
  std::uint32_t request_timeout_ms = limits::request_timeout_ms.default_value;
  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

/// Admission of connections (see limits.hpp and docs/vsr/config.md, "Connections").
struct Connections {
  std::uint32_t handshake_timeout_ms = limits::handshake_timeout_ms.default_value;
  std::uint32_t client_idle_timeout_ms = limits::client_idle_timeout_ms.default_value;
  std::uint32_t unauthenticated_connections_max =
      limits::unauthenticated_connections_max.default_value;
  std::uint32_t unauthenticated_buffer_mib = limits::unauthenticated_buffer_mib.default_value;
  std::uint32_t client_connections_max = limits::client_connections_max.default_value;
  std::uint32_t descriptor_reserve = limits::descriptor_reserve.default_value;
  std::uint32_t rejection_log_lines_per_10s = limits::rejection_log_lines_per_10s.default_value;
  friend bool operator==(const Connections&, const Connections&) = default;
};

/// Everything in cluster.tnet.
struct ClusterConfig {
  ClusterId cluster_id;
  std::uint64_t config_version = 1;  ///< bumped by every change (e.g. move-node)
  std::vector<Node> nodes;           ///< replica index = position
  ReplicaKey replica_key;
  ClientKey client_key;
  Tuning tuning;
  Timeouts timeouts;
  Connections connections;

  /// The replica index of the node called `name`, if there is one.
  std::optional<std::size_t> find_node(std::string_view name) const;
  friend bool operator==(const ClusterConfig&, const ClusterConfig&) = default;
};

/// Everything in client.tnet: no replica key, no replica-only tuning.
struct ClientConfig {
  ClusterId cluster_id;
  std::uint64_t config_version = 1;
  std::vector<Node> nodes;
  ClientKey client_key;
  std::uint32_t request_timeout_ms = limits::request_timeout_ms.default_value;
  friend bool operator==(const ClientConfig&, const ClientConfig&) = default;
};

/// The client's share of a cluster config.
ClientConfig client_config_of(const ClusterConfig& cluster);

// Validation. Each returns a one-line message naming the offending value and the rule.

/// Checks `[A-Za-z0-9_-]{1,32}`.
Result<void, std::string> validate_node_name(std::string_view name);
/// Checks a host: IPv4 dotted quad, IPv6 (no brackets) or RFC 1123 hostname.
Result<void, std::string> validate_host(std::string_view host);
/// Parses "HOST:PORT" or "[IPV6]:PORT" with port 1..65535; IPv6 hosts come back canonical.
Result<NodeAddress, std::string> parse_address(std::string_view text);
/// Parses "--nodes" syntax: "NAME=HOST:PORT,NAME=HOST:PORT,..." and validates the list.
Result<std::vector<Node>, std::string> parse_node_list(std::string_view text);
/// Checks 1..node_count_max nodes, each name and address valid, names and addresses unique.
Result<void, std::string> validate_nodes(const std::vector<Node>& nodes);
/// Checks every tunable against its bounds.
Result<void, std::string> validate_tuning(const Tuning& tuning);
/// Checks every timeout against its bounds and the view-change timeout against heartbeats.
Result<void, std::string> validate_timeouts(const Timeouts& timeouts);
/// Checks every connection limit against its range.
Result<void, std::string> validate_connections(const Connections& connections);
/// Checks a whole config (config_version >= 1 included).
Result<void, std::string> validate(const ClusterConfig& cluster);
Result<void, std::string> validate(const ClientConfig& client);

/// The nodes `init-cluster` writes when none are given (product.md §1).
inline constexpr std::string_view default_node_list =
    "n0=127.0.0.1:9000,n1=127.0.0.1:9001,n2=127.0.0.1:9002";

// Encoding. The encoders REQUIRE a valid config; the decoders validate everything and
// return a message (without the path) naming the field that is wrong.

std::string encode_cluster(const ClusterConfig& cluster);
std::string encode_client(const ClientConfig& client);
Result<ClusterConfig, std::string> decode_cluster(std::string_view bytes);
Result<ClientConfig, std::string> decode_client(std::string_view bytes);

// Files.

/// What went wrong with a config file or an init, and so what the caller should tell the
/// user (the CLI maps it to an exit code).
enum class ErrorKind : std::uint8_t {
  invalid,      ///< bad option values or file contents: the user must fix the input
  missing,      ///< the file does not exist: run `vsr init-cluster`, or check --cluster-dir
  exists,       ///< init would overwrite an existing cluster: pass --force to replace it
  environment,  ///< the OS refused (permissions, not a directory, disk full, I/O error)
};

/// A config error. Messages about a file start with its path.
struct Error {
  ErrorKind kind = ErrorKind::invalid;
  std::string message;
};

/// The files under a cluster directory (product.md §2).
struct ClusterPaths {
  std::filesystem::path dir;

  std::filesystem::path cluster_file() const { return dir / "cluster.tnet"; }
  std::filesystem::path client_file() const { return dir / "client.tnet"; }
  std::filesystem::path nodes_dir() const { return dir / "nodes"; }
  /// REQUIRES: validate_node_name(name) holds.
  std::filesystem::path node_dir(std::string_view name) const { return nodes_dir() / name; }
};

/// Reads, decodes and validates cluster.tnet / client.tnet at `path`.
Result<ClusterConfig, Error> load_cluster(const std::filesystem::path& path);
Result<ClientConfig, Error> load_client(const std::filesystem::path& path);

/// Encodes and atomically writes the file at `path` with mode 0600 (the files hold keys).
/// REQUIRES: the config is valid.
Result<void, Error> save_cluster(const std::filesystem::path& path, const ClusterConfig& cluster);
Result<void, Error> save_client(const std::filesystem::path& path, const ClientConfig& client);

/// A new cluster: fresh random cluster id and keys (libsodium), config version 1.
/// Fails with `invalid` when the nodes, tuning or timeouts are invalid, `environment` when
/// libsodium cannot initialise.
Result<ClusterConfig, Error> generate_cluster(std::vector<Node> nodes, const Tuning& tuning,
                                              const Timeouts& timeouts);

/// What `vsr init-cluster` asks for.
struct InitRequest {
  std::vector<Node> nodes;
  Tuning tuning;
  Timeouts timeouts;
  bool force = false;  ///< replace an existing cluster (new id, new keys)
};

/// What `vsr init-cluster` did.
struct InitOutcome {
  ClusterConfig cluster;
  ClusterPaths paths;
  bool replaced = false;           ///< an earlier cluster's files were overwritten
  bool node_data_present = false;  ///< nodes/ exists: data of an earlier cluster may be there
};

/// Validates the request, creates the cluster directory (mode 0700) if needed, and writes
/// client.tnet, then cluster.tnet, both mode 0600. Without `force`, refuses (`exists`) when
/// either file is present, and then changes nothing. Never touches nodes/.
Result<InitOutcome, Error> init_cluster(const std::filesystem::path& cluster_dir,
                                        const InitRequest& request);

}  // namespace vsr::config
