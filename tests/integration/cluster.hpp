#pragma once
// A local 3-process cluster for integration tests: init-cluster on free loopback ports,
// three `vsr start-node` children (killed by pid when the object goes away), `vsr` runs
// against its directory, and bounded polling of `vsr status --json`. Header-only so that a
// test file can use it without changing the shared build.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "process.hpp"

namespace vsr::test::cluster {

/// `count` distinct loopback TCP ports that were free a moment ago (0 for one that could not
/// be bound). Every socket stays bound until all are picked, so two picks never return the
/// same port.
inline std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t port = 0;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
      fds.push_back(fd);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = 0;
      socklen_t len = sizeof addr;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
      }
    }
    ports.push_back(port);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

/// A loopback TCP port that was free a moment ago (0 when none could be bound).
inline std::uint16_t free_port() {
  return free_ports(1).front();
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

/// Every node in `which` of `status` (the JSON of `vsr status --json`) reachable, in
/// normal status, with the same commit >= `commit_min` and the same state digest.
inline bool converged_in(const nlohmann::json& status, const std::vector<int>& which,
                         std::uint64_t commit_min) {
  if (!status.contains("nodes")) return false;
  std::optional<std::pair<std::uint64_t, std::string>> seen;
  for (int i : which) {
    const nlohmann::json& n = status["nodes"][static_cast<std::size_t>(i)];
    if (!n.value("reachable", false) || n["status"] != "normal") return false;
    auto here =
        std::make_pair(n["commit"].get<std::uint64_t>(), n["state_digest"].get<std::string>());
    if (here.first < commit_min) return false;
    if (seen && *seen != here) return false;
    seen = here;
  }
  return true;
}

/// Three replicas n0..n2 in a private directory.
class LocalCluster {
 public:
  /// init-cluster only; start() launches the nodes. `error` is set when init fails.
  LocalCluster() {
    std::string nodes;
    const std::vector<std::uint16_t> ports = free_ports(3);
    for (int i = 0; i < 3; ++i) {
      ports_[static_cast<std::size_t>(i)] = ports[static_cast<std::size_t>(i)];
      nodes +=
          fmt::format("{}n{}=127.0.0.1:{}", i ? "," : "", i, ports_[static_cast<std::size_t>(i)]);
    }
    RunResult init = vsr({"init-cluster", "--nodes", nodes});
    if (init.status.code != 0) error = "init-cluster failed: " + init.err;
  }

  /// Starts every node and waits (bounded) until they are all connected.
  bool start_all(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    for (int i = 0; i < 3; ++i) start(i);
    return eventually([&] { return all_connected(); }, timeout);
  }

  /// Starts node i; `global_args` go before the command (e.g. {"--app", "bank"}). With
  /// `descriptor_limit`, the node runs under `ulimit -n` of that many (soft and hard).
  void start(int i, const std::vector<std::string>& global_args = {},
             std::optional<unsigned> descriptor_limit = std::nullopt) {
    auto& slot = nodes_[static_cast<std::size_t>(i)];
    slot.reset();
    std::vector<std::string> args{"--cluster-dir", dir_.path().string()};
    args.insert(args.end(), global_args.begin(), global_args.end());
    args.insert(args.end(), {"start-node", fmt::format("n{}", i)});
    if (descriptor_limit) {
      // The shell sets the limit and execs the node: the pid is the node's.
      args.insert(args.begin(),
                  {"-c", fmt::format("ulimit -n {} && exec \"$0\" \"$@\"", *descriptor_limit),
                   vsr_binary.string()});
      slot.emplace(Process::start("/bin/sh", SpawnOptions{args, {}, {}}));
      return;
    }
    slot.emplace(Process::start(vsr_binary, SpawnOptions{args, {}, {}}));
  }

  /// Starts every node as start() does with `descriptor_limit` and waits until connected.
  bool start_all_limited(unsigned descriptor_limit,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    for (int i = 0; i < 3; ++i) start(i, {}, descriptor_limit);
    return eventually([&] { return all_connected(); }, timeout);
  }

  /// The TCP port node i listens on.
  std::uint16_t port(int i) const { return ports_[static_cast<std::size_t>(i)]; }

  std::optional<Process>& node(int i) { return nodes_[static_cast<std::size_t>(i)]; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  /// Runs `vsr --cluster-dir DIR args...` to completion.
  RunResult vsr(std::vector<std::string> args,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
    args.insert(args.begin(), {"--cluster-dir", dir_.path().string()});
    return run(vsr_binary, SpawnOptions{args, {}, {}}, timeout);
  }

  nlohmann::json status() const {
    RunResult r = vsr({"status", "--json", "--timeout", "1"});
    if (r.status.code != 0) return nlohmann::json::object();
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  bool all_connected() const {
    nlohmann::json s = status();
    if (!s.contains("nodes")) return false;
    for (const nlohmann::json& n : s["nodes"]) {
      if (!n.value("reachable", false) || n.value("peers_connected", 0) != 2) return false;
    }
    return true;
  }

  /// Every node in `which` reachable, normal, with equal commit >= `commit_min` and digest.
  bool converged(const std::vector<int>& which, std::uint64_t commit_min) const {
    return converged_in(status(), which, commit_min);
  }

  /// The highest commit any reachable node reports.
  std::uint64_t max_commit() const {
    std::uint64_t c = 0;
    nlohmann::json s = status();
    for (const nlohmann::json& n : s.value("nodes", nlohmann::json::array())) {
      if (n.value("reachable", false)) c = std::max(c, n["commit"].get<std::uint64_t>());
    }
    return c;
  }

  /// The index of the node that reports itself primary in view-normal status, or -1.
  int primary() const {
    nlohmann::json s = status();
    for (const nlohmann::json& n : s.value("nodes", nlohmann::json::array())) {
      if (n.value("reachable", false) && n["role"] == "primary" && n["status"] == "normal") {
        return std::stoi(n["node"].get<std::string>().substr(1));
      }
    }
    return -1;
  }

  std::string logs() const {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      const auto& n = nodes_[static_cast<std::size_t>(i)];
      if (n) out += fmt::format("--- n{} ---\n{}\n", i, n->stderr_text());
    }
    return out;
  }

  std::string error;  ///< non-empty when init-cluster failed

 private:
  TempDir dir_;
  std::array<std::uint16_t, 3> ports_{};
  std::array<std::optional<Process>, 3> nodes_;
};

}  // namespace vsr::test::cluster
