// The integration tests' process helper. Waiting polls waitpid(WNOHANG) with a short
// backoff: it is a bounded wait for a specific event, not a sleep that hopes for one.

#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace vsr::test {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> environment_with(
    const std::map<std::string, std::optional<std::string>>& changes) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; entry++) {
    const std::string text(*entry);
    const std::string name = text.substr(0, text.find('='));
    if (changes.find(name) == changes.end()) env.push_back(text);
  }
  for (const auto& [name, value] : changes) {
    if (value) env.push_back(name + "=" + *value);
  }
  return env;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

ExitStatus decode_status(int status) {
  if (WIFEXITED(status)) return ExitStatus{WEXITSTATUS(status), 0};
  return ExitStatus{-1, WIFSIGNALED(status) ? WTERMSIG(status) : -1};
}

void check(int rc, const char* what) {
  // posix_spawn* return the error number instead of setting errno.
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(rc));
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vsr-itest-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  // A test may have taken away permissions to provoke an error; give them back to clean up.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ignored);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
    if (it->is_directory(ignored)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ignored);
    }
  }
  std::filesystem::remove_all(path_, ignored);
}

Process Process::start(const std::filesystem::path& binary, const SpawnOptions& options) {
  auto output_dir = std::make_unique<TempDir>();
  const std::string out_path = (output_dir->path() / "stdout").string();
  const std::string err_path = (output_dir->path() / "stderr").string();

  posix_spawn_file_actions_t actions;
  check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
  struct ActionsGuard {
    posix_spawn_file_actions_t* a;
    ~ActionsGuard() { posix_spawn_file_actions_destroy(a); }
  } guard{&actions};
  check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
        "addopen stdin");
  check(posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600),
        "addopen stdout");
  check(posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600),
        "addopen stderr");
  if (!options.cwd.empty()) {
    check(posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str()), "addchdir");
  }
  // The child keeps its stdio and nothing else of the test's: a socket it inherited (a
  // proxy's connection, say) would stay open in it after the test closed its own descriptor,
  // unread, so that a connection the test cut would live on as a black hole.
  check(posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1), "addclosefrom");

  std::vector<std::string> argv_strings{binary.string()};
  argv_strings.insert(argv_strings.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env_strings = environment_with(options.env);
  std::vector<char*> argv = pointers_to(argv_strings);
  std::vector<char*> envp = pointers_to(env_strings);

  pid_t pid = -1;
  check(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data()),
        "posix_spawn");
  return Process(pid, std::move(output_dir));
}

Process::Process(pid_t pid, std::unique_ptr<TempDir> output_dir)
    : pid_(pid), output_dir_(std::move(output_dir)) {}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(other.status_),
      output_dir_(std::move(other.output_dir_)) {}

Process::~Process() {
  kill();
}

std::optional<ExitStatus> Process::wait_for(std::chrono::milliseconds timeout) {
  if (status_ || pid_ < 0) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      status_ = decode_status(status);
      return status_;
    }
    if (reaped < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

void Process::send_signal(int signal) {
  if (pid_ > 0 && !status_) ::kill(pid_, signal);
}

void Process::kill() {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t reaped = -1;
  do {
    reaped = ::waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) status_ = decode_status(status);
}

std::string Process::stdout_text() const {
  return output_dir_ ? read_all(output_dir_->path() / "stdout") : std::string();
}

std::string Process::stderr_text() const {
  return output_dir_ ? read_all(output_dir_->path() / "stderr") : std::string();
}

RunResult run(const std::filesystem::path& binary, const SpawnOptions& options,
              std::chrono::milliseconds timeout) {
  Process process = Process::start(binary, options);
  RunResult result;
  std::optional<ExitStatus> status = process.wait_for(timeout);
  if (!status) {
    result.timed_out = true;
    process.kill();
    status = process.wait_for(std::chrono::milliseconds(0));
  }
  result.status = status.value_or(ExitStatus{});
  result.out = process.stdout_text();
  result.err = process.stderr_text();
  return result;
}

RunResult run_vsr(std::vector<std::string> args, SpawnOptions options) {
  options.args = std::move(args);
  // The test's own environment must not choose the cluster directory by accident.
  options.env.try_emplace("VSR_CLUSTER_DIR", std::nullopt);
  return run(vsr_binary, options);
}

bool closed_after_sending(std::uint16_t port, const std::string& bytes,
                          std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      closed = n <= 0;
    }
  }
  ::close(fd);
  return closed;
}

}  // namespace vsr::test
