// Proves, with the real `vsr` binary on a cluster of one node (issue 12, finding 7), that a
// node whose WAL holds a damaged op it cannot repair (no peer) refuses to start: exit 4,
// with a message that names the op, the file and its bytes, and what to do. The last
// record written whole and then flipped by the medium is such an op (it may have been
// acknowledged): it is not dropped as a torn write. Following the message's way out
// (cutting the op off) lets the node start again. A last record cut short by a crash (the
// front of it, then zeros) never completed, was never acknowledged, and is dropped: the
// node starts. Every process is killed by pid when its Process object goes away; every wait
// is bounded.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
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

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The [begin, end) byte range of the last record of a WAL segment: records are tnetstring
/// dicts, `<n>:` then n bytes then `}`, back to back, then preallocated zeros
/// (docs/vsr/storage.md, "Record grammar").
std::optional<std::pair<std::size_t, std::size_t>> last_record(const std::string& segment) {
  std::optional<std::pair<std::size_t, std::size_t>> last;
  std::size_t at = 0;
  while (at < segment.size() && segment[at] >= '1' && segment[at] <= '9') {
    const std::size_t colon = segment.find(':', at);
    if (colon == std::string::npos || colon - at > 10) break;
    const std::size_t n = std::stoull(segment.substr(at, colon - at));
    const std::size_t end = colon + 1 + n + 1;
    if (end > segment.size() || segment[end - 1] != '}') break;
    last = std::make_pair(at, end);
    at = end;
  }
  return last;
}

class SingleNode : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::uint16_t port = cluster::free_port();
    ASSERT_NE(port, 0);
    RunResult init = vsr({"init-cluster", "--nodes", fmt::format("solo=127.0.0.1:{}", port)});
    ASSERT_EQ(init.status.code, 0) << init.err;
  }

  RunResult vsr(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) const {
    args.insert(args.begin(), {"--cluster-dir", dir_.path().string()});
    return run(vsr_binary, SpawnOptions{args, {}, {}}, timeout);
  }

  void start() {
    if (node_) logs_ += node_->stderr_text();
    node_.reset();
    node_.emplace(Process::start(
        vsr_binary,
        SpawnOptions{{"--cluster-dir", dir_.path().string(), "start-node", "solo"}, {}, {}}));
  }

  /// SIGTERM, and a bounded wait for a clean exit.
  void stop() {
    node_->send_signal(SIGTERM);
    auto exited = node_->wait_for(10s);
    ASSERT_TRUE(exited.has_value()) << logs();
    EXPECT_EQ(exited->code, 0) << logs();
  }

  std::string logs() const { return logs_ + (node_ ? node_->stderr_text() : std::string()); }

  /// Several committed requests, each answered (acknowledged) to the client.
  void write_some() {
    for (int i = 0; i < 5; ++i) {
      RunResult r = vsr({"bank", "add", "alice", "1", "--timeout", "10"});
      ASSERT_EQ(r.status.code, 0) << r.err << logs();
    }
  }

  /// The newest WAL segment of the node.
  std::filesystem::path newest_segment() const {
    std::filesystem::path newest;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path() / "nodes" / "solo")) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("wal-") && name.ends_with(".log") && entry.path() > newest) {
        newest = entry.path();
      }
    }
    return newest;
  }

  TempDir dir_;
  std::optional<Process> node_;
  std::string logs_;
};

TEST_F(SingleNode, AFlippedLastWalRecordIsRefusedWithExit4AndAWayOut) {
  start();
  ASSERT_NO_FATAL_FAILURE(write_some());
  ASSERT_NO_FATAL_FAILURE(stop());

  const std::filesystem::path segment = newest_segment();
  ASSERT_FALSE(segment.empty());
  std::string bytes = read_file(segment);
  const auto last = last_record(bytes);
  ASSERT_TRUE(last.has_value());
  // One bit of the body, written whole and acknowledged: the medium's fault, not a crash's.
  bytes[last->second - 10] = static_cast<char>(bytes[last->second - 10] ^ 0x08);
  write_file(segment, bytes);

  start();
  const std::optional<ExitStatus> refused = node_->wait_for(20s);
  ASSERT_TRUE(refused.has_value()) << "the node did not refuse to start\n" << logs();
  EXPECT_EQ(refused->code, 4) << logs();
  const std::string err = node_->stderr_text();
  EXPECT_NE(err.find("of the WAL is corrupt"), std::string::npos) << err;
  EXPECT_NE(err.find(segment.string()), std::string::npos) << err;
  EXPECT_NE(err.find("no peer to repair it"), std::string::npos) << err;
  EXPECT_NE(err.find("Restore the node directory from a backup"), std::string::npos) << err;
  const std::string cut = fmt::format("truncate -s {} {}", last->first, segment.string());
  ASSERT_NE(err.find(cut), std::string::npos) << err;

  // The way out the message offers: cut the op off (accepting its loss); the node starts
  // and serves again.
  std::filesystem::resize_file(segment, last->first);
  start();
  RunResult after = vsr({"bank", "add", "alice", "1", "--timeout", "10"});
  EXPECT_EQ(after.status.code, 0) << after.err << logs();
  ASSERT_NO_FATAL_FAILURE(stop());
}

TEST_F(SingleNode, ALastWalRecordCutShortByACrashIsDroppedAndTheNodeStarts) {
  start();
  ASSERT_NO_FATAL_FAILURE(write_some());
  ASSERT_NO_FATAL_FAILURE(stop());

  const std::filesystem::path segment = newest_segment();
  ASSERT_FALSE(segment.empty());
  std::string bytes = read_file(segment);
  const auto last = last_record(bytes);
  ASSERT_TRUE(last.has_value());
  // What a crash inside the write leaves: the record's front, then the preallocated zeros.
  const std::size_t half = (last->first + last->second) / 2;
  for (std::size_t i = half; i < last->second; ++i) bytes[i] = '\0';
  write_file(segment, bytes);

  start();
  EXPECT_FALSE(node_->wait_for(1s).has_value()) << "the node exited\n" << logs();
  RunResult r = vsr({"bank", "add", "alice", "1", "--timeout", "10"});
  EXPECT_EQ(r.status.code, 0) << r.err << logs();
  ASSERT_NO_FATAL_FAILURE(stop());
}

}  // namespace
}  // namespace vsr::test
