#pragma once
// The client library: every client command, `vsr status`, `vsr bench` and the tests talk
// to a cluster through it. It holds client.tnet's key only, so all it can send is a
// request (or a status query).
//
// A request is sent as (client id, request no) and retried with the same pair until a
// reply arrives or the caller's deadline passes, so it executes at most once (product.md
// §3). Finding the primary: replies carry the view, and the primary of view v is replica
// v mod n; the first attempt goes to that replica when a view is known, every later
// attempt (and the first when none is known) goes to every node, and only the primary
// answers. A new client id is registered (request no 0) before its first request.
//
// AsyncClient serves many concurrent logical clients over one connection per node
// (bench); Client wraps it in a private io_context for synchronous callers (CLI).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/core/message.hpp"
#include "vsr/net/asio.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/stream.hpp"
#include "vsr/node/status.hpp"

namespace vsr::node {

using Clock = std::chrono::steady_clock;

/// What became of one request.
struct Outcome {
  enum class Kind : std::uint8_t {
    reply,    ///< a definite reply (status ok, stale_request or evicted)
    unknown,  ///< no reply before the deadline: it may or may not have executed
    refused,  ///< a node refused the handshake (another key, cluster or protocol version)
              ///< before this client ever opened a session: nothing was sent, so the
              ///< request did not execute
  };
  Kind kind = Kind::unknown;
  core::Reply reply;   ///< when kind == reply
  std::string detail;  ///< when unknown or refused: why
  bool definite() const { return kind == Kind::reply; }
};

/// Why a node did not answer a status query.
struct Unreachable {
  enum class Why : std::uint8_t {
    connection,      ///< no connection (refused, reset, no route...)
    timeout,         ///< connected, or trying, but no answer before the deadline
    authentication,  ///< the node refused this client's key: another cluster's client.tnet
    handshake,       ///< the node refused the handshake for another reason (version...)
  };
  Why why = Why::timeout;
  std::string detail;  ///< e.g. "Connection refused"
};

/// "connection_failed", "timeout", "authentication_failed", "handshake_refused".
const char* to_string(Unreachable::Why why);

/// One logical client: a client id and, once registered, its session's number (the op of
/// the registration), which every request names.
struct ClientSession {
  std::string client_id;
  bool registered = false;
  core::Op session;
};

/// A fresh random client id: 32 lowercase hex digits.
std::string random_client_id();

/// The default request number: the wall clock in milliseconds since the Unix epoch times
/// 2^20, plus 20 random bits. Successive commands of one client id get increasing numbers
/// without keeping state (as long as the clock does not step back and they are at least a
/// millisecond apart), and two processes that share a client id pick the same number with
/// a chance of 2^-20 per millisecond they share. A client id still belongs to one process
/// at a time: two processes on one id refuse each other's requests as stale or reused.
core::RequestNo default_request_no();

/// Which nodes an attempt goes to. Pure logic, tested in tests/unit/node.
class PrimaryTracker {
 public:
  explicit PrimaryTracker(std::size_t node_count) : node_count_(node_count) {}
  /// A reply or status showed `view` is current (higher views win).
  void observe(core::View view);
  /// The primary of the highest view seen, if any was seen.
  std::optional<std::size_t> primary() const;
  /// Attempt 0 goes to the known primary only; later attempts (or all attempts while no
  /// view is known) go to every node.
  std::vector<std::size_t> targets(std::size_t attempt) const;
  core::View view() const { return view_.value_or(core::View{0}); }

 private:
  std::size_t node_count_;
  std::optional<core::View> view_;
};

/// Tuning of a client.
struct ClientOptions {
  /// How long one attempt waits for a reply before retrying (0: the config's
  /// request_timeout_ms).
  std::chrono::milliseconds attempt_timeout{0};
  std::chrono::milliseconds connect_timeout{1000};
};

/// A client on a caller's executor. All calls must come from that executor's thread.
class AsyncClient {
 public:
  AsyncClient(asio::any_io_executor executor, config::ClientConfig config,
              ClientOptions options = {});
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  /// Executes `operation` as request `request_no` of `session` (registering it first if
  /// needed), retrying until a reply or `deadline`.
  net::awaitable<Outcome> call(ClientSession& session, core::RequestNo request_no,
                               std::string operation, Clock::time_point deadline);

  /// Asks node `node` (index in the config) for its status. Err: unreachable or no answer.
  net::awaitable<Result<NodeStatus, Unreachable>> status(std::size_t node,
                                                         Clock::time_point deadline);

  /// Closes every connection; pending calls end as unknown. The client is unusable after.
  void close();

  const config::ClientConfig& config() const { return config_; }
  const PrimaryTracker& tracker() const { return tracker_; }

 private:
  struct Link;
  struct Waiter;

  net::awaitable<Outcome> exchange(const std::string& client_id, core::Op session,
                                   core::RequestNo request_no, std::string operation,
                                   Clock::time_point deadline);
  Link& link(std::size_t node);
  /// Queues `frame` on node `node`'s link (dialling it at the first use).
  void send_to(std::size_t node, const net::OutFrame& frame);
  void on_message(Link& link, std::string_view message);
  void link_failed(Link& link);

  asio::any_io_executor executor_;
  config::ClientConfig config_;
  ClientOptions options_;
  std::uint64_t cluster_id_;
  core::DecodeLimits limits_;
  net::Keyring keys_;
  PrimaryTracker tracker_;
  std::vector<std::unique_ptr<Link>> links_;
  std::map<std::pair<std::string, std::uint64_t>, Waiter*> calls_;
  std::map<std::uint64_t, Waiter*> status_calls_;
  std::uint64_t nonce_ = 0;
  std::uint64_t sessions_opened_ = 0;  // handshakes completed, on any link
  bool closed_ = false;
};

/// A synchronous client for commands: each call runs a private io_context until done.
class Client {
 public:
  explicit Client(config::ClientConfig config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// See AsyncClient::call; `timeout` is the overall budget.
  Outcome call(ClientSession& session, core::RequestNo request_no, std::string operation,
               std::chrono::milliseconds timeout);
  /// See AsyncClient::status.
  Result<NodeStatus, Unreachable> status(std::size_t node, std::chrono::milliseconds timeout);
  /// Status of every node in `nodes`, queried concurrently.
  std::vector<Result<NodeStatus, Unreachable>> status_all(const std::vector<std::size_t>& nodes,
                                                          std::chrono::milliseconds timeout);

  AsyncClient& async() { return *client_; }

 private:
  asio::io_context io_{1};
  std::unique_ptr<AsyncClient> client_;
};

}  // namespace vsr::node
