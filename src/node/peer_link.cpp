// The outbound peer link (peer_link.hpp). Each connection has three coroutines on the io
// thread once its handshake is done: the writer (serve: the hello, then the queue),
// read_pongs (the peer's answers) and watch (pings, and the silence bound, which also
// bounds the connect and the handshake). Whichever of them sees the connection fail
// closes it; the writer then returns and run() dials again after the backoff.

#include "vsr/node/peer_link.hpp"

#include <span>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vsr/base/assert.hpp"
#include "vsr/net/backoff.hpp"
#include "vsr/node/status.hpp"

namespace vsr::node {

using Clock = std::chrono::steady_clock;
using net::use_nothrow;

struct PeerLink::Connection {
  explicit Connection(asio::io_context& io) : socket(io), timer(io) {}

  void close() {
    if (done) return;
    done = true;
    asio::error_code ignored;
    socket.close(ignored);  // a pending connect, read or write completes with an error
    timer.cancel();
  }

  net::tcp::socket socket;
  asio::steady_timer timer;  // the watchdog's
  Clock::time_point heard;   // when the attempt began, or the last pong arrived
  bool up = false;           // connected; the writer runs
  bool done = false;         // closed: every coroutine of this connection ends
  std::string why;           // why it was given up, when the link decided it
};

PeerLink::PeerLink(asio::io_context& io, std::string name, config::NodeAddress address,
                   const net::Keyring& keys, net::OutFrame hello, PeerLinkOptions options,
                   std::uint64_t seed)
    : io_(io),
      name_(std::move(name)),
      address_(std::move(address)),
      keys_(keys),
      hello_(std::move(hello)),
      options_(options),
      rng_(seed),
      queue_(io, options.queue_capacity),
      retry_(io) {
  VSR_ASSERT(keys_.has_replica);
  VSR_ASSERT(options_.ping_interval.count() > 0);
  VSR_ASSERT(options_.silence_limit > options_.ping_interval);
}

void PeerLink::send(net::OutFrame frame) {
  if (queue_.try_send(asio::error_code{}, std::move(frame))) return;
  counters_.dropped += 1;
  if (counters_.dropped >= dropped_logged_ * 2 + 1) {  // log at 1, 3, 7, 15, ... drops
    dropped_logged_ = counters_.dropped;
    spdlog::debug("peer {}: send queue full, {} messages dropped so far", name_, counters_.dropped);
  }
}

void PeerLink::close() {
  if (closed_) return;
  closed_ = true;
  queue_.close();
  retry_.cancel();
  if (connection_) connection_->close();
}

net::OutFrame PeerLink::ping_frame() {
  auto message = std::make_shared<const std::string>(encode_ping(options_.cluster_id, next_ping_));
  next_ping_ += 1;
  return net::OutFrame{std::move(message)};
}

void PeerLink::give_up(const std::shared_ptr<Connection>& connection, std::string why) {
  if (connection->done) return;
  connection->why = std::move(why);
  connection->close();
  // The writer may be waiting for a frame rather than writing: a ping wakes it, and its
  // write fails on the closed socket.
  if (connection == connection_ && connection->up) send(ping_frame());
}

net::awaitable<void> PeerLink::run() {
  try {
    co_await run_connections();
  } catch (const std::exception& e) {
    // Only allocation throws here: say so; the link ends (the node's status shows it down).
    spdlog::error("peer {}: {}", name_, e.what());
  }
  connected_ = false;
  if (connection_) connection_->close();
}

net::awaitable<void> PeerLink::run_connections() {
  net::Backoff backoff(options_.backoff_min, options_.backoff_max);
  bool was_up = false;
  bool warned = false;
  while (!closed_) {
    auto connection = std::make_shared<Connection>(io_);
    connection_ = connection;
    connection->heard = Clock::now();
    // The silence bound runs from the first attempt: a connect that hangs (a SYN dropped)
    // is given up like a connection that stopped answering.
    asio::co_spawn(io_, watch(connection), asio::detached);
    asio::error_code failure = co_await connect(*connection);
    net::FrameReader frames(options_.max_frame_bytes);
    net::HandshakeOutcome handshake;
    if (!failure) {
      handshake = co_await frames.initiate(
          connection->socket, net::HandshakeParams{options_.cluster_id, options_.protocol_version},
          net::KeyKind::replica, keys_.replica);
      failure = handshake.error;
      if (handshake.failed && !connection->done) {
        // A peer that refuses this node's key, cluster or version stays down until an
        // operator acts: say so at every attempt's first failure, loudly.
        connection->why = handshake.failed->detail;
        if (!warned) {
          spdlog::error("peer {} ({}): handshake failed: {}", name_, address_.to_string(),
                        handshake.failed->detail);
        }
        failure = asio::error::access_denied;
      }
    }
    if (!failure) {
      connection->heard = Clock::now();  // the silence bound starts over for the pongs
      asio::error_code ignored;
      connection->socket.set_option(net::tcp::no_delay(true), ignored);
      connection->up = true;
      connected_ = true;
      was_up = true;
      warned = false;
      counters_.connects += 1;
      backoff.up(Clock::now());
      spdlog::info("peer {} up ({})", name_, address_.to_string());
      asio::co_spawn(io_, read_pongs(connection, std::move(frames)), asio::detached);
      failure = co_await serve(connection, handshake.send);
      connected_ = false;
      backoff.down(Clock::now());
    }
    const std::string why = connection->why.empty() ? failure.message() : connection->why;
    connection->close();
    connection_.reset();
    if (closed_) break;
    if (was_up || !warned) {
      spdlog::info("peer {} down ({}): {}", name_, address_.to_string(), why);
      was_up = false;
      warned = true;
    }
    retry_.expires_after(backoff.wait(rng_));
    co_await retry_.async_wait(use_nothrow);
  }
}

net::awaitable<asio::error_code> PeerLink::connect(Connection& connection) {
  net::tcp::resolver resolver(io_);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(address_.host, std::to_string(address_.port), use_nothrow);
  if (rec) co_return rec;
  // One address after another, each attempt on a fresh socket, until one connects or the
  // watchdog gives the connection up (it closes the socket, which ends a pending attempt).
  asio::error_code failure = asio::error::host_not_found;
  for (const auto& entry : endpoints) {
    if (connection.done) break;
    asio::error_code ignored;
    connection.socket.close(ignored);
    auto [ec] = co_await connection.socket.async_connect(entry.endpoint(), use_nothrow);
    if (!ec && !connection.done) co_return asio::error_code{};
    failure = ec;
  }
  co_return connection.done ? asio::error_code(asio::error::timed_out) : failure;
}

net::awaitable<asio::error_code> PeerLink::serve(std::shared_ptr<Connection> connection,
                                                 net::CipherState send) {
  net::FrameWriter frames(send);
  // The link opens with a hello, so the peer can refuse a different app set.
  asio::error_code failure =
      co_await frames.write(connection->socket, std::span<const net::OutFrame>(&hello_, 1));
  while (!failure && !connection->done) {
    if (batch_.empty()) {
      auto [ec, frame] = co_await queue_.async_receive(use_nothrow);
      if (ec) co_return asio::error::operation_aborted;  // closed: shutting down
      batch_.push_back(std::move(frame));
    }
    while (batch_.size() < options_.frames_per_write &&
           queue_.try_receive(
               [&](asio::error_code, net::OutFrame f) { batch_.push_back(std::move(f)); })) {
    }
    failure = co_await frames.write(connection->socket, batch_);
    batch_.clear();  // written, or lost with the connection as on any network: the core resends
  }
  if (!failure) failure = asio::error::operation_aborted;
  co_return failure;
}

net::awaitable<void> PeerLink::read_pongs(std::shared_ptr<Connection> connection,
                                          net::FrameReader frames) {
  try {
    co_await read_pongs_until_closed(connection, frames);
  } catch (const std::exception& e) {
    give_up(connection, e.what());
  }
}

net::awaitable<void> PeerLink::read_pongs_until_closed(std::shared_ptr<Connection> connection,
                                                       net::FrameReader& frames) {
  while (!connection->done) {
    net::ReadOutcome r = co_await frames.next(connection->socket);
    if (connection->done) co_return;
    if (r.error) {
      give_up(connection, fmt::format("the peer closed the connection ({})", r.error.message()));
      co_return;
    }
    // The peer writes nothing on our link but pongs.
    if (r.frame_error || !decode_pong(r.frame.message, options_.cluster_id)) {
      spdlog::warn("peer {}: sent something other than a pong on our link; closing it", name_);
      give_up(connection, "unexpected frame from the peer");
      co_return;
    }
    connection->heard = Clock::now();
    counters_.pongs += 1;
  }
}

net::awaitable<void> PeerLink::watch(std::shared_ptr<Connection> connection) {
  try {
    co_await watch_until_closed(connection);
  } catch (const std::exception& e) {
    give_up(connection, e.what());
  }
}

net::awaitable<void> PeerLink::watch_until_closed(std::shared_ptr<Connection> connection) {
  while (!connection->done) {
    connection->timer.expires_after(options_.ping_interval);
    co_await connection->timer.async_wait(use_nothrow);
    if (connection->done) co_return;
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - connection->heard);
    if (silent >= options_.silence_limit) {
      if (connection->up) {
        counters_.silent_closes += 1;
        spdlog::warn("peer {}: no pong for {} ms; closing the connection and dialling again", name_,
                     silent.count());
      } else {
        counters_.connect_timeouts += 1;
      }
      give_up(connection, fmt::format("{} for {} ms", connection->up ? "no pong" : "no connection",
                                      silent.count()));
      co_return;
    }
    // Through the queue: the pong then also proves that our own queue and writer move.
    if (connection->up) send(ping_frame());
  }
}

}  // namespace vsr::node
