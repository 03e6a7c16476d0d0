// Proves that composition is never silent: a node started with a different --app set than
// its peers is refused by them (a clear log line naming both sets) and does not join, while
// the replicas that agree keep serving.

#include <algorithm>
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using cluster::eventually;
using cluster::LocalCluster;

TEST(AppSet, ANodeServingOtherAppsIsRefusedAndDoesNotJoin) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.error.empty()) << cluster.error;
  // A new cluster starts serving once every node has answered (a node without state asks
  // the others first: docs/vsr/protocol.md, "Replicas without metadata"), so the cluster is
  // born with one app set and n2 comes back with another.
  cluster.start(0);
  cluster.start(1);
  cluster.start(2);
  RunResult first = cluster.vsr({"bank", "add", "acct", "1", "--timeout", "20"});
  ASSERT_EQ(first.status.code, 0) << first.err << cluster.logs();
  cluster.start(2, {"--app", "bank"});  // stops n2, starts it with another app set

  // n0 and n1 agree and form a quorum: writes commit.
  RunResult add = cluster.vsr({"bank", "add", "acct", "7", "--timeout", "20"});
  ASSERT_EQ(add.status.code, 0) << add.err << cluster.logs();
  EXPECT_EQ(add.out, "8\n");

  // Both sides say why n2 is kept out.
  EXPECT_TRUE(eventually(
      [&] {
        const std::string logs = cluster.logs();
        return logs.find(
                   "node n2 serves apps [bank] but this node serves "
                   "[bank,catalog,inventory,locks]") != std::string::npos &&
               logs.find("this node serves [bank]: refusing it") != std::string::npos;
      },
      15s))
      << cluster.logs();

  // n2 never receives the op committed since.
  nlohmann::json status = cluster.status();
  ASSERT_TRUE(status.contains("nodes")) << cluster.logs();
  std::int64_t cluster_commit = 0;
  for (const nlohmann::json& n : status["nodes"]) {
    if (n["node"] != "n2" && n.value("reachable", false)) {
      cluster_commit = std::max<std::int64_t>(cluster_commit, n.value("commit", 0));
    }
  }
  for (const nlohmann::json& n : status["nodes"]) {
    if (n["node"] == "n2" && n.value("reachable", false)) {
      EXPECT_LT(n.value("commit", -1), cluster_commit) << status.dump();
    }
  }
}

}  // namespace
}  // namespace vsr::test
