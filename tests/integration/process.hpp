#pragma once
// Runs the built `vsr` binary (or any program) as a child process for integration tests:
// posix_spawn with arguments, environment overrides and a working directory; no descriptor
// of the test but stdin, stdout and stderr is inherited; stdout and stderr go to files (so a
// long-running node never blocks on a full pipe and its output can be read at any time); bounded
// waits; and SIGKILL by pid when the Process object goes away, so that a failing test never leaves
// a process behind.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifndef VSR_BINARY
#error "VSR_BINARY must be defined by the build: the path of the vsr executable"
#endif

namespace vsr::test {

/// The `vsr` executable under test.
inline const std::filesystem::path vsr_binary{VSR_BINARY};

/// A private temporary directory, removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// How to start a child.
struct SpawnOptions {
  std::vector<std::string> args;  ///< argv[1..]
  /// Changes to the inherited environment: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  std::filesystem::path cwd;  ///< working directory; empty inherits the test's
};

/// How a child ended.
struct ExitStatus {
  int code = -1;   ///< exit code when it exited, else -1
  int signal = 0;  ///< the signal that killed it, else 0
  bool exited() const { return signal == 0; }
};

/// A running (or finished) child process. Move-only; destruction kills and reaps it.
class Process {
 public:
  /// Starts `binary`. Throws std::runtime_error when it cannot be spawned (a test failure).
  static Process start(const std::filesystem::path& binary, const SpawnOptions& options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }

  /// Waits up to `timeout` for the child to end; nullopt when it is still running.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  /// Sends `signal` to the child (by pid), if it has not been reaped yet.
  void send_signal(int signal);
  /// SIGKILL and reap. Idempotent.
  void kill();

  /// Everything the child wrote so far.
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  Process(pid_t pid, std::unique_ptr<TempDir> output_dir);

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;     // set once reaped
  std::unique_ptr<TempDir> output_dir_;  // holds the files "stdout" and "stderr"
};

/// The outcome of a command run to completion.
struct RunResult {
  ExitStatus status;
  bool timed_out = false;  ///< it did not end in time and was killed
  std::string out;
  std::string err;
};

/// Runs `binary` to completion, killing it after `timeout`.
RunResult run(const std::filesystem::path& binary, const SpawnOptions& options,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Runs the vsr binary with `args`, with VSR_CLUSTER_DIR removed from its environment
/// unless `options` sets it.
RunResult run_vsr(std::vector<std::string> args, SpawnOptions options = {});

/// Connects to 127.0.0.1:port, sends `bytes`, and returns true iff the other side closes
/// the connection within `timeout` (what it sends back is read and dropped).
bool closed_after_sending(std::uint16_t port, const std::string& bytes,
                          std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace vsr::test
