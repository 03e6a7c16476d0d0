#pragma once
// The runtime's own messages: `vsr status` asks a node about itself. They travel in
// client-key frames like requests, but the runtime answers them, not the core, so they
// are not part of the replication protocol (docs/vsr/wire.md):
//
//   status_request = {"cluster": #, "version": #, "kind": "status_request", "nonce": #}
//   status_reply   = {"cluster": #, "version": #, "kind": "status_reply", "nonce": #,
//                     "node": ,, "replica": #, "role": ,, "status": ,, "view": #, "op": #,
//                     "commit": #, "checkpoint_op": #, "state_digest": ,,
//                     "peers_connected": #, "rejected_messages": #}
//
// A peer link opens with a hello (replica key) naming the caller and the apps it serves:
// replicas that serve different app sets would execute the same op differently, so a
// mismatched peer is refused instead of joining silently.
//
//   hello          = {"cluster": #, "version": #, "kind": "hello", "nonce": #(replica),
//                     "apps": ,(sorted names, comma-separated)}
//
// After the hello, the caller pings every heartbeat and the receiving runtime answers each
// ping with a pong (same nonce) on the same connection, the only frames ever written back
// on a peer link: a link that hears no pong for its silence limit reconnects (peer_link.hpp).
//
//   ping           = {"cluster": #, "version": #, "kind": "ping", "nonce": #}
//   pong           = {"cluster": #, "version": #, "kind": "pong", "nonce": #(the ping's)}

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"

namespace vsr::node {

/// What a node reports about itself (product.md `vsr status`).
struct NodeStatus {
  std::string node;
  std::uint32_t replica = 0;
  std::string role;    ///< "primary" or "backup"
  std::string status;  ///< "normal", "view_change", "recovering"
  std::uint64_t view = 0;
  std::uint64_t op = 0;
  std::uint64_t commit = 0;  ///< executed through (the state_digest's op)
  std::uint64_t checkpoint_op = 0;
  std::string state_digest;  ///< hex digest of the app state at `commit`
  std::uint32_t peers_connected = 0;
  std::uint64_t rejected_messages = 0;
  /// What the replica waits for when it is not simply serving (core::Replica::waiting_for);
  /// empty otherwise. A cluster that cannot recover stalls and says why here.
  std::string waiting_for;
  friend bool operator==(const NodeStatus&, const NodeStatus&) = default;
};

/// The "kind" of a runtime message, or empty when `message` is not one (or malformed).
std::string_view runtime_kind(std::string_view message);

std::string encode_status_request(std::uint64_t cluster_id, std::uint64_t nonce);
/// The nonce of a status request. Err: malformed, or for another cluster or version.
Result<std::uint64_t, std::string> decode_status_request(std::string_view message,
                                                         std::uint64_t cluster_id);

std::string encode_status_reply(std::uint64_t cluster_id, std::uint64_t nonce,
                                const NodeStatus& status);
struct StatusReply {
  std::uint64_t nonce = 0;
  NodeStatus status;
};
Result<StatusReply, std::string> decode_status_reply(std::string_view message,
                                                     std::uint64_t cluster_id);

/// The first frame of a peer link.
struct Hello {
  std::uint32_t replica = 0;
  std::string apps;  ///< sorted app names, comma-separated
};
std::string encode_hello(std::uint64_t cluster_id, const Hello& hello);
/// Err: malformed, or for another cluster or version.
Result<Hello, std::string> decode_hello(std::string_view message, std::uint64_t cluster_id);

/// A peer link's liveness probe and its answer (replica key only).
std::string encode_ping(std::uint64_t cluster_id, std::uint64_t nonce);
std::string encode_pong(std::uint64_t cluster_id, std::uint64_t nonce);
/// The nonce. Err: not a ping (or pong), or for another cluster or version.
Result<std::uint64_t, std::string> decode_ping(std::string_view message, std::uint64_t cluster_id);
Result<std::uint64_t, std::string> decode_pong(std::string_view message, std::uint64_t cluster_id);

/// Bytes a ping or pong takes at most: larger replica messages need not be looked at.
inline constexpr std::size_t ping_bytes_max = 128;

}  // namespace vsr::node
