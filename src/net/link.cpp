// The outbound link (link.hpp). Each connection has up to three coroutines on the link's
// executor once its handshake is done: the writer (serve: the greeting, then the queue),
// read (frames back) and, with a keepalive, watch (pings, and the silence bound, which also
// bounds the connect and the handshake). Whichever of them sees the connection fail closes
// it; the writer then returns and run() dials again after the backoff.

#include "vsr/net/link.hpp"

#include <span>
#include <utility>

#include "vsr/base/assert.hpp"
#include "vsr/net/backoff.hpp"

namespace vsr::net {

using Clock = std::chrono::steady_clock;

struct Link::Connection {
  explicit Connection(const asio::any_io_executor& executor) : socket(executor), timer(executor) {}

  void close() {
    if (done) return;
    done = true;
    asio::error_code ignored;
    socket.close(ignored);  // a pending connect, read or write completes with an error
    timer.cancel();
  }

  tcp::socket socket;
  asio::steady_timer timer;  // the watchdog's
  Clock::time_point heard;   // when the attempt began, or the last frame arrived
  bool up = false;           // the handshake is done; the writer runs
  bool done = false;         // closed: every coroutine of this connection ends
  bool silent = false;       // given up by the watchdog
  std::string why;           // why it was given up, when the link decided it
};

Link::Link(asio::any_io_executor executor, std::string host, std::uint16_t port, const Key& key,
           LinkOptions options, LinkEvents events, std::uint64_t seed)
    : executor_(std::move(executor)),
      host_(std::move(host)),
      port_(port),
      key_(key),
      options_(options),
      events_(std::move(events)),
      rng_(seed),
      queue_(executor_, options.queue_capacity),
      retry_(executor_) {
  if (options_.ping_interval.count() > 0) {
    VSR_ASSERT(events_.ping != nullptr);
    VSR_ASSERT(options_.silence_limit > options_.ping_interval);
  }
}

bool Link::send(OutFrame frame) {
  if (!closed_ && queue_.try_send(asio::error_code{}, std::move(frame))) return true;
  counters_.dropped += 1;
  return false;
}

void Link::close() {
  if (closed_) return;
  closed_ = true;
  queue_.close();
  retry_.cancel();
  if (connection_) connection_->close();
}

void Link::give_up(const std::shared_ptr<Connection>& connection, std::string why, bool silent) {
  if (connection->done) return;
  connection->why = std::move(why);
  connection->silent = silent;
  connection->close();
  // The writer may be waiting for a frame rather than writing: a frame wakes it, and its
  // write fails on the closed socket.
  if (connection == connection_ && connection->up && events_.ping) send(events_.ping());
}

awaitable<void> Link::run() {
  try {
    co_await run_connections();
  } catch (const std::exception& e) {
    // Only allocation throws here; the link ends (its owner sees it down).
    if (events_.on_down) events_.on_down(LinkDown{e.what(), connected_, false, std::nullopt});
  }
  connected_ = false;
  if (connection_) connection_->close();
}

awaitable<void> Link::run_connections() {
  Backoff backoff(options_.backoff_min, options_.backoff_max);
  const bool keepalive = options_.ping_interval.count() > 0;
  while (!closed_) {
    auto connection = std::make_shared<Connection>(executor_);
    connection_ = connection;
    connection->heard = Clock::now();
    // The silence bound runs from the first attempt: a connect or a handshake that hangs
    // (a SYN dropped, a peer that accepts and says nothing) is given up like a connection
    // that stopped answering.
    if (keepalive) asio::co_spawn(executor_, watch(connection), asio::detached);
    asio::error_code failure = co_await connect(*connection);
    FrameReader frames(options_.max_frame_bytes);
    HandshakeOutcome handshake;
    std::optional<HandshakeError> refused;
    if (!failure && !connection->done) {
      asio::error_code ignored;
      connection->socket.set_option(tcp::no_delay(true), ignored);
      handshake =
          co_await frames.initiate(connection->socket, options_.handshake, options_.kind, key_);
      failure = handshake.error;
      if (handshake.failed) {
        refused = handshake.failed;
        failure = asio::error::access_denied;
        if (!connection->done) connection->why = handshake.failed->detail;
      }
    }
    bool was_up = false;
    if (!failure && !connection->done) {
      connection->heard = Clock::now();  // the silence bound starts over for the replies
      connection->up = true;
      connected_ = true;
      was_up = true;
      counters_.connects += 1;
      backoff.up(Clock::now());
      if (events_.on_up) events_.on_up();
      asio::co_spawn(executor_, read(connection, std::move(frames)), asio::detached);
      failure = co_await serve(connection, handshake.send);
      connected_ = false;
      backoff.down(Clock::now());
    }
    if (!failure && connection->done) failure = asio::error::operation_aborted;
    LinkDown down;
    down.why = connection->why.empty() ? failure.message() : connection->why;
    down.was_up = was_up;
    down.silent = connection->silent;
    if (refused && refused->code == HandshakeErrc::refused) down.refused = refused;
    connection->close();
    connection_.reset();
    if (closed_) break;
    if (events_.on_down) events_.on_down(down);
    retry_.expires_after(backoff.wait(rng_));
    co_await retry_.async_wait(use_nothrow);
  }
}

awaitable<asio::error_code> Link::connect(Connection& connection) {
  tcp::resolver resolver(executor_);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(host_, std::to_string(port_), use_nothrow);
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

awaitable<asio::error_code> Link::serve(std::shared_ptr<Connection> connection, CipherState send) {
  FrameWriter frames(send);
  asio::error_code failure;
  if (events_.greeting) {
    const std::vector<OutFrame> greeting = events_.greeting();
    failure = co_await frames.write(connection->socket, greeting);
  }
  while (!failure && !connection->done) {
    if (batch_.empty()) {
      auto [ec, frame] = co_await queue_.async_receive(use_nothrow);
      if (ec) co_return asio::error::operation_aborted;  // closed: shutting down
      batch_.push_back(std::move(frame));
    }
    while (
        batch_.size() < options_.frames_per_write &&
        queue_.try_receive([&](asio::error_code, OutFrame f) { batch_.push_back(std::move(f)); })) {
    }
    failure = co_await frames.write(connection->socket, batch_);
    // Written, or lost with the connection (the protocol resends what matters), unless the
    // owner wants a failed batch written again on the next connection.
    if (!failure || !options_.rewrite_failed_batch) batch_.clear();
  }
  if (!failure) failure = asio::error::operation_aborted;
  co_return failure;
}

awaitable<void> Link::read(std::shared_ptr<Connection> connection, FrameReader frames) {
  try {
    while (!connection->done) {
      ReadOutcome r = co_await frames.next(connection->socket);
      if (connection->done) co_return;
      if (r.error) {
        give_up(connection, "the other side closed the connection (" + r.error.message() + ")");
        co_return;
      }
      if (r.frame_error) {
        give_up(connection, describe(r.frame_errc));
        co_return;
      }
      connection->heard = Clock::now();
      counters_.frames_read += 1;
      if (events_.on_frame && !events_.on_frame(r.frame.message)) {
        give_up(connection, "an unexpected frame from the other side");
        co_return;
      }
    }
  } catch (const std::exception& e) {
    give_up(connection, e.what());
  }
}

awaitable<void> Link::watch(std::shared_ptr<Connection> connection) {
  try {
    while (!connection->done) {
      connection->timer.expires_after(options_.ping_interval);
      co_await connection->timer.async_wait(use_nothrow);
      if (connection->done) co_return;
      const auto silent =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - connection->heard);
      if (silent >= options_.silence_limit) {
        if (connection->up) {
          counters_.silent_closes += 1;
        } else {
          counters_.connect_timeouts += 1;
        }
        give_up(connection,
                (connection->up ? "nothing heard for " : "no connection for ") +
                    std::to_string(silent.count()) + " ms",
                true);
        co_return;
      }
      // Through the queue: the answer then also proves that our own queue and writer move.
      if (connection->up) send(events_.ping());
    }
  } catch (const std::exception& e) {
    give_up(connection, e.what());
  }
}

}  // namespace vsr::net
