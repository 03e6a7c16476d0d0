// `vsr demo`: the "it just works" tour (product.md §1). Starts a 3-node cluster on free
// loopback ports in a temporary directory (three child `vsr start-node` processes of this
// same binary), runs a short bank + inventory session printed as a transcript, SIGKILLs the
// primary, shows the new view and that every acknowledged write is still there, then stops
// the children with SIGTERM (bounded wait, SIGKILL after), removes the directory, exits 0.
//
// Every child is stopped on every path: the Demo object's destructor stops them (also on an
// error), a SIGINT/SIGTERM handler forwards SIGTERM to them by pid and sets a flag that
// every wait checks, and each child has PR_SET_PDEATHSIG so that it dies with the demo even
// when the demo itself is SIGKILLed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli.hpp"

namespace vsr::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr int kNodes = 3;

// State shared with the signal handler: only lock-free atomics.
std::array<std::atomic<pid_t>, kNodes> g_children{};
std::atomic<int> g_signal{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);

extern "C" void on_stop_signal(int signal) {
  g_signal.store(signal);
  for (auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) ::kill(pid, SIGTERM);  // async-signal-safe
  }
}

bool interrupted() {
  return g_signal.load() != 0;
}

/// A failure that ends the demo (the destructor of Demo still cleans up).
struct DemoError {
  ExitCode code;
  std::string message;
};

/// The outcome of a command run to completion.
struct Ran {
  int code = -1;  ///< exit code, or -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Three distinct free loopback ports (the sockets stay bound until all three are chosen).
std::vector<std::uint16_t> free_ports() {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < kNodes; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (const int fd : fds) ::close(fd);
  if (ports.size() != kNodes) {
    throw DemoError{ExitCode::environment,
                    fmt::format("cannot find a free port on 127.0.0.1: {}", std::strerror(errno))};
  }
  return ports;
}

class Demo {
 public:
  Demo() {
    std::error_code ec;
    self_ = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw DemoError{ExitCode::environment, "cannot find this executable: " + ec.message()};
    std::string pattern = (std::filesystem::temp_directory_path(ec) / "vsr-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw DemoError{ExitCode::environment,
                      fmt::format("cannot create a temporary directory: {}", std::strerror(errno))};
    }
    dir_ = pattern;
  }
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;

  ~Demo() {
    stop_children();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void run() {
    say(
        fmt::format("vsr demo: a 3-node cluster in {} (every command below runs with "
                    "--cluster-dir {})",
                    dir_.string(), dir_.string()));
    const std::vector<std::uint16_t> ports = free_ports();
    std::string nodes;
    for (int i = 0; i < kNodes; ++i) {
      nodes += fmt::format("{}n{}=127.0.0.1:{}", i ? "," : "", i, ports[static_cast<size_t>(i)]);
    }
    expect_ok(show({"init-cluster", "--nodes", nodes}));
    for (int i = 0; i < kNodes; ++i) start_node(i);
    say("waiting until the three nodes serve ...");
    const int first_primary = wait_for_primary(-1, 20s);
    if (first_primary < 0) fail("the cluster did not elect a primary within 20 s");
    show({"status"});

    say("\n# bank: accounts, atomic transfers, balances never below zero");
    expect_ok(show({"bank", "add", "alice", "100"}));
    expect_ok(show({"bank", "add", "bob", "20"}));
    expect_ok(show({"bank", "transfer", "alice", "bob", "30"}));
    const Ran refused = show({"bank", "transfer", "bob", "alice", "500"});
    if (refused.code != 1) fail("an overdraft was not refused with exit 1");
    expect_ok(show({"bank", "list"}));

    say("\n# inventory: stock, and reservations that belong to a client id");
    expect_ok(show({"inventory", "stock", "widget", "10"}));
    expect_ok(show({"inventory", "reserve", "widget", "3", "--client-id", "shop-1"}));
    expect_ok(show({"inventory", "available", "widget"}));

    say(fmt::format("\n# failover: kill -9 the primary, n{} (pid {})", first_primary,
                    pids_[static_cast<size_t>(first_primary)]));
    kill_node(first_primary);
    say("a write right after the kill (the client finds the new primary itself):");
    expect_ok(show({"bank", "add", "alice", "5", "--timeout", "10"}));
    const int new_primary = wait_for_primary(first_primary, 10s);
    if (new_primary < 0) fail("no new primary within 10 s");
    const Json status = status_json();
    std::uint64_t view = 0;
    for (const Json& n : status.value("nodes", Json::array())) {
      if (n.value("reachable", false)) view = std::max(view, n.value("view", std::uint64_t{0}));
    }
    show({"status"});
    say(fmt::format("new primary: n{} in view {}", new_primary, view));

    say("\n# every acknowledged write is still there");
    const bool ok = check("bank", {"bank", "get", "alice"}, "75") &
                    check("bank", {"bank", "get", "bob"}, "50") &
                    check("inventory", {"inventory", "available", "widget"}, "7");
    if (!ok) fail("an acknowledged write was lost");
    say("no acknowledged write was lost");

    say("\n# shutdown");
    stop_children();
    say("done");
  }

 private:
  [[noreturn]] static void fail(std::string message) {
    throw DemoError{ExitCode::environment, std::move(message)};
  }

  static void say(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  static void check_interrupted() {
    if (interrupted()) {
      throw DemoError{ExitCode::environment,
                      fmt::format("interrupted by signal {}; stopping the nodes", g_signal.load())};
    }
  }

  std::vector<std::string> with_dir(const std::vector<std::string>& args) const {
    std::vector<std::string> full{self_.string(), "--cluster-dir", dir_.string()};
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }

  /// fork + exec of this binary with `args`; stdout/stderr to the given files. The child dies
  /// with the demo (PR_SET_PDEATHSIG).
  pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& out,
              const std::filesystem::path& err) const {
    std::vector<std::string> argv_strings = with_dir(args);
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0 || err_fd < 0) {
      if (out_fd >= 0) ::close(out_fd);
      if (err_fd >= 0) ::close(err_fd);
      fail(fmt::format("cannot create {}: {}", out.string(), std::strerror(errno)));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::dup2(out_fd, STDOUT_FILENO);
      ::dup2(err_fd, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    const int saved = errno;
    ::close(out_fd);
    ::close(err_fd);
    if (pid < 0) fail(fmt::format("cannot start a process: {}", std::strerror(saved)));
    return pid;
  }

  /// Waits up to `timeout` for `pid`; the exit code, -1 for a signal, nullopt if running.
  static std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout,
                                     bool stop_on_signal) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      if (r < 0 && errno != EINTR) return -1;  // not our child any more
      if (Clock::now() >= deadline || (stop_on_signal && interrupted())) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  /// Runs a vsr command to completion (bounded), capturing its output.
  Ran run_command(const std::vector<std::string>& args,
                  std::chrono::milliseconds timeout = 30s) const {
    check_interrupted();
    const std::filesystem::path out = dir_ / "command.out";
    const std::filesystem::path err = dir_ / "command.err";
    const pid_t pid = spawn(args, out, err);
    std::optional<int> code = wait_pid(pid, timeout, true);
    if (!code) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      check_interrupted();
      fail(fmt::format("'vsr {}' did not finish within {} s", args.front(),
                       std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    }
    return Ran{*code, read_file(out), read_file(err)};
  }

  /// Runs a command and prints it with its output, as a transcript.
  Ran show(const std::vector<std::string>& args) const {
    std::string line = "$ vsr";
    for (const std::string& a : args) line += " " + a;
    say(line);
    Ran r = run_command(args);
    std::fputs(r.out.c_str(), stdout);
    if (!r.err.empty()) std::fputs(r.err.c_str(), stdout);
    if (r.code != 0) say(fmt::format("(exit {})", r.code));
    std::fflush(stdout);
    return r;
  }

  static void expect_ok(const Ran& r) {
    if (r.code != 0) fail(fmt::format("a command failed (exit {}): {}", r.code, r.err));
  }

  void start_node(int i) {
    const std::string name = fmt::format("n{}", i);
    const pid_t pid = spawn({"start-node", name}, dir_ / (name + ".out"), dir_ / (name + ".log"));
    pids_[static_cast<size_t>(i)] = pid;
    g_children[static_cast<size_t>(i)].store(pid);
    say(fmt::format("$ vsr start-node {} &    # child pid {}", name, pid));
  }

  void forget(int i) {
    g_children[static_cast<size_t>(i)].store(0);
    pids_[static_cast<size_t>(i)] = 0;
  }

  void kill_node(int i) {
    const pid_t pid = pids_[static_cast<size_t>(i)];
    ::kill(pid, SIGKILL);
    wait_pid(pid, 5s, false);
    forget(i);
    say(fmt::format("$ kill -9 {}    # n{} is gone", pid, i));
  }

  Json status_json() const {
    const Ran r = run_command({"status", "--json", "--timeout", "1"}, 10s);
    if (r.code != 0) return Json::object();
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_discarded() ? Json::object() : j;
  }

  /// Polls status until every live node is reachable and normal and one (not `excluded`)
  /// is the primary; returns its index, or -1 after `timeout`.
  int wait_for_primary(int excluded, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const Json s = status_json();
      int primary = -1;
      bool all_normal = s.contains("nodes");
      for (const Json& n : s.value("nodes", Json::array())) {
        const std::string name = n.value("node", std::string());
        const int index = name.size() > 1 ? std::atoi(name.c_str() + 1) : -1;
        if (index == excluded) continue;
        if (!n.value("reachable", false) || n.value("status", std::string()) != "normal") {
          all_normal = false;
          continue;
        }
        if (n.value("role", std::string()) == "primary") primary = index;
      }
      if (all_normal && primary >= 0) return primary;
      check_interrupted();
      std::this_thread::sleep_for(200ms);
    }
    return -1;
  }

  bool check(const std::string& what, const std::vector<std::string>& args,
             const std::string& expected) const {
    const Ran r = show(args);
    std::string value = r.out;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    const bool same = r.code == 0 && value == expected;
    say(fmt::format("  {} {}: acknowledged {}, read {} -> {}", what, args.back(), expected, value,
                    same ? "ok" : "LOST"));
    return same;
  }

  /// SIGTERM to every live child, a bounded wait, then SIGKILL for any that remain.
  void stop_children() noexcept {
    for (int i = 0; i < kNodes; ++i) {
      if (pids_[static_cast<size_t>(i)] > 0) ::kill(pids_[static_cast<size_t>(i)], SIGTERM);
    }
    for (int i = 0; i < kNodes; ++i) {
      const pid_t pid = pids_[static_cast<size_t>(i)];
      if (pid <= 0) continue;
      std::optional<int> code = wait_pid(pid, 10s, false);
      if (!code) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        std::printf("n%d (pid %d) did not stop within 10 s; killed\n", i, static_cast<int>(pid));
      } else {
        std::printf("n%d (pid %d) stopped, exit %d\n", i, static_cast<int>(pid), *code);
      }
      std::fflush(stdout);
      forget(i);
    }
  }

  std::filesystem::path self_;
  std::filesystem::path dir_;
  std::array<pid_t, kNodes> pids_{};
};

ExitCode run_demo() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  try {
    Demo demo;
    demo.run();
  } catch (const DemoError& e) {
    return report(e.code, e.message);
  }
  return interrupted() ? ExitCode::environment : ExitCode::success;
}

}  // namespace

void add_demo(CLI::App& app, GlobalOptions& globals) {
  CLI::App* command = app.add_subcommand(
      "demo",
      "Start a local 3-node cluster in a temporary directory, run a bank + inventory session, "
      "kill the primary, show that no acknowledged write was lost, and shut down");
  command->callback([&globals] { globals.run = [] { return run_demo(); }; });
}

}  // namespace vsr::cli
