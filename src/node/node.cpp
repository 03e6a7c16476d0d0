// The daemon (node.hpp): the replica actor, its TCP sessions and peer links, the tick timer
// and the disk thread, wired as docs/vsr/architecture.md's "The runtime" describes. Every coroutine
// runs on the io_context's one thread, which is therefore the actor's strand; the disk thread talks
// to it only by posting completions.

#include "vsr/node/node.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vsr/app/composite.hpp"
#include "vsr/core/replica.hpp"
#include "vsr/io/file.hpp"
#include "vsr/net/asio.hpp"
#include "vsr/net/stream.hpp"
#include "vsr/node/admission.hpp"
#include "vsr/node/peer_link.hpp"
#include "vsr/node/settings.hpp"
#include "vsr/node/status.hpp"
#include "vsr/storage/replica_disk.hpp"

namespace vsr::node {
namespace {

using namespace std::chrono_literals;
using net::awaitable;
using net::tcp;
using net::use_nothrow;

class Runtime;

std::uint64_t realtime_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string endpoint_text(const tcp::socket& socket) {
  asio::error_code ec;
  const tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

const char* status_name(core::Status status) {
  switch (status) {
    case core::Status::normal:
      return "normal";
    case core::Status::view_change:
      return "view_change";
    case core::Status::recovering:
      return "recovering";
  }
  return "recovering";
}

// --- the disk thread --------------------------------------------------------------------

/// Runs ReplicaDisk on its own thread. submit() hands it storage effects in issue order; each
/// time it wakes it executes everything pending as one group commit and reports the
/// highest durable write id through `done` (called on the disk thread; it posts).
class DiskWorker {
 public:
  using Done = std::function<void(Result<std::uint64_t, std::string>)>;

  DiskWorker(storage::ReplicaDisk& disk, Done done) : disk_(disk), done_(std::move(done)) {
    thread_ = std::thread([this] { loop(); });
  }
  DiskWorker(const DiskWorker&) = delete;
  DiskWorker& operator=(const DiskWorker&) = delete;
  ~DiskWorker() { stop(); }

  void submit(std::vector<core::Effect> effects) {
    bool idle = false;
    {
      std::lock_guard lock(mutex_);
      for (core::Effect& e : effects) pending_.push_back(std::move(e));
      idle = idle_;
    }
    // A busy disk thread takes what is pending when it finishes its batch: waking it costs
    // a futex call for nothing.
    if (idle) wake_.notify_one();
  }

  /// Finishes what was submitted, then joins. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::vector<core::Effect> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        idle_ = true;
        wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        idle_ = false;
        if (pending_.empty()) return;  // stopping, and nothing left
        batch.swap(pending_);
      }
      auto result = disk_.execute(batch);
      batch.clear();
      const bool failed = !result.ok();
      done_(std::move(result));
      if (failed) return;  // fatal: never write again after a failed fsync
    }
  }

  storage::ReplicaDisk& disk_;
  Done done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<core::Effect> pending_;  // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_
  bool idle_ = false;                  // guarded by mutex_: the thread waits for work
  std::thread thread_;
};

// --- inbound sessions -------------------------------------------------------------------

/// A message from a session to the actor.
struct Inbound {
  std::shared_ptr<class Session> session;
  net::KeyKind authority = net::KeyKind::client;
  std::string message;
};

/// One accepted TCP connection: a reader() that hands frames to the actor through its
/// inbox, and a writer() that sends what the actor queued (replies, status).
class Session : public std::enable_shared_from_this<Session> {
 public:
  /// `accepted` numbers the node's connections in the order they were accepted.
  Session(tcp::socket socket, Runtime& runtime, std::uint64_t accepted);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  /// Queues a frame for the writer; false (dropped) when the queue is full or closed.
  bool deliver(net::OutFrame frame);
  void close();
  bool closed() const { return closed_; }
  const std::string& remote() const { return remote_; }
  /// True once a replica-key connection sent a hello the actor accepted.
  bool introduced() const { return introduced_; }
  void set_introduced() { introduced_ = true; }
  std::uint64_t accepted() const { return accepted_; }
  /// The key its first frame opened under (the handshake's); none before (admission.hpp).
  std::optional<net::KeyKind> authority() const { return authority_; }
  std::chrono::steady_clock::time_point opened_at() const { return opened_at_; }
  std::chrono::steady_clock::time_point last_frame_at() const { return last_frame_at_; }

 private:
  awaitable<void> reader();
  awaitable<void> writer(net::CipherState send);

  tcp::socket socket_;
  Runtime& runtime_;
  net::Channel<net::OutFrame> out_;
  std::string remote_;
  std::uint64_t accepted_;
  std::optional<net::KeyKind> authority_;
  std::chrono::steady_clock::time_point opened_at_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_frame_at_ = opened_at_;
  bool closed_ = false;
  bool introduced_ = false;
};

// --- the actor --------------------------------------------------------------------------

class Runtime {
 public:
  Runtime(const NodeSpec& spec, std::unique_ptr<app::Composite> app,
          std::unique_ptr<storage::ReplicaDisk> disk, std::uint64_t seed);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Result<void, NodeError> run();

  // For sessions and peers (all on the io thread).
  asio::io_context& io() { return io_; }
  net::Channel<Inbound>& inbox() { return inbox_; }
  const net::Keyring& keys() const { return keys_; }
  net::HandshakeParams handshake_params() const {
    return net::HandshakeParams{options_.cluster_id, core::protocol_version};
  }
  /// Counts and logs rejected input (rate-limited); the caller closes the connection.
  void count_rejected(const std::string& from, std::string_view reason) {
    rejected_ += 1;
    log_refusal(reason, fmt::format("rejected input from {}; closing the connection", from));
  }
  /// Logs a refused or closed connection, at most rejection_log_lines_per_10s lines per 10 s
  /// (cluster.tnet; the rest are summarised).
  void log_refusal(std::string_view reason, std::string_view detail) {
    if (auto line = refusals_.note(reason, detail, std::chrono::steady_clock::now())) {
      spdlog::warn("{}", *line);
    }
  }
  const AdmissionLimits& admission() const { return admission_; }
  /// A session's first frame passed its MAC under `authority`. False: over the limit of
  /// its kind; the session must close.
  bool on_authenticated(Session& session, net::KeyKind authority);
  /// The answer to a peer link's ping.
  net::OutFrame pong_frame(std::uint64_t nonce) const {
    auto message = std::make_shared<const std::string>(encode_pong(options_.cluster_id, nonce));
    return net::OutFrame{std::move(message)};
  }
  /// The nonce of `frame` when it is a peer link's ping.
  std::optional<std::uint64_t> ping_nonce(const net::Frame& frame) const {
    // Cheap checks first: this runs on every frame a peer sends.
    if (frame.authority != net::KeyKind::replica || frame.message.size() > ping_bytes_max ||
        frame.message.find("4:kind,4:ping,") == std::string_view::npos) {
      return std::nullopt;
    }
    auto nonce = decode_ping(frame.message, options_.cluster_id);
    if (!nonce) return std::nullopt;  // the actor refuses it
    return *nonce;
  }
  /// The first frame of every outbound peer link: this replica and the apps it serves.
  net::OutFrame hello_frame() const {
    auto message = std::make_shared<const std::string>(
        encode_hello(options_.cluster_id, Hello{static_cast<std::uint32_t>(spec_.replica), apps_}));
    return net::OutFrame{std::move(message)};
  }
  void add_session(Session* session) {
    sessions_.insert(session);
    unauthenticated_[session->accepted()] = session;
  }
  void remove_session(Session* session) {
    sessions_.erase(session);
    unauthenticated_.erase(session->accepted());
    if (session->authority() == net::KeyKind::client) clients_ -= 1;
    if (session->authority() == net::KeyKind::replica) replica_sessions_ -= 1;
  }
  std::size_t session_count() const { return sessions_.size(); }

 private:
  awaitable<void> actor();
  awaitable<void> ticker();
  awaitable<void> accept_loop(tcp::acceptor& acceptor);
  /// Once a second: closes connections past their handshake deadline and idle clients, and
  /// logs the summaries of refusals.
  awaitable<void> sweeper();
  void handle(Inbound& in);
  void handle_client(Inbound& in);
  void handle_hello(Inbound& in);
  void answer_status(Inbound& in);
  void reject(Inbound& in, std::string_view reason);
  void drain();
  void send_to_replica(const core::SendToReplica& send);
  void send_to_client(const core::SendToClient& send);
  void route(const std::string& client_id, const std::shared_ptr<Session>& session);
  void on_disk(Result<std::uint64_t, std::string> result);
  void observe();
  NodeStatus status() const;

  const NodeSpec& spec_;
  const config::Node& self_;
  core::Options options_;
  core::DecodeLimits limits_;
  net::Keyring keys_;
  asio::io_context io_{1};
  net::Channel<Inbound> inbox_;
  std::mt19937_64 rng_;
  std::unique_ptr<app::Composite> app_;
  std::string apps_;  // served app names, sorted, comma-separated (the hello compares them)
  std::unique_ptr<storage::ReplicaDisk> disk_;
  core::Replica replica_;
  std::unique_ptr<DiskWorker> disk_worker_;
  std::vector<std::unique_ptr<PeerLink>> peers_;       // null at our own index
  std::vector<std::weak_ptr<Session>> peer_sessions_;  // each peer's link to us: the latest
  std::unordered_map<std::string, std::weak_ptr<Session>> routes_;  // client id -> session
  std::unordered_set<Session*> sessions_;  // open sessions, for the limit and shutdown
  AdmissionLimits admission_;
  RejectionLog refusals_{config::limits::rejection_log_lines_per_10s.default_value,
                         std::chrono::seconds(10)};
  std::map<std::uint64_t, Session*> unauthenticated_;  // by accept number: oldest first
  std::size_t clients_ = 0;                            // authenticated client sessions
  std::size_t replica_sessions_ = 0;                   // authenticated peer sessions
  std::uint64_t rejected_ = 0;      // frames and client messages rejected by the runtime
  std::uint64_t accepted_ = 0;      // connections accepted so far (numbers sessions)
  std::uint64_t storage_done_ = 0;  // highest write id reported to the core
  std::optional<std::string> fatal_;
  bool restored_ = false;  // the RESTORED marker is on disk: cleared once durably normal
  bool stopping_ = false;  // set once io_.run() returned: nothing new is started
  // What observe() last logged.
  core::View seen_view_{~std::uint64_t{0}};
  core::Status seen_status_ = core::Status::recovering;
  std::uint64_t seen_repaired_ = 0;
  std::uint64_t seen_core_rejected_ = 0;
};

// --- Session ----------------------------------------------------------------------------

Session::Session(tcp::socket socket, Runtime& runtime, std::uint64_t accepted)
    : socket_(std::move(socket)),
      runtime_(runtime),
      out_(runtime.io(), RuntimeLimits::session_queue_capacity),
      remote_(endpoint_text(socket_)),
      accepted_(accepted) {
  runtime_.add_session(this);
}

Session::~Session() {
  runtime_.remove_session(this);
}

void Session::start() {
  // The reader runs the handshake, then starts the writer with the session's sending key.
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->reader(); },
      asio::detached);
}

bool Session::deliver(net::OutFrame frame) {
  if (closed_) return false;
  return out_.try_send(asio::error_code{}, std::move(frame));
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  out_.close();
}

awaitable<void> Session::reader() {
  try {
    // Until a frame authenticates, the connection may send one client-sized frame at most
    // (and before its handshake completes, handshake_bytes_max).
    net::FrameReader frames(runtime_.admission().client_frame_bytes_max);
    const net::HandshakeOutcome handshake =
        co_await frames.accept(socket_, runtime_.keys(), runtime_.handshake_params());
    if (handshake.failed) {
      runtime_.count_rejected(remote_, fmt::format("{} ({})", net::describe(handshake.failed->code),
                                                   handshake.failed->detail));
    }
    if (!handshake.ok()) {
      close();
      co_return;
    }
    asio::co_spawn(
        socket_.get_executor(),
        [self = shared_from_this(), send = handshake.send] { return self->writer(send); },
        asio::detached);
    while (!closed_) {
      net::ReadOutcome r = co_await frames.next(socket_);
      if (r.error) break;
      if (r.frame_error) {
        runtime_.count_rejected(remote_, net::describe(r.frame_errc));
        break;
      }
      last_frame_at_ = std::chrono::steady_clock::now();
      if (!authority_) {
        // The first frame that opens proves the handshake was not a replayed offer.
        if (!runtime_.on_authenticated(*this, r.frame.authority)) break;
        authority_ = r.frame.authority;
        if (*authority_ == net::KeyKind::replica) frames.set_max_frame_bytes(max_frame_bytes());
      }
      // A peer link's ping is answered here, not by the actor: the pong says that this
      // connection reaches a node that reads it (peer_link.hpp).
      if (auto nonce = runtime_.ping_nonce(r.frame)) {
        deliver(runtime_.pong_frame(*nonce));
        continue;
      }
      Inbound in{shared_from_this(), r.frame.authority, std::string(r.frame.message)};
      // Hand over without suspending while the inbox has room: a suspension per frame would
      // put every frame of a read behind everything else queued on the io thread.
      if (runtime_.inbox().try_send(asio::error_code{}, std::move(in))) continue;
      auto [ec] =
          co_await runtime_.inbox().async_send(asio::error_code{}, std::move(in), use_nothrow);
      if (ec) break;
    }
  } catch (const std::exception& e) {
    spdlog::error("session {}: {}", remote_, e.what());
  }
  close();
}

awaitable<void> Session::writer(net::CipherState send) {
  try {
    std::vector<net::OutFrame> batch;
    net::FrameWriter frames(send);
    while (!closed_) {
      auto [ec, frame] = co_await out_.async_receive(use_nothrow);
      if (ec) break;
      batch.push_back(std::move(frame));
      while (batch.size() < RuntimeLimits::frames_per_write &&
             out_.try_receive(
                 [&](asio::error_code, net::OutFrame f) { batch.push_back(std::move(f)); })) {
      }
      if (co_await frames.write(socket_, batch)) break;
      batch.clear();
    }
  } catch (const std::exception& e) {
    spdlog::error("session {}: {}", remote_, e.what());
  }
  close();
}

// --- Runtime ----------------------------------------------------------------------------

Runtime::Runtime(const NodeSpec& spec, std::unique_ptr<app::Composite> app,
                 std::unique_ptr<storage::ReplicaDisk> disk, std::uint64_t seed)
    : spec_(spec),
      self_(spec.cluster.nodes[spec.replica]),
      options_(core_options(spec.cluster)),
      limits_(core::decode_limits(options_)),
      keys_(replica_keyring(spec.cluster)),
      inbox_(io_, RuntimeLimits::inbox_capacity),
      rng_(seed),
      app_(std::move(app)),
      apps_(fmt::format("{}", fmt::join(app_->served_apps(), ","))),
      disk_(std::move(disk)),
      replica_(options_, core::ReplicaIndex{static_cast<std::uint32_t>(spec.replica)}, *app_,
               seed) {}

Result<void, NodeError> Runtime::run() {
  // Listen first: a node that cannot bind must not start talking to its peers.
  tcp::acceptor acceptor(io_);
  {
    asio::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(self_.address.host, std::to_string(self_.address.port), ec);
    if (!ec && endpoints.empty()) ec = asio::error::host_not_found;
    if (!ec) {
      const tcp::endpoint endpoint = endpoints.begin()->endpoint();
      acceptor.open(endpoint.protocol(), ec);
      if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor.bind(endpoint, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return fail(NodeError{NodeError::Kind::environment,
                            fmt::format("node {} cannot listen on {}: {}; is another process "
                                        "using that port?",
                                        self_.name, self_.address.to_string(), ec.message())});
    }
  }

  // Descriptors: raise the soft limit to the hard one, and fit the connection limits under
  // it, keeping a reserve for the node's files and peer links.
  admission_ = admission_limits(raise_descriptor_limit(), spec_.cluster.nodes.size(),
                                spec_.cluster.connections);
  refusals_.set_lines_max(admission_.rejection_log_lines);
  spdlog::info(
      "node {}: {} file descriptors: up to {} client connections, {} not yet authenticated "
      "(closed after {} ms without an authenticated frame), {} from peers",
      self_.name, admission_.descriptors, admission_.client_max, admission_.unauthenticated_max,
      admission_.handshake_timeout.count(), admission_.replica_max);

  disk_worker_ = std::make_unique<DiskWorker>(*disk_, [this](auto result) {
    asio::post(io_, [this, r = std::move(result)]() mutable { on_disk(std::move(r)); });
  });
  restored_ = disk_->restored_reason().has_value();
  if (restored_) spdlog::warn("node {}: {}", self_.name, *disk_->restored_reason());
  replica_.open(disk_->take_durable_state());
  spdlog::info("node {} (replica {} of {}) listening on {}; view {} op {} commit {} status {}",
               self_.name, spec_.replica, spec_.cluster.nodes.size(), self_.address.to_string(),
               replica_.view().value, replica_.op().value, replica_.commit_min().value,
               status_name(replica_.status()));
  if (replica_.asking()) {
    // An empty directory is a new replica or a wiped one; the core cannot tell, so it asks.
    spdlog::info(
        "node {}: no replica state yet (a new or a wiped directory): asking the other "
        "replicas what they hold; status recovering, no votes until enough of them answer",
        self_.name);
  }
  drain();

  peer_sessions_.resize(spec_.cluster.nodes.size());
  const PeerLinkOptions link_options = peer_link_options(spec_.cluster);
  for (std::size_t i = 0; i < spec_.cluster.nodes.size(); ++i) {
    if (i == spec_.replica) {
      peers_.push_back(nullptr);
      continue;
    }
    const config::Node& peer = spec_.cluster.nodes[i];
    peers_.push_back(std::make_unique<PeerLink>(io_, peer.name, peer.address, keys_, hello_frame(),
                                                link_options, rng_()));
    asio::co_spawn(io_, peers_.back()->run(), asio::detached);
  }
  asio::co_spawn(io_, actor(), asio::detached);
  asio::co_spawn(io_, ticker(), asio::detached);
  asio::co_spawn(io_, accept_loop(acceptor), asio::detached);
  asio::co_spawn(io_, sweeper(), asio::detached);

  asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("node {}: signal {}, stopping", self_.name, signal);
    io_.stop();
  });

  io_.run();

  // Graceful stop: the disk thread finishes the writes it was given; then files close.
  disk_worker_->stop();
  // Let every coroutine see its channel or socket closed and end while what it uses is
  // still alive; the io_context then destroys nothing that points into a dead object.
  asio::error_code ignored;
  acceptor.close(ignored);
  inbox_.close();
  for (auto& peer : peers_) {
    if (peer) peer->close();
  }
  for (Session* session : std::vector<Session*>(sessions_.begin(), sessions_.end())) {
    session->close();
  }
  stopping_ = true;
  io_.restart();
  io_.poll();
  if (fatal_) return fail(NodeError{NodeError::Kind::environment, *fatal_});
  spdlog::info("node {} stopped", self_.name);
  return {};
}

awaitable<void> Runtime::accept_loop(tcp::acceptor& acceptor) {
  asio::steady_timer pause(io_);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // E.g. out of file descriptors: wait a little instead of spinning.
      log_refusal(ec.message(), "accept failed");
      pause.expires_after(100ms);
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    if (unauthenticated_.size() >= admission_.unauthenticated_max) {
      // Make room by closing the oldest connection that has not authenticated: an honest
      // client or peer authenticates at once, a silent one only holds a slot.
      Session* oldest = unauthenticated_.begin()->second;
      unauthenticated_.erase(unauthenticated_.begin());
      log_refusal(
          fmt::format("{} connections not yet authenticated (the limit)",
                      admission_.unauthenticated_max),
          fmt::format("closed the oldest unauthenticated connection, from {}", oldest->remote()));
      oldest->close();
    }
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    accepted_ += 1;
    std::make_shared<Session>(std::move(socket), *this, accepted_)->start();
  }
}

bool Runtime::on_authenticated(Session& session, net::KeyKind authority) {
  unauthenticated_.erase(session.accepted());
  if (authority == net::KeyKind::client) {
    if (clients_ >= admission_.client_max) {
      log_refusal(fmt::format("{} client connections open (the limit)", admission_.client_max),
                  fmt::format("refused a client connection from {}", session.remote()));
      return false;
    }
    clients_ += 1;
    return true;
  }
  if (replica_sessions_ >= admission_.replica_max) {
    log_refusal(fmt::format("{} peer connections open (the limit)", admission_.replica_max),
                fmt::format("refused a peer connection from {}", session.remote()));
    return false;
  }
  replica_sessions_ += 1;
  return true;
}

awaitable<void> Runtime::sweeper() {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(1s);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec || stopping_) co_return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<Session*> late;
    for (const auto& [accepted, session] : unauthenticated_) {
      if (now - session->opened_at() > admission_.handshake_timeout) late.push_back(session);
    }
    for (Session* session : late) {
      unauthenticated_.erase(session->accepted());
      log_refusal(
          fmt::format("no authenticated frame within {} ms", admission_.handshake_timeout.count()),
          fmt::format("closed a connection from {}", session->remote()));
      session->close();
    }
    std::vector<Session*> idle;
    for (Session* session : sessions_) {
      if (session->authority() == net::KeyKind::client && !session->closed() &&
          now - session->last_frame_at() > admission_.client_idle_timeout) {
        idle.push_back(session);
      }
    }
    for (Session* session : idle) {
      spdlog::debug("closing the client connection from {}: idle for {} ms", session->remote(),
                    admission_.client_idle_timeout.count());
      session->close();
    }
    for (const std::string& line : refusals_.flush(now)) spdlog::warn("{}", line);
  }
}

awaitable<void> Runtime::actor() {
  for (;;) {
    auto [ec, in] = co_await inbox_.async_receive(use_nothrow);
    if (ec) co_return;
    handle(in);
    // Take what else is waiting before executing effects, so that one wake-up of the
    // disk thread sees them all (group commit).
    for (std::size_t more = 0; more < RuntimeLimits::inbox_batch; ++more) {
      if (!inbox_.try_receive([&](asio::error_code, Inbound next) { handle(next); })) break;
    }
    drain();
  }
}

awaitable<void> Runtime::ticker() {
  asio::steady_timer timer(io_);
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    next += tick_duration;
    timer.expires_at(next);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec || stopping_) co_return;
    const auto now = std::chrono::steady_clock::now();
    if (now - next > 1s) next = now;  // after a long stall (SIGSTOP), do not replay ticks
    replica_.tick(realtime_ms());
    drain();
  }
}

void Runtime::handle(Inbound& in) {
  if (in.session->closed()) return;  // its connection was already refused
  if (in.authority == net::KeyKind::client) {
    handle_client(in);
    return;
  }
  if (!in.session->introduced()) {
    handle_hello(in);
    return;
  }
  const std::uint64_t before = replica_.counters().rejected_messages;
  replica_.on_message(std::string_view(in.message));
  if (replica_.counters().rejected_messages != before) {
    // Decode again (rare) only to say why. A message that does not decode closes the
    // connection; one that decodes but breaks a protocol rule (e.g. a Commit from a
    // replica that is not the primary, which races can produce) is logged and dropped.
    auto decoded = core::decode(in.message, limits_);
    if (decoded) {
      spdlog::debug("rejected a {} from {}: not valid in view {}", core::message_name(*decoded),
                    in.session->remote(), replica_.view().value);
      return;
    }
    spdlog::warn("rejected message from {}: {}; closing the connection", in.session->remote(),
                 decoded.error());
    in.session->close();
  }
}

void Runtime::handle_hello(Inbound& in) {
  if (runtime_kind(in.message) != "hello") {
    reject(in, "a replica message before the link's hello");
    return;
  }
  auto hello = decode_hello(in.message, options_.cluster_id);
  if (!hello) {
    reject(in, hello.error());
    return;
  }
  if (hello->apps != apps_) {
    // Replicas serving different apps would execute the same op differently: refuse the
    // peer rather than let it join (product.md: composition is never silent).
    const std::string peer = hello->replica < spec_.cluster.nodes.size()
                                 ? spec_.cluster.nodes[hello->replica].name
                                 : fmt::format("replica {}", hello->replica);
    spdlog::error(
        "node {} serves apps [{}] but this node serves [{}]: refusing it; start "
        "every node of the cluster with the same --app set",
        peer, hello->apps, apps_);
    reject(in, "app set mismatch");
    return;
  }
  in.session->set_introduced();
  if (hello->replica >= peer_sessions_.size() || hello->replica == spec_.replica) return;
  // A peer dials a new link only after giving up its last one, which may still look open
  // here (a connection into a black hole is never closed by the network): of two links
  // from one peer, the one accepted later is its current one. Close the other, so that
  // every peer has one link to us and dead ones do not pile up. (Hellos of links accepted
  // one after the other, e.g. from a backlog that built up while this node was paused,
  // may reach the actor in any order.)
  std::weak_ptr<Session>& latest = peer_sessions_[hello->replica];
  auto previous = latest.lock();
  if (previous && previous != in.session && !previous->closed()) {
    const bool newer = in.session->accepted() > previous->accepted();
    spdlog::info("node {} has a newer link to this node; closing its older one",
                 spec_.cluster.nodes[hello->replica].name);
    (newer ? previous : in.session)->close();
    if (!newer) return;
  }
  latest = in.session;
}

void Runtime::handle_client(Inbound& in) {
  // Status queries are rare and small: look for the kind before decoding in full.
  if (in.message.size() < 512 && in.message.find("status_request") != std::string::npos &&
      runtime_kind(in.message) == "status_request") {
    answer_status(in);
    return;
  }
  auto decoded = core::decode(in.message, limits_);
  if (!decoded) {
    if (auto oversized = core::oversized_request(in.message, limits_)) {
      // Authenticated, well formed, only too large: a definite "no" (the client would
      // otherwise retry every node until its timeout), and the connection stays.
      rejected_ += 1;
      log_refusal(decoded.error(), fmt::format("answered an oversized request from {} with "
                                               "invalid_request",
                                               in.session->remote()));
      const std::string why = fmt::format("the operation is larger than the limit of {} bytes",
                                          limits_.max_operation_bytes);
      const core::ReplyFields reply{replica_.view(),
                                    replica_.self(),
                                    oversized->first,
                                    oversized->second,
                                    core::Op{0},
                                    core::ReplyStatus::invalid_request,
                                    why};
      in.session->deliver(
          net::OutFrame{core::make_bytes(core::encode_reply(options_.cluster_id, reply))});
      return;
    }
    reject(in, decoded.error());
    return;
  }
  const auto* request = std::get_if<core::Request>(&*decoded);
  if (request == nullptr) {
    // A holder of client.tnet may send requests and nothing else (product.md, security).
    reject(in,
           fmt::format("a {} message signed with the client key", core::message_name(*decoded)));
    return;
  }
  route(request->client_id, in.session);
  replica_.on_message(std::move(*decoded));
}

void Runtime::answer_status(Inbound& in) {
  auto nonce = decode_status_request(in.message, options_.cluster_id);
  if (!nonce) {
    reject(in, nonce.error());
    return;
  }
  auto bytes = core::make_bytes(encode_status_reply(options_.cluster_id, *nonce, status()));
  in.session->deliver(net::OutFrame{std::move(bytes)});
}

void Runtime::reject(Inbound& in, std::string_view reason) {
  count_rejected(in.session->remote(), reason);
  in.session->close();
}

NodeStatus Runtime::status() const {
  NodeStatus s;
  s.node = self_.name;
  s.replica = static_cast<std::uint32_t>(spec_.replica);
  s.role = replica_.is_primary() ? "primary" : "backup";
  s.status = status_name(replica_.status());
  s.view = replica_.view().value;
  s.op = replica_.op().value;
  s.commit = replica_.commit_min().value;
  s.checkpoint_op = replica_.checkpoint_op().value;
  s.state_digest = app_->state_digest();
  // A peer counts when the link is up both ways: ours to it, and its link to us (a link
  // that only one side holds carries half the protocol).
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const auto inbound = i < peer_sessions_.size() ? peer_sessions_[i].lock() : nullptr;
    if (peers_[i] && peers_[i]->connected() && inbound && !inbound->closed()) {
      s.peers_connected += 1;
    }
  }
  s.rejected_messages = replica_.counters().rejected_messages + rejected_;
  s.waiting_for = replica_.waiting_for();
  return s;
}

void Runtime::route(const std::string& client_id, const std::shared_ptr<Session>& session) {
  auto it = routes_.find(client_id);
  if (it != routes_.end()) {
    it->second = session;
    return;
  }
  if (routes_.size() >= RuntimeLimits::max_client_routes) {
    std::erase_if(routes_, [](const auto& entry) { return entry.second.expired(); });
    if (routes_.size() >= RuntimeLimits::max_client_routes) return;  // reply is not routed
  }
  routes_.emplace(client_id, session);
}

void Runtime::drain() {
  std::vector<core::Effect> effects = replica_.take_effects();
  if (effects.empty()) return;
  std::vector<core::Effect> storage;
  for (core::Effect& effect : effects) {
    if (const auto* send = std::get_if<core::SendToReplica>(&effect)) {
      send_to_replica(*send);
    } else if (const auto* reply = std::get_if<core::SendToClient>(&effect)) {
      send_to_client(*reply);
    } else {
      storage.push_back(std::move(effect));
    }
  }
  if (!storage.empty()) disk_worker_->submit(std::move(storage));
  observe();
}

void Runtime::send_to_replica(const core::SendToReplica& send) {
  const std::size_t to = send.to.value;
  if (to >= peers_.size() || !peers_[to]) return;
  // Encoded once: every peer link seals the same bytes under its own key.
  peers_[to]->send(net::OutFrame{send.message});
}

void Runtime::send_to_client(const core::SendToClient& send) {
  auto it = routes_.find(send.client_id);
  if (it == routes_.end()) return;  // the client is not connected here; it will retry
  std::shared_ptr<Session> session = it->second.lock();
  if (!session || session->closed()) {
    routes_.erase(it);
    return;
  }
  session->deliver(net::OutFrame{send.message});
}

void Runtime::on_disk(Result<std::uint64_t, std::string> result) {
  if (stopping_) return;
  if (!result) {
    // A failed write or fsync leaves the disk in an unknown state: stop (style.md §4).
    spdlog::critical("node {}: storage failure: {}; stopping", self_.name, result.error());
    fatal_ = "storage failure: " + result.error();
    io_.stop();
    return;
  }
  if (*result <= storage_done_) return;
  storage_done_ = *result;
  replica_.on_storage_done(storage_done_);
  drain();
  observe();  // a durable metadata write may end a restore without producing effects
}

void Runtime::observe() {
  if (replica_.view() != seen_view_ || replica_.status() != seen_status_) {
    seen_view_ = replica_.view();
    seen_status_ = replica_.status();
    spdlog::info("view {} status {}: {} (primary is {}), op {} commit {}", replica_.view().value,
                 status_name(replica_.status()), replica_.is_primary() ? "primary" : "backup",
                 spec_.cluster.nodes[replica_.primary_of(replica_.view()).value].name,
                 replica_.op().value, replica_.commit_min().value);
  }
  if (restored_ && replica_.is_durably_normal()) {
    // Back in normal status from a StartView, its view and log durable: the replica's state
    // is its own again, and a restart need not wait for a StartView.
    restored_ = false;
    if (auto cleared = disk_->clear_restored_marker(); !cleared) {
      spdlog::critical("node {}: cannot remove the RESTORED marker: {}; stopping", self_.name,
                       cleared.error());
      fatal_ = "storage failure: " + cleared.error();
      io_.stop();
      return;
    }
    spdlog::info(
        "node {}: caught up in view {} (commit {}); RESTORED marker removed, voting "
        "again",
        self_.name, replica_.view().value, replica_.commit_min().value);
  }
  const core::Counters& c = replica_.counters();
  if (c.prepares_repaired != seen_repaired_) {
    // Log the first repair of a burst, then once per 100.
    if (seen_repaired_ == 0 || c.prepares_repaired / 100 != seen_repaired_ / 100) {
      spdlog::info("repaired {} prepares from peers so far (op {} commit {})", c.prepares_repaired,
                   replica_.op().value, replica_.commit_min().value);
    }
    seen_repaired_ = c.prepares_repaired;
  }
  seen_core_rejected_ = c.rejected_messages;
}

}  // namespace

Result<void, NodeError> run_node(const NodeSpec& spec) {
  VSR_ASSERT(spec.replica < spec.cluster.nodes.size());
  const config::Node& node = spec.cluster.nodes[spec.replica];
  auto app = app::Composite::make(spec.apps);
  if (!app) return fail(NodeError{NodeError::Kind::usage, app.error()});

  const std::filesystem::path dir = config::ClusterPaths{spec.cluster_dir}.node_dir(node.name);
  if (auto made = io::create_directories(dir, 0700); !made) {
    return fail(NodeError{NodeError::Kind::environment, made.error().message});
  }
  auto lock = io::DirectoryLock::acquire(dir);
  if (!lock) {
    return fail(
        NodeError{NodeError::Kind::environment,
                  fmt::format("cannot start node {}: {}", node.name, lock.error().message)});
  }
  storage::DiskIdentity identity;
  identity.cluster_id = core_cluster_id(spec.cluster.cluster_id);
  identity.cluster_id_text = spec.cluster.cluster_id.hex();
  identity.replica = static_cast<std::uint32_t>(spec.replica);
  auto disk = storage::ReplicaDisk::open(storage::posix_env(), dir.string(), identity);
  if (!disk) {
    return fail(
        NodeError{NodeError::Kind::environment,
                  fmt::format("cannot start node {}: {}", node.name, disk.error().message)});
  }
  if (spec.cluster.nodes.size() == 1) {
    // Alone, a damaged WAL op can be neither repaired (no peer) nor dropped (it may have
    // been acknowledged): the core would wait forever. Refuse, saying what and where.
    if (auto damage = (*disk)->damage_without_peers()) {
      return fail(NodeError{NodeError::Kind::environment,
                            fmt::format("cannot start node {}: {}", node.name, *damage)});
    }
  }
  std::random_device entropy;
  const std::uint64_t seed = (std::uint64_t{entropy()} << 32) ^ entropy();
  Runtime runtime(spec, std::move(*app), std::move(*disk), seed);
  return runtime.run();
}

}  // namespace vsr::node
