// `vsr sync-node` through the real binary: a 3-node cluster, n2 stopped and wiped (or
// stale), restored from the running n0 and n1, started again, and checked to reach the
// cluster's commit with the same state digest; with checkpoints taken so that a checkpoint
// is transferred, not only the log; and every refusal (running, data without --force, no
// quorum, unknown node), each leaving the directory as it was.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using cluster::eventually;
using cluster::LocalCluster;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

/// Every file of a directory with its contents, for "nothing changed" (but LOCK, where
/// each holder of the lock writes its pid).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "LOCK") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    out[entry.path().filename().string()] = bytes.str();
  }
  return out;
}

class SyncNode : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(c.error.empty()) << c.error; }

  /// Rewrites the cluster's files with a small checkpoint interval (before any node ran).
  void reinit_with_checkpoint_interval(int interval) {
    nlohmann::json s = c.status();
    ASSERT_TRUE(s.contains("nodes"));
    std::string nodes;
    for (const nlohmann::json& n : s["nodes"]) {
      nodes += (nodes.empty() ? "" : ",") + n["node"].get<std::string>() + "=" +
               n["address"].get<std::string>();
    }
    RunResult r = c.vsr({"init-cluster", "--force", "--nodes", nodes, "--checkpoint-interval",
                         std::to_string(interval)});
    ASSERT_EQ(r.status.code, 0) << r.err;
  }

  void start_cluster() { ASSERT_TRUE(c.start_all()) << c.logs(); }

  /// `requests` bank writes through the bench load generator.
  void write(int requests) {
    RunResult r = c.vsr({"bench", "--clients", "2", "--requests", std::to_string(requests)}, 60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
  }

  /// Waits until n0..n2 agree (or only `which`).
  void expect_converged(const std::vector<int>& which = {0, 1, 2}) {
    EXPECT_TRUE(eventually(
        [&] {
          const std::uint64_t commit = c.max_commit();
          return commit > 0 && c.converged(which, commit);
        },
        30s))
        << c.status().dump(2) << "\n"
        << c.logs();
  }

  void stop(int i) {
    auto& node = c.node(i);
    ASSERT_TRUE(node.has_value());
    node->send_signal(SIGTERM);
    auto status = node->wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "n" << i << " did not stop";
    EXPECT_EQ(status->code, 0) << node->stderr_text();
  }

  fs::path node_dir(int i) const { return c.dir() / "nodes" / fmt::format("n{}", i); }

  RunResult sync(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), "sync-node");
    return c.vsr(std::move(args), timeout);
  }

  /// n2 restored: started again, it catches up with the others after more writes.
  void expect_rejoins_after(const RunResult& synced) {
    ASSERT_EQ(synced.status.code, 0) << synced.err << synced.out;
    EXPECT_THAT(synced.out, HasSubstr("synced node n2"));
    EXPECT_THAT(synced.out, HasSubstr("next: vsr start-node n2"));
    EXPECT_TRUE(fs::exists(node_dir(2) / "RESTORED"));
    c.start(2);
    write(20);
    expect_converged();
    // Caught up through a StartView: the marker is gone, and n2 serves as a normal backup.
    EXPECT_TRUE(eventually([&] { return !fs::exists(node_dir(2) / "RESTORED"); }, 20s)) << c.logs();
  }

  LocalCluster c;
};

TEST_F(SyncNode, RestoresAWipedNodeThatThenCatchesUp) {
  start_cluster();
  write(30);
  expect_converged();
  stop(2);
  fs::remove_all(node_dir(2));
  RunResult r = sync({"n2"});
  EXPECT_THAT(r.out, HasSubstr("ops installed"));
  EXPECT_THAT(r.out, HasSubstr("view floor"));
  expect_rejoins_after(r);
}

// A wiped node started without sync-node: it opens without metadata, asks the others, and
// (the cluster having run) rejoins through a StartView instead of voting as a new replica
// (docs/vsr/protocol.md, "Replicas without metadata"); it then catches up from its peers.
using WipedNode = SyncNode;

TEST_F(WipedNode, StartedWithoutSyncItRejoinsFromItsPeers) {
  start_cluster();
  write(30);
  expect_converged();
  stop(2);
  fs::remove_all(node_dir(2));
  c.start(2);
  write(20);
  expect_converged();
  EXPECT_THAT(c.node(2)->stderr_text(), HasSubstr("asking the other replicas")) << c.logs();
}

TEST_F(SyncNode, ReplacesStaleDataOnlyWithForce) {
  start_cluster();
  write(10);
  expect_converged();
  stop(2);
  write(20);  // n2 is now behind
  const auto before = snapshot(node_dir(2));
  ASSERT_FALSE(before.empty());
  RunResult refused = sync({"n2"});
  EXPECT_EQ(refused.status.code, 2) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("holds data"));
  EXPECT_THAT(refused.err, HasSubstr("--force"));
  EXPECT_EQ(snapshot(node_dir(2)), before);

  RunResult r = sync({"n2", "--force"});
  EXPECT_THAT(r.out, HasSubstr("replaced the earlier contents"));
  expect_rejoins_after(r);
}

TEST_F(SyncNode, TransfersACheckpointWhenThePeersReleasedTheLog) {
  reinit_with_checkpoint_interval(8);
  start_cluster();
  write(120);
  expect_converged();
  stop(2);
  fs::remove_all(node_dir(2));
  RunResult r = sync({"n2"});
  ASSERT_EQ(r.status.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(from node n"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("checkpoint op 0")));
  expect_rejoins_after(r);
}

TEST_F(SyncNode, RefusesWhileTheNodeRuns) {
  start_cluster();
  RunResult r = sync({"n2", "--force"});
  EXPECT_EQ(r.status.code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("running"));
  EXPECT_TRUE(c.node(2)->wait_for(0ms) == std::nullopt) << "n2 kept running";
}

TEST_F(SyncNode, RefusesAnUnknownNode) {
  RunResult r = sync({"n9"});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no node 'n9'"));
  RunResult missing = c.vsr({"sync-node"});
  EXPECT_EQ(missing.status.code, 2) << missing.err;
}

TEST_F(SyncNode, FailsWithinTheTimeoutWithoutAQuorumAndChangesNothing) {
  start_cluster();
  write(5);
  expect_converged();
  for (int i : {2, 0, 1}) stop(i);
  const auto before = snapshot(node_dir(2));
  const auto started = std::chrono::steady_clock::now();
  RunResult r = sync({"n2", "--force", "--timeout", "2"}, 30s);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no quorum"));
  EXPECT_LT(took, 15s);
  EXPECT_EQ(snapshot(node_dir(2)), before);
  EXPECT_FALSE(fs::exists(c.dir() / "nodes" / ".n2.restore.tmp"));

  // One peer is not a quorum of three either (n2 itself never counts).
  c.start(0);
  RunResult one = sync({"n2", "--force", "--timeout", "2"}, 30s);
  EXPECT_EQ(one.status.code, 4) << one.err;
  EXPECT_THAT(one.err, HasSubstr("1 of the other replicas answered"));
  EXPECT_EQ(snapshot(node_dir(2)), before);
}

}  // namespace
}  // namespace vsr::test
