// The client library (client.hpp): links to the nodes, retries, primary finding.

#include "vsr/node/client.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "vsr/net/link.hpp"
#include "vsr/net/stream.hpp"
#include "vsr/node/settings.hpp"

namespace vsr::node {
namespace {

using net::awaitable;
using net::use_nothrow;

constexpr std::size_t link_queue_capacity = 4096;

}  // namespace

std::string random_client_id() {
  std::random_device entropy;
  std::string id;
  for (int i = 0; i < 4; ++i) id += fmt::format("{:08x}", entropy());
  return id;
}

core::RequestNo default_request_no() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  std::random_device entropy;
  // Below 2^63 (a wire integer) until the year 2248.
  return core::RequestNo{(ms << 20) | (entropy() & 0xfffffu)};
}

const char* to_string(Unreachable::Why why) {
  switch (why) {
    case Unreachable::Why::connection:
      return "connection_failed";
    case Unreachable::Why::timeout:
      return "timeout";
    case Unreachable::Why::authentication:
      return "authentication_failed";
    case Unreachable::Why::handshake:
      return "handshake_refused";
  }
  return "timeout";
}

// --- PrimaryTracker -----------------------------------------------------------------------

void PrimaryTracker::observe(core::View view) {
  if (!view_ || view > *view_) view_ = view;
}

std::optional<std::size_t> PrimaryTracker::primary() const {
  if (!view_ || node_count_ == 0) return std::nullopt;
  return static_cast<std::size_t>(view_->value % node_count_);
}

std::vector<std::size_t> PrimaryTracker::targets(std::size_t attempt) const {
  if (attempt == 0) {
    if (auto p = primary()) return {*p};
  }
  std::vector<std::size_t> all(node_count_);
  for (std::size_t i = 0; i < node_count_; ++i) all[i] = i;
  return all;
}

// --- AsyncClient --------------------------------------------------------------------------

/// A call waiting for its answer: the reader fills it and cancels its timer.
struct AsyncClient::Waiter {
  asio::steady_timer* timer = nullptr;
  std::size_t node = 0;  // status calls: the node asked
  std::optional<core::Reply> reply;
  std::optional<NodeStatus> status;
  std::optional<Unreachable> failure;  // status calls: the node is unreachable
  std::optional<std::string> refused;  // calls: a node refused the handshake, nothing sent
};

/// The connection to one node: a bounded queue and a worker that connects and writes it.
struct AsyncClient::Link {
  Link(std::size_t i, config::Node n) : index(i), node(std::move(n)) {}
  std::size_t index;
  config::Node node;
  std::unique_ptr<net::Link> link;  // made at the first use
  bool refused = false;             // the node's last answer to the handshake was a refusal
  Unreachable::Why why = Unreachable::Why::connection;  // of the last failure
  std::string last_error;
};

AsyncClient::AsyncClient(asio::any_io_executor executor, config::ClientConfig config,
                         ClientOptions options)
    : executor_(std::move(executor)),
      config_(std::move(config)),
      options_(options),
      cluster_id_(core_cluster_id(config_.cluster_id)),
      limits_(client_decode_limits(config_)),
      keys_(client_keyring(config_)),
      tracker_(config_.nodes.size()) {
  if (options_.attempt_timeout.count() == 0) {
    options_.attempt_timeout = std::chrono::milliseconds(config_.request_timeout_ms);
  }
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    links_.push_back(std::make_unique<Link>(i, config_.nodes[i]));
  }
}

AsyncClient::~AsyncClient() {
  close();
}

void AsyncClient::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& l : links_) {
    if (l->link) l->link->close();
  }
  for (auto& [key, waiter] : calls_) waiter->timer->cancel();
  for (auto& [key, waiter] : status_calls_) waiter->timer->cancel();
}

AsyncClient::Link& AsyncClient::link(std::size_t node) {
  Link& l = *links_.at(node);
  if (!l.link && !closed_) {
    net::LinkOptions o;
    o.handshake = net::HandshakeParams{cluster_id_, core::protocol_version};
    o.kind = net::KeyKind::client;
    o.backoff_min = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(1000);
    o.queue_capacity = link_queue_capacity;
    o.frames_per_write = RuntimeLimits::frames_per_write;
    o.max_frame_bytes = max_frame_bytes();
    // A request whose write failed goes out again on the next connection.
    o.rewrite_failed_batch = true;
    net::LinkEvents e;
    e.on_frame = [this, &l](std::string_view message) {
      on_message(l, message);
      return true;
    };
    e.on_up = [this] { sessions_opened_ += 1; };
    e.on_down = [this, &l](const net::LinkDown& down) {
      l.last_error = down.refused ? down.refused->detail : down.why;
      l.refused = down.refused.has_value();
      l.why = !down.refused ? Unreachable::Why::connection
              : down.refused->reason == net::HandshakeErrc::authentication
                  ? Unreachable::Why::authentication
                  : Unreachable::Why::handshake;
      link_failed(l);
    };
    l.link = std::make_unique<net::Link>(executor_, l.node.address.host, l.node.address.port,
                                         keys_.client, o, std::move(e), std::random_device{}());
    asio::co_spawn(executor_, l.link->run(), asio::detached);
  }
  return l;
}

void AsyncClient::send_to(std::size_t node, const net::OutFrame& frame) {
  Link& l = link(node);
  if (l.link) l.link->send(frame);
}

void AsyncClient::link_failed(Link& l) {
  // Status queries to an unreachable node end now, not at their deadline.
  for (auto& [nonce, waiter] : status_calls_) {
    if (waiter->node == l.index && !waiter->status) {
      waiter->failure = Unreachable{l.why, l.last_error};
      waiter->timer->cancel();
    }
  }
  // A node that refused the handshake (another key, cluster or version) before any session
  // was ever opened: nothing this client queued has been sent anywhere, so every call can
  // end with that definite answer instead of waiting for its deadline.
  if (l.refused && sessions_opened_ == 0) {
    for (auto& [key, waiter] : calls_) {
      if (!waiter->reply && !waiter->refused) {
        waiter->refused =
            l.why == Unreachable::Why::authentication
                ? fmt::format(
                      "authentication failed: this client.tnet does not belong to this "
                      "cluster (node {} refused its key)",
                      l.node.name)
                : fmt::format("node {} refused the connection: {}", l.node.name, l.last_error);
        waiter->timer->cancel();
      }
    }
  }
}

void AsyncClient::on_message(Link& l, std::string_view message) {
  // Replies are the hot path: decode as a status reply only what can be one.
  if (message.find("status_reply") != std::string_view::npos &&
      runtime_kind(message) == "status_reply") {
    auto decoded = decode_status_reply(message, cluster_id_);
    if (!decoded) return;
    auto it = status_calls_.find(decoded->nonce);
    if (it == status_calls_.end() || it->second->node != l.index) return;
    tracker_.observe(core::View{decoded->status.view});
    it->second->status = std::move(decoded->status);
    it->second->timer->cancel();
    return;
  }
  auto decoded = core::decode(message, limits_);
  if (!decoded) return;
  auto* reply = std::get_if<core::Reply>(&*decoded);
  if (reply == nullptr) return;
  tracker_.observe(reply->view);
  auto it = calls_.find({reply->client_id, reply->request_no.value});
  if (it == calls_.end() || it->second->reply) return;
  it->second->reply = std::move(*reply);
  it->second->timer->cancel();
}

awaitable<Outcome> AsyncClient::call(ClientSession& session, core::RequestNo request_no,
                                     std::string operation, Clock::time_point deadline) {
  if (!session.registered) {
    Outcome registered =
        co_await exchange(session.client_id, core::Op{0}, core::RequestNo{0}, {}, deadline);
    if (!registered.definite() || registered.reply.status != core::ReplyStatus::ok) {
      co_return registered;
    }
    // A new session, or the one this client id already has: its number is the op.
    session.registered = true;
    session.session = registered.reply.op;
  }
  co_return co_await exchange(session.client_id, session.session, request_no, std::move(operation),
                              deadline);
}

awaitable<Outcome> AsyncClient::exchange(const std::string& client_id, core::Op session,
                                         core::RequestNo request_no, std::string operation,
                                         Clock::time_point deadline) {
  Outcome outcome;
  if (closed_) {
    outcome.detail = "the client is closed";
    co_return outcome;
  }
  core::Request request{tracker_.view(), client_id, request_no, std::move(operation), session};
  const net::OutFrame frame =
      net::OutFrame{core::make_bytes(core::encode(cluster_id_, core::Message{std::move(request)}))};
  asio::steady_timer timer(executor_);
  Waiter waiter;
  waiter.timer = &timer;
  const auto key = std::make_pair(client_id, request_no.value);
  VSR_ASSERT_MSG(calls_.count(key) == 0, "one call per (client id, request no) at a time");
  calls_[key] = &waiter;
  for (std::size_t attempt = 0; !closed_; ++attempt) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    for (std::size_t node : tracker_.targets(attempt)) {
      send_to(node, frame);  // a full queue: this attempt skips the node
    }
    timer.expires_at(std::min(deadline, now + options_.attempt_timeout));
    co_await timer.async_wait(use_nothrow);
    if (waiter.reply || waiter.refused) break;
  }
  calls_.erase(key);
  if (waiter.reply) {
    outcome.kind = Outcome::Kind::reply;
    outcome.reply = std::move(*waiter.reply);
  } else if (waiter.refused) {
    outcome.kind = Outcome::Kind::refused;
    outcome.detail = std::move(*waiter.refused);
  } else {
    outcome.detail = closed_ ? "the client was closed" : "no reply before the timeout";
  }
  co_return outcome;
}

awaitable<Result<NodeStatus, Unreachable>> AsyncClient::status(std::size_t node,
                                                               Clock::time_point deadline) {
  const std::uint64_t nonce = ++nonce_;
  const net::OutFrame frame =
      net::OutFrame{core::make_bytes(encode_status_request(cluster_id_, nonce))};
  asio::steady_timer timer(executor_);
  Waiter waiter;
  waiter.timer = &timer;
  waiter.node = node;
  status_calls_[nonce] = &waiter;
  while (!closed_ && !waiter.status && !waiter.failure) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    send_to(node, frame);
    timer.expires_at(std::min(deadline, now + std::chrono::milliseconds(500)));
    co_await timer.async_wait(use_nothrow);
  }
  status_calls_.erase(nonce);
  if (waiter.status) co_return std::move(*waiter.status);
  if (waiter.failure) co_return fail(*waiter.failure);
  co_return fail(Unreachable{Unreachable::Why::timeout, "no answer before the timeout"});
}

// --- Client -------------------------------------------------------------------------------

namespace {

// Runs `task` on `io` until it completes; rethrows what it threw.
template <class T>
T run_to_completion(asio::io_context& io, awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(
      io,
      [&out, t = std::move(task)]() mutable -> awaitable<void> {
        out.emplace(co_await std::move(t));
      },
      [&](std::exception_ptr e) {
        error = e;
        done = true;
      });
  io.restart();
  while (!done) {
    if (io.run_one() == 0) break;
  }
  if (error) std::rethrow_exception(error);
  VSR_ASSERT_MSG(out.has_value(), "a client call ran out of work before completing");
  return std::move(*out);
}

}  // namespace

Client::Client(config::ClientConfig config, ClientOptions options)
    : client_(std::make_unique<AsyncClient>(io_.get_executor(), std::move(config), options)) {}

Client::~Client() {
  client_->close();
  io_.restart();
  io_.poll();  // let the coroutines see the closed sockets and end
  client_.reset();
}

Outcome Client::call(ClientSession& session, core::RequestNo request_no, std::string operation,
                     std::chrono::milliseconds timeout) {
  return run_to_completion(
      io_, client_->call(session, request_no, std::move(operation), Clock::now() + timeout));
}

Result<NodeStatus, Unreachable> Client::status(std::size_t node,
                                               std::chrono::milliseconds timeout) {
  return run_to_completion(io_, client_->status(node, Clock::now() + timeout));
}

std::vector<Result<NodeStatus, Unreachable>> Client::status_all(
    const std::vector<std::size_t>& nodes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  AsyncClient& c = *client_;
  auto all = [&]() -> awaitable<std::vector<Result<NodeStatus, Unreachable>>> {
    std::vector<std::optional<Result<NodeStatus, Unreachable>>> slots(nodes.size());
    std::size_t remaining = nodes.size();
    asio::steady_timer done(co_await asio::this_coro::executor, Clock::time_point::max());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      asio::co_spawn(
          co_await asio::this_coro::executor,
          [&, i]() -> awaitable<void> {
            slots[i].emplace(co_await c.status(nodes[i], deadline));
            if (--remaining == 0) done.cancel();
          },
          asio::detached);
    }
    if (remaining > 0) co_await done.async_wait(use_nothrow);
    std::vector<Result<NodeStatus, Unreachable>> out;
    for (auto& slot : slots) out.push_back(std::move(*slot));
    co_return out;
  };
  return run_to_completion(io_, all());
}

}  // namespace vsr::node
