// Proves, with three real `vsr start-node` processes on free loopback ports, that a backup
// whose WAL was damaged in the middle while it was down (a flipped byte in a committed
// record that is not the last one: corruption, not a torn tail, docs/vsr/storage.md)
// repairs the op from its peers on restart and reaches the cluster's commit and state
// digest; and that a replica restored with `vsr recover-node` from another backup rejoins,
// catches up and drops its RESTORED marker (docs/vsr/storage.md, "Restored replicas").
// Every process is killed by pid when its Process object goes away; every wait is bounded.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster.hpp"
#include "process.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using cluster::eventually;
using Json = nlohmann::json;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The [begin, end) byte ranges of the records of a WAL segment: each record is one
/// tnetstring dict, `<n>:` then n bytes then `}` (docs/vsr/storage.md, "Record grammar").
std::vector<std::pair<std::size_t, std::size_t>> wal_records(const std::string& segment) {
  std::vector<std::pair<std::size_t, std::size_t>> records;
  std::size_t at = 0;
  while (at < segment.size()) {
    const std::size_t colon = segment.find(':', at);
    if (colon == std::string::npos || colon == at) break;
    const std::size_t n = std::stoull(segment.substr(at, colon - at));
    const std::size_t end = colon + 1 + n + 1;
    if (end > segment.size() || segment[end - 1] != '}') break;
    records.emplace_back(at, end);
    at = end;
  }
  return records;
}

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.error.empty()) << cluster_.error;
    ASSERT_TRUE(cluster_.start_all()) << cluster_.logs();
  }

  RunResult vsr(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
    return cluster_.vsr(std::move(args), timeout);
  }

  /// Restarts node i, keeping the log of its previous run for failure messages.
  void start(int i) {
    if (cluster_.node(i)) stopped_logs_[i] += cluster_.node(i)->stderr_text();
    cluster_.start(i);
  }

  /// SIGTERM, and a bounded wait for a clean exit; the log is kept for failure messages.
  void stop(int i) {
    cluster_.node(i)->send_signal(SIGTERM);
    auto exited = cluster_.node(i)->wait_for(10s);
    ASSERT_TRUE(exited.has_value()) << logs();
    EXPECT_EQ(exited->code, 0) << logs();
  }

  std::filesystem::path node_dir(int i) const {
    return cluster_.dir() / "nodes" / fmt::format("n{}", i);
  }

  Json status() { return cluster_.status(); }

  bool converged(const std::vector<int>& which, std::uint64_t commit_min) const {
    return cluster_.converged(which, commit_min);
  }
  std::uint64_t max_commit() const { return cluster_.max_commit(); }

  int primary() { return cluster_.primary(); }

  std::string logs() {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      out += fmt::format("--- n{} ---\n{}", i, stopped_logs_[i]);
      if (cluster_.node(i)) out += cluster_.node(i)->stderr_text();
      out += "\n";
    }
    return out;
  }

  void add(const std::string& account, int amount) {
    RunResult r = vsr({"bank", "add", account, std::to_string(amount), "--timeout", "10"});
    ASSERT_EQ(r.status.code, 0) << r.err << logs();
  }

  std::int64_t balance(const std::string& account) {
    RunResult r = vsr({"bank", "get", account});
    EXPECT_EQ(r.status.code, 0) << r.err;
    return r.status.code == 0 ? std::stoll(r.out) : -1;
  }

  /// A backup that has been up for a while (the primary's successor in view order).
  int a_backup() {
    int p = -1;
    EXPECT_TRUE(eventually([&] { return (p = primary()) >= 0; }, 10s)) << logs();
    return (std::max(p, 0) + 1) % 3;
  }

  cluster::LocalCluster cluster_;
  std::string stopped_logs_[3];
};

TEST_F(RepairTest, ACorruptCommittedWalRecordIsRepairedFromPeersOnRestart) {
  for (int i = 0; i < 6; ++i) add("alice", 1);
  const std::uint64_t before = max_commit();
  ASSERT_TRUE(eventually([&] { return converged({0, 1, 2}, before); }, 10s)) << status().dump();
  const int backup = a_backup();
  ASSERT_NO_FATAL_FAILURE(stop(backup));

  // The newest segment; a record in its middle (not the last: that would be a torn tail).
  std::vector<std::filesystem::path> segments;
  for (const auto& entry : std::filesystem::directory_iterator(node_dir(backup))) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("wal-") && name.ends_with(".log")) segments.push_back(entry.path());
  }
  ASSERT_FALSE(segments.empty());
  std::sort(segments.begin(), segments.end());
  std::string segment = read_file(segments.back());
  const auto records = wal_records(segment);
  ASSERT_GE(records.size(), 3u) << segments.back();
  const auto [begin, end] = records[records.size() / 2];
  // The last byte of the body (the record ends with `<body>,}`): a well-formed record whose
  // checksum no longer matches, i.e. `corrupt`, Damage::checksum.
  const std::size_t flip = end - 3;
  ASSERT_GT(flip, begin);
  segment[flip] = static_cast<char>(segment[flip] ^ 0x01);
  write_file(segments.back(), segment);

  for (int i = 0; i < 3; ++i) add("alice", 1);
  add("bob", 7);
  start(backup);
  const std::uint64_t commit = max_commit();
  EXPECT_TRUE(eventually(
      [&] {
        return converged({0, 1, 2}, commit);
      },
      20s))
      << status().dump() << logs();
  EXPECT_EQ(balance("alice"), 9);
  EXPECT_EQ(balance("bob"), 7);
  const std::string log = cluster_.node(backup)->stderr_text();
  EXPECT_NE(log.find("repaired"), std::string::npos) << log;
}

TEST_F(RepairTest, ARestoredBackupRecoversWithoutVotingAndDropsItsMarker) {
  for (int i = 0; i < 4; ++i) add("carol", 1);
  const int target = a_backup();
  const int source = (target + 1) % 3 == primary() ? (target + 2) % 3 : (target + 1) % 3;
  ASSERT_NE(source, target);
  ASSERT_NO_FATAL_FAILURE(stop(target));
  for (int i = 0; i < 3; ++i) add("carol", 1);
  // recover-node needs the source stopped too; the primary alone serves nothing meanwhile.
  ASSERT_NO_FATAL_FAILURE(stop(source));
  RunResult r = vsr({"recover-node", fmt::format("n{}", target), "--from-node",
                     fmt::format("n{}", source), "--force"});
  ASSERT_EQ(r.status.code, 0) << r.err;
  ASSERT_TRUE(std::filesystem::exists(node_dir(target) / "RESTORED"));
  start(source);
  start(target);
  add("carol", 1);
  const std::uint64_t commit = max_commit();
  EXPECT_TRUE(eventually(
      [&] {
        return converged({0, 1, 2}, commit);
      },
      20s))
      << status().dump() << logs();
  EXPECT_TRUE(
      eventually([&] { return !std::filesystem::exists(node_dir(target) / "RESTORED"); }, 10s))
      << logs();
  const std::string log = cluster_.node(target)->stderr_text();
  EXPECT_NE(log.find("starting in status recovering"), std::string::npos) << log;
  EXPECT_NE(log.find("RESTORED marker removed"), std::string::npos) << log;
  // It votes again: with the old source down, the primary and the restored node commit.
  ASSERT_NO_FATAL_FAILURE(stop(source));
  add("carol", 1);
  EXPECT_EQ(balance("carol"), 9);
  start(source);
  EXPECT_TRUE(eventually(
      [&] {
        return converged({0, 1, 2}, commit + 1);
      },
      20s))
      << status().dump() << logs();
}

}  // namespace
}  // namespace vsr::test
