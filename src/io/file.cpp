// POSIX file helpers. The durability rules follow what LevelDB and TigerBeetle learned: a
// rename is atomic but not durable until its directory is fsynced, and a file's contents
// are not durable until the file is fsynced before the rename publishes it.

#include "vsr/io/file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace vsr::io {
namespace {

Error os_error(std::string_view what, const std::filesystem::path& path, int sys_errno) {
  return Error{fmt::format("{} {}: {}", what, path.string(), errno_text(sys_errno)), sys_errno};
}

// open(2) retried on EINTR (a signal during open of a FIFO or NFS file).
int open_retrying(const std::filesystem::path& path, int flags, mode_t mode = 0) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// An empty parent (a bare file name) means the current directory.
std::filesystem::path parent_of(const std::filesystem::path& path) {
  std::filesystem::path parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

Result<void, Error> write_all(int fd, std::string_view contents,
                              const std::filesystem::path& path) {
  while (!contents.empty()) {
    ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(os_error("cannot write", path, errno));
    }
    contents.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// A name no other writer uses: the pid separates processes, the counter threads and calls.
std::filesystem::path temp_name_for(const std::filesystem::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  std::string name = fmt::format(".{}.tmp.{}.{}", path.filename().string(), ::getpid(),
                                 counter.fetch_add(1, std::memory_order_relaxed));
  return parent_of(path) / name;
}

// Writes the temporary file completely and durably; the caller renames or removes it.
Result<void, Error> write_temp(const std::filesystem::path& temp, std::string_view contents,
                               mode_t mode) {
  UniqueFd fd(open_retrying(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return fail(os_error("cannot create", temp, errno));
  // open() applied the umask; the caller asked for exactly `mode` (e.g. 0600 for keys).
  if (::fchmod(fd.get(), mode) != 0) return fail(os_error("cannot chmod", temp, errno));
  if (auto written = write_all(fd.get(), contents, temp); !written) return written;
  if (::fsync(fd.get()) != 0) return fail(os_error("cannot fsync", temp, errno));
  // close() can report a deferred write error (NFS); do not ignore it.
  if (::close(fd.release()) != 0) return fail(os_error("cannot close", temp, errno));
  return {};
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int UniqueFd::release() {
  return std::exchange(fd_, -1);
}

void UniqueFd::reset(int fd) {
  // close() errors on a descriptor we only read or locked carry no data loss; writers
  // close explicitly and check (see write_temp).
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string errno_text(int sys_errno) {
  return std::error_code(sys_errno, std::generic_category()).message();
}

Result<std::string, Error> read_file(const std::filesystem::path& path, std::size_t size_max) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever.
  UniqueFd fd(open_retrying(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return fail(os_error("cannot open", path, errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(os_error("cannot stat", path, errno));
  if (S_ISDIR(st.st_mode)) return fail(os_error("cannot read", path, EISDIR));
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISFIFO(st.st_mode)   ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : "not a file";
    return fail(
        Error{fmt::format("cannot read {}: it is {}, not a regular file", path.string(), kind), 0});
  }
  if (st.st_size > 0 && static_cast<std::size_t>(st.st_size) > size_max) {
    return fail(Error{fmt::format("cannot read {}: it holds {} bytes, more than the limit of {}",
                                  path.string(), st.st_size, size_max),
                      0});
  }
  // The size from fstat is a hint (the file may grow, or be a pipe): read until EOF, but
  // never more than size_max + 1 bytes, which is enough to tell "too large".
  std::string contents;
  const std::size_t first_size = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 4096;
  contents.resize(std::min(first_size, size_max + 1));
  std::size_t used = 0;
  for (;;) {
    if (used == contents.size()) {
      if (used > size_max) break;
      contents.resize(std::min(contents.size() * 2, size_max + 1));
    }
    ssize_t n = ::read(fd.get(), contents.data() + used, contents.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(os_error("cannot read", path, errno));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > size_max) {
    return fail(Error{fmt::format("cannot read {}: it holds more than the limit of {} bytes",
                                  path.string(), size_max),
                      0});
  }
  contents.resize(used);
  return contents;
}

Result<bool, Error> path_exists(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return fail(os_error("cannot stat", path, errno));
}

Result<void, Error> write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                                      mode_t mode) {
  const std::filesystem::path temp = temp_name_for(path);
  if (auto written = write_temp(temp, contents, mode); !written) {
    ::unlink(temp.c_str());
    return fail(Error{fmt::format("cannot write {}: {}", path.string(), written.error().message),
                      written.error().sys_errno});
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Error error = os_error("cannot rename " + temp.string() + " to", path, errno);
    ::unlink(temp.c_str());
    return fail(std::move(error));
  }
  // Without this the rename itself may be lost on a crash, leaving the old file.
  return fsync_directory(parent_of(path));
}

Result<void, Error> fsync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path target = dir.empty() ? std::filesystem::path(".") : dir;
  UniqueFd fd(open_retrying(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fail(os_error("cannot open directory", target, errno));
  if (::fsync(fd.get()) != 0) return fail(os_error("cannot fsync directory", target, errno));
  return {};
}

Result<void, Error> create_directories(const std::filesystem::path& dir, mode_t mode) {
  std::filesystem::path prefix;
  for (const std::filesystem::path& part : dir) {
    if (part.empty()) continue;  // a trailing separator yields an empty last component
    prefix /= part;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      // The new entry lives in its parent; make it durable before anything goes inside.
      if (auto synced = fsync_directory(parent_of(prefix)); !synced) return synced;
      continue;
    }
    if (errno != EEXIST) return fail(os_error("cannot create directory", prefix, errno));
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0) return fail(os_error("cannot stat", prefix, errno));
    if (!S_ISDIR(st.st_mode)) return fail(os_error("cannot create directory", prefix, ENOTDIR));
  }
  return {};
}

Result<DirectoryLock, Error> DirectoryLock::acquire(const std::filesystem::path& dir) {
  const std::filesystem::path lock_path = dir / file_name;
  UniqueFd fd(open_retrying(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return fail(os_error("cannot open lock file", lock_path, errno));
  int rc = -1;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int lock_errno = errno;
    if (lock_errno != EWOULDBLOCK) return fail(os_error("cannot lock", lock_path, lock_errno));
    // The holder wrote its pid when it took the lock; it is only a hint for the operator.
    std::string holder;
    char buffer[32] = {};
    ssize_t n = ::pread(fd.get(), buffer, sizeof(buffer) - 1, 0);
    for (ssize_t i = 0; i < n && buffer[i] >= '0' && buffer[i] <= '9'; i++) holder += buffer[i];
    return fail(Error{
        fmt::format("{} is locked{} (lock file {}); only one process may use it at "
                    "a time",
                    dir.string(), holder.empty() ? "" : " by pid " + holder, lock_path.string()),
        lock_errno});
  }
  // Record who holds the lock for the message above. Failing to write it is harmless: the
  // flock, not the file's contents, is the lock.
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd.get(), 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  }
  return DirectoryLock(dir, std::move(fd));
}

}  // namespace vsr::io
