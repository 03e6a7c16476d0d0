#pragma once
// One outbound connection that keeps itself up: the link type of every process that dials
// another (a replica's links to its peers, the client library's links to the nodes,
// sync-node's links to the replicas). A bounded queue that its owner fills, and a worker
// that resolves and connects with jittered exponential backoff, runs the handshake
// (handshake.hpp), writes the owner's greeting and then the queue in sealed batches, and
// hands every frame read back to the owner.
//
// With a keepalive (LinkOptions::ping_interval), a link never trusts a connection it has
// not heard from: it queues the owner's ping every interval, and a connection that brings
// nothing back for `silence_limit`, or does not connect and complete its handshake within
// it, is closed and dialled again. Without that bound a connection into a path that drops
// packets (a partition, a middlebox that lost its state, a peer that is paused) is never
// given up: its writes complete into the kernel's buffers and no error comes back for
// minutes (docs/vsr/wire.md, "What bounds a dead peer connection").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/net/asio.hpp"
#include "vsr/net/handshake.hpp"
#include "vsr/net/stream.hpp"

namespace vsr::net {

/// How a Link behaves.
struct LinkOptions {
  HandshakeParams handshake;
  KeyKind kind = KeyKind::client;  ///< the long-term key the handshake is made under
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  std::size_t queue_capacity = 4096;   ///< frames waiting; more are dropped
  std::size_t frames_per_write = 256;  ///< frames taken off the queue for one write
  std::size_t max_frame_bytes = 4096;  ///< the largest frame read back
  /// Keepalive: a ping every interval (0: none), and the connection is given up after
  /// silence_limit without a frame back, or without connecting and a handshake.
  std::chrono::milliseconds ping_interval{0};
  std::chrono::milliseconds silence_limit{0};
  /// A batch whose write failed is written again on the next connection (the client's
  /// requests); otherwise it is lost with the connection, as on any network.
  bool rewrite_failed_batch = false;
};

/// What a Link has done, for logs and tests.
struct LinkCounters {
  std::uint64_t connects = 0;          ///< connections whose handshake completed
  std::uint64_t silent_closes = 0;     ///< connections given up for silence
  std::uint64_t connect_timeouts = 0;  ///< attempts given up before the handshake completed
  std::uint64_t frames_read = 0;       ///< frames read back
  std::uint64_t dropped = 0;           ///< frames dropped on a full queue
};

/// Why a connection ended.
struct LinkDown {
  std::string why;
  bool was_up = false;  ///< its handshake had completed
  bool silent = false;  ///< the keepalive gave it up
  /// The other side refused the handshake (another key, cluster or version).
  std::optional<HandshakeError> refused;
};

/// What the owner tells a link and hears from it. Every callback runs on the link's
/// executor; all are optional.
struct LinkEvents {
  /// The first frames of every connection, after the handshake (a peer's hello).
  std::function<std::vector<OutFrame>()> greeting;
  /// One frame read back; false gives the connection up (a protocol violation).
  std::function<bool(std::string_view message)> on_frame;
  /// The keepalive's ping (required with a ping_interval).
  std::function<OutFrame()> ping;
  std::function<void()> on_up;
  std::function<void(const LinkDown&)> on_down;
};

class Link {
 public:
  Link(asio::any_io_executor executor, std::string host, std::uint16_t port, const Key& key,
       LinkOptions options, LinkEvents events, std::uint64_t seed);
  /// REQUIRES: run() has ended (close(), then let the executor run its handlers).
  ~Link() = default;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  /// Queues a frame; false (dropped and counted) when the queue is full or the link closed.
  bool send(OutFrame frame);
  /// Connects, writes, reconnects, until close(). Spawn it once.
  awaitable<void> run();
  /// Ends run() and the current connection. Idempotent.
  void close();
  /// True while a connection is up (its handshake done, not yet given up).
  bool connected() const { return connected_; }
  const LinkCounters& counters() const { return counters_; }

 private:
  struct Connection;

  awaitable<void> run_connections();
  /// Resolves and connects; an error when that fails or the connection was given up.
  awaitable<asio::error_code> connect(Connection& connection);
  /// Writes the greeting, then the queue, until a write fails or the link closes.
  awaitable<asio::error_code> serve(std::shared_ptr<Connection> connection, CipherState send);
  /// Reads frames back until the connection ends.
  awaitable<void> read(std::shared_ptr<Connection> connection, FrameReader frames);
  /// Pings every ping_interval; gives the connection up after silence_limit without a frame.
  awaitable<void> watch(std::shared_ptr<Connection> connection);
  /// Closes `connection` (if still open) and wakes its writer.
  void give_up(const std::shared_ptr<Connection>& connection, std::string why, bool silent = false);

  asio::any_io_executor executor_;
  std::string host_;
  std::uint16_t port_;
  Key key_;
  LinkOptions options_;
  LinkEvents events_;
  std::mt19937_64 rng_;
  Channel<OutFrame> queue_;
  asio::steady_timer retry_;                // the backoff between connection attempts
  std::shared_ptr<Connection> connection_;  // the current one, if any
  std::vector<OutFrame> batch_;             // taken from the queue, not yet written
  bool connected_ = false;
  bool closed_ = false;
  LinkCounters counters_;
};

}  // namespace vsr::net
