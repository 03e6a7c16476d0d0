// The in-memory Env with power loss. The model is in memory_env.hpp; the rules here are the
// pessimistic reading of POSIX that LevelDB's fault_injection_test uses: nothing written is
// durable before fdatasync, no directory entry before the directory's fsync, and a rename
// or unlink that was not fsynced may be undone by a crash.

#include "vsr/storage/memory_env.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vsr/base/assert.hpp"

namespace vsr::storage {
namespace {

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void write_bytes(std::string& data, std::uint64_t offset, std::string_view bytes) {
  const auto at = static_cast<std::size_t>(offset);
  if (data.size() < at + bytes.size()) data.resize(at + bytes.size(), '\0');
  std::copy(bytes.begin(), bytes.end(), data.begin() + static_cast<std::ptrdiff_t>(at));
}

Error io_error(std::string_view what, const std::string& path, std::string_view why) {
  return Error{Errc::io, fmt::format("cannot {} {}: {}", what, path, why)};
}

Error missing(std::string_view what, const std::string& path) {
  return Error{Errc::not_found, fmt::format("cannot {} {}: No such file or directory", what, path)};
}

}  // namespace

struct MemoryEnv::Inode {
  std::string data;     // as the writes so far made it
  std::string durable;  // as the last sync left it on the "medium"
  // Latent sector errors: [begin, end) ranges whose reads fail, until a write covers one.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> bad_sectors;

  bool unreadable(std::uint64_t offset, std::uint64_t length) const {
    return std::any_of(bad_sectors.begin(), bad_sectors.end(), [&](const auto& bad) {
      return offset < bad.second && bad.first < offset + length;
    });
  }
  void cut(std::uint64_t size) {
    std::erase_if(bad_sectors, [&](const auto& bad) { return bad.first >= size; });
  }
  void overwritten(std::uint64_t offset, std::uint64_t length) {
    std::erase_if(bad_sectors, [&](const auto& bad) {
      return offset <= bad.first && bad.second <= offset + length;
    });
  }
};

// A handle on an inode. It dies with the generation it was opened in: after a crash the
// process that held it is gone.
class MemoryEnv::File final : public WritableFile {
 public:
  File(MemoryEnv& env, std::shared_ptr<Inode> inode, std::string path)
      : env_(env), inode_(std::move(inode)), path_(std::move(path)), generation_(env.generation_) {}

  Status append(std::string_view data) override { return write_at(inode_->data.size(), data); }

  Status write_at(std::uint64_t offset, std::string_view data) override {
    if (auto alive = check_alive(); !alive) return alive;
    // A misdirected write: the file grows as if it had landed where it was aimed, and the
    // bytes land elsewhere in it.
    std::uint64_t at = offset;
    if (env_.misdirect_) {
      const std::uint64_t grown =
          std::max<std::uint64_t>(inode_->data.size(), offset + data.size());
      const auto shifted = static_cast<std::int64_t>(offset) + *env_.misdirect_;
      at = static_cast<std::uint64_t>(
          std::clamp<std::int64_t>(shifted, 0, static_cast<std::int64_t>(grown) - 1));
    }
    const LastWrite write{inode_, at, std::string(data)};
    if (auto counted = env_.mutate("write", path_, &write); !counted) return counted;
    if (env_.misdirect_) {
      env_.misdirect_.reset();
      if (inode_->data.size() < offset + data.size()) inode_->data.resize(offset + data.size());
    }
    write_bytes(inode_->data, at, data);
    inode_->overwritten(at, data.size());
    env_.note_write(inode_, at, data);
    return {};
  }

  Status truncate(std::uint64_t size) override {
    if (auto alive = check_alive(); !alive) return alive;
    if (auto counted = env_.mutate("truncate", path_); !counted) return counted;
    inode_->data.resize(static_cast<std::size_t>(size), '\0');
    inode_->cut(size);
    return {};
  }

  Status sync() override {
    if (auto alive = check_alive(); !alive) return alive;
    if (auto counted = env_.mutate("fdatasync", path_); !counted) return counted;
    return env_.sync_inode(*inode_, path_);
  }

  std::uint64_t size() const override { return inode_->data.size(); }

 private:
  Status check_alive() const {
    if (generation_ != env_.generation_) {
      return fail(io_error("write", path_, "file handle from before a simulated crash"));
    }
    return {};
  }

  MemoryEnv& env_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
  std::uint64_t generation_;
};

MemoryEnv::MemoryEnv() = default;
MemoryEnv::~MemoryEnv() = default;

Status MemoryEnv::check_up(const std::string& path) const {
  if (down_) return fail(io_error("access", path, "simulated crash"));
  return {};
}

Status MemoryEnv::mutate(const char* what, const std::string& path, const LastWrite* write) {
  if (auto up = check_up(path); !up) return up;
  ++mutations_;
  if (io_error_at_ && mutations_ > *io_error_at_) {
    io_error_at_.reset();
    return fail(io_error(what, path, "simulated I/O error"));
  }
  if (crash_at_ && mutations_ > *crash_at_) {
    down_ = true;
    // The process dies inside this call: a write may have reached the disk in part.
    if (write != nullptr) last_write_ = *write;
    return fail(io_error(what, path, "simulated crash"));
  }
  return {};
}

void MemoryEnv::note_write(const std::shared_ptr<Inode>& inode, std::uint64_t offset,
                           std::string_view bytes) {
  last_write_ = LastWrite{inode, offset, std::string(bytes)};
}

Status MemoryEnv::sync_inode(Inode& inode, const std::string& path) {
  if (fail_syncs_) return fail(io_error("fdatasync", path, "simulated fsync failure"));
  inode.durable = inode.data;
  if (last_write_ && last_write_->inode.lock().get() == &inode) last_write_.reset();
  return {};
}

Result<std::unique_ptr<WritableFile>, Error> MemoryEnv::open_writable(const std::string& path,
                                                                      OpenMode mode) {
  if (auto counted = mutate("open", path); !counted) return fail(counted.error());
  if (!dir_exists(parent_of(path))) return fail(missing("open", path));
  auto& inode = live_[path];
  if (!inode) inode = std::make_shared<Inode>();
  if (mode == OpenMode::truncate) {
    inode->data.clear();
    inode->cut(0);
  }
  return std::unique_ptr<WritableFile>(std::make_unique<File>(*this, inode, path));
}

Result<std::string, Error> MemoryEnv::read_file(const std::string& path, std::size_t size_max) {
  if (auto up = check_up(path); !up) return fail(up.error());
  if (failing_reads_.count(path) != 0) {
    return fail(io_error("read", path, "simulated read error"));
  }
  const auto it = live_.find(path);
  if (it == live_.end()) return fail(missing("read", path));
  if (it->second->unreadable(0, it->second->data.size())) {
    return fail(io_error("read", path, "Input/output error (simulated bad sector)"));
  }
  if (it->second->data.size() > size_max) {
    return fail(io_error("read", path, fmt::format("larger than {} bytes", size_max)));
  }
  return it->second->data;
}

Result<std::string, Error> MemoryEnv::read_at(const std::string& path, std::uint64_t offset,
                                              std::size_t length) {
  if (auto up = check_up(path); !up) return fail(up.error());
  if (failing_reads_.count(path) != 0) {
    return fail(io_error("read", path, "simulated read error"));
  }
  const auto it = live_.find(path);
  if (it == live_.end()) return fail(missing("read", path));
  const std::string& data = it->second->data;
  if (offset >= data.size()) return std::string();
  if (it->second->unreadable(offset, std::min<std::uint64_t>(length, data.size() - offset))) {
    return fail(io_error("read", path, "Input/output error (simulated bad sector)"));
  }
  return data.substr(static_cast<std::size_t>(offset), length);
}

Result<std::vector<std::string>, Error> MemoryEnv::list_dir(const std::string& dir) {
  if (auto up = check_up(dir); !up) return fail(up.error());
  if (!dir_exists(dir)) return fail(missing("list", dir));
  std::vector<std::string> names;
  for (const auto& [path, inode] : live_) {
    if (parent_of(path) == dir) names.push_back(name_of(path));
  }
  for (const auto& sub : dirs_) {
    if (sub != dir && parent_of(sub) == dir) names.push_back(name_of(sub));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status MemoryEnv::rename(const std::string& from, const std::string& to) {
  if (auto counted = mutate("rename", from); !counted) return counted;
  const auto it = live_.find(from);
  if (it == live_.end()) return fail(missing("rename", from));
  if (!dir_exists(parent_of(to))) return fail(missing("rename to", to));
  auto inode = it->second;
  live_.erase(it);
  live_[to] = std::move(inode);
  return {};
}

Status MemoryEnv::remove(const std::string& path) {
  if (auto counted = mutate("remove", path); !counted) return counted;
  if (live_.erase(path) == 0) return fail(missing("remove", path));
  return {};
}

Status MemoryEnv::sync_dir(const std::string& dir) {
  if (auto counted = mutate("fsync directory", dir); !counted) return counted;
  if (!dir_exists(dir)) return fail(missing("fsync directory", dir));
  if (fail_syncs_) return fail(io_error("fsync directory", dir, "simulated fsync failure"));
  std::erase_if(durable_, [&](const auto& entry) { return parent_of(entry.first) == dir; });
  for (const auto& [path, inode] : live_) {
    if (parent_of(path) == dir) durable_[path] = inode;
  }
  return {};
}

Status MemoryEnv::create_dir(const std::string& dir) {
  if (auto counted = mutate("create directory", dir); !counted) return counted;
  dirs_.insert(dir);
  return {};
}

void MemoryEnv::crash(const CrashOptions& options) {
  // The medium keeps the durable bytes of every inode a durable entry reaches.
  for (auto& [path, inode] : durable_) inode->data = inode->durable;
  if (options.tear_last_write_at && last_write_) {
    const auto inode = last_write_->inode.lock();
    const bool reachable =
        inode && std::any_of(durable_.begin(), durable_.end(),
                             [&](const auto& entry) { return entry.second == inode; });
    if (reachable) {
      const std::string_view bytes = last_write_->bytes;
      const std::size_t landed = std::min(*options.tear_last_write_at, bytes.size());
      write_bytes(inode->data, last_write_->offset, bytes.substr(0, landed));
      inode->durable = inode->data;
    }
  }
  live_ = durable_;
  last_write_.reset();
  crash_at_.reset();
  io_error_at_.reset();  // transient faults do not outlive the machine's restart
  misdirect_.reset();
  down_ = false;
  ++generation_;
}

void MemoryEnv::arm_crash(std::uint64_t mutations) {
  crash_at_ = mutations_ + mutations;
}

void MemoryEnv::flip_bit(const std::string& path, std::uint64_t offset, int bit) {
  VSR_ASSERT(bit >= 0 && bit < 8);
  const auto it = live_.find(path);
  VSR_ASSERT_MSG(it != live_.end(), "flip_bit: no such file");
  Inode& inode = *it->second;
  const auto at = static_cast<std::size_t>(offset);
  VSR_ASSERT_MSG(at < inode.data.size(), "flip_bit: offset past the end of the file");
  const auto mask = static_cast<char>(1 << bit);
  inode.data[at] = static_cast<char>(inode.data[at] ^ mask);
  if (at < inode.durable.size()) inode.durable[at] = static_cast<char>(inode.durable[at] ^ mask);
}

void MemoryEnv::add_bad_sector(const std::string& path, std::uint64_t offset,
                               std::uint64_t length) {
  const auto it = live_.find(path);
  VSR_ASSERT_MSG(it != live_.end(), "add_bad_sector: no such file");
  if (length > 0) it->second->bad_sectors.emplace_back(offset, offset + length);
}

void MemoryEnv::fail_reads(const std::string& path, bool failing) {
  if (failing) {
    failing_reads_.insert(path);
  } else {
    failing_reads_.erase(path);
  }
}

void MemoryEnv::set_file(const std::string& path, std::string_view contents) {
  VSR_ASSERT_MSG(dir_exists(parent_of(path)), "set_file: the directory does not exist");
  auto inode = std::make_shared<Inode>();
  inode->data = std::string(contents);
  inode->durable = inode->data;
  live_[path] = inode;
  durable_[path] = inode;
}

std::optional<std::string> MemoryEnv::contents(const std::string& path) const {
  const auto it = live_.find(path);
  if (it == live_.end()) return std::nullopt;
  return it->second->data;
}

bool MemoryEnv::exists(const std::string& path) const {
  return live_.count(path) != 0;
}

std::uint64_t MemoryEnv::bytes_in(const std::string& dir) const {
  std::uint64_t total = 0;
  for (const auto& [path, inode] : live_) {
    if (parent_of(path) == dir) total += inode->data.size();
  }
  return total;
}

std::map<std::string, std::string> MemoryEnv::durable_files(const std::string& dir) const {
  std::map<std::string, std::string> files;
  for (const auto& [path, inode] : durable_) {
    if (parent_of(path) == dir) files[name_of(path)] = inode->durable;
  }
  return files;
}

}  // namespace vsr::storage
