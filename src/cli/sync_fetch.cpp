// sync-node's transfer (sync_fetch.hpp): one io_context thread runs the listener on NAME's
// address, one outbound link per peer, the status queries and the transfer coroutine,
// which is the only code that decides anything. Messages from the peers update the
// per-peer answers and wake it.

#include "sync_fetch.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "vsr/core/effects.hpp"
#include "vsr/net/asio.hpp"
#include "vsr/net/link.hpp"
#include "vsr/net/stream.hpp"
#include "vsr/node/client.hpp"
#include "vsr/node/settings.hpp"
#include "vsr/node/status.hpp"

namespace vsr::cli::sync {
namespace {

using namespace std::chrono_literals;
using net::awaitable;
using net::tcp;
using net::use_nothrow;
using Clock = std::chrono::steady_clock;

/// Requests in flight at once while the prepares are fetched.
constexpr std::size_t prepare_window = 64;
/// A request unanswered for this long goes again, to the next replica.
constexpr auto request_retry = 500ms;
/// How long one round waits for the replicas' log answers.
constexpr auto round_wait = 1500ms;
/// Budget of one round's status queries.
constexpr auto status_wait = 700ms;
/// Frames queued per outbound link; more are dropped (and asked again).
constexpr std::size_t link_queue_capacity = 4096;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

/// What one peer has told us.
struct PeerState {
  std::optional<node::NodeStatus> status;  ///< from this round's status query
  std::uint64_t executed = 0;              ///< highest commit it reported (executed through)
  /// Checksums of its log, only ops it had executed when asked: its committed prepares.
  std::map<std::uint64_t, core::Checksum> committed;
  bool headers_pending = false;                    ///< this round's RequestHeaders is unanswered
  std::optional<core::SyncCheckpoint> checkpoint;  ///< its latest durable checkpoint
};

/// An outbound link to a peer: a queue the transfer fills and a coroutine that writes it.
class Fetcher {
 public:
  explicit Fetcher(const FetchRequest& request)
      : request_(request),
        options_(node::core_options(request.cluster)),
        limits_(core::decode_limits(options_)),
        keys_(node::replica_keyring(request.cluster)),
        self_(core::ReplicaIndex{static_cast<std::uint32_t>(request.replica)}),
        replica_count_(request.cluster.nodes.size()),
        quorum_(replica_count_ / 2 + 1),
        acceptor_(io_),
        wake_(io_),
        client_(io_.get_executor(), config::client_config_of(request.cluster),
                node::ClientOptions{std::chrono::milliseconds(0), 500ms}),
        peers_(replica_count_) {}

  Result<Fetched, FetchError> run() {
    const config::Node& self = request_.cluster.nodes[request_.replica];
    if (auto listening = listen(self); !listening) {
      return fail(FetchError{
          FetchError::Kind::environment,
          fmt::format("cannot listen on {} (node {}'s address, where the replicas answer): {}; "
                      "is node {} running on another machine, or another process using that "
                      "port?",
                      self.address.to_string(), self.name, listening.error(), self.name)});
    }
    for (std::size_t i = 0; i < replica_count_; ++i) {
      links_.push_back(i == request_.replica ? nullptr : make_link(i));
      if (links_.back()) asio::co_spawn(io_, links_.back()->run(), asio::detached);
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
    asio::co_spawn(io_, transfer(), asio::detached);
    if (request_.progress) asio::co_spawn(io_, draw_progress(), asio::detached);
    io_.run();
    shutdown();
    if (error_) return fail(std::move(*error_));
    return std::move(result_);
  }

 private:
  // --- network -------------------------------------------------------------------------

  Result<void, std::string> listen(const config::Node& self) {
    asio::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(self.address.host, std::to_string(self.address.port), ec);
    if (!ec && endpoints.empty()) ec = asio::error::host_not_found;
    if (!ec) {
      const tcp::endpoint endpoint = endpoints.begin()->endpoint();
      acceptor_.open(endpoint.protocol(), ec);
      if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor_.bind(endpoint, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) return fail(ec.message());
    return {};
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
      if (ec == asio::error::operation_aborted || stopping_) co_return;
      if (ec) continue;
      auto shared = std::make_shared<tcp::socket>(std::move(socket));
      inbound_.push_back(shared);
      asio::co_spawn(io_, read_peer(shared), asio::detached);
    }
  }

  net::HandshakeParams handshake_params() const {
    return net::HandshakeParams{options_.cluster_id, core::protocol_version};
  }

  // One inbound connection: a replica's link to NAME. It must open under the replica key,
  // and its first frame must be its hello; everything after it is a protocol message from
  // that replica.
  awaitable<void> read_peer(std::shared_ptr<tcp::socket> socket) {
    net::FrameReader frames(node::max_frame_bytes());
    const net::HandshakeOutcome handshake =
        co_await frames.accept(*socket, keys_, handshake_params());
    net::FrameWriter pongs(handshake.send);
    std::optional<std::size_t> from;
    while (handshake.ok() && handshake.authority == net::KeyKind::replica && !stopping_) {
      net::ReadOutcome r = co_await frames.next(*socket);
      if (!r.ok()) break;
      if (!from) {
        auto hello = node::decode_hello(r.frame.message, options_.cluster_id);
        if (!hello || hello->replica >= replica_count_ || hello->replica == request_.replica) {
          break;
        }
        from = hello->replica;
        continue;
      }
      // The replica's link pings and gives the connection up when no pong comes back
      // (docs/vsr/wire.md): answer as the node whose address this is would.
      if (auto nonce = node::decode_ping(r.frame.message, options_.cluster_id)) {
        const net::OutFrame pong{
            std::make_shared<const std::string>(node::encode_pong(options_.cluster_id, *nonce))};
        if (co_await pongs.write(*socket, std::span<const net::OutFrame>(&pong, 1))) break;
        continue;
      }
      on_message(*from, r.frame.message);
    }
    asio::error_code ignored;
    socket->close(ignored);
  }

  // One outbound link, as a replica dials: under the replica key, with a hello first; what
  // the transfer queues is lost with a connection that fails (requests are retried).
  std::unique_ptr<net::Link> make_link(std::size_t peer) {
    const config::Node& node = request_.cluster.nodes[peer];
    net::LinkOptions o;
    o.handshake = handshake_params();
    o.kind = net::KeyKind::replica;
    o.backoff_min = node::RuntimeLimits::backoff_min;
    o.backoff_max = node::RuntimeLimits::backoff_max;
    o.queue_capacity = link_queue_capacity;
    o.frames_per_write = node::RuntimeLimits::frames_per_write;
    net::LinkEvents e;
    e.greeting = [this] { return std::vector<net::OutFrame>{hello_frame()}; };
    return std::make_unique<net::Link>(io_.get_executor(), node.address.host, node.address.port,
                                       keys_.replica, o, std::move(e), std::random_device{}());
  }

  net::OutFrame hello_frame() const {
    auto message = std::make_shared<const std::string>(node::encode_hello(
        options_.cluster_id,
        node::Hello{static_cast<std::uint32_t>(request_.replica), request_.apps}));
    return net::OutFrame{std::move(message)};
  }

  void send(std::size_t peer, const core::Message& message) {
    if (peer >= links_.size() || !links_[peer]) return;
    auto bytes = core::make_bytes(core::encode(options_.cluster_id, message));
    (void)links_[peer]->send(net::OutFrame{std::move(bytes)});
  }

  void shutdown() {
    stopping_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    wake_.cancel();
    for (auto& link : links_) {
      if (link) link->close();
    }
    for (auto& socket : inbound_) socket->close(ignored);
    client_.close();
    io_.restart();
    io_.poll();
  }

  // --- what the peers say ----------------------------------------------------------------

  void on_message(std::size_t from, std::string_view bytes) {
    auto decoded = core::decode(bytes, limits_);
    if (!decoded) return;
    PeerState& peer = peers_[from];
    std::visit(Overloaded{
                   [&](const core::Headers& m) {
                     note_view(m.view.value);
                     on_headers(peer, m);
                   },
                   [&](const core::SyncCheckpoint& m) {
                     note_view(m.view.value);
                     on_checkpoint(peer, m);
                   },
                   [&](const core::Prepare& m) {
                     note_view(m.header.view.value);
                     on_prepare(m, bytes);
                   },
                   [&](const core::Request&) {},
                   [&](const core::Reply&) {},
                   // Everything else a peer sends to NAME (commits, view-change messages)
                   // tells us a view and is otherwise ignored: we are not NAME's replica.
                   [&](const auto& m) { note_view(m.view.value); },
               },
               *decoded);
    wake_.cancel();
  }

  void note_view(std::uint64_t view) {
    if (view > view_) view_ = view;
  }

  void on_headers(PeerState& peer, const core::Headers& m) {
    // decode() verified every header's checksum.
    peer.headers_pending = false;
    for (const core::PrepareHeader& h : m.headers) {
      // We ask each peer only for ops it had executed, so these are its committed ones.
      if (h.op.value <= peer.executed) peer.committed[h.op.value] = h.checksum;
      if (fetching_) {
        auto it = expected_.find(h.op.value);
        if (it != expected_.end() && it->second == h.checksum) headers_.emplace(h.op.value, h);
      }
    }
  }

  void on_checkpoint(PeerState& peer, const core::SyncCheckpoint& m) {
    auto cp = core::decode_checkpoint(m.checkpoint, options_.cluster_id);
    if (!cp || cp->op != m.op || cp->checksum != m.checksum) return;
    peer.checkpoint = m;
  }

  void on_prepare(const core::Prepare& m, std::string_view bytes) {
    // decode() verified both checksums; the chain decides whether it is the one we want.
    if (!fetching_) return;
    const std::uint64_t op = m.header.op.value;
    auto it = expected_.find(op);
    if (it == expected_.end() || it->second != m.header.checksum || bodies_.count(op) != 0) {
      return;
    }
    bodies_.emplace(op, core::make_bytes(std::string(bytes)));
    headers_.emplace(op, m.header);
    in_flight_.erase(op);
    last_progress_ = Clock::now();
  }

  // --- the transfer ----------------------------------------------------------------------

  /// Waits until a message arrives or `limit` passes.
  awaitable<void> wait(Clock::duration limit) {
    wake_.expires_after(limit);
    co_await wake_.async_wait(use_nothrow);
  }

  std::size_t pick(const std::vector<std::size_t>& from) {
    return from[next_peer_++ % from.size()];
  }

  /// Asks every replica but NAME for its status, concurrently.
  awaitable<void> query_status() {
    auto pending = std::make_shared<std::size_t>(replica_count_ - 1);
    auto done = std::make_shared<asio::steady_timer>(io_, Clock::time_point::max());
    const auto deadline = Clock::now() + status_wait;
    for (std::size_t i = 0; i < replica_count_; ++i) {
      if (i == request_.replica) continue;
      peers_[i].status.reset();
      asio::co_spawn(
          io_,
          [this, i, pending, done, deadline]() -> awaitable<void> {
            auto status = co_await client_.status(i, deadline);
            if (status && status->replica == i) {
              peers_[i].status = std::move(*status);
              note_view(peers_[i].status->view);
              peers_[i].executed = std::max(peers_[i].executed, peers_[i].status->commit);
            }
            if (--*pending == 0) done->cancel();
          },
          asio::detached);
    }
    co_await done->async_wait(use_nothrow);
  }

  /// The replicas that can answer log requests this round: reachable and not recovering
  /// (a recovering replica drops them).
  std::vector<std::size_t> answering() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < replica_count_; ++i) {
      const auto& s = peers_[i].status;
      if (i != request_.replica && s && s->status != "recovering") out.push_back(i);
    }
    return out;
  }

  std::string names(const std::vector<std::size_t>& which) const {
    std::string out;
    for (std::size_t i : which) out += (out.empty() ? "" : ", ") + request_.cluster.nodes[i].name;
    return out.empty() ? std::string("none") : out;
  }

  awaitable<void> transfer() {
    deadline_ = Clock::now() + request_.timeout;
    std::string problem = "no replica answered";
    while (!result_ready_ && Clock::now() < deadline_) {
      if (co_await round(problem)) break;
      if (!result_ready_) co_await wait(200ms);
    }
    if (!result_ready_) {
      error_ = FetchError{
          FetchError::Kind::no_quorum,
          fmt::format(
              "no quorum of the cluster vouched for a state within {:.1f} s: {} (a "
              "quorum is {} of the {} replicas, {} itself not counted); nothing was changed. "
              "Start enough replicas (with the same --app set as this command), or "
              "raise --timeout",
              std::chrono::duration<double>(request_.timeout).count(), problem, quorum_,
              replica_count_, request_.cluster.nodes[request_.replica].name)};
    }
    done_ = true;
    io_.stop();
  }

  /// One attempt. Returns true when the result is ready; sets `problem` otherwise.
  awaitable<bool> round(std::string& problem) {
    phase_ = "asking the replicas";
    co_await query_status();
    const std::vector<std::size_t> peers = answering();
    answered_now_ = peers.size();
    if (peers.size() < quorum_) {
      problem = fmt::format("{} of the other replicas answered ({})", peers.size(), names(peers));
      co_return false;
    }
    std::vector<std::uint64_t> commits;
    for (std::size_t p : peers) commits.push_back(peers_[p].status->commit);
    std::sort(commits.rbegin(), commits.rend());
    const std::uint64_t target = commits[quorum_ - 1];  // a quorum has executed it
    if (target == 0) {
      finish_empty(peers);
      co_return true;
    }
    // Checkpoint first, then headers: a peer answers in order on one link, so once its
    // headers are here, so is its checkpoint if it sent one.
    for (std::size_t p : peers) {
      PeerState& peer = peers_[p];
      if (!peer.checkpoint || peer.checkpoint->op.value > target) {
        send(p, core::Message{core::RequestCheckpoint{core::View{view_}, self_, core::Op{0}}});
      }
      const std::uint64_t high = std::min(target, peer.status->commit);
      const std::uint64_t low =
          high > options_.max_headers_per_message ? high - options_.max_headers_per_message + 1 : 1;
      send(p, core::Message{
                  core::RequestHeaders{core::View{view_}, self_, core::Op{low}, core::Op{high}}});
      peer.headers_pending = true;
    }
    const auto round_end = Clock::now() + round_wait;
    while (Clock::now() < round_end) {
      if (std::none_of(peers.begin(), peers.end(),
                       [&](std::size_t p) { return peers_[p].headers_pending; })) {
        break;
      }
      co_await wait(round_end - Clock::now());
    }

    // The highest op at or below the target for which a quorum reports one checksum.
    bool disagreement = false;
    const std::uint64_t floor = target > 64 ? target - 64 : 1;
    for (std::uint64_t op = target; op >= floor && op > 0; --op) {
      std::map<core::Checksum, std::vector<std::size_t>> votes;
      for (std::size_t p : peers) {
        auto it = peers_[p].committed.find(op);
        if (it != peers_[p].committed.end()) votes[it->second].push_back(p);
      }
      for (auto& [checksum, who] : votes) {
        if (who.size() >= quorum_) {
          co_return co_await fetch(peers, core::Op{op}, checksum, who, problem);
        }
      }
      if (votes.size() > 1) disagreement = true;
    }
    problem = disagreement ? fmt::format(
                                 "the replicas' logs disagree below commit {} ({}); no checksum "
                                 "has a quorum",
                                 target, names(peers))
                           : fmt::format(
                                 "{} replicas answered the status query ({}), but too few "
                                 "answered for their log near commit {}",
                                 peers.size(), names(peers), target);
    co_return false;
  }

  void finish_empty(const std::vector<std::size_t>& peers) {
    result_.answered = peers;
    result_.vouched = peers;
    result_.view = view_;
    result_.commit = core::Op{0};
    result_.commit_checksum = core::root_prepare(options_.cluster_id).header.checksum;
    result_.checkpoint_op = core::Op{0};
    result_.checkpoint_checksum = result_.commit_checksum;
    result_ready_ = true;
  }

  /// Fetches X+1..commit down the hash chain from `checksum` at `commit`. Returns true when
  /// the result is ready.
  awaitable<bool> fetch(const std::vector<std::size_t>& peers, core::Op commit,
                        core::Checksum checksum, const std::vector<std::size_t>& vouched,
                        std::string& problem) {
    // The newest checkpoint at or below the commit; none: the log from op 1 (the root).
    std::optional<std::size_t> cp_source;
    for (std::size_t p : peers) {
      const auto& cp = peers_[p].checkpoint;
      if (!cp || cp->op > commit) continue;
      if (!cp_source || cp->op > peers_[*cp_source].checkpoint->op) cp_source = p;
    }
    const core::Op base = cp_source ? peers_[*cp_source].checkpoint->op : core::Op{0};
    const core::Checksum base_checksum =
        cp_source ? peers_[*cp_source].checkpoint->checksum
                  : core::root_prepare(options_.cluster_id).header.checksum;
    if (base == commit && base_checksum != checksum) {
      problem = fmt::format("node {}'s checkpoint at op {} is not the prepare a quorum reports",
                            request_.cluster.nodes[*cp_source].name, base.value);
      peers_[*cp_source].checkpoint.reset();
      co_return false;
    }

    phase_ = "fetching";
    fetching_ = true;
    expected_.clear();
    headers_.clear();
    bodies_.clear();
    in_flight_.clear();
    expected_[commit.value] = checksum;
    std::uint64_t low = commit.value;  // lowest op whose checksum the chain has fixed
    total_ = commit.value - base.value;
    last_progress_ = Clock::now();
    auto headers_asked = Clock::time_point{};  // long ago
    std::uint64_t next_wanted = commit.value;  // requests go out from the top down
    const auto stalled = [&] { return Clock::now() - last_progress_ > request_.timeout; };
    while (!stalled()) {
      // Walk the chain down through the headers we have.
      while (low > base.value + 1) {
        auto it = headers_.find(low);
        if (it == headers_.end()) break;
        expected_[low - 1] = it->second.parent;
        low -= 1;
        last_progress_ = Clock::now();
      }
      if (low > base.value + 1 && Clock::now() - headers_asked > request_retry) {
        const std::uint64_t from =
            std::max(base.value + 1, low > options_.max_headers_per_message
                                         ? low - options_.max_headers_per_message + 1
                                         : 1);
        // Only replicas that executed these ops (they vouched at the commit) are asked.
        send(pick(vouched), core::Message{core::RequestHeaders{core::View{view_}, self_,
                                                               core::Op{from}, core::Op{low}}});
        headers_asked = Clock::now();
      }
      // Prepares: retry the overdue ones, then fill the window from the top down.
      const auto now = Clock::now();
      for (auto& [op, sent] : in_flight_) {
        if (now - sent < request_retry) continue;
        send(pick(peers), core::Message{core::RequestPrepare{core::View{view_}, self_, core::Op{op},
                                                             expected_.at(op)}});
        sent = now;
      }
      while (in_flight_.size() < prepare_window && next_wanted >= low && next_wanted > base.value) {
        const std::uint64_t op = next_wanted--;
        if (bodies_.count(op) != 0) continue;
        send(pick(peers), core::Message{core::RequestPrepare{core::View{view_}, self_, core::Op{op},
                                                             expected_.at(op)}});
        in_flight_[op] = now;
      }
      fetched_ = bodies_.size();
      // Bodies are taken only for ops the chain has fixed, so all of them means the chain
      // reached the op after the checkpoint.
      if (bodies_.size() == total_) break;
      co_await wait(50ms);
    }
    fetching_ = false;
    if (bodies_.size() != total_) {
      problem = fmt::format(
          "the transfer stalled at {} of {} prepares (ops {}..{}): no replica served the rest",
          bodies_.size(), total_, base.value + 1, commit.value);
      co_return false;
    }
    // The chain reaches the checkpoint (or the root): its checksum is now vouched for.
    if (total_ > 0 && headers_.at(base.value + 1).parent != base_checksum) {
      problem = fmt::format("the checkpoint at op {} is not the parent of the committed op {}",
                            base.value, base.value + 1);
      if (cp_source) peers_[*cp_source].checkpoint.reset();
      co_return false;
    }
    result_.answered = peers;
    result_.vouched = vouched;
    result_.view = view_;
    result_.commit = commit;
    result_.commit_checksum = checksum;
    result_.checkpoint_source = cp_source;
    result_.checkpoint_op = base;
    result_.checkpoint_checksum = base_checksum;
    if (cp_source) result_.checkpoint = peers_[*cp_source].checkpoint->checkpoint;
    for (std::uint64_t op = base.value + 1; op <= commit.value; ++op) {
      result_.prepares.push_back(FetchedPrepare{headers_.at(op), bodies_.at(op)});
    }
    result_ready_ = true;
    co_return true;
  }

  // --- progress --------------------------------------------------------------------------

  awaitable<void> draw_progress() {
    asio::steady_timer timer(io_);
    const bool tty = isatty(STDERR_FILENO) != 0;
    bool drawn = false;
    std::string last;
    while (!done_) {
      timer.expires_after(250ms);
      co_await timer.async_wait(use_nothrow);
      if (done_) break;
      const double fraction = total_ == 0
                                  ? 0.0
                                  : static_cast<double>(fetched_) /
                                        static_cast<double>(std::max<std::size_t>(1, total_));
      const int width = 30;
      const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width);
      std::string detail = phase_ == "fetching" ? fmt::format("{}/{} prepares", fetched_, total_)
                                                : fmt::format("{}: {} of {} needed answered",
                                                              phase_, answered_now_, quorum_);
      const std::string line =
          fmt::format("[{}{}] {:3d}% {}", std::string(static_cast<std::size_t>(filled), '#'),
                      std::string(static_cast<std::size_t>(width - filled), '.'),
                      static_cast<int>(fraction * 100), detail);
      if (!tty && line == last) continue;  // a log file gets each change once
      last = line;
      std::fprintf(stderr, "%s%s%s", tty ? "\r\033[K" : "", line.c_str(), tty ? "" : "\n");
      std::fflush(stderr);
      drawn = true;
    }
    if (tty && drawn) {
      std::fprintf(stderr, "\n");
      std::fflush(stderr);
    }
  }

  const FetchRequest& request_;
  core::Options options_;
  core::DecodeLimits limits_;
  net::Keyring keys_;
  core::ReplicaIndex self_;
  std::size_t replica_count_;
  std::size_t quorum_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer wake_;
  node::AsyncClient client_;
  std::vector<PeerState> peers_;
  std::vector<std::unique_ptr<net::Link>> links_;
  std::vector<std::shared_ptr<tcp::socket>> inbound_;
  std::uint64_t view_ = 0;
  std::size_t next_peer_ = 0;
  bool stopping_ = false;
  bool done_ = false;
  Clock::time_point deadline_;

  // The fetch of one round.
  bool fetching_ = false;
  std::map<std::uint64_t, core::Checksum> expected_;  // op -> checksum the chain fixes
  std::map<std::uint64_t, core::PrepareHeader> headers_;
  std::map<std::uint64_t, core::Bytes> bodies_;
  std::map<std::uint64_t, Clock::time_point> in_flight_;  // RequestPrepare sent at
  Clock::time_point last_progress_;

  // For the progress bar.
  std::string phase_ = "asking the replicas";
  std::size_t answered_now_ = 0;
  std::size_t total_ = 0;
  std::size_t fetched_ = 0;

  bool result_ready_ = false;
  Fetched result_;
  std::optional<FetchError> error_;
};

}  // namespace

Result<Fetched, FetchError> fetch_from_cluster(const FetchRequest& request) {
  if (request.cluster.nodes.size() < 2) {
    return fail(FetchError{FetchError::Kind::no_quorum,
                           "a single-replica cluster has no other replica to sync from"});
  }
  Fetcher fetcher(request);
  return fetcher.run();
}

}  // namespace vsr::cli::sync
