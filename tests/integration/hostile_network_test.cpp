// Proves, against three real `vsr start-node` processes on loopback, that connections
// without keys cannot take a node offline (docs/vsr/config.md, "Connections"):
//
//  - a slowloris (1,100 connections, and 10,000 where the test may open that many, each
//    sending one byte and then nothing) does not keep clients out: 20 sequential
//    `bank add` commands during the flood all succeed, and the node is still the same
//    process;
//  - the same with the nodes' descriptor limit at 1024, a common default;
//  - frames that claim to be large, from connections that hold no key, are refused at their
//    length prefix: the node's anonymous memory (RssAnon) stays within a stated bound;
//  - a flood of refused connections logs at most the stated number of lines per 10 s, and
//    summarises the rest;
//  - the limits of cluster.tnet's "connections" dict take effect (a shorter handshake
//    deadline closes a stalled connection sooner).
//
// Every socket is the test's own and is closed at the end of each test; every wait is
// bounded; every process is stopped by pid.

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cluster.hpp"
#include "process.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/config/limits.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;
using cluster::eventually;

/// Raw TCP connections to one port that the test holds open, closed on destruction.
class Flood {
 public:
  Flood() = default;
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;
  ~Flood() { close_all(); }

  /// Opens up to `count` connections to 127.0.0.1:`port`, each sending `first_bytes`.
  /// Returns how many connected.
  std::size_t open(std::uint16_t port, std::size_t count, const std::string& first_bytes) {
    std::size_t connected = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;  // the test's own descriptor limit
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        continue;
      }
      connected += 1;
      if (!first_bytes.empty()) {
        (void)::send(fd, first_bytes.data(), first_bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      fds_.push_back(fd);
    }
    return connected;
  }

  void close_all() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

/// The RssAnon of process `pid`, in KiB, or 0 when it cannot be read.
std::uint64_t rss_anon_kib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) {
      std::istringstream fields(line.substr(8));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib;
    }
  }
  return 0;
}

/// Raises this process's soft descriptor limit to `wanted` (or its hard limit); returns it.
std::uint64_t raise_own_descriptor_limit(std::uint64_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  rlimit raised = limit;
  raised.rlim_cur = std::min<rlim_t>(limit.rlim_max, wanted);
  if (raised.rlim_cur > limit.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0)
    return raised.rlim_cur;
  return limit.rlim_cur;
}

class HostileNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.error.empty()) << cluster_.error; }

  /// Runs 20 sequential `bank add` commands; expects each to exit 0 with the running total.
  void twenty_adds_succeed(const std::string& account) {
    for (int i = 1; i <= 20; ++i) {
      RunResult r = cluster_.vsr({"bank", "add", account, "1"}, 30s);
      ASSERT_EQ(r.status.code, 0) << "add " << i << " during the flood: " << r.err << "\n"
                                  << cluster_.logs().substr(0, 20000);
      EXPECT_EQ(r.out.substr(0, r.out.find('\n')), std::to_string(i));
    }
  }

  /// The node every client command reaches first is n0 when it is the primary; flood the
  /// primary, the node whose loss would stall every write.
  int primary_or_first() {
    int p = -1;
    eventually([&] { return (p = cluster_.primary()) >= 0; }, 10s);
    return p < 0 ? 0 : p;
  }

  /// Floods the primary with `connections` connections that each send one byte, runs
  /// twenty_adds_succeed during the flood, and expects the node to be the same process
  /// still. Returns the node's log.
  std::string slowloris(std::size_t connections, const std::string& account) {
    const int target = primary_or_first();
    const pid_t pid = cluster_.node(target)->pid();
    Flood flood;
    EXPECT_GE(flood.open(cluster_.port(target), connections, "1"), connections * 9 / 10);
    twenty_adds_succeed(account);
    EXPECT_FALSE(cluster_.node(target)->wait_for(0ms).has_value()) << "the node exited";
    EXPECT_EQ(cluster_.node(target)->pid(), pid);
    return cluster_.node(target)->stderr_text();
  }

  cluster::LocalCluster cluster_;
};

TEST_F(HostileNetworkTest, ASlowlorisOf1100ConnectionsDoesNotKeepClientsOut) {
  ASSERT_TRUE(cluster_.start_all()) << cluster_.logs();
  raise_own_descriptor_limit(4096);
  const std::string log = slowloris(1100, "slowloris-1100");
  EXPECT_NE(log.find("not yet authenticated (the limit)"), std::string::npos) << log;
}

TEST_F(HostileNetworkTest, ASlowlorisOf10000ConnectionsDoesNotKeepClientsOut) {
  if (raise_own_descriptor_limit(12000) < 11000) {
    GTEST_SKIP() << "this process may not open 10,000 sockets (RLIMIT_NOFILE hard limit)";
  }
  ASSERT_TRUE(cluster_.start_all()) << cluster_.logs();
  slowloris(10000, "slowloris-10000");
}

TEST_F(HostileNetworkTest, ASlowlorisAgainstNodesLimitedTo1024DescriptorsDoesNotKillThem) {
  ASSERT_TRUE(cluster_.start_all_limited(1024)) << cluster_.logs();
  raise_own_descriptor_limit(4096);
  const std::string log = slowloris(1100, "slowloris-1024");
  EXPECT_EQ(log.find("Too many open files"), std::string::npos) << log.substr(0, 20000);
  EXPECT_NE(log.find("1024 file descriptors"), std::string::npos) << log.substr(0, 4000);
}

// A frame's length prefix is checked against the limit for connections that have not
// authenticated (one request of the largest operation) before its bytes are buffered, so
// frames that claim 16 MiB are refused at once, and at most unauthenticated_max
// connections may each buffer one client-sized frame: about 17 MiB.
TEST_F(HostileNetworkTest, LargeUnauthenticatedFramesStayWithinTheMemoryBound) {
  // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before
  // reuse: turn it off for the nodes, so that RssAnon measures what the node holds.
  const char* inherited = std::getenv("ASAN_OPTIONS");
  const std::string saved = inherited != nullptr ? inherited : "";
  ::setenv("ASAN_OPTIONS", (saved + (saved.empty() ? "" : ":") + "quarantine_size_mb=0").c_str(),
           1);
  const bool started = cluster_.start_all();
  if (inherited != nullptr) {
    ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  } else {
    ::unsetenv("ASAN_OPTIONS");
  }
  ASSERT_TRUE(started) << cluster_.logs();
  const int target = primary_or_first();
  const pid_t pid = cluster_.node(target)->pid();
  const std::uint64_t before = rss_anon_kib(pid);
  ASSERT_GT(before, 0u);
  raise_own_descriptor_limit(4096);
  const std::string big_claim = "16777000:" + std::string(60 * 1024, 'x');
  const std::string client_sized = "69000:" + std::string(60 * 1024, 'x');
  std::uint64_t peak = before;
  for (int round = 0; round < 5; ++round) {
    Flood flood;
    flood.open(cluster_.port(target), 300, big_claim);
    flood.open(cluster_.port(target), 300, client_sized);
    std::this_thread::sleep_for(300ms);
    peak = std::max(peak, rss_anon_kib(pid));
  }
  // The stated bound (config.md): unauthenticated_max frames of the client frame limit,
  // about 17 MiB, and some slack for the allocator.
  EXPECT_LT(peak - before, std::uint64_t{32} * 1024)
      << "RssAnon went from " << before << " KiB to " << peak << " KiB";
  EXPECT_FALSE(cluster_.node(target)->wait_for(0ms).has_value()) << "the node exited";
}

TEST_F(HostileNetworkTest, TheConnectionLimitsOfClusterTnetTakeEffect) {
  // A shorter handshake deadline in cluster.tnet's "connections" dict: a connection that
  // sends one byte and stalls is closed after it (the default, 5 s, would outlast the wait).
  const auto path = cluster_.dir() / "cluster.tnet";
  auto cluster = config::load_cluster(path);
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  cluster->connections.handshake_timeout_ms = 300;
  cluster->connections.rejection_log_lines_per_10s = 3;
  ASSERT_TRUE(config::save_cluster(path, *cluster).ok());
  ASSERT_TRUE(cluster_.start_all()) << cluster_.logs();
  const int target = primary_or_first();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_after_sending(cluster_.port(target), "1", 3s))
      << "a stalled connection outlived the configured 300 ms deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2500ms);
  const std::string log = cluster_.node(target)->stderr_text();
  EXPECT_NE(log.find("closed after 300 ms without an authenticated frame"), std::string::npos)
      << log;
}

TEST_F(HostileNetworkTest, AFloodOfRefusedConnectionsLogsAFewLinesAndASummary) {
  ASSERT_TRUE(cluster_.start_all()) << cluster_.logs();
  const int target = primary_or_first();
  const std::size_t before = cluster_.node(target)->stderr_text().size();
  raise_own_descriptor_limit(4096);
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 10; ++round) {
    Flood flood;
    flood.open(cluster_.port(target), 200, "garbage that is not a frame\n");
    std::this_thread::sleep_for(100ms);
  }
  // Wait for the window to end so that its summary is logged.
  std::this_thread::sleep_for(11s);
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  const std::string log = cluster_.node(target)->stderr_text().substr(before);
  std::size_t rejected_lines = 0;
  std::size_t summaries = 0;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("rejected input from") != std::string::npos) rejected_lines += 1;
    if (line.find("more connections refused or closed") != std::string::npos) summaries += 1;
  }
  const std::size_t windows = static_cast<std::size_t>(seconds / 10 + 1);
  EXPECT_LE(rejected_lines, config::limits::rejection_log_lines_per_10s.default_value * windows)
      << log;
  EXPECT_GE(summaries, 1u) << log;
}

}  // namespace
}  // namespace vsr::test
