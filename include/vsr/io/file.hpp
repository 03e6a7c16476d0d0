#pragma once
// Small POSIX file helpers shared by every layer that touches the disk: a whole-file read
// with a size cap, an atomic replace (temp file, write, fsync, rename, fsync the directory),
// a directory fsync, `mkdir -p` that makes new entries durable, and an exclusive lock on a
// directory. Every failure comes back as a Result whose message names the path and the
// errno text; nothing here throws.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"

namespace vsr::io {

/// An environment failure: what was attempted, on which path, and why.
struct Error {
  std::string message;  ///< e.g. "cannot open /x/cluster.tnet: Permission denied"
  int sys_errno = 0;    ///< errno of the failed call; 0 when no system call failed
};

/// Owns one file descriptor and closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  /// Takes ownership of `fd` (may be -1 for "none").
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  ~UniqueFd() { reset(); }

  /// The descriptor, or -1.
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  /// Gives up ownership without closing.
  int release();
  /// Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// The text of an errno value, e.g. "No such file or directory". Thread-safe.
std::string errno_text(int sys_errno);

/// Reads the whole file at `path`. Fails (naming the path) when it cannot be opened or read,
/// or when it holds more than `size_max` bytes; never allocates more than size_max + 1.
Result<std::string, Error> read_file(const std::filesystem::path& path, std::size_t size_max);

/// Returns true iff something (file, directory, anything) exists at `path`; an error only
/// when the OS cannot tell (e.g. a parent is unreadable).
Result<bool, Error> path_exists(const std::filesystem::path& path);

/// Replaces `path` with `contents` atomically and durably: after a crash the file holds
/// either the old or the new contents, and after success the new contents survive a crash.
/// The file gets exactly permission bits `mode` (the umask does not apply). On failure no
/// temporary file is left behind and the old file is untouched.
Result<void, Error> write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                                      mode_t mode);

/// fsyncs the directory `dir`, making entries created, renamed or removed in it durable.
Result<void, Error> fsync_directory(const std::filesystem::path& dir);

/// `mkdir -p` with permission bits `mode` for the directories it creates; each new entry is
/// made durable by fsyncing its parent. An existing directory is fine; an existing
/// non-directory at any step is an error.
Result<void, Error> create_directories(const std::filesystem::path& dir, mode_t mode);

/// An exclusive lock on a directory: flock(LOCK_EX) on the file `LOCK` inside it, held
/// until this object is destroyed (or the process dies; the kernel releases it). The lock
/// belongs to one open file, so even a second acquire() in the same process fails.
class DirectoryLock {
 public:
  /// Name of the lock file inside the locked directory.
  static constexpr std::string_view file_name = "LOCK";

  /// Locks `dir` (which must exist) without waiting. Fails with a message that says the
  /// directory is locked, and by which pid when the holder recorded it, if another holder
  /// exists; with the errno text on any other failure.
  static Result<DirectoryLock, Error> acquire(const std::filesystem::path& dir);

  DirectoryLock(DirectoryLock&&) noexcept = default;
  DirectoryLock& operator=(DirectoryLock&&) noexcept = default;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock() = default;  // closing the descriptor releases the flock

  /// The locked directory.
  const std::filesystem::path& directory() const { return dir_; }

 private:
  DirectoryLock(std::filesystem::path dir, UniqueFd fd)
      : dir_(std::move(dir)), fd_(std::move(fd)) {}

  std::filesystem::path dir_;
  UniqueFd fd_;
};

}  // namespace vsr::io
