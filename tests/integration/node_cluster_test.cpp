// Proves, with three real `vsr start-node` processes on free loopback ports, the runtime's
// guarantees of product.md §3: requests commit and reach every replica (equal commit and
// state digest in `vsr status`); after `kill -9` of the primary a new primary serves
// within 5 s and no acknowledged write is lost; a killed replica restarts and catches up;
// a SIGSTOPped backup catches up once resumed; hostile input (garbage, a huge length, a
// bad MAC, a replica message under the client key, another cluster's id) is rejected,
// counted and its connection closed while the node keeps serving; a second start-node on
// the same directory fails with exit 4. Every process is killed by pid when its Process
// object goes away, also when a test fails; every wait is bounded.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/core/message.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/node/settings.hpp"
#include "wire_session.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string nodes;
    const std::vector<std::uint16_t> ports = cluster::free_ports(3);
    for (int i = 0; i < 3; ++i) {
      ports_.push_back(ports[static_cast<std::size_t>(i)]);
      nodes += fmt::format("{}n{}=127.0.0.1:{}", i ? "," : "", i, ports_.back());
    }
    RunResult init = vsr({"init-cluster", "--nodes", nodes});
    ASSERT_EQ(init.status.code, 0) << init.err;
    for (int i = 0; i < 3; ++i) start(i);
    ASSERT_TRUE(eventually([&] { return all_connected(); }, 10s)) << logs();
  }

  RunResult vsr(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {"--cluster-dir", dir_.path().string()});
    return run(vsr_binary, SpawnOptions{args, {}, {}}, timeout);
  }

  void start(int i) {
    nodes_[i].reset();
    nodes_[i].emplace(Process::start(
        vsr_binary,
        SpawnOptions{
            {"--cluster-dir", dir_.path().string(), "start-node", fmt::format("n{}", i)}, {}, {}}));
  }

  Json status() {
    RunResult r = vsr({"status", "--json", "--timeout", "1"});
    if (r.status.code != 0) return Json::object();
    auto j = Json::parse(r.out, nullptr, false);
    return j.is_discarded() ? Json::object() : j;
  }

  bool all_connected() {
    Json s = status();
    if (!s.contains("nodes")) return false;
    for (const Json& n : s["nodes"]) {
      if (!n["reachable"].get<bool>() || n["peers_connected"].get<int>() != 2) return false;
    }
    return true;
  }

  /// Every node in `which` reachable, normal, with equal commit >= `commit_min` and digest.
  bool converged(const std::vector<int>& which, std::uint64_t commit_min) {
    return cluster::converged_in(status(), which, commit_min);
  }

  std::uint64_t max_commit() {
    std::uint64_t c = 0;
    Json s = status();
    for (const Json& n : s.value("nodes", Json::array())) {
      if (n["reachable"].get<bool>()) c = std::max(c, n["commit"].get<std::uint64_t>());
    }
    return c;
  }

  int primary() {
    Json s = status();
    for (const Json& n : s.value("nodes", Json::array())) {
      if (n["reachable"].get<bool>() && n["role"] == "primary" && n["status"] == "normal") {
        return std::stoi(n["node"].get<std::string>().substr(1));
      }
    }
    return -1;
  }

  std::uint64_t rejected(int i) {
    Json s = status();
    const Json& n = s["nodes"][static_cast<std::size_t>(i)];
    return n.value("rejected_messages", std::uint64_t{0});
  }

  std::string logs() {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      if (nodes_[i]) out += fmt::format("--- n{} ---\n{}\n", i, nodes_[i]->stderr_text());
    }
    return out;
  }

  void add(const std::string& account, int amount, const std::string& timeout = "10") {
    RunResult r = vsr({"bank", "add", account, std::to_string(amount), "--timeout", timeout});
    ASSERT_EQ(r.status.code, 0) << r.err << logs();
  }

  std::int64_t balance(const std::string& account) {
    RunResult r = vsr({"bank", "get", account});
    EXPECT_EQ(r.status.code, 0) << r.err;
    return r.status.code == 0 ? std::stoll(r.out) : -1;
  }

  TempDir dir_;
  std::vector<std::uint16_t> ports_;
  std::optional<Process> nodes_[3];
};

TEST_F(ClusterTest, RequestsCommitOnEveryReplica) {
  for (int i = 0; i < 5; ++i) add("alice", 10);
  RunResult t = vsr({"bank", "transfer", "alice", "bob", "15", "--json"});
  ASSERT_EQ(t.status.code, 0) << t.err;
  Json j = Json::parse(t.out);
  EXPECT_EQ(j["result"]["to"]["balance"], 15);
  RunResult refused = vsr({"bank", "add", "bob", "-100"});
  EXPECT_EQ(refused.status.code, 1) << refused.err;
  EXPECT_EQ(balance("alice"), 35);
  EXPECT_TRUE(eventually([&] { return converged({0, 1, 2}, 7); }, 10s)) << status().dump();
}

TEST_F(ClusterTest, RetryWithTheSameRequestNumberExecutesOnce) {
  for (int k = 0; k < 2; ++k) {
    RunResult r =
        vsr({"bank", "add", "carol", "5", "--client-id", "retry-client", "--request-no", "77"});
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_EQ(r.out, "5\n");
  }
  EXPECT_EQ(balance("carol"), 5);
}

TEST_F(ClusterTest, KilledPrimaryIsReplacedAndRejoins) {
  for (int i = 0; i < 5; ++i) add("dave", 1);
  const int old_primary = primary();
  ASSERT_GE(old_primary, 0);
  nodes_[old_primary]->kill();  // SIGKILL
  const auto killed_at = std::chrono::steady_clock::now();
  add("dave", 1, "5");  // a new primary must serve within 5 s
  {
    // The dead node is reported unreachable, not fatal.
    RunResult r = vsr({"status", "--json", "--timeout", "1"});
    ASSERT_EQ(r.status.code, 0) << r.err;
    Json s = Json::parse(r.out);
    const Json& dead = s["nodes"][static_cast<std::size_t>(old_primary)];
    EXPECT_FALSE(dead["reachable"].get<bool>());
    EXPECT_FALSE(dead.contains("view"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 5s);
  for (int i = 0; i < 5; ++i) add("dave", 1);
  EXPECT_EQ(balance("dave"), 11);  // nothing acknowledged was lost
  start(old_primary);
  const std::uint64_t commit = max_commit();
  EXPECT_TRUE(eventually(
      [&] {
        return converged({0, 1, 2}, commit);
      },
      20s))
      << status().dump() << logs();
  EXPECT_EQ(balance("dave"), 11);
}

TEST_F(ClusterTest, StoppedBackupCatchesUpWhenResumed) {
  add("erin", 1);
  const int p = primary();
  ASSERT_GE(p, 0);
  const int backup = (p + 1) % 3;
  nodes_[backup]->send_signal(SIGSTOP);
  for (int i = 0; i < 10; ++i) add("erin", 1);
  nodes_[backup]->send_signal(SIGCONT);
  const std::uint64_t commit = max_commit();
  EXPECT_TRUE(eventually(
      [&] {
        return converged({0, 1, 2}, commit);
      },
      20s))
      << status().dump() << logs();
  EXPECT_EQ(balance("erin"), 11);
}

TEST_F(ClusterTest, SecondStartOfTheSameNodeFails) {
  RunResult r = vsr({"start-node", "n1"}, 10s);
  EXPECT_EQ(r.status.code, 4) << r.err;
  EXPECT_NE(r.err.find("n1"), std::string::npos) << r.err;
}

TEST_F(ClusterTest, ANodeWithNothingValidOnDiskRefusesToStart) {
  add("gina", 1);
  nodes_[2]->kill();
  const std::filesystem::path node_dir = dir_.path() / "nodes" / "n2";
  for (const char* name : {"metadata.0", "metadata.1"}) {
    ASSERT_TRUE(std::filesystem::exists(node_dir / name));
    std::filesystem::resize_file(node_dir / name, 3);
  }
  RunResult r = vsr({"start-node", "n2"}, 10s);
  EXPECT_EQ(r.status.code, 4) << r.err;
  EXPECT_NE(r.err.find("sync-node"), std::string::npos) << r.err;
}

// --- hostile input ------------------------------------------------------------------------

TEST_F(ClusterTest, HostileInputIsRejectedCountedAndTheNodeKeepsServing) {
  auto cluster = config::load_cluster(dir_.path() / "cluster.tnet");
  ASSERT_TRUE(cluster.ok());
  const net::Keyring keys = node::replica_keyring(*cluster);
  const std::uint64_t id = node::core_cluster_id(cluster->cluster_id);
  const core::Message request{
      core::Request{core::View{0}, "hostile", core::RequestNo{0}, "", core::Op{0}}};
  const core::Message commit{core::Commit{core::View{0}, core::ReplicaIndex{0}, core::Op{0}, {}}};
  net::Key wrong = keys.client;
  wrong.bytes[0] ^= 1;

  struct Case {
    std::string name;
    std::string bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"garbage", "hello, this is not a frame at all\r\n\r\n"});
  cases.push_back({"huge length", "999999999:1:1#32:"});
  {
    std::string f;
    net::append_frame(f, core::encode(id, request), net::KeyKind::client, wrong);
    cases.push_back({"an offer under the wrong key", f});
  }
  {
    // What every connection of protocol version 2 began with: a request in a MAC frame.
    std::string f;
    net::append_frame(f, core::encode(id, request), net::KeyKind::client, keys.client);
    cases.push_back({"a request where the handshake belongs", f});
  }
  const int target = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::uint64_t before = rejected(target);
    EXPECT_TRUE(closed_after_sending(ports_[target], c.bytes));
    EXPECT_TRUE(eventually([&] { return rejected(target) > before; }, 5s));
  }
  // After a good handshake under the client key: what a holder of client.tnet might try.
  const net::HandshakeParams params{id, core::protocol_version};
  struct SessionCase {
    std::string name;
    std::function<void(WireSession&)> send;
  };
  const std::vector<SessionCase> session_cases = {
      {"replica message under the client key",
       [&](WireSession& s) { s.send_sealed(core::encode(id, commit)); }},
      {"another cluster id", [&](WireSession& s) { s.send_sealed(core::encode(id ^ 1, request)); }},
      {"a frame out of order",
       [&](WireSession& s) {
         std::string skipped;
         net::seal_frame(skipped, core::encode(id, request), s.send_state());
         s.send_sealed(core::encode(id, request));
       }},
      {"a frame sealed under the wrong key",
       [&](WireSession& s) {
         net::CipherState forged = s.send_state();
         forged.key.bytes[0] ^= 1;
         std::string frame;
         net::seal_frame(frame, core::encode(id, request), forged);
         s.send_raw(frame);
       }},
  };
  for (const SessionCase& c : session_cases) {
    SCOPED_TRACE(c.name);
    const std::uint64_t before = rejected(target);
    auto session = WireSession::open(ports_[target], params, net::KeyKind::client, keys.client);
    ASSERT_TRUE(session);
    c.send(*session);
    EXPECT_TRUE(session->closed_within(3s));
    EXPECT_TRUE(eventually([&] { return rejected(target) > before; }, 5s));
  }
  std::string log = nodes_[target]->stderr_text();
  EXPECT_NE(log.find("rejected"), std::string::npos) << log;
  add("frank", 3);
  EXPECT_EQ(balance("frank"), 3);
  EXPECT_TRUE(eventually([&] { return converged({0, 1, 2}, 2); }, 10s)) << status().dump();
}

}  // namespace
}  // namespace vsr::test
