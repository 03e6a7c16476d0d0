// Proves that every replica rejoins once the network heals (issue 12, finding 9), with three
// real `vsr start-node` processes and a bank workload under a seeded random schedule of
// network and process faults: symmetric and one-way partitions, bridges (n0-n1 and n1-n2 up,
// n0-n2 down), delays of 1 to 6 s, black holes (bytes dropped without a reset, see
// proxy.hpp), SIGKILL and restart, SIGSTOP and SIGCONT. Once everything is healed, every
// replica must be normal in one view with one commit and one state digest within a stated
// bound, and every acknowledged write must be in the state.
//
// Wiring: every replica-to-replica byte goes through a proxy per directed pair (node i
// dialling node j), so each direction between two nodes can be faulted apart. Each node runs
// from its own copy of the cluster directory, in which move-node pointed its two peers at
// the proxies it dials; the main directory (the clients' and `vsr status`'s) names the real
// ports. Clients are not faulted. (The copies are at config version 3, the main directory at
// 1: nodes never compare config versions, only clients read client.tnet.)
//
// The schedule prints its seed; VSR_CHAOS_SEED=N replays it (the processes' own timing is
// not replayed, so a replay is close, not identical). VSR_CHAOS_SECONDS sets the length of
// the chaos (default 35), VSR_CHAOS_FAULTS restricts the kinds drawn (a comma-separated
// subset of cut,oneway,bridge,blackhole,delay,kill,pause), and VSR_CHAOS_LOG_DIR keeps every
// node's log there; VSR_CHAOS_BINARY runs another build of vsr (to compare two builds on
// one seed). Every process is stopped by pid, also on failure; every wait is bounded.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"
#include "proxy.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using Fault = Proxy::Fault;
using Direction = Proxy::Direction;

constexpr int node_count = 3;
constexpr int adders = 3;  // client threads that add 1 to an account of their own
/// How long the healed cluster may take to converge. After the heal every peer link is on a
/// working connection within its silence limit (2 s) and one backoff wait (docs/vsr/wire.md);
/// a replica that changed views alone rejoins on the primary's answer to its next
/// StartViewChange (resent every heartbeat), then catches up by repair or state transfer.
/// Healthy runs converge within seconds; the bound leaves room for a loaded machine.
constexpr auto converge_bound = 30s;

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

/// The vsr executable the test runs: the one built with it, unless VSR_CHAOS_BINARY names
/// another.
std::filesystem::path binary() {
  return env("VSR_CHAOS_BINARY").value_or(vsr_binary.string());
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Counts of one kind of request: acknowledged (exit 0), unknown outcome (exit 3, or any
/// other failure: it may have executed), and refused by the app (exit 1).
struct Tally {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> unknown{0};
  std::atomic<std::uint64_t> refused{0};
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = env("VSR_CHAOS_SEED") ? std::stoull(*env("VSR_CHAOS_SEED")) : std::random_device{}();
    chaos_length_ = std::chrono::seconds(
        std::clamp(env("VSR_CHAOS_SECONDS") ? std::stoi(*env("VSR_CHAOS_SECONDS")) : 35, 1, 600));
    if (auto kinds = env("VSR_CHAOS_FAULTS")) {
      std::stringstream list(*kinds);
      for (std::string kind; std::getline(list, kind, ',');) kinds_.insert(kind);
    } else {
      kinds_ = {"cut", "oneway", "bridge", "blackhole", "delay", "kill", "pause"};
    }
    std::printf("chaos seed %llu (replay: VSR_CHAOS_SEED=%llu), %lld s of faults, %s\n",
                static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_),
                static_cast<long long>(chaos_length_.count()), binary().c_str());
    rng_.seed(seed_);

    // Ports: the nodes' real ones, then one proxy per directed pair (i dialling j).
    const std::vector<std::uint16_t> ports = cluster::free_ports(node_count * node_count);
    for (std::uint16_t p : ports) ASSERT_NE(p, 0);
    std::size_t next = node_count;
    for (int i = 0; i < node_count; ++i) {
      for (int j = 0; j < node_count; ++j) {
        if (i != j) proxy_port_[i][j] = ports[next++];
      }
    }
    std::string nodes;
    for (int i = 0; i < node_count; ++i) {
      nodes += fmt::format("{}n{}=127.0.0.1:{}", i ? "," : "", i, ports[static_cast<size_t>(i)]);
    }
    // A short checkpoint interval, so that a replica left behind falls more than a
    // checkpoint behind and must catch up by state transfer.
    RunResult init =
        vsr(main_dir_, {"init-cluster", "--nodes", nodes, "--checkpoint-interval", "64"});
    ASSERT_EQ(init.status.code, 0) << init.err;
    for (int i = 0; i < node_count; ++i) {
      for (const char* file : {"cluster.tnet", "client.tnet"}) {
        std::filesystem::copy_file(main_dir_ / file, node_dir_[i] / file);
      }
      for (int j = 0; j < node_count; ++j) {
        if (i == j) continue;
        RunResult moved = vsr(node_dir_[i], {"move-node", fmt::format("n{}", j),
                                             fmt::format("127.0.0.1:{}", proxy_port_[i][j])});
        ASSERT_EQ(moved.status.code, 0) << moved.err;
        proxy_[i][j] = std::make_unique<Proxy>(proxy_port_[i][j], ports[static_cast<size_t>(j)]);
      }
    }
    for (int i = 0; i < node_count; ++i) start(i);
    ASSERT_TRUE(cluster::eventually([&] { return all_connected(); }, 20s)) << logs();
    for (const char* account : {"pool_a", "pool_b"}) {
      RunResult r = vsr(main_dir_, {"bank", "add", account, std::to_string(pool_start)});
      ASSERT_EQ(r.status.code, 0) << r.err;
    }
  }

  void TearDown() override {
    stop_workload();
    for (int i = 0; i < node_count; ++i) {
      if (!nodes_[i]) continue;
      nodes_[i]->send_signal(SIGCONT);
      nodes_[i]->kill();
    }
    keep_logs();
  }

  // --- processes ------------------------------------------------------------------------

  static RunResult vsr(const TempDir& dir, std::vector<std::string> args,
                       std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {"--cluster-dir", dir.path().string()});
    return run(binary(), SpawnOptions{args, {}, {}}, timeout);
  }

  void start(int i) {
    nodes_[i].emplace(
        Process::start(binary(), SpawnOptions{{"--cluster-dir", node_dir_[i].path().string(),
                                               "start-node", fmt::format("n{}", i)},
                                              {},
                                              {}}));
  }

  void kill(int i) {
    nodes_[i]->kill();
    past_logs_[i] += nodes_[i]->stderr_text() + "--- killed (SIGKILL), restarted ---\n";
    nodes_[i].reset();
  }

  std::string log_of(int i) const {
    return past_logs_[i] + (nodes_[i] ? nodes_[i]->stderr_text() : std::string());
  }

  /// The last `lines` lines of every node's log.
  std::string logs(std::size_t lines = 40) const {
    std::string out;
    for (int i = 0; i < node_count; ++i) {
      const std::string text = log_of(i);
      std::size_t begin = text.size();
      for (std::size_t n = 0; n <= lines && begin > 0; ++n) {
        begin = text.rfind('\n', begin - 1);
        if (begin == std::string::npos) {
          begin = 0;
          break;
        }
      }
      out += fmt::format("--- n{} (last {} lines) ---\n{}\n", i, lines, text.substr(begin));
    }
    return out;
  }

  void keep_logs() const {
    auto dir = env("VSR_CHAOS_LOG_DIR");
    if (!dir) return;
    std::filesystem::create_directories(*dir);
    for (int i = 0; i < node_count; ++i) {
      std::ofstream(std::filesystem::path(*dir) / fmt::format("seed{}-n{}.log", seed_, i))
          << log_of(i);
    }
    std::ofstream(std::filesystem::path(*dir) / fmt::format("seed{}-schedule.log", seed_))
        << schedule_;
  }

  /// What each proxy did: connections accepted, open and black-holed, bytes forwarded.
  std::string proxies_text() const {
    std::string out = "proxy (i dials j): accepted open held bytes i->j bytes j->i\n";
    for (int i = 0; i < node_count; ++i) {
      for (int j = 0; j < node_count; ++j) {
        if (!proxy_[i][j]) continue;
        const Proxy& p = *proxy_[i][j];
        out += fmt::format("  n{}->n{}: {} {} {} {} {}\n", i, j, p.accepted(), p.open_links(),
                           p.held_links(), p.forwarded(Direction::to_upstream),
                           p.forwarded(Direction::to_dialer));
      }
    }
    return out;
  }

  Json status() const {
    RunResult r = vsr(main_dir_, {"status", "--json", "--timeout", "1"});
    auto j = Json::parse(r.out, nullptr, false);
    return j.is_discarded() || !j.contains("nodes") ? Json::object() : j;
  }

  bool all_connected() const {
    Json s = status();
    if (!s.contains("nodes")) return false;
    for (const Json& n : s["nodes"]) {
      if (!n.value("reachable", false) || n.value("peers_connected", 0) != 2) return false;
    }
    return true;
  }

  /// Every node reachable and normal, in one view.
  static bool same_normal_view(const Json& s) {
    if (!s.contains("nodes")) return false;
    for (const Json& n : s["nodes"]) {
      if (!n.value("reachable", false) || n["status"] != "normal") return false;
    }
    const Json& nodes = s["nodes"];
    return nodes[0]["view"] == nodes[1]["view"] && nodes[1]["view"] == nodes[2]["view"];
  }

  /// Every node reachable and normal, in one view, with one commit and one state digest.
  static bool converged(const Json& s) {
    return same_normal_view(s) && cluster::converged_in(s, {0, 1, 2}, 0);
  }

  // --- the workload ---------------------------------------------------------------------

  static constexpr std::int64_t pool_start = 1000;

  /// Runs `vsr bank ARGS --timeout 2` and counts its outcome in `tally`.
  void bank(std::vector<std::string> args, Tally& tally) {
    args.insert(args.begin(), "bank");
    args.insert(args.end(), {"--timeout", "2"});
    RunResult r = vsr(main_dir_, args, 20s);
    if (r.status.code == 0) {
      tally.acked += 1;
    } else if (r.status.code == 1) {
      tally.refused += 1;
    } else {
      tally.unknown += 1;  // 3: outcome unknown; anything else is counted as unknown too
    }
  }

  void start_workload() {
    for (int w = 0; w < adders; ++w) {
      workers_.emplace_back([this, w] {
        while (!stop_) {
          bank({"add", fmt::format("acct{}", w), "1"}, adds_[w]);
          std::this_thread::sleep_for(20ms);
        }
      });
    }
    // Transfers of 1 between two pools, both ways: the sum never changes, and each pool's
    // balance is bounded by the acknowledged and unknown transfers of each way.
    workers_.emplace_back([this] {
      for (bool a_to_b = true; !stop_; a_to_b = !a_to_b) {
        if (a_to_b) {
          bank({"transfer", "pool_a", "pool_b", "1"}, a_to_b_);
        } else {
          bank({"transfer", "pool_b", "pool_a", "1"}, b_to_a_);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }

  void stop_workload() {
    stop_ = true;
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::optional<std::int64_t> balance(const std::string& account) const {
    RunResult r = vsr(main_dir_, {"bank", "get", account, "--timeout", "5"});
    if (r.status.code != 0) return std::nullopt;
    return std::stoll(r.out);
  }

  // --- the schedule ---------------------------------------------------------------------

  int pick_node() { return static_cast<int>(rng_() % node_count); }
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool allowed(const char* kind) const { return kinds_.count(kind) != 0; }

  void note(const std::string& line) {
    const std::string stamped = fmt::format("[{:6.2f}s] {}\n", seconds_since(chaos_start_), line);
    schedule_ += stamped;
    std::fputs(stamped.c_str(), stdout);
    std::fflush(stdout);
  }

  void heal_network() {
    for (int i = 0; i < node_count; ++i) {
      for (int j = 0; j < node_count; ++j) {
        if (proxy_[i][j]) proxy_[i][j]->heal();
      }
    }
  }

  /// Every byte from node `from` to node `to` meets `fault`: on `from`'s link to `to` and
  /// on the replies `from` sends back on `to`'s link to it.
  void fault_path(int from, int to, Fault fault, std::chrono::milliseconds delay = {}) {
    proxy_[from][to]->set_fault(Direction::to_upstream, fault, delay);
    proxy_[to][from]->set_fault(Direction::to_dialer, fault, delay);
  }

  /// Nothing from `from` reaches `to`: a cut (connections closed, refused) or a black hole.
  void sever(int from, int to, bool black_hole) {
    if (black_hole) {
      fault_path(from, to, Fault::black_hole);
    } else {
      proxy_[from][to]->set_cut(true);
    }
  }

  const char* how(bool black_hole) const { return black_hole ? "black hole" : "cut"; }

  /// Draws and applies the next network state (the previous one healed first).
  void next_network() {
    heal_network();
    std::vector<std::string> options{"heal"};
    for (const char* kind : {"cut", "oneway", "bridge", "delay"}) {
      if (allowed(kind)) options.push_back(kind);
    }
    // A black hole replaces the cut of a partition, a one-way cut or a bridge.
    const bool black_hole = allowed("blackhole") && (!allowed("cut") || rng_() % 2 == 0);
    if (allowed("blackhole") && options.size() == 1) options.push_back("cut");
    const std::string kind = options[rng_() % options.size()];
    if (kind == "heal") {
      note("network: healed");
    } else if (kind == "cut") {
      const int k = pick_node();
      for (int j = 0; j < node_count; ++j) {
        if (j == k) continue;
        sever(k, j, black_hole);
        sever(j, k, black_hole);
      }
      note(fmt::format("network: n{} partitioned ({})", k, how(black_hole)));
    } else if (kind == "oneway") {
      const int k = pick_node();
      const bool outgoing = rng_() % 2 == 0;
      for (int j = 0; j < node_count; ++j) {
        if (j == k) continue;
        if (outgoing) {
          sever(k, j, black_hole);
        } else {
          sever(j, k, black_hole);
        }
      }
      note(fmt::format("network: nothing {} n{} ({})", outgoing ? "from" : "to", k,
                       how(black_hole)));
    } else if (kind == "bridge") {
      const int middle = pick_node();
      const int a = (middle + 1) % node_count;
      const int b = (middle + 2) % node_count;
      sever(a, b, black_hole);
      sever(b, a, black_hole);
      note(fmt::format("network: bridge, only n{} hears n{} and n{} ({} between them)", middle, a,
                       b, how(black_hole)));
    } else {
      std::string what;
      for (int i = 0; i < node_count; ++i) {
        for (int j = 0; j < node_count; ++j) {
          if (i == j || rng_() % 2 == 0) continue;
          const auto delay = std::chrono::milliseconds(between(1000, 6000));
          fault_path(i, j, Fault::delay, delay);
          what += fmt::format(" n{}->n{} {}ms", i, j, delay.count());
        }
      }
      note("network: delays" + (what.empty() ? std::string(" none") : what));
    }
  }

  /// Maybe kills or pauses one node for part of `step`; sleeps `step` in all.
  void process_fault_within(std::chrono::milliseconds step) {
    std::vector<const char*> options;
    for (const char* kind : {"kill", "pause"}) {
      if (allowed(kind)) options.push_back(kind);
    }
    if (options.empty() || rng_() % 3 != 0) {
      std::this_thread::sleep_for(step);
      return;
    }
    const std::string kind = options[rng_() % options.size()];
    const int k = pick_node();
    const auto length =
        std::chrono::milliseconds(between(500, std::min<std::int64_t>(4000, step.count())));
    if (kind == "kill") {
      note(fmt::format("n{}: SIGKILL, restart in {} ms", k, length.count()));
      kill(k);
      std::this_thread::sleep_for(length);
      start(k);
      note(fmt::format("n{}: restarted", k));
    } else {
      note(fmt::format("n{}: SIGSTOP for {} ms", k, length.count()));
      nodes_[k]->send_signal(SIGSTOP);
      std::this_thread::sleep_for(length);
      nodes_[k]->send_signal(SIGCONT);
      note(fmt::format("n{}: SIGCONT", k));
    }
    std::this_thread::sleep_for(std::max(0ms, step - length));
  }

  std::uint64_t seed_ = 0;
  std::chrono::seconds chaos_length_{35};
  std::set<std::string> kinds_;
  std::mt19937_64 rng_;
  Clock::time_point chaos_start_ = Clock::now();
  std::string schedule_;

  TempDir main_dir_;
  TempDir node_dir_[node_count];
  std::uint16_t proxy_port_[node_count][node_count] = {};
  std::unique_ptr<Proxy> proxy_[node_count][node_count];
  std::optional<Process> nodes_[node_count];
  std::string past_logs_[node_count];  // the logs of earlier lives (before a SIGKILL)

  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  Tally adds_[adders];
  Tally a_to_b_;
  Tally b_to_a_;
};

TEST_F(ChaosTest, EveryReplicaRejoinsOnceTheNetworkHeals) {
  start_workload();
  chaos_start_ = Clock::now();
  const auto chaos_end = chaos_start_ + chaos_length_;
  for (int step = 0; step < 1000 && Clock::now() < chaos_end; ++step) {
    next_network();
    process_fault_within(std::chrono::milliseconds(between(1000, 3500)));
  }
  heal_network();
  note("network: healed for good; every node running");
  const auto healed = Clock::now();

  // Converged: every replica normal in one view, one commit, one state digest. The workload
  // keeps running meanwhile for a few seconds, so the check sees a cluster that serves.
  Json last;
  std::optional<double> rejoined_after;  // every replica normal in one view (commits may differ)
  std::optional<double> converged_after;
  const auto deadline = healed + converge_bound;
  for (int poll = 0; poll < 1000 && Clock::now() < deadline; ++poll) {
    if (!stop_ && Clock::now() - healed > 3s) stop_workload();
    last = status();
    if (!rejoined_after && same_normal_view(last)) rejoined_after = seconds_since(healed);
    if (stop_ && converged(last)) {
      converged_after = seconds_since(healed);
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  stop_workload();
  std::uint64_t acked = 0;
  for (const Tally& t : adds_) acked += t.acked;
  note(
      fmt::format("adds: {} acknowledged, {} unknown, {} refused; transfers {} acknowledged, {} "
                  "unknown",
                  acked, adds_[0].unknown + adds_[1].unknown + adds_[2].unknown,
                  adds_[0].refused + adds_[1].refused + adds_[2].refused,
                  a_to_b_.acked + b_to_a_.acked, a_to_b_.unknown + b_to_a_.unknown));
  if (!converged_after) {
    // Which links still carry bytes: two looks, 3 s apart.
    const std::string before = proxies_text();
    std::this_thread::sleep_for(3s);
    FAIL() << "seed " << seed_ << ": not converged " << converge_bound.count()
           << " s after the heal:\n"
           << last.dump(1) << "\n"
           << schedule_ << before << "3 s later:\n"
           << proxies_text() << logs();
  }
  note(
      fmt::format("every replica normal in one view {:.1f} s after the heal; converged (the "
                  "workload stopped at 3 s) after {:.1f} s: view {} commit {}",
                  rejoined_after.value_or(*converged_after), *converged_after,
                  last["nodes"][0]["view"].get<std::uint64_t>(),
                  last["nodes"][0]["commit"].get<std::uint64_t>()));
  EXPECT_GT(acked, 0u) << "nothing was acknowledged: the workload did not run";

  // Nothing acknowledged is lost, nothing is applied twice.
  for (int w = 0; w < adders; ++w) {
    const std::optional<std::int64_t> got = balance(fmt::format("acct{}", w));
    ASSERT_TRUE(got.has_value()) << "seed " << seed_;
    const auto low = static_cast<std::int64_t>(adds_[w].acked.load());
    const auto high = low + static_cast<std::int64_t>(adds_[w].unknown.load());
    EXPECT_GE(*got, low) << "seed " << seed_ << ": acct" << w << " lost acknowledged adds";
    EXPECT_LE(*got, high) << "seed " << seed_ << ": acct" << w << " has adds nobody made";
  }
  const std::optional<std::int64_t> a = balance("pool_a");
  const std::optional<std::int64_t> b = balance("pool_b");
  ASSERT_TRUE(a && b) << "seed " << seed_;
  EXPECT_EQ(*a + *b, 2 * pool_start) << "seed " << seed_ << ": transfers created or lost money";
  const auto ab = static_cast<std::int64_t>(a_to_b_.acked.load());
  const auto ba = static_cast<std::int64_t>(b_to_a_.acked.load());
  EXPECT_GE(*a, pool_start - ab - static_cast<std::int64_t>(a_to_b_.unknown.load()) + ba)
      << "seed " << seed_;
  EXPECT_LE(*a, pool_start - ab + ba + static_cast<std::int64_t>(b_to_a_.unknown.load()))
      << "seed " << seed_;
  if (HasFailure()) ADD_FAILURE() << schedule_ << logs();
}

}  // namespace
}  // namespace vsr::test
