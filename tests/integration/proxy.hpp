#pragma once
// A TCP proxy for integration tests that fault the network between real processes. Each
// Proxy forwards the loopback connections it accepts on one port to one upstream port, on
// a thread of its own, and can be told, at any time, to:
//
//   - cut: close every open connection and refuse new ones (what a peer sees when the
//     other side is gone: a reset or a closed connection, at once);
//   - delay one direction: hold each chunk of bytes for a while before forwarding it,
//     keeping their order (a slow or congested path);
//   - black-hole one direction: stop forwarding and stop reading, but keep both sockets
//     open and send no reset (what a partition that drops packets looks like to TCP: the
//     sender's writes succeed until its buffers fill, and it is told nothing).
//
// A connection that was black-holed stays so after heal(): its bytes never arrive. Real TCP
// would retransmit them once the path is back, but only after its retransmission timer,
// which backs off to minutes, and never if a middlebox on the path has forgotten the
// connection; the endpoints must notice and reconnect. Connections opened after heal()
// pass. A delayed chunk keeps its release time across heal().
//
// It also records what each connection's dialler sent (recorded()), so that a test can
// replay a captured connection byte for byte.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vsr/net/asio.hpp"

namespace vsr::test {

class Proxy {
 public:
  /// The two directions of a proxied connection.
  enum class Direction : std::size_t {
    to_upstream = 0,  ///< bytes from the process that dialled the proxy
    to_dialer = 1,    ///< bytes from the upstream process back to the dialler
  };
  enum class Fault { none, delay, black_hole };

  Proxy(std::uint16_t listen_port, std::uint16_t upstream_port)
      : acceptor_(io_, net::tcp::endpoint(asio::ip::address_v4::loopback(), listen_port)),
        upstream_(asio::ip::address_v4::loopback(), upstream_port) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy() {
    io_.stop();
    thread_.join();
  }

  /// true: closes every open connection and refuses new ones; false: accepts again.
  void set_cut(bool cut) {
    asio::post(io_, [this, cut] {
      cut_ = cut;
      if (!cut) return;
      for (auto& link : links_) link->close();
      count_links();
    });
  }

  /// Sets the fault of one direction, for open and new connections. `delay` is for
  /// Fault::delay.
  void set_fault(Direction d, Fault fault, std::chrono::milliseconds delay = {}) {
    asio::post(io_, [this, d, fault, delay] {
      const std::size_t i = index(d);
      faults_[i] = fault;
      delays_[i] = fault == Fault::delay ? delay : std::chrono::milliseconds{0};
      if (fault != Fault::black_hole) return;
      for (auto& link : links_) link->hold(i);
      count_links();
    });
  }

  /// No cut and no fault in either direction (black-holed connections stay so).
  void heal() {
    set_cut(false);
    set_fault(Direction::to_upstream, Fault::none);
    set_fault(Direction::to_dialer, Fault::none);
  }

  /// Connections accepted so far (to see that a process reconnected).
  std::uint64_t accepted() const { return accepted_.load(); }
  /// Bytes forwarded so far in direction `d`.
  std::uint64_t forwarded(Direction d) const { return forwarded_[index(d)].load(); }
  /// The bytes each connection's dialler sent, one string per connection accepted (in
  /// accept order).
  std::vector<std::string> recorded() const {
    std::lock_guard lock(record_mutex_);
    return recorded_;
  }
  /// Open connections, and how many of them are black-holed in some direction.
  std::uint64_t open_links() const { return open_links_.load(); }
  std::uint64_t held_links() const { return held_links_.load(); }

 private:
  using Clock = std::chrono::steady_clock;

  static std::size_t index(Direction d) { return static_cast<std::size_t>(d); }

  struct Chunk {
    Clock::time_point release;
    std::string bytes;
  };

  // One proxied connection. Everything in it is touched only on the proxy's thread.
  struct Link {
    explicit Link(asio::io_context& io)
        : sockets{net::tcp::socket(io), net::tcp::socket(io)},
          wake{asio::steady_timer(io), asio::steady_timer(io)} {}
    void close() {
      if (closed) return;
      closed = true;
      asio::error_code ignored;
      for (auto& s : sockets) s.close(ignored);
      for (auto& t : wake) t.cancel();
    }
    void hold(std::size_t d) {
      held[d] = true;
      wake[d].cancel();
    }
    // sockets[0] was accepted from the dialler, sockets[1] connects to the upstream; bytes of
    // direction d are read from sockets[d] and written to sockets[1 - d].
    net::tcp::socket sockets[2];
    asio::steady_timer wake[2];         // the writer of a direction waits on it
    std::deque<Chunk> queue[2];         // read, not yet written
    Clock::time_point last_release[2];  // chunks leave in order
    bool held[2] = {false, false};      // black-holed: nothing is read or written again
    bool closed = false;
    std::size_t number = 0;  // index in recorded_
  };

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto link = std::make_shared<Link>(io_);
      auto [ec] = co_await acceptor_.async_accept(link->sockets[0], net::use_nothrow);
      if (ec) co_return;
      accepted_ += 1;
      if (cut_) {
        link->close();
        continue;
      }
      auto [cec] = co_await link->sockets[1].async_connect(upstream_, net::use_nothrow);
      if (cec || cut_) {
        link->close();
        continue;
      }
      {
        std::lock_guard lock(record_mutex_);
        link->number = recorded_.size();
        recorded_.emplace_back();
      }
      links_.push_back(link);
      for (std::size_t d = 0; d < 2; ++d) {
        if (faults_[d] == Fault::black_hole) link->hold(d);
        asio::co_spawn(io_, reader(link, d), asio::detached);
        asio::co_spawn(io_, writer(link, d), asio::detached);
      }
      count_links();
    }
  }

  net::awaitable<void> reader(std::shared_ptr<Link> link, std::size_t d) {
    std::vector<char> buffer(64 * 1024);
    while (!link->closed && !link->held[d]) {
      auto [ec, n] =
          co_await link->sockets[d].async_read_some(asio::buffer(buffer), net::use_nothrow);
      if (ec) {
        link->close();
        count_links();
        co_return;
      }
      // Bytes that reach a black hole are dropped; nothing follows them.
      if (link->closed || link->held[d]) co_return;
      if (d == index(Direction::to_upstream)) {
        std::lock_guard lock(record_mutex_);
        recorded_[link->number].append(buffer.data(), n);
      }
      const Clock::time_point release = std::max(Clock::now() + delays_[d], link->last_release[d]);
      link->last_release[d] = release;
      link->queue[d].push_back(Chunk{release, std::string(buffer.data(), n)});
      link->wake[d].cancel();
    }
  }

  net::awaitable<void> writer(std::shared_ptr<Link> link, std::size_t d) {
    asio::steady_timer& wake = link->wake[d];
    while (!link->closed && !link->held[d]) {
      std::deque<Chunk>& queue = link->queue[d];
      if (queue.empty() || queue.front().release > Clock::now()) {
        wake.expires_at(queue.empty() ? Clock::now() + std::chrono::hours(1)
                                      : queue.front().release);
        co_await wake.async_wait(net::use_nothrow);
        continue;
      }
      const Chunk chunk = std::move(queue.front());
      queue.pop_front();
      auto [ec, written] = co_await asio::async_write(link->sockets[1 - d],
                                                      asio::buffer(chunk.bytes), net::use_nothrow);
      (void)written;
      if (ec) {
        link->close();
        count_links();
        co_return;
      }
      forwarded_[d] += chunk.bytes.size();
    }
  }

  void count_links() {
    std::erase_if(links_, [](const auto& l) { return l->closed; });
    open_links_ = links_.size();
    held_links_ = static_cast<std::uint64_t>(std::count_if(
        links_.begin(), links_.end(), [](const auto& l) { return l->held[0] || l->held[1]; }));
  }

  asio::io_context io_{1};
  net::tcp::acceptor acceptor_;
  net::tcp::endpoint upstream_;
  // Only touched on the proxy's thread:
  bool cut_ = false;
  Fault faults_[2] = {Fault::none, Fault::none};
  std::chrono::milliseconds delays_[2] = {};
  // Open connections. Held here, not only by their coroutines: a black-holed connection has
  // none left, and must not close when they end.
  std::vector<std::shared_ptr<Link>> links_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> forwarded_[2] = {0, 0};
  std::atomic<std::uint64_t> open_links_{0};
  std::atomic<std::uint64_t> held_links_{0};
  mutable std::mutex record_mutex_;
  std::vector<std::string> recorded_;  // guarded by record_mutex_
  std::thread thread_;
};

}  // namespace vsr::test
