#pragma once
// The file-system seam of the storage layer, in the spirit of LevelDB's Env: the handful of
// file operations the WAL, the metadata and the checkpoints need, behind an interface with
// two implementations. posix_env() is the real disk; MemoryEnv (memory_env.hpp) is an
// in-memory twin that knows what has been synced and can lose the rest in a simulated
// power cut, so that tests and the simulator can prove the write order safe.
//
// Durability contract (the same for both implementations, and what POSIX promises):
//   - bytes written to a file survive a crash only after WritableFile::sync() returns;
//   - a created, renamed or removed directory entry survives a crash only after
//     Env::sync_dir() of its directory returns;
//   - a failed sync() or sync_dir() is fatal to the writer: what reached the disk is
//     unknown, and retrying the fsync can report success for data that was dropped.
// Paths are plain strings, `dir + "/" + name` (see join()); nothing here is thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/storage/error.hpp"

namespace vsr::storage {

/// A file open for writing. Offsets are bytes from the start of the file.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  /// Appends `data` at the end of the file in one write.
  virtual Status append(std::string_view data) = 0;
  /// Writes `data` at `offset`, extending the file when it reaches past the end.
  virtual Status write_at(std::uint64_t offset, std::string_view data) = 0;
  /// Cuts (or zero-extends) the file to `size` bytes.
  virtual Status truncate(std::uint64_t size) = 0;
  /// Makes everything written so far durable (fdatasync). A failure is fatal to the caller.
  virtual Status sync() = 0;
  /// The current size in bytes, as the writes so far left it.
  virtual std::uint64_t size() const = 0;
};

/// How Env::open_writable treats an existing file.
enum class OpenMode : std::uint8_t {
  truncate,  ///< create the file if missing, otherwise cut it to empty
  existing,  ///< create the file if missing, otherwise keep its contents
};

/// The file operations the storage layer uses.
class Env {
 public:
  virtual ~Env() = default;

  /// Opens `path` for writing. A newly created file needs sync_dir() of its directory.
  virtual Result<std::unique_ptr<WritableFile>, Error> open_writable(const std::string& path,
                                                                     OpenMode mode) = 0;
  /// The whole file. Errc::not_found when it does not exist; Errc::io when it holds more
  /// than `size_max` bytes (never allocates more than that).
  virtual Result<std::string, Error> read_file(const std::string& path, std::size_t size_max) = 0;
  /// Up to `length` bytes at `offset`; fewer only when the file ends first.
  virtual Result<std::string, Error> read_at(const std::string& path, std::uint64_t offset,
                                             std::size_t length) = 0;
  /// The names (not paths) of the entries of `dir`, sorted; Errc::not_found when missing.
  virtual Result<std::vector<std::string>, Error> list_dir(const std::string& dir) = 0;
  /// Renames `from` to `to` atomically, replacing `to`. Durable after sync_dir().
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  /// Deletes the file `path`. Durable after sync_dir().
  virtual Status remove(const std::string& path) = 0;
  /// Makes the entries of `dir` (creations, renames, removals) durable (fsync).
  virtual Status sync_dir(const std::string& dir) = 0;
  /// Creates the directory `dir`; an existing directory is fine.
  virtual Status create_dir(const std::string& dir) = 0;
};

/// The real file system. One process-wide instance; it holds no state.
Env& posix_env();

/// `dir + "/" + name`.
std::string join(std::string_view dir, std::string_view name);

}  // namespace vsr::storage
