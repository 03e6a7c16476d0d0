// Restored replicas (restore.hpp): the RESTORED marker, and recover-node's copy.
//
// The copy is built beside the target, in nodes/.<target>.restore.tmp, and swapped in with
// one rename, so that a crash at any point leaves nodes/<target> either as it was or as
// the complete, fsynced copy with its marker; never a half-copied directory a replica
// could start from. The marker goes in before the swap for the same reason: there is no
// instant at which the copied state is in place without the marker that restrains it.
// (docs/vsr/protocol.md, "Restored replicas": a restored replica that voted as if
// its log were its own could lose a committed operation.)

#include "vsr/storage/restore.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "copies.hpp"
#include "format.hpp"
#include "vsr/base/assert.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/io/file.hpp"
#include "vsr/storage/metadata.hpp"

namespace vsr::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view marker_format = "vsr.restored.1";
/// A marker is a few hundred bytes; anything larger is not one of ours.
constexpr std::size_t marker_bytes_max = 4096;
constexpr std::int64_t int_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t u32_max = std::numeric_limits<std::uint32_t>::max();
constexpr mode_t node_dir_mode = 0700;
/// The copy's read size: large enough that a 16 MiB WAL segment takes 16 system calls,
/// small enough not to matter next to a replica's memory.
constexpr std::size_t copy_chunk_bytes = std::size_t{1} << 20;

std::int64_t as_int(std::uint64_t value) {
  VSR_ASSERT_MSG(value <= static_cast<std::uint64_t>(int_max), "marker value over int64");
  return static_cast<std::int64_t>(value);
}

RestoreError refused(std::string message) {
  return RestoreError{RestoreError::Kind::refused, std::move(message)};
}

RestoreError environment(std::string message) {
  return RestoreError{RestoreError::Kind::environment, std::move(message)};
}

RestoreError os_failure(std::string_view what, const fs::path& path, int sys_errno) {
  return environment(
      fmt::format("cannot {} {}: {}", what, path.string(), io::errno_text(sys_errno)));
}

// Files a copy leaves out: the source's lock (the target gets its own), its marker (the
// target gets a fresh one), and leftovers of interrupted atomic writes.
bool is_left_out(std::string_view name) {
  return name == io::DirectoryLock::file_name || name == restored_file_name ||
         format::is_temp_name(name);
}

// The sorted names in `dir`, each with whether it is a regular file (not following links).
struct Entry {
  std::string name;
  bool regular = false;
};

Result<std::vector<Entry>, RestoreError> list_entries(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  std::vector<Entry> entries;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    const fs::file_status status = it->symlink_status(type_ec);
    if (type_ec) return fail(os_failure("stat", it->path(), type_ec.value()));
    entries.push_back(Entry{it->path().filename().string(), fs::is_regular_file(status)});
  }
  if (ec) return fail(os_failure("list", dir, ec.value()));
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

// Returns true iff `dir` holds anything but its lock file: that is data the restore would
// destroy.
Result<bool, RestoreError> holds_data(const fs::path& dir) {
  auto entries = list_entries(dir);
  if (!entries) return fail(std::move(entries).error());
  return std::any_of(entries->begin(), entries->end(),
                     [](const Entry& e) { return e.name != io::DirectoryLock::file_name; });
}

Result<bool, RestoreError> directory_exists(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  if (errno == ENOENT) return false;
  return fail(os_failure("stat", path, errno));
}

// Locks a node's directory; a lock held elsewhere means the node is running.
Result<io::DirectoryLock, RestoreError> lock_node(const fs::path& dir, std::string_view node) {
  auto lock = io::DirectoryLock::acquire(dir);
  if (lock) return std::move(*lock);
  const io::Error& error = lock.error();
  if (error.sys_errno == EWOULDBLOCK) {
    return fail(RestoreError{
        RestoreError::Kind::running,
        fmt::format("node '{}' is running: {}; stop it (SIGTERM) and run the command again", node,
                    error.message)});
  }
  return fail(environment(error.message));
}

Result<void, RestoreError> write_all(int fd, const char* data, std::size_t size,
                                     const fs::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(os_failure("write", path, errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

// Copies one file, with its permission bits, and makes its contents durable (its directory
// entry is the caller's to sync). Returns the bytes copied.
Result<std::uint64_t, RestoreError> copy_file(const fs::path& from, const fs::path& to,
                                              std::vector<char>& buffer) {
  io::UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return fail(os_failure("open", from, errno));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return fail(os_failure("stat", from, errno));
  const mode_t mode = st.st_mode & 0777;
  io::UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!out.valid()) return fail(os_failure("create", to, errno));
  if (::fchmod(out.get(), mode) != 0) return fail(os_failure("chmod", to, errno));
  std::uint64_t copied = 0;
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(os_failure("read", from, errno));
    }
    if (n == 0) break;
    if (auto written = write_all(out.get(), buffer.data(), static_cast<std::size_t>(n), to);
        !written) {
      return fail(written.error());
    }
    copied += static_cast<std::uint64_t>(n);
  }
  if (::fsync(out.get()) != 0) return fail(os_failure("fsync", to, errno));
  if (::close(out.release()) != 0) return fail(os_failure("close", to, errno));
  return copied;
}

Result<void, RestoreError> sync_dir(const fs::path& dir) {
  auto synced = io::fsync_directory(dir);
  if (!synced) return fail(environment(synced.error().message));
  return {};
}

Result<void, RestoreError> remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return fail(os_failure("remove", path, ec.value()));
  return {};
}

// Removes a directory (tree) when the function leaves without release(): a failed restore
// leaves no temporary copy behind.
class TreeGuard {
 public:
  explicit TreeGuard(fs::path path) : path_(std::move(path)) {}
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
  ~TreeGuard() {
    if (path_.empty()) return;
    std::error_code ignored;  // best effort: the failure being reported matters more
    fs::remove_all(path_, ignored);
  }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// The view the target's own metadata had reached; 0 when it has none that is valid.
// (MetadataStore::load deletes the target's metadata leftovers: it is about to be replaced.)
std::uint64_t previous_view_of(const fs::path& target_dir) {
  MetadataStore store(posix_env(), target_dir.string());
  auto loaded = store.load();
  if (!loaded || !loaded->newest) return 0;
  return promised_view(*loaded->newest);
}

// Copies every file of `source_dir` that is not left out into the empty `copy_dir`.
Result<void, RestoreError> copy_files(const fs::path& source_dir, const fs::path& copy_dir,
                                      RestoreOutcome& outcome) {
  auto entries = list_entries(source_dir);
  if (!entries) return fail(std::move(entries).error());
  std::vector<char> buffer(copy_chunk_bytes);
  for (const Entry& entry : *entries) {
    if (is_left_out(entry.name)) continue;
    if (!entry.regular) {
      return fail(environment(fmt::format(
          "{} is not a regular file; a node directory holds only files, so this is not a "
          "directory recover-node can copy",
          (source_dir / entry.name).string())));
    }
    auto copied = copy_file(source_dir / entry.name, copy_dir / entry.name, buffer);
    if (!copied) return fail(std::move(copied).error());
    outcome.bytes += *copied;
    outcome.files.push_back(entry.name);
  }
  return sync_dir(copy_dir);
}

// Checks that the copy is the source replica's state of this cluster, and makes it the
// target's: both metadata copies rewritten with the target's replica index (the runtime
// refuses a directory of another index). Returns the copied metadata as it was.
Result<Metadata, RestoreError> adopt_metadata(const fs::path& copy_dir,
                                              const RestoreRequest& request) {
  MetadataStore store(posix_env(), copy_dir.string());
  auto loaded = store.load();
  if (!loaded) return fail(environment(loaded.error().message));
  const fs::path source_dir = request.nodes_dir / request.source;
  if (!loaded->newest) {
    if (!loaded->any_present()) {
      return fail(refused(
          fmt::format("{} holds no replica metadata (node '{}' has not run yet?); nothing to copy",
                      source_dir.string(), request.source)));
    }
    std::string problems;
    for (const CopyState& copy : loaded->copies) {
      problems += fmt::format("; {}: {}", copy.file, copy.problem);
    }
    return fail(environment(
        fmt::format("{} has no valid metadata copy{}: node '{}' cannot be a source; choose another",
                    source_dir.string(), problems, request.source)));
  }
  const Metadata source = *loaded->newest;
  if (source.cluster_id != request.cluster_id || source.replica != request.source_replica) {
    return fail(refused(fmt::format(
        "{} belongs to cluster {} replica {}, not to this cluster's replica {} ('{}'); it "
        "cannot be a source",
        source_dir.string(), source.cluster_id, source.replica, request.source_replica,
        request.source)));
  }
  Metadata adopted = source;
  adopted.replica = request.target_replica;
  // Twice: each write goes to the copy that does not hold the newest version, so after two
  // both copies carry the target's index and neither can bring the source's back.
  for (int i = 0; i < 2; ++i) {
    if (auto written = store.write(adopted); !written) {
      return fail(environment(written.error().message));
    }
  }
  return source;
}

RestoredMarker marker_of(const RestoreRequest& request, const Metadata& source,
                         std::uint64_t previous_view) {
  RestoredMarker marker;
  marker.source_node = request.source;
  marker.source_replica = request.source_replica;
  marker.replica = request.target_replica;
  marker.source_view = promised_view(source);
  marker.source_log_view = source.log_view;
  marker.source_commit = source.commit;
  marker.source_checkpoint_op = source.checkpoint_op;
  marker.previous_view = previous_view;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  marker.copied_at_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  return marker;
}

bool unsupported(int sys_errno) {
  return sys_errno == EINVAL || sys_errno == ENOSYS || sys_errno == ENOTSUP;
}

// Puts the complete copy at `target_dir`. With an existing target, one exchange: at every
// instant target_dir is the old directory or the copy. File systems without
// RENAME_EXCHANGE get two renames; a crash between them leaves no target_dir, the old
// contents at `old_dir` and the copy at `copy_dir` (docs/vsr/storage.md says what to do).
// Returns where the old contents are now (empty when there were none).
Result<fs::path, RestoreError> swap_in(const fs::path& copy_dir, const fs::path& target_dir,
                                       const fs::path& old_dir, bool target_exists) {
  if (!target_exists) {
    if (::renameat2(AT_FDCWD, copy_dir.c_str(), AT_FDCWD, target_dir.c_str(), RENAME_NOREPLACE) ==
        0) {
      return fs::path();
    }
    if (!unsupported(errno)) return fail(os_failure("rename the copy to", target_dir, errno));
    // No RENAME_NOREPLACE: rename(2) still refuses to replace a non-empty directory, and a
    // target that appeared meanwhile holds at least a LOCK file.
    if (::rename(copy_dir.c_str(), target_dir.c_str()) != 0) {
      return fail(os_failure("rename the copy to", target_dir, errno));
    }
    return fs::path();
  }
  if (::renameat2(AT_FDCWD, copy_dir.c_str(), AT_FDCWD, target_dir.c_str(), RENAME_EXCHANGE) == 0) {
    return copy_dir;  // the exchange left the old contents under the copy's name
  }
  if (!unsupported(errno)) return fail(os_failure("exchange the copy with", target_dir, errno));
  if (::rename(target_dir.c_str(), old_dir.c_str()) != 0) {
    return fail(os_failure("move aside", target_dir, errno));
  }
  if (::rename(copy_dir.c_str(), target_dir.c_str()) != 0) {
    return fail(os_failure("rename the copy to", target_dir, errno));
  }
  return old_dir;
}

}  // namespace

std::uint64_t RestoredMarker::view_floor() const {
  return std::max({source_view, source_log_view, previous_view});
}

std::string encode_restored_marker(const RestoredMarker& marker) {
  std::string body;
  tnet::Encoder e(body);
  e.begin_dict();
  e.key("format");
  e.bytes(marker_format);
  e.key("source_node");
  e.bytes(marker.source_node);
  e.key("source_replica");
  e.integer(marker.source_replica);
  e.key("replica");
  e.integer(marker.replica);
  e.key("source_view");
  e.integer(as_int(marker.source_view));
  e.key("source_log_view");
  e.integer(as_int(marker.source_log_view));
  e.key("source_commit");
  e.integer(as_int(marker.source_commit));
  e.key("source_checkpoint_op");
  e.integer(as_int(marker.source_checkpoint_op));
  e.key("previous_view");
  e.integer(as_int(marker.previous_view));
  e.key("copied_at_ms");
  e.integer(as_int(marker.copied_at_ms));
  e.end_dict();
  VSR_ASSERT(e.complete());
  std::string sealed = format::seal(body);
  VSR_ASSERT_MSG(sealed.size() <= marker_bytes_max, "marker over its size limit");
  return sealed;
}

Result<RestoredMarker, Error> decode_restored_marker(std::string_view bytes) {
  const format::Unsealed unsealed = format::unseal(bytes, marker_bytes_max);
  if (!unsealed.problem.empty()) {
    return fail(Error{Errc::corruption, "restored marker: " + unsealed.problem});
  }
  tnet::Limits limits;
  limits.max_size = marker_bytes_max;
  limits.max_elements = 32;
  limits.max_depth = 1;
  auto value = tnet::decode(unsealed.body, limits);
  if (!value) {
    return fail(Error{Errc::corruption, "restored marker: " + value.error().message()});
  }
  tnet::FieldReader r(*value, "restored marker");
  const std::string_view tag = r.bytes("format");
  RestoredMarker m;
  m.source_node = std::string(r.bytes("source_node"));
  m.source_replica = static_cast<std::uint32_t>(r.integer_in("source_replica", 0, u32_max));
  m.replica = static_cast<std::uint32_t>(r.integer_in("replica", 0, u32_max));
  m.source_view = static_cast<std::uint64_t>(r.integer_in("source_view", 0, int_max));
  m.source_log_view = static_cast<std::uint64_t>(r.integer_in("source_log_view", 0, int_max));
  m.source_commit = static_cast<std::uint64_t>(r.integer_in("source_commit", 0, int_max));
  m.source_checkpoint_op =
      static_cast<std::uint64_t>(r.integer_in("source_checkpoint_op", 0, int_max));
  m.previous_view = static_cast<std::uint64_t>(r.integer_in("previous_view", 0, int_max));
  m.copied_at_ms = static_cast<std::uint64_t>(r.integer_in("copied_at_ms", 0, int_max));
  if (!r.ok()) return fail(Error{Errc::corruption, r.error()});
  if (tag != marker_format) {
    return fail(Error{Errc::corruption, fmt::format("restored marker: unknown format '{}'", tag)});
  }
  return m;
}

bool was_restored(Env& env, const std::string& dir) {
  auto bytes = env.read_file(join(dir, restored_file_name), marker_bytes_max);
  return bytes.ok() || bytes.error().code != Errc::not_found;
}

Result<std::optional<RestoredMarker>, Error> read_restored(Env& env, const std::string& dir) {
  auto bytes = env.read_file(join(dir, restored_file_name), marker_bytes_max);
  if (!bytes) {
    if (bytes.error().code == Errc::not_found) return std::optional<RestoredMarker>();
    return fail(std::move(bytes).error());
  }
  auto marker = decode_restored_marker(*bytes);
  if (!marker) {
    return fail(Error{Errc::corruption, fmt::format("{}: {}", join(dir, restored_file_name),
                                                    marker.error().message)});
  }
  return std::optional<RestoredMarker>(std::move(*marker));
}

Status write_restored(Env& env, const std::string& dir, const RestoredMarker& marker) {
  return copies::write_atomically(env, dir, std::string(restored_file_name),
                                  encode_restored_marker(marker));
}

Status clear_restored(Env& env, const std::string& dir) {
  if (auto removed = env.remove(join(dir, restored_file_name)); !removed) {
    if (removed.error().code == Errc::not_found) return {};
    return removed;
  }
  return env.sync_dir(dir);
}

Result<RestoreOutcome, RestoreError> restore_from_replica(const RestoreRequest& request) {
  VSR_ASSERT_MSG(request.target != request.source, "the CLI refuses NAME == SRC");
  VSR_ASSERT(request.target_replica != request.source_replica);
  const fs::path source_dir = request.nodes_dir / request.source;
  const fs::path target_dir = request.nodes_dir / request.target;
  const fs::path copy_dir = request.nodes_dir / fmt::format(".{}.restore.tmp", request.target);
  const fs::path old_dir = request.nodes_dir / fmt::format(".{}.restore.old", request.target);

  // The source: it must exist and be stopped; locking it keeps it stopped while we read.
  auto source_exists = directory_exists(source_dir);
  if (!source_exists) return fail(std::move(source_exists).error());
  if (!*source_exists) {
    return fail(refused(fmt::format("{} does not exist: node '{}' has no data on this machine",
                                    source_dir.string(), request.source)));
  }
  auto source_lock = lock_node(source_dir, request.source);
  if (!source_lock) return fail(std::move(source_lock).error());

  // The target: stopped, and empty unless the operator said to replace its data.
  auto target_exists = directory_exists(target_dir);
  if (!target_exists) return fail(std::move(target_exists).error());
  std::optional<io::DirectoryLock> target_lock;
  RestoreOutcome outcome;
  std::uint64_t previous_view = 0;
  if (*target_exists) {
    auto locked = lock_node(target_dir, request.target);
    if (!locked) return fail(std::move(locked).error());
    target_lock.emplace(std::move(*locked));
    auto data = holds_data(target_dir);
    if (!data) return fail(std::move(data).error());
    if (*data && !request.force) {
      return fail(refused(fmt::format(
          "{} holds data; pass --force to replace it with a copy of node '{}' (its own state "
          "is then lost)",
          target_dir.string(), request.source)));
    }
    outcome.replaced_data = *data;
    if (*data) previous_view = previous_view_of(target_dir);
  }

  // Leftovers of an interrupted earlier restore of this target are ours to delete: we hold
  // the target's lock, so no other restore of it is running.
  for (const fs::path& leftover : {copy_dir, old_dir}) {
    if (auto removed = remove_tree(leftover); !removed) return fail(removed.error());
  }
  if (::mkdir(copy_dir.c_str(), node_dir_mode) != 0) {
    return fail(os_failure("create directory", copy_dir, errno));
  }
  TreeGuard copy_guard(copy_dir);
  // The copy's own lock file, held from now on: after the swap it is the target's LOCK,
  // so the target cannot start before this process is done.
  auto copy_lock = lock_node(copy_dir, request.target);
  if (!copy_lock) return fail(std::move(copy_lock).error());

  if (auto copied = copy_files(source_dir, copy_dir, outcome); !copied) {
    return fail(copied.error());
  }
  auto source_metadata = adopt_metadata(copy_dir, request);
  if (!source_metadata) return fail(std::move(source_metadata).error());
  outcome.marker = marker_of(request, *source_metadata, previous_view);
  if (auto marked = write_restored(posix_env(), copy_dir.string(), outcome.marker); !marked) {
    return fail(environment(marked.error().message));
  }
  // The copy's entries (files, marker) are durable; now make it the target.
  if (auto synced = sync_dir(copy_dir); !synced) return fail(synced.error());
  if (auto synced = sync_dir(request.nodes_dir); !synced) return fail(synced.error());
  auto old_contents = swap_in(copy_dir, target_dir, old_dir, *target_exists);
  if (!old_contents) return fail(std::move(old_contents).error());
  copy_guard.release();
  if (auto synced = sync_dir(request.nodes_dir); !synced) return fail(synced.error());

  if (!old_contents->empty()) {
    if (auto removed = remove_tree(*old_contents); !removed) {
      return fail(environment(fmt::format(
          "node '{}' was restored, but its old contents at {} could not be removed ({}); "
          "remove that directory by hand",
          request.target, old_contents->string(), removed.error().message)));
    }
    if (auto synced = sync_dir(request.nodes_dir); !synced) return fail(synced.error());
  }
  return outcome;
}

// --- NodeDirReplacement (vsr sync-node) -----------------------------------------------------

struct NodeDirReplacement::State {
  fs::path nodes_dir;
  std::string target;
  fs::path target_dir;
  fs::path copy_dir;
  fs::path old_dir;
  bool target_exists = false;
  bool replaces_data = false;
  std::uint64_t previous_view = 0;
  bool committed = false;
  std::optional<io::DirectoryLock> target_lock;
  std::optional<io::DirectoryLock> copy_lock;

  ~State() {
    copy_lock.reset();
    if (committed || copy_dir.empty()) return;
    std::error_code ignored;  // best effort: the failure being reported matters more
    fs::remove_all(copy_dir, ignored);
  }
};

NodeDirReplacement::NodeDirReplacement(std::unique_ptr<State> state) : state_(std::move(state)) {}
NodeDirReplacement::NodeDirReplacement(NodeDirReplacement&&) noexcept = default;
NodeDirReplacement& NodeDirReplacement::operator=(NodeDirReplacement&&) noexcept = default;
NodeDirReplacement::~NodeDirReplacement() = default;

const fs::path& NodeDirReplacement::copy_dir() const {
  return state_->copy_dir;
}

bool NodeDirReplacement::replaces_data() const {
  return state_->replaces_data;
}

std::uint64_t NodeDirReplacement::previous_view() const {
  return state_->previous_view;
}

Result<NodeDirReplacement, RestoreError> NodeDirReplacement::begin(const fs::path& nodes_dir,
                                                                   const std::string& target,
                                                                   bool force) {
  auto state = std::make_unique<State>();
  state->nodes_dir = nodes_dir;
  state->target = target;
  state->target_dir = nodes_dir / target;
  const fs::path copy_dir = nodes_dir / fmt::format(".{}.restore.tmp", target);
  state->old_dir = nodes_dir / fmt::format(".{}.restore.old", target);
  if (auto made = io::create_directories(nodes_dir, node_dir_mode); !made) {
    return fail(environment(made.error().message));
  }
  auto target_exists = directory_exists(state->target_dir);
  if (!target_exists) return fail(std::move(target_exists).error());
  state->target_exists = *target_exists;
  if (*target_exists) {
    auto locked = lock_node(state->target_dir, target);
    if (!locked) return fail(std::move(locked).error());
    state->target_lock.emplace(std::move(*locked));
    auto data = holds_data(state->target_dir);
    if (!data) return fail(std::move(data).error());
    if (*data && !force) {
      return fail(refused(
          fmt::format("{} holds data; pass --force to replace it (its own state is then lost)",
                      state->target_dir.string())));
    }
    state->replaces_data = *data;
    if (*data) state->previous_view = previous_view_of(state->target_dir);
  }
  // Leftovers of an interrupted earlier restore of this target are ours to delete: we hold
  // the target's lock, so no other restore of it is running.
  for (const fs::path& leftover : {copy_dir, state->old_dir}) {
    if (auto removed = remove_tree(leftover); !removed) return fail(removed.error());
  }
  if (::mkdir(copy_dir.c_str(), node_dir_mode) != 0) {
    return fail(os_failure("create directory", copy_dir, errno));
  }
  state->copy_dir = copy_dir;  // from now on the state removes it unless committed
  auto copy_lock = lock_node(copy_dir, target);
  if (!copy_lock) return fail(std::move(copy_lock).error());
  state->copy_lock.emplace(std::move(*copy_lock));
  return NodeDirReplacement(std::move(state));
}

Result<void, RestoreError> NodeDirReplacement::commit(const RestoredMarker& marker) {
  State& s = *state_;
  VSR_ASSERT_MSG(!s.committed, "commit() once");
  if (auto marked = write_restored(posix_env(), s.copy_dir.string(), marker); !marked) {
    return fail(environment(marked.error().message));
  }
  if (auto synced = sync_dir(s.copy_dir); !synced) return fail(synced.error());
  if (auto synced = sync_dir(s.nodes_dir); !synced) return fail(synced.error());
  auto old_contents = swap_in(s.copy_dir, s.target_dir, s.old_dir, s.target_exists);
  if (!old_contents) return fail(std::move(old_contents).error());
  s.committed = true;
  if (auto synced = sync_dir(s.nodes_dir); !synced) return fail(synced.error());
  if (!old_contents->empty()) {
    if (auto removed = remove_tree(*old_contents); !removed) {
      return fail(environment(fmt::format(
          "node '{}' was restored, but its old contents at {} could not be removed ({}); "
          "remove that directory by hand",
          s.target, old_contents->string(), removed.error().message)));
    }
    if (auto synced = sync_dir(s.nodes_dir); !synced) return fail(synced.error());
  }
  return {};
}

}  // namespace vsr::storage
