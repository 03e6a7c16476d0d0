#pragma once
// MemoryEnv: an in-memory Env that models what a power cut keeps, for the storage tests and
// the simulator (LevelDB's fault_injection_test, made an Env of its own).
//
// The model. Every file is an inode with two byte strings: what the writes so far made of
// it (`data`) and what the last sync() made durable. The directory tree is two maps from
// path to inode: the live one, and the one as of each directory's last sync_dir(). A crash
// (power loss) goes back to the durable map and, in every inode it reaches, to the durable
// bytes; everything else is gone, including files created, renamed or removed without a
// directory sync. Optionally the most recent unsynced write lands in part (a torn write):
// its first N bytes reach the medium, over the durable bytes, zero-filling any gap.
// Directories themselves are durable once created (a simplification: storage never
// creates the node directory it recovers from).
//
// Faults on request: a crash armed to strike at the N-th mutating call (that call and every
// later one fail until crash() restarts the "machine"); an I/O error armed the same way that
// fails that one call and nothing else (a write or fsync error: what the caller does next is
// its own business); flipped bits in stored bytes (media corruption: they survive crashes);
// latent sector errors (byte ranges of a file whose reads fail, until a write covers them);
// a misdirected write (its bytes land elsewhere in the file it was aimed at); failing reads
// of a file; failing syncs.
// Deterministic and single-threaded, like the simulator that drives it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/storage/env.hpp"

namespace vsr::storage {

/// What a simulated power loss keeps.
struct CrashOptions {
  /// When set, the most recent write that no sync covers lands in part: its first
  /// `tear_last_write_at` bytes (all of it when larger) reach the disk.
  std::optional<std::size_t> tear_last_write_at;
};

/// An Env in memory that drops what was not synced when it "crashes". Not thread-safe.
class MemoryEnv final : public Env {
 public:
  MemoryEnv();
  ~MemoryEnv() override;
  MemoryEnv(const MemoryEnv&) = delete;
  MemoryEnv& operator=(const MemoryEnv&) = delete;

  // Env
  Result<std::unique_ptr<WritableFile>, Error> open_writable(const std::string& path,
                                                             OpenMode mode) override;
  Result<std::string, Error> read_file(const std::string& path, std::size_t size_max) override;
  Result<std::string, Error> read_at(const std::string& path, std::uint64_t offset,
                                     std::size_t length) override;
  Result<std::vector<std::string>, Error> list_dir(const std::string& dir) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;

  // Power loss.

  /// Loses power now and restarts: the live tree becomes the durable one (see the file
  /// comment). Clears an armed crash, an armed I/O error and an armed misdirected write
  /// (bad sectors stay); files opened before stay dead (every call fails).
  void crash(const CrashOptions& options = {});
  /// Arms a crash: the next `mutations` mutating calls succeed, the one after fails and so
  /// does every call after it (reads too), as if the process had died there, until crash().
  /// A write that is struck counts as the last unsynced write, so crash() can tear it.
  void arm_crash(std::uint64_t mutations);
  /// Returns true iff an armed crash has struck and crash() has not been called since.
  bool down() const { return down_; }
  /// Mutating calls so far (open_writable, append, write_at, truncate, sync, rename, remove,
  /// sync_dir, create_dir), successful or not.
  std::uint64_t mutations() const { return mutations_; }

  // Media faults.

  /// Flips bit `bit` (0-7) of byte `offset` of `path`, in the live and the durable bytes.
  /// REQUIRES: the file exists and is longer than `offset`.
  void flip_bit(const std::string& path, std::uint64_t offset, int bit);
  /// A latent sector error: every read that touches bytes [offset, offset + length) of
  /// `path` fails with Errc::io, across crashes and renames, until one write covers the
  /// whole range (the drive remaps the sector). REQUIRES: the file exists.
  void add_bad_sector(const std::string& path, std::uint64_t offset, std::uint64_t length);
  /// Arms a misdirected write: the next write (append or write_at) to any file lands `shift`
  /// bytes away from where it was aimed, clamped to start within the file's new size. The
  /// file still grows as if the write had landed (the range aimed at keeps what it held,
  /// zeros where the file grew); the sync that follows succeeds.
  void misdirect_next_write(std::int64_t shift) { misdirect_ = shift; }
  /// Arms an I/O error: the next `mutations` mutating calls succeed and the one after fails
  /// with Errc::io without any effect (a failed write or fsync; nothing else changes).
  void arm_io_error(std::uint64_t mutations) { io_error_at_ = mutations_ + mutations; }
  /// Clears an armed I/O error and an armed misdirected write.
  void disarm() {
    io_error_at_.reset();
    misdirect_.reset();
  }
  /// While `failing` is true, reads of `path` fail with Errc::io.
  void fail_reads(const std::string& path, bool failing);
  /// While `failing` is true, every sync() and sync_dir() fails with Errc::io (and syncs
  /// nothing).
  void fail_syncs(bool failing) { fail_syncs_ = failing; }

  // Inspection and setup, outside the fault model (no mutation is counted).

  /// Creates or replaces `path` with `contents`, durable as if written, synced and its
  /// directory synced. The directory must exist.
  void set_file(const std::string& path, std::string_view contents);
  /// The live contents of `path`, or nullopt when it does not exist.
  std::optional<std::string> contents(const std::string& path) const;
  /// Returns true iff `path` exists in the live tree.
  bool exists(const std::string& path) const;
  /// Sum of the live sizes of the files directly in `dir`.
  std::uint64_t bytes_in(const std::string& dir) const;
  /// The files directly in `dir` as a crash now would leave them: name -> durable bytes.
  std::map<std::string, std::string> durable_files(const std::string& dir) const;
  /// The size of the most recent write that no sync covers yet (what a crash may tear), or
  /// 0 when every write so far is synced.
  std::size_t unsynced_write_bytes() const { return last_write_ ? last_write_->bytes.size() : 0; }

 private:
  struct Inode;
  class File;
  struct LastWrite {
    std::weak_ptr<Inode> inode;
    std::uint64_t offset = 0;
    std::string bytes;
  };

  // Counts one mutating call; fails when the env is down or the armed crash strikes now.
  // `write` (when given) becomes the last unsynced write if the crash strikes at it.
  Status mutate(const char* what, const std::string& path, const LastWrite* write = nullptr);
  Status check_up(const std::string& path) const;
  Status sync_inode(Inode& inode, const std::string& path);
  void note_write(const std::shared_ptr<Inode>& inode, std::uint64_t offset,
                  std::string_view bytes);
  bool dir_exists(const std::string& dir) const { return dirs_.count(dir) != 0; }

  std::map<std::string, std::shared_ptr<Inode>> live_;     // path -> inode, as it is now
  std::map<std::string, std::shared_ptr<Inode>> durable_;  // path -> inode, as a crash sees it
  std::set<std::string> dirs_;
  std::set<std::string> failing_reads_;
  std::optional<LastWrite> last_write_;       // most recent write that no sync has covered yet
  std::optional<std::uint64_t> crash_at_;     // mutation count after which the env goes down
  std::optional<std::uint64_t> io_error_at_;  // mutation count after which one call fails
  std::optional<std::int64_t> misdirect_;     // the next write lands this far away
  std::uint64_t mutations_ = 0;
  std::uint64_t generation_ = 0;  // bumped by crash(); files of older generations are dead
  bool down_ = false;
  bool fail_syncs_ = false;
};

}  // namespace vsr::storage
