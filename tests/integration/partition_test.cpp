// Proves, with three real `vsr start-node` processes, that a network partition of one
// replica heals: every byte to and from n2 goes through TCP proxies in this test; cutting
// them (open connections closed, new ones refused) isolates n2 while n0 and n1 keep
// committing; reopening them lets n2 reconnect and catch up to the same commit and state
// digest, with nothing acknowledged lost.
//
// The wiring uses two cluster directories. The main one (used by n0, n1 and the clients)
// names a proxy as n2's address. n2 runs from a copy in which move-node pointed n0 and n1
// at proxies, and n2 at its real port. Every process is stopped by pid, every wait is
// bounded. A second test drops n2's packets instead (a black hole: no reset, nothing
// forwarded) and heals the path while the connections stay dead.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
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
using cluster::eventually;
using Json = nlohmann::json;

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Real ports of n0..n2, then the proxies' ports for n0, n1 (n2's way out) and n2.
    const std::vector<std::uint16_t> ports = cluster::free_ports(6);
    for (std::uint16_t p : ports) ASSERT_NE(p, 0);
    const std::uint16_t real2 = ports[2];
    RunResult init = vsr(main_dir_, {"init-cluster", "--nodes",
                                     fmt::format("n0=127.0.0.1:{},n1=127.0.0.1:{},n2=127.0.0.1:{}",
                                                 ports[0], ports[1], ports[5])});
    ASSERT_EQ(init.status.code, 0) << init.err;
    for (const char* file : {"cluster.tnet", "client.tnet"}) {
      std::filesystem::copy_file(main_dir_ / file, n2_dir_ / file);
    }
    for (const auto& [node, port] :
         {std::pair{"n2", real2}, std::pair{"n0", ports[3]}, std::pair{"n1", ports[4]}}) {
      RunResult moved = vsr(n2_dir_, {"move-node", node, fmt::format("127.0.0.1:{}", port)});
      ASSERT_EQ(moved.status.code, 0) << moved.err;
    }
    proxies_.push_back(std::make_unique<Proxy>(ports[3], ports[0]));
    proxies_.push_back(std::make_unique<Proxy>(ports[4], ports[1]));
    proxies_.push_back(std::make_unique<Proxy>(ports[5], real2));
    for (int i = 0; i < 3; ++i) {
      const std::filesystem::path& dir = i == 2 ? n2_dir_.path() : main_dir_.path();
      nodes_[i].emplace(Process::start(
          vsr_binary,
          SpawnOptions{
              {"--cluster-dir", dir.string(), "start-node", fmt::format("n{}", i)}, {}, {}}));
    }
    ASSERT_TRUE(eventually([&] { return reachable_and_connected({0, 1, 2}); }, 20s)) << logs();
  }

  void partition(bool cut) {
    for (auto& proxy : proxies_) proxy->set_cut(cut);
  }

  /// Every byte to and from n2 is dropped, in both directions, without a reset; heal()
  /// lets new connections pass while the black-holed ones stay dead (proxy.hpp).
  void black_hole() {
    for (auto& proxy : proxies_) {
      proxy->set_fault(Proxy::Direction::to_upstream, Proxy::Fault::black_hole);
      proxy->set_fault(Proxy::Direction::to_dialer, Proxy::Fault::black_hole);
    }
  }
  void heal() {
    for (auto& proxy : proxies_) proxy->heal();
  }

  static RunResult vsr(const TempDir& dir, std::vector<std::string> args,
                       std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {"--cluster-dir", dir.path().string()});
    return run(vsr_binary, SpawnOptions{args, {}, {}}, timeout);
  }

  void add(const std::string& account, int amount) {
    RunResult r = vsr(main_dir_, {"bank", "add", account, std::to_string(amount)});
    ASSERT_EQ(r.status.code, 0) << r.err << logs();
  }

  std::string balance(const std::string& account) {
    RunResult r = vsr(main_dir_, {"bank", "get", account});
    return r.status.code == 0 ? r.out : "exit " + std::to_string(r.status.code) + ": " + r.err;
  }

  Json status() {
    RunResult r = vsr(main_dir_, {"status", "--json", "--timeout", "1"});
    if (r.status.code != 0 && r.out.empty()) return Json::object();
    auto j = Json::parse(r.out, nullptr, false);
    return j.is_discarded() ? Json::object() : j;
  }

  bool reachable_and_connected(const std::vector<int>& which) {
    Json s = status();
    if (!s.contains("nodes")) return false;
    for (int i : which) {
      const Json& n = s["nodes"][static_cast<std::size_t>(i)];
      if (!n.value("reachable", false) || n.value("peers_connected", 0) != 2) return false;
    }
    return true;
  }

  std::uint64_t commit_of(int i) {
    Json s = status();
    if (!s.contains("nodes")) return 0;
    const Json& n = s["nodes"][static_cast<std::size_t>(i)];
    return n.value("reachable", false) ? n["commit"].get<std::uint64_t>() : 0;
  }

  std::string logs() const {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      if (nodes_[i]) out += fmt::format("--- n{} ---\n{}\n", i, nodes_[i]->stderr_text());
    }
    return out;
  }

  TempDir main_dir_;
  TempDir n2_dir_;
  std::vector<std::unique_ptr<Proxy>> proxies_;
  std::optional<Process> nodes_[3];
};

TEST_F(PartitionTest, AnIsolatedReplicaCatchesUpWhenThePartitionHeals) {
  add("kim", 1);
  partition(true);
  // n2 is unreachable; n0 and n1 are a quorum and keep committing.
  ASSERT_TRUE(eventually([&] { return !status()["nodes"][2].value("reachable", true); }, 10s))
      << status().dump();
  for (int i = 0; i < 20; ++i) add("kim", 1);
  const std::uint64_t commit = std::max(commit_of(0), commit_of(1));
  ASSERT_GT(commit, 0u);
  // Long enough for n2 to give up on its primary and start view changes of its own: it
  // must come back to the cluster's lower view (docs/vsr/protocol.md, "Rejoining a lower
  // view").
  std::this_thread::sleep_for(2s);
  partition(false);
  EXPECT_TRUE(eventually(
      [&] {
        return cluster::converged_in(status(), {0, 1, 2}, commit);
      },
      30s))
      << status().dump() << logs();
  EXPECT_EQ(balance("kim"), "21\n");
  add("kim", 1);  // and the healed cluster still serves
  EXPECT_EQ(balance("kim"), "22\n");
}

// Issue 12, finding 9: a partition that drops packets tells TCP nothing, so the links to and
// from n2 stay on connections that will never carry a byte again. Each node must give them
// up (no pong within the silence limit, docs/vsr/wire.md) and dial new ones, or n2 never
// hears the primary again and changes views alone for good.
TEST_F(PartitionTest, AReplicaBehindABlackHoleRejoinsWhenThePathHeals) {
  add("kim", 1);
  const std::uint64_t accepted = proxies_[2]->accepted();
  black_hole();
  for (int i = 0; i < 20; ++i) add("kim", 1);
  const std::uint64_t commit = std::max(commit_of(0), commit_of(1));
  ASSERT_GT(commit, 0u);
  std::this_thread::sleep_for(3s);  // n2 changes views alone meanwhile
  heal();
  EXPECT_TRUE(eventually(
      [&] {
        return cluster::converged_in(status(), {0, 1, 2}, commit);
      },
      20s))
      << status().dump() << logs();
  // Converging took new connections to n2: the black-holed ones stay dead.
  EXPECT_GT(proxies_[2]->accepted(), accepted);
  EXPECT_EQ(balance("kim"), "21\n");
  add("kim", 1);
  EXPECT_EQ(balance("kim"), "22\n");
}

// `peers_connected` counts a peer only when the link is up both ways. With n2's own links
// to n0 and n1 cut (proxies 0 and 1 carry them) while theirs to n2 still work, n0 and n1 see
// one peer each, not two; once healed, two again.
TEST_F(PartitionTest, APeerReachedOnlyOneWayIsNotCountedAsConnected) {
  auto peers_of = [&](int i) {
    Json s = status();
    if (!s.contains("nodes")) return -1;
    const Json& n = s["nodes"][static_cast<std::size_t>(i)];
    return n.value("reachable", false) ? n.value("peers_connected", -1) : -1;
  };
  proxies_[0]->set_cut(true);
  proxies_[1]->set_cut(true);
  EXPECT_TRUE(eventually([&] { return peers_of(0) == 1 && peers_of(1) == 1; }, 15s))
      << status().dump();
  proxies_[0]->set_cut(false);
  proxies_[1]->set_cut(false);
  EXPECT_TRUE(eventually(
      [&] {
        return reachable_and_connected({0, 1, 2});
      },
      20s))
      << status().dump() << logs();
}

}  // namespace
}  // namespace vsr::test
