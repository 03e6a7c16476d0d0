// The bundled apps' client commands (product.md §1) against one real 3-process cluster:
// human output (one line with the essential value), the `--json` shape, exit codes (0
// success, 1 refused by the app with its error code, 2 usage, 3 outcome unknown), and
// at-most-once execution of a retry with the same --client-id/--request-no. Every node is
// killed by pid when the suite ends; every wait is bounded.

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class AppCommandsTest : public ::testing::Test {
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

  /// Runs a command that must succeed and returns its stdout without the final newline.
  static std::string ok(std::vector<std::string> args) {
    RunResult r = vsr(args);
    EXPECT_EQ(r.status.code, 0) << join(args) << ": " << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  /// Runs a command with --json that must succeed and returns the parsed object, checking
  /// the envelope {"ok":true,"result":{...},"op":N,"view":V}.
  static Json ok_json(std::vector<std::string> args) {
    args.push_back("--json");
    RunResult r = vsr(args);
    EXPECT_EQ(r.status.code, 0) << join(args) << ": " << r.err;
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    if (j.is_discarded()) return Json::object();
    EXPECT_EQ(j.value("ok", false), true) << r.out;
    EXPECT_TRUE(j.contains("result") && j["result"].is_object()) << r.out;
    EXPECT_TRUE(j.contains("op") && j["op"].is_number_unsigned()) << r.out;
    EXPECT_TRUE(j.contains("view") && j["view"].is_number_unsigned()) << r.out;
    return j;
  }

  /// Runs a command that the app must refuse with `code`: exit 1 and a message on stderr in
  /// human mode; {"ok":false,"error":code,"message":...} with --json.
  static Json refused(std::vector<std::string> args, const std::string& code) {
    RunResult human = vsr(args);
    EXPECT_EQ(human.status.code, 1) << join(args) << ": " << human.out << human.err;
    EXPECT_TRUE(human.out.empty()) << human.out;
    EXPECT_NE(human.err.find("vsr: "), std::string::npos) << human.err;
    args.push_back("--json");
    RunResult r = vsr(args);
    EXPECT_EQ(r.status.code, 1) << join(args) << ": " << r.err;
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    if (j.is_discarded()) return Json::object();
    EXPECT_EQ(j.value("ok", true), false) << r.out;
    EXPECT_EQ(j.value("error", std::string()), code) << r.out;
    EXPECT_TRUE(j.contains("message") && j["message"].is_string()) << r.out;
    return j;
  }

  static void usage_error(std::vector<std::string> args) {
    RunResult r = vsr(args);
    EXPECT_EQ(r.status.code, 2) << join(args) << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("vsr: "), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  }

  static std::string join(const std::vector<std::string>& args) {
    std::string s = "vsr";
    for (const std::string& a : args) s += " " + a;
    return s;
  }

  static std::unique_ptr<cluster::LocalCluster> cluster_;
};

std::unique_ptr<cluster::LocalCluster> AppCommandsTest::cluster_;

// --- bank ---------------------------------------------------------------------------------

TEST_F(AppCommandsTest, BankTransferMovesMoneyAtomically) {
  EXPECT_EQ(ok({"bank", "add", "t-alice", "100"}), "100");
  EXPECT_EQ(ok({"bank", "transfer", "t-alice", "t-bob", "30"}), "70 30");
  Json j = ok_json({"bank", "transfer", "t-alice", "t-bob", "20"});
  EXPECT_EQ(j["result"], Json::parse(R"({"from":{"account":"t-alice","balance":50},
                                         "to":{"account":"t-bob","balance":50}})"));
  // Refused: more than FROM holds; nothing changes on either side.
  Json r = refused({"bank", "transfer", "t-bob", "t-alice", "51"}, "insufficient_funds");
  EXPECT_FALSE(r.contains("result"));
  refused({"bank", "transfer", "t-bob", "t-alice", "0"}, "invalid_amount");
  refused({"bank", "add", "t-bob", "-51"}, "insufficient_funds");
  EXPECT_EQ(ok({"bank", "get", "t-alice"}), "50");
  EXPECT_EQ(ok({"bank", "get", "t-bob"}), "50");
  EXPECT_EQ(ok_json({"bank", "get", "t-nobody"})["result"],
            Json::parse(R"({"account":"t-nobody","balance":0})"));
}

TEST_F(AppCommandsTest, BankListIsSorted) {
  ok({"bank", "add", "l-zed", "3"});
  ok({"bank", "add", "l-amy", "1"});
  const std::string text = ok({"bank", "list"});
  const auto amy = text.find("l-amy 1\n");
  const auto zed = text.find("l-zed 3");
  ASSERT_NE(amy, std::string::npos) << text;
  ASSERT_NE(zed, std::string::npos) << text;
  EXPECT_LT(amy, zed);
  Json j = ok_json({"bank", "list"});
  ASSERT_TRUE(j["result"]["accounts"].is_array()) << j.dump();
  std::vector<std::string> names;
  for (const Json& a : j["result"]["accounts"]) {
    names.push_back(a["account"].get<std::string>());
    EXPECT_TRUE(a["balance"].is_number_integer());
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(std::find(names.begin(), names.end(), "l-amy"), names.end());
}

TEST_F(AppCommandsTest, BankRetryWithTheSameRequestNumberExecutesOnce) {
  const std::vector<std::string> add = {"bank",        "add", "r-acct",       "5",
                                        "--client-id", "c1",  "--request-no", "7"};
  EXPECT_EQ(ok(add), "5");
  EXPECT_EQ(ok(add), "5");  // the original reply, not 10
  Json first = ok_json(add);
  Json second = ok_json(add);
  EXPECT_EQ(first["result"]["balance"], 5);
  EXPECT_EQ(first["op"], second["op"]);  // the same committed operation
  EXPECT_EQ(ok({"bank", "get", "r-acct"}), "5");
}

TEST_F(AppCommandsTest, BenchTimesFromTheFirstMeasuredRequestToTheLastReply) {
  // One client, ten requests: closed loop, so the run takes about the sum of the ten
  // latencies. The warm-up (registration) and the progress bar's last tick are not timed
  // (before, a 10-request run printed 40 ops/s for ~1 ms requests).
  RunResult r = vsr({"bench", "--clients", "1", "--requests", "10", "--json"});
  ASSERT_EQ(r.status.code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["requests"], 10);
  const double seconds = j["seconds"].get<double>();
  const double max_s = j["latency_ms"]["max"].get<double>() / 1000.0;
  EXPECT_GT(seconds, 0.0);
  EXPECT_LE(seconds, 10 * max_s + 0.01) << r.out;
  EXPECT_NEAR(j["ops_per_s"].get<double>(), 10 / seconds, 1e-6 * (10 / seconds));
}

TEST_F(AppCommandsTest, BadArgumentsAreUsageErrors) {
  const std::uint64_t commit_before = cluster_->max_commit();
  usage_error({"bank", "add", "u-acct", "ten"});
  usage_error({"bank", "transfer", "u-a", "u-b"});
  usage_error({"bank", "add", "u-acct", "99999999999999999999999"});
  usage_error({"inventory", "stock", "u-sku", "1.5"});
  usage_error({"catalog", "put", "u-key", "v", "--if-version", "x"});
  usage_error({"locks", "acquire", "u-lock", "--ttl", "soon"});
  usage_error({"bank", "get", "u-acct", "--request-no", "0"});
  usage_error({"bank", "frobnicate"});
  // Arguments the apps would refuse never reach the cluster either.
  usage_error({"locks", "acquire", "u-lock", "--ttl", "-5"});
  usage_error({"locks", "acquire", "u-lock", "--ttl", "0"});
  usage_error({"catalog", "list", "--limit", "0"});
  usage_error({"catalog", "list", "--limit", "1001"});
  usage_error({"catalog", "put", "u-key", "v", "--if-version", "-1"});
  usage_error({"bank", "get", ""});
  usage_error({"bank", "transfer", "u-a", "", "1"});
  usage_error({"inventory", "stock", std::string(257, 's'), "1"});
  usage_error({"catalog", "get", std::string("a\nb")});
  usage_error({"locks", "holder", ""});
  EXPECT_EQ(cluster_->max_commit(), commit_before) << "a usage error reached the cluster";
  EXPECT_EQ(ok({"bank", "get", "u-acct"}), "0");  // nothing was executed
}

// --- inventory ----------------------------------------------------------------------------

TEST_F(AppCommandsTest, InventoryReservationsBelongToTheClient) {
  EXPECT_EQ(ok({"inventory", "stock", "i-widget", "10"}), "10");
  EXPECT_EQ(ok_json({"inventory", "available", "i-widget"})["result"],
            Json::parse(R"({"sku":"i-widget","on_hand":10,"reserved":0,"available":10,
                            "reserved_by_caller":0})"));
  EXPECT_EQ(ok({"inventory", "reserve", "i-widget", "4", "--client-id", "shop-a"}), "4");
  EXPECT_EQ(ok_json({"inventory", "reserve", "i-widget", "3", "--client-id", "shop-b"})["result"],
            Json::parse(R"({"sku":"i-widget","on_hand":10,"reserved":7,"available":3,
                            "reserved_by_caller":3})"));
  Json r = refused({"inventory", "reserve", "i-widget", "4", "--client-id", "shop-a"},
                   "insufficient_stock");
  EXPECT_FALSE(r.contains("result"));
  EXPECT_EQ(ok({"inventory", "available", "i-widget"}), "3");
  // release returns at most the caller's own reservation.
  EXPECT_EQ(ok({"inventory", "release", "i-widget", "10", "--client-id", "shop-b"}), "0");
  EXPECT_EQ(ok({"inventory", "release", "i-widget", "1", "--client-id", "shop-c"}), "0");
  EXPECT_EQ(ok({"inventory", "available", "i-widget"}), "6");
  EXPECT_EQ(ok_json({"inventory", "stock", "i-widget", "2"})["result"]["on_hand"], 12);
  refused({"inventory", "stock", "i-widget", "0"}, "invalid_amount");
  refused({"inventory", "reserve", "i-unknown", "1", "--client-id", "shop-a"},
          "insufficient_stock");
}

TEST_F(AppCommandsTest, InventoryRetryReservesOnce) {
  ok({"inventory", "stock", "ir-sku", "5"});
  const std::vector<std::string> reserve = {"inventory",   "reserve", "ir-sku",       "2",
                                            "--client-id", "shop-r",  "--request-no", "40"};
  EXPECT_EQ(ok(reserve), "2");
  EXPECT_EQ(ok(reserve), "2");
  EXPECT_EQ(ok({"inventory", "available", "ir-sku"}), "3");
}

// --- catalog ------------------------------------------------------------------------------

TEST_F(AppCommandsTest, CatalogCompareAndSet) {
  EXPECT_EQ(ok({"catalog", "put", "c/a", "one"}), "1");
  EXPECT_EQ(ok_json({"catalog", "put", "c/a", "two"})["result"],
            Json::parse(R"({"key":"c/a","version":2})"));
  EXPECT_EQ(ok({"catalog", "get", "c/a"}), "two");
  EXPECT_EQ(ok_json({"catalog", "get", "c/a"})["result"],
            Json::parse(R"({"key":"c/a","value":"two","version":2})"));
  refused({"catalog", "put", "c/a", "three", "--if-version", "1"}, "version_conflict");
  refused({"catalog", "put", "c/a", "three", "--if-version", "0"}, "version_conflict");
  EXPECT_EQ(ok({"catalog", "put", "c/a", "three", "--if-version", "2"}), "3");
  EXPECT_EQ(ok({"catalog", "put", "c/b", "new", "--if-version", "0"}), "1");
  refused({"catalog", "delete", "c/a", "--if-version", "2"}, "version_conflict");
  EXPECT_EQ(ok_json({"catalog", "delete", "c/a", "--if-version", "3"})["result"],
            Json::parse(R"({"key":"c/a","version":3})"));
  refused({"catalog", "get", "c/a"}, "not_found");
  refused({"catalog", "delete", "c/a"}, "not_found");
  EXPECT_EQ(ok({"catalog", "put", "c/a", "again"}), "1");  // starts again at 1
}

TEST_F(AppCommandsTest, CatalogListIsSortedWithPrefixAndLimit) {
  ok({"catalog", "put", "cl/b", "x"});
  ok({"catalog", "put", "cl/a", "x"});
  ok({"catalog", "put", "cl/a", "y"});
  ok({"catalog", "put", "other", "x"});
  EXPECT_EQ(ok({"catalog", "list", "cl/"}), "cl/a 2\ncl/b 1");
  EXPECT_EQ(ok_json({"catalog", "list", "cl/"})["result"],
            Json::parse(R"({"entries":[{"key":"cl/a","version":2},{"key":"cl/b","version":1}]})"));
  Json limited = ok_json({"catalog", "list", "cl/", "--limit", "1"})["result"];
  ASSERT_EQ(limited["entries"].size(), 1u) << limited.dump();
  EXPECT_EQ(limited["entries"][0]["key"], "cl/a");
}

TEST_F(AppCommandsTest, CatalogRetryPutsOnce) {
  const std::vector<std::string> put = {"catalog",     "put",           "cr/k",         "v",
                                        "--client-id", "catalog-retry", "--request-no", "9"};
  EXPECT_EQ(ok(put), "1");
  EXPECT_EQ(ok(put), "1");
  EXPECT_EQ(ok_json({"catalog", "get", "cr/k"})["result"]["version"], 1);
}

// --- locks --------------------------------------------------------------------------------

TEST_F(AppCommandsTest, LocksGrantFencingTokensAndOnlyTheOwnerReleases) {
  const std::string t1 =
      ok({"locks", "acquire", "k-lock", "--client-id", "alpha", "--ttl", "60000"});
  ASSERT_FALSE(t1.empty());
  const long long token1 = std::stoll(t1);
  Json renewed =
      ok_json({"locks", "acquire", "k-lock", "--client-id", "alpha", "--ttl", "60000"})["result"];
  EXPECT_EQ(renewed["name"], "k-lock");
  EXPECT_EQ(renewed["owner"], "alpha");
  EXPECT_EQ(renewed["token"], token1);  // renewal keeps the token
  EXPECT_TRUE(renewed["expires_at_ms"].is_number_integer());

  Json held = refused({"locks", "acquire", "k-lock", "--client-id", "beta"}, "held");
  EXPECT_NE(held["message"].get<std::string>().find("alpha"), std::string::npos) << held.dump();
  const std::string holder = ok({"locks", "holder", "k-lock"});
  EXPECT_EQ(holder.rfind("alpha " + t1 + " ", 0), 0u) << holder;
  EXPECT_EQ(ok_json({"locks", "holder", "k-lock"})["result"]["owner"], "alpha");

  refused({"locks", "release", "k-lock", "--client-id", "beta"}, "not_owner");
  EXPECT_EQ(ok({"locks", "release", "k-lock", "--client-id", "alpha"}), "released");
  refused({"locks", "release", "k-lock", "--client-id", "alpha"}, "not_owner");
  EXPECT_EQ(ok({"locks", "holder", "k-lock"}), "none");
  EXPECT_EQ(ok_json({"locks", "holder", "k-lock"})["result"],
            Json::parse(R"({"name":"k-lock","owner":null,"token":null,"expires_at_ms":null})"));
}

TEST_F(AppCommandsTest, LockTokensIncreaseAndLeasesExpireOnTheClusterClock) {
  const long long t1 =
      std::stoll(ok({"locks", "acquire", "e-lock", "--client-id", "alpha", "--ttl", "1"}));
  std::this_thread::sleep_for(100ms);
  // The next prepare carries a later primary timestamp: the 1 ms lease is over.
  Json j = ok_json({"locks", "acquire", "e-lock", "--client-id", "beta", "--ttl", "60000"});
  EXPECT_EQ(j["result"]["owner"], "beta");
  EXPECT_GT(j["result"]["token"].get<long long>(), t1);
  refused({"locks", "release", "e-lock", "--client-id", "alpha"}, "not_owner");
}

TEST_F(AppCommandsTest, LocksRetryGrantsOnce) {
  const std::vector<std::string> acquire = {"locks", "acquire",      "lr-lock", "--client-id",
                                            "lr-c",  "--request-no", "3"};
  const std::string t = ok(acquire);
  EXPECT_EQ(ok(acquire), t);
  // A retried grant did not take a token: the next grant is the very next value.
  const std::string next = ok({"locks", "acquire", "lr-other", "--client-id", "lr-c"});
  EXPECT_EQ(std::stoll(next), std::stoll(t) + 1);
}

// --- no cluster -----------------------------------------------------------------------------

TEST(AppCommandsNoCluster, NoReachableNodeIsOutcomeUnknown) {
  cluster::LocalCluster stopped;  // init-cluster only: no node runs
  ASSERT_TRUE(stopped.error.empty()) << stopped.error;
  RunResult r = stopped.vsr({"bank", "add", "x", "1", "--timeout", "1"}, 30s);
  EXPECT_EQ(r.status.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("may or may not"), std::string::npos) << r.err;
  RunResult j = stopped.vsr({"catalog", "get", "k", "--timeout", "1", "--json"}, 30s);
  EXPECT_EQ(j.status.code, 3) << j.out << j.err;
  Json parsed = Json::parse(j.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << j.out;
  EXPECT_EQ(parsed["ok"], false);
  EXPECT_EQ(parsed["error"], "timeout");
}

}  // namespace
}  // namespace vsr::test
