// Proves, against three real `vsr start-node` processes on loopback, that at-most-once
// holds when clients misuse it or an attacker replays their requests (docs/vsr/protocol.md,
// "Client sessions"; docs/vsr/use_cases.md):
//
//  - a request number reused with another operation exits 2, and the other operation never
//    runs (before: it was acknowledged with the first operation's reply, exit 0);
//  - a request older than its client id's latest exits 3 (its outcome can no longer be
//    learned), never 1 (a refusal would say it did not run);
//  - a request replayed on new connections, before and after its client id was evicted from
//    the client table and registered again, never runs a second time: the balances do not
//    move (before: the replay after eviction paid the transfer twice);
//  - the bytes of a client's connections, recorded and sent again on new connections before
//    and after eviction, run nothing: no frame opens under a new connection's keys;
//  - a client.tnet of another cluster gets "authentication failed" (exit 2, at once), not
//    "outcome unknown"; status shows the nodes as such and exits 2; nothing runs;
//  - an operation over the size limit is refused by the CLI before sending (exit 2), and a
//    hand-made one gets a definite invalid_request from the node, which keeps the
//    connection (before: the node closed it, and the client timed out with exit 3);
//  - two processes on one client id: every exit 0 is that process's own operation (checked
//    against the final balances), and no operation that ran is reported as refused.
//
// Every process is stopped by pid; every wait is bounded.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bank/bank.hpp"
#include "cluster.hpp"
#include "process.hpp"
#include "proxy.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/node/client.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;

class AtMostOnceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<cluster::LocalCluster>();
    if (cluster_->error.empty() && !cluster_->start_all()) {
      cluster_->error = "the cluster did not come up:\n" + cluster_->logs();
    }
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override { ASSERT_TRUE(cluster_->error.empty()) << cluster_->error; }

  static RunResult vsr(std::vector<std::string> args) { return cluster_->vsr(std::move(args)); }

  static std::int64_t balance(const std::string& account) {
    RunResult r = vsr({"bank", "get", account});
    EXPECT_EQ(r.status.code, 0) << r.err;
    return r.status.code == 0 ? std::stoll(r.out) : -1;
  }

  /// A client of the cluster through the library, with new connections each time.
  static std::unique_ptr<node::Client> client() {
    auto config = config::load_client(cluster_->dir() / "client.tnet");
    EXPECT_TRUE(config.ok());
    return std::make_unique<node::Client>(std::move(*config));
  }

  static inline std::unique_ptr<cluster::LocalCluster> cluster_;
};

TEST_F(AtMostOnceTest, ARequestNumberReusedWithAnotherOperationExits2AndRunsNothing) {
  RunResult first =
      vsr({"bank", "add", "reuse-r", "5", "--client-id", "dup", "--request-no", "100"});
  ASSERT_EQ(first.status.code, 0) << first.err;
  EXPECT_EQ(first.out, "5\n");
  RunResult again =
      vsr({"bank", "add", "reuse-other", "7", "--client-id", "dup", "--request-no", "100"});
  EXPECT_EQ(again.status.code, 2) << again.out << again.err;
  EXPECT_NE(again.err.find("request_no_reused"), std::string::npos) << again.err;
  EXPECT_EQ(again.out, "");
  RunResult json = vsr({"bank", "transfer", "reuse-r", "reuse-other", "1", "--client-id", "dup",
                        "--request-no", "100", "--json"});
  EXPECT_EQ(json.status.code, 2) << json.err;
  EXPECT_NE(json.out.find("\"error\":\"request_no_reused\""), std::string::npos) << json.out;
  EXPECT_EQ(balance("reuse-other"), 0) << "an operation that was never run was credited";
  EXPECT_EQ(balance("reuse-r"), 5);
  // The same operation under the same number is still the retry it always was.
  RunResult retry =
      vsr({"bank", "add", "reuse-r", "5", "--client-id", "dup", "--request-no", "100"});
  EXPECT_EQ(retry.status.code, 0) << retry.err;
  EXPECT_EQ(retry.out, "5\n");
}

TEST_F(AtMostOnceTest, AnOlderRequestNumberIsAnUnknownOutcomeNotARefusal) {
  ASSERT_EQ(
      vsr({"bank", "add", "stale-a", "1", "--client-id", "st", "--request-no", "42"}).status.code,
      0);
  RunResult older = vsr({"bank", "add", "stale-a", "1", "--client-id", "st", "--request-no", "41"});
  EXPECT_EQ(older.status.code, 3) << older.err;
  EXPECT_NE(older.err.find("stale_request"), std::string::npos) << older.err;
  EXPECT_NE(older.err.find("can no longer be learned"), std::string::npos) << older.err;
}

TEST_F(AtMostOnceTest, AReplayedRequestNeverRunsTwiceBeforeOrAfterEviction) {
  ASSERT_EQ(vsr({"bank", "add", "replay-alice", "1000"}).status.code, 0);
  const std::string transfer = app::encode_composite_operation(
      "bank", apps::bank::encode_transfer("replay-alice", "replay-mallory", 100));

  // The victim's transfer: its registration, then request 7 of that session.
  node::ClientSession victim{"victim", false, core::Op{0}};
  {
    const node::Outcome paid = client()->call(victim, core::RequestNo{7}, transfer, 10s);
    ASSERT_TRUE(paid.definite()) << paid.detail;
    ASSERT_EQ(paid.reply.status, core::ReplyStatus::ok);
  }
  ASSERT_EQ(balance("replay-mallory"), 100);
  const core::Op old_session = victim.session;

  // Replayed on new connections while the session lives: the cached reply, nothing runs.
  {
    node::ClientSession replay{"victim", true, old_session};
    const node::Outcome o = client()->call(replay, core::RequestNo{7}, transfer, 10s);
    ASSERT_TRUE(o.definite()) << o.detail;
    EXPECT_EQ(o.reply.status, core::ReplyStatus::ok);
  }
  EXPECT_EQ(balance("replay-mallory"), 100);

  // Ordinary traffic evicts the victim's session: 1,200 new sessions, and the table holds
  // 1,024.
  for (int run = 0; run < 2; ++run) {
    RunResult bench = vsr({"bench", "--clients", "600", "--requests", "600"});
    ASSERT_EQ(bench.status.code, 0) << bench.err;
  }

  // The replayed request alone: the session is gone.
  {
    node::ClientSession replay{"victim", true, old_session};
    const node::Outcome o = client()->call(replay, core::RequestNo{7}, transfer, 10s);
    ASSERT_TRUE(o.definite()) << o.detail;
    EXPECT_EQ(o.reply.status, core::ReplyStatus::evicted);
  }
  // The replayed registration, then the replayed request (and a later number): the id has a
  // new session, and the request names the old one.
  {
    node::ClientSession registration{"victim", false, core::Op{0}};
    const node::Outcome o = client()->call(
        registration, core::RequestNo{1},
        app::encode_composite_operation("bank", apps::bank::encode_get("replay-alice")), 10s);
    ASSERT_TRUE(o.definite()) << o.detail;
    EXPECT_NE(registration.session, old_session);
    for (const std::uint64_t number : {7u, 8u}) {
      node::ClientSession replay{"victim", true, old_session};
      const node::Outcome r = client()->call(replay, core::RequestNo{number}, transfer, 10s);
      ASSERT_TRUE(r.definite()) << r.detail;
      EXPECT_EQ(r.reply.status, core::ReplyStatus::evicted) << "request " << number;
    }
  }
  EXPECT_EQ(balance("replay-alice"), 900);
  EXPECT_EQ(balance("replay-mallory"), 100) << "a replayed transfer was paid twice";
}

TEST_F(AtMostOnceTest, CapturedConnectionsReplayedByteForByteRunNothing) {
  // An attacker without keys records every byte a client sends for a transfer (through a
  // proxy in front of each node) and sends the same bytes again on new connections, before
  // and after the client id is evicted. Each replayed connection completes a handshake
  // (the offer carries no freshness of the node's), but none of its frames opens under the
  // new connection's keys: the node closes it, and nothing runs.
  ASSERT_EQ(vsr({"bank", "add", "wire-alice", "1000"}).status.code, 0);
  const std::vector<std::uint16_t> ports = cluster::free_ports(3);
  std::vector<std::unique_ptr<Proxy>> proxies;
  auto config = config::load_client(cluster_->dir() / "client.tnet");
  ASSERT_TRUE(config.ok());
  for (std::size_t i = 0; i < 3; ++i) {
    proxies.push_back(std::make_unique<Proxy>(ports[i], cluster_->port(static_cast<int>(i))));
    config->nodes[i].address.port = ports[i];
  }
  {
    node::Client recorded(std::move(*config));
    node::ClientSession victim{"wire-victim", false, core::Op{0}};
    const node::Outcome paid =
        recorded.call(victim, core::RequestNo{7},
                      app::encode_composite_operation(
                          "bank", apps::bank::encode_transfer("wire-alice", "wire-mallory", 100)),
                      10s);
    ASSERT_TRUE(paid.definite()) << paid.detail;
    ASSERT_EQ(paid.reply.status, core::ReplyStatus::ok);
  }
  ASSERT_EQ(balance("wire-mallory"), 100);
  std::vector<std::pair<int, std::string>> captured;
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::string& bytes : proxies[i]->recorded()) {
      if (!bytes.empty()) captured.emplace_back(static_cast<int>(i), std::move(bytes));
    }
  }
  ASSERT_FALSE(captured.empty());
  const auto replay_all = [&] {
    for (const auto& [node, bytes] : captured) {
      EXPECT_TRUE(closed_after_sending(cluster_->port(node), bytes))
          << "a replayed connection to node " << node << " was kept open";
    }
  };
  replay_all();
  EXPECT_EQ(balance("wire-mallory"), 100);
  // Ordinary traffic evicts the victim's session (1,200 new sessions; the table holds 1,024).
  for (int run = 0; run < 2; ++run) {
    RunResult bench = vsr({"bench", "--clients", "600", "--requests", "600"});
    ASSERT_EQ(bench.status.code, 0) << bench.err;
  }
  replay_all();
  EXPECT_EQ(balance("wire-alice"), 900);
  EXPECT_EQ(balance("wire-mallory"), 100) << "a replayed transfer was paid twice";
}

TEST_F(AtMostOnceTest, AnotherClustersClientTnetIsToldAuthenticationFailedNotAnOutage) {
  // Another cluster's files naming this cluster's addresses: its client key is not ours.
  TempDir other;
  const std::string nodes = fmt::format("n0=127.0.0.1:{},n1=127.0.0.1:{},n2=127.0.0.1:{}",
                                        cluster_->port(0), cluster_->port(1), cluster_->port(2));
  ASSERT_EQ(run_vsr({"--cluster-dir", other.path().string(), "init-cluster", "--nodes", nodes})
                .status.code,
            0);
  const auto started = std::chrono::steady_clock::now();
  RunResult add = run_vsr({"--cluster-dir", other.path().string(), "bank", "add", "auth-x", "5"});
  EXPECT_EQ(add.status.code, 2) << add.err;
  EXPECT_NE(add.err.find("authentication failed: this client.tnet does not belong to this cluster"),
            std::string::npos)
      << add.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "it waited for a timeout";
  RunResult status = run_vsr({"--cluster-dir", other.path().string(), "status"});
  EXPECT_EQ(status.status.code, 2) << status.out << status.err;
  EXPECT_EQ(status.out.find("unreachable"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("n0 127.0.0.1:" + std::to_string(cluster_->port(0)) +
                            " authentication failed"),
            std::string::npos)
      << status.out;
  RunResult json = run_vsr({"--cluster-dir", other.path().string(), "status", "--json"});
  EXPECT_EQ(json.status.code, 2);
  EXPECT_NE(json.out.find("\"unreachable\":\"authentication_failed\""), std::string::npos)
      << json.out;
  // Nothing ran: the account does not exist in the real cluster.
  RunResult get = vsr({"bank", "get", "auth-x"});
  EXPECT_EQ(get.status.code, 0) << get.err;
  EXPECT_EQ(get.out, "0\n");
  // The nodes say why in their logs.
  EXPECT_NE(cluster_->logs().find("authentication failed"), std::string::npos);
}

TEST_F(AtMostOnceTest, AnOversizedOperationGetsADefiniteRefusal) {
  // From the CLI: refused before anything is sent.
  RunResult cli = vsr({"catalog", "put", "big-key", std::string(70 * 1024, 'v')});
  EXPECT_EQ(cli.status.code, 2) << cli.err;
  EXPECT_NE(cli.err.find("limit"), std::string::npos) << cli.err;
  // Hand-made, through the library (which does not check): the node answers invalid_request
  // at once, instead of closing the connection and leaving the client to time out.
  auto c = client();
  node::ClientSession session{"oversized", false, core::Op{0}};
  const auto started = std::chrono::steady_clock::now();
  const node::Outcome o = c->call(session, core::RequestNo{1},
                                  std::string(core::Options{}.max_operation_bytes + 100, 'x'), 10s);
  ASSERT_TRUE(o.definite()) << o.detail;
  EXPECT_EQ(o.reply.status, core::ReplyStatus::invalid_request);
  EXPECT_NE(o.reply.result.find("limit"), std::string::npos) << o.reply.result;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  // The same client goes on.
  const node::Outcome next = c->call(
      session, core::RequestNo{2},
      app::encode_composite_operation("bank", apps::bank::encode_get("oversized-account")), 10s);
  ASSERT_TRUE(next.definite()) << next.detail;
  EXPECT_EQ(next.reply.status, core::ReplyStatus::ok);
}

TEST_F(AtMostOnceTest, TwoProcessesOnOneClientIdNeverGetAnotherOperationsAnswer) {
  // Each process adds 1 to its own account, with the default request numbers. An exit 0 is
  // its own operation (the printed balance is its account's); exit 3 may or may not have
  // run; nothing is refused (exit 1), and no number collides (exit 2).
  constexpr int commands = 25;
  struct Tally {
    int ran = 0;
    int unknown = 0;
    int other = 0;
    std::string errors;
  };
  const auto run = [](const std::string& account, Tally& tally) {
    for (int i = 0; i < commands; ++i) {
      RunResult r = vsr({"bank", "add", account, "1", "--client-id", "shared-id"});
      if (r.status.code == 0) {
        tally.ran += 1;
      } else if (r.status.code == 3) {
        tally.unknown += 1;
      } else {
        tally.other += 1;
        tally.errors += fmt::format("exit {}: {}", r.status.code, r.err);
      }
    }
  };
  Tally a;
  Tally b;
  std::thread other([&] { run("shared-b", b); });
  run("shared-a", a);
  other.join();
  EXPECT_EQ(a.other + b.other, 0) << a.errors << b.errors;
  const std::int64_t balance_a = balance("shared-a");
  const std::int64_t balance_b = balance("shared-b");
  // Every exit 0 ran; an exit 3 may have run.
  EXPECT_GE(balance_a, a.ran);
  EXPECT_LE(balance_a, a.ran + a.unknown);
  EXPECT_GE(balance_b, b.ran);
  EXPECT_LE(balance_b, b.ran + b.unknown);
}

}  // namespace
}  // namespace vsr::test
