// The real file system behind the Env seam. Writes go through pwrite at a tracked offset
// (not O_APPEND) so that append and write_at share one descriptor; durability is fdatasync,
// which also persists a size change, the only metadata a reader of the file needs.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "vsr/io/file.hpp"
#include "vsr/storage/env.hpp"

namespace vsr::storage {
namespace {

// Storage files hold client data: readable by their owner only.
constexpr mode_t file_mode = 0600;
constexpr mode_t dir_mode = 0700;

Error os_error(std::string_view what, const std::string& path, int sys_errno) {
  return Error{sys_errno == ENOENT ? Errc::not_found : Errc::io,
               fmt::format("cannot {} {}: {}", what, path, io::errno_text(sys_errno))};
}

int open_retrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

Status pwrite_all(int fd, std::uint64_t offset, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(os_error("write", path, errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

class PosixFile final : public WritableFile {
 public:
  PosixFile(io::UniqueFd fd, std::string path, std::uint64_t size)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size) {}

  Status append(std::string_view data) override {
    auto written = pwrite_all(fd_.get(), size_, data, path_);
    if (!written) return written;
    size_ += data.size();
    return {};
  }

  Status write_at(std::uint64_t offset, std::string_view data) override {
    auto written = pwrite_all(fd_.get(), offset, data, path_);
    if (!written) return written;
    size_ = std::max<std::uint64_t>(size_, offset + data.size());
    return {};
  }

  Status truncate(std::uint64_t size) override {
    while (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return fail(os_error("truncate", path_, errno));
    }
    size_ = size;
    return {};
  }

  Status sync() override {
    if (::fdatasync(fd_.get()) != 0) return fail(os_error("fdatasync", path_, errno));
    return {};
  }

  std::uint64_t size() const override { return size_; }

 private:
  io::UniqueFd fd_;
  std::string path_;
  std::uint64_t size_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>, Error> open_writable(const std::string& path,
                                                             OpenMode mode) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (mode == OpenMode::truncate) flags |= O_TRUNC;
    io::UniqueFd fd(open_retrying(path, flags, file_mode));
    if (!fd.valid()) return fail(os_error("open", path, errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(os_error("stat", path, errno));
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixFile>(std::move(fd), path, static_cast<std::uint64_t>(st.st_size)));
  }

  Result<std::string, Error> read_file(const std::string& path, std::size_t size_max) override {
    auto contents = io::read_file(path, size_max);
    if (!contents) {
      const io::Error& error = contents.error();
      return fail(Error{error.sys_errno == ENOENT ? Errc::not_found : Errc::io, error.message});
    }
    return std::move(contents).value();
  }

  Result<std::string, Error> read_at(const std::string& path, std::uint64_t offset,
                                     std::size_t length) override {
    io::UniqueFd fd(open_retrying(path, O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return fail(os_error("open", path, errno));
    std::string out(length, '\0');
    std::size_t done = 0;
    while (done < length) {
      const ssize_t n =
          ::pread(fd.get(), out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(os_error("read", path, errno));
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    return out;
  }

  Result<std::vector<std::string>, Error> list_dir(const std::string& dir) override {
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) return fail(os_error("list", dir, errno));
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(handle)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    const int read_errno = errno;
    ::closedir(handle);
    if (read_errno != 0) return fail(os_error("list", dir, read_errno));
    std::sort(names.begin(), names.end());
    return names;
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return fail(os_error(fmt::format("rename {} to", from), to, errno));
    }
    return {};
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return fail(os_error("remove", path, errno));
    return {};
  }

  Status sync_dir(const std::string& dir) override {
    auto synced = io::fsync_directory(dir);
    if (!synced) return fail(Error{Errc::io, synced.error().message});
    return {};
  }

  Status create_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), dir_mode) == 0) return {};
    const int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
    return fail(os_error("create directory", dir, err));
  }
};

}  // namespace

Env& posix_env() {
  static PosixEnv env;
  return env;
}

std::string join(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  path.append(dir);
  path.push_back('/');
  path.append(name);
  return path;
}

}  // namespace vsr::storage
