#pragma once
// The outbound link from a replica to one peer (docs/vsr/wire.md, "Connections"): a
// net::Link under the replica key whose greeting is this replica's hello and whose keepalive
// is the runtime's ping, answered by the peer's pong. The peer's messages to us arrive on the
// link it opened, never on this one: a frame back that is not a pong gives the connection up.
//
// The keepalive is what lets a replica hear its primary again after a partition heals: a
// connection into a path that drops packets is given up after the silence limit and dialled
// again (issue 12, finding 9; net/link.hpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "vsr/config/cluster_config.hpp"
#include "vsr/net/asio.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/link.hpp"
#include "vsr/net/stream.hpp"

namespace vsr::node {

/// How a PeerLink behaves; peer_link_options() (settings.hpp) derives it from the config.
struct PeerLinkOptions {
  std::uint64_t cluster_id = 0;                   ///< the core's id: handshake, ping and pong
  std::int64_t protocol_version = 0;              ///< the handshake's
  std::chrono::milliseconds ping_interval{100};   ///< one ping per interval
  std::chrono::milliseconds silence_limit{2000};  ///< no pong for this long: reconnect
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  std::size_t queue_capacity = 4096;   ///< frames waiting; more are dropped
  std::size_t max_frame_bytes = 4096;  ///< the largest frame read back (pongs are tiny)
  std::size_t frames_per_write = 256;  ///< frames taken off the queue for one write
};

/// What a PeerLink has done, for logs and tests.
struct PeerLinkCounters {
  std::uint64_t connects = 0;          ///< connections whose handshake completed
  std::uint64_t silent_closes = 0;     ///< connections given up for silence
  std::uint64_t connect_timeouts = 0;  ///< connection attempts given up
  std::uint64_t pongs = 0;             ///< pongs received
  std::uint64_t dropped = 0;           ///< frames dropped on a full queue
};

class PeerLink {
 public:
  /// A link to `name` at `address`; `hello` is the first frame of every connection.
  /// `keys` must hold the replica key (the handshake is made under it).
  PeerLink(asio::io_context& io, std::string name, config::NodeAddress address,
           const net::Keyring& keys, net::OutFrame hello, PeerLinkOptions options,
           std::uint64_t seed);
  /// REQUIRES: run() has ended (close(), then let the io_context run its handlers).
  ~PeerLink() = default;
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  /// Queues a frame; when the queue is full the frame is dropped and counted (the
  /// protocol retransmits what matters).
  void send(net::OutFrame frame);
  /// Connects, writes, reconnects, until close(). Spawn it once.
  net::awaitable<void> run() { return link_->run(); }
  /// Ends run() and the current connection. Idempotent.
  void close() { link_->close(); }
  /// True while a connection is up (its handshake done, not yet given up).
  bool connected() const { return link_->connected(); }
  PeerLinkCounters counters() const;

 private:
  net::LinkEvents events();

  std::string name_;
  config::NodeAddress address_;
  net::OutFrame hello_;
  PeerLinkOptions options_;
  std::uint64_t next_ping_ = 1;
  std::uint64_t dropped_logged_ = 0;
  bool warned_ = false;  // a failure since the link was last up was logged
  std::unique_ptr<net::Link> link_;
};

}  // namespace vsr::node
