#pragma once
// The outbound link from a replica to one peer (docs/vsr/wire.md, "Connections"): a bounded
// queue that the actor fills, and a worker coroutine that connects with jittered
// exponential backoff, opens each connection with the handshake (under the replica key)
// and a hello, and writes the queue in sealed batches. The peer's messages to us arrive on the link
// it opened, never on this one.
//
// A link never trusts a connection it has not heard from. It sends a ping every
// `ping_interval` and the peer's runtime answers each with a pong on the same connection;
// a connection that brings back nothing for `silence_limit`, or does not connect within it,
// is closed and dialled again. Without that bound a connection into a path that drops
// packets (a partition, a middlebox that lost its state, a peer that is paused) is never
// given up: its writes complete into the kernel's buffers and no error comes back for
// minutes, so after the network heals the link keeps sending into nothing while a fresh
// connection would pass (issue 12, finding 9: a replica that never hears the primary again
// changes views alone for good).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vsr/config/cluster_config.hpp"
#include "vsr/net/asio.hpp"
#include "vsr/net/frame.hpp"
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
  std::uint64_t connects = 0;          ///< connections established (the hello written or not)
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
  net::awaitable<void> run();
  /// Ends run() and the current connection. Idempotent.
  void close();
  /// True while a connection is up (connected and not yet given up).
  bool connected() const { return connected_; }
  const PeerLinkCounters& counters() const { return counters_; }

 private:
  struct Connection;

  /// run() without its exception guard: one connection after another, until close().
  net::awaitable<void> run_connections();
  /// Resolves and connects; an error when that fails or the connection was given up.
  net::awaitable<asio::error_code> connect(Connection& connection);
  /// Writes the hello, then the queue, sealed under `send`, until a write fails or the
  /// link closes.
  net::awaitable<asio::error_code> serve(std::shared_ptr<Connection> connection,
                                         net::CipherState send);
  /// Reads the peer's pongs; anything else, or an error, gives the connection up.
  net::awaitable<void> read_pongs(std::shared_ptr<Connection> connection, net::FrameReader frames);
  /// read_pongs() without its exception guard.
  net::awaitable<void> read_pongs_until_closed(std::shared_ptr<Connection> connection,
                                               net::FrameReader& frames);
  /// Pings every ping_interval; gives the connection up after silence_limit without a pong.
  net::awaitable<void> watch(std::shared_ptr<Connection> connection);
  /// watch() without its exception guard.
  net::awaitable<void> watch_until_closed(std::shared_ptr<Connection> connection);
  /// Closes `connection` (if still open) and wakes its writer.
  void give_up(const std::shared_ptr<Connection>& connection, std::string why);
  net::OutFrame ping_frame();

  asio::io_context& io_;
  std::string name_;
  config::NodeAddress address_;
  const net::Keyring& keys_;
  net::OutFrame hello_;
  PeerLinkOptions options_;
  std::mt19937_64 rng_;
  net::Channel<net::OutFrame> queue_;
  asio::steady_timer retry_;                // the backoff between connection attempts
  std::shared_ptr<Connection> connection_;  // the current one, if any
  std::vector<net::OutFrame> batch_;        // taken from the queue, not yet written
  std::uint64_t next_ping_ = 1;
  std::uint64_t dropped_logged_ = 0;
  bool connected_ = false;
  bool closed_ = false;
  PeerLinkCounters counters_;
};

}  // namespace vsr::node
