#pragma once
// The write-ahead log: an append-only sequence of hash-chained, checksummed records, one per
// op, in segment files named by the first op they hold. The grammar, the write order and
// what each fault turns into are in docs/vsr/storage.md; in short:
//   - append() buffers records, sync() writes them with one write and one fdatasync (two at
//     a segment boundary), and fsyncs the directory after creating a segment file;
//   - open() scans the segments from a given op (the checkpoint's, plus one) and reports
//     every op as ok, corrupt or missing; the front of a record cut short at the very end
//     of the last segment is a torn write and is cut away, damage anywhere else (a last
//     record written whole and damaged since included) is reported and left for repair;
//   - repair() rewrites one corrupt or missing op with bytes fetched from a peer;
//   - truncate_after() discards a suffix (a view change), remove_below() deletes segments
//     that a durable checkpoint made unnecessary, so the disk use stays bounded.
// Any failed write or fsync poisons the Wal: every later call returns the same error, and
// the caller must treat it as fatal (restart and recover from what is durable).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/storage/checksum.hpp"
#include "vsr/storage/env.hpp"

namespace vsr::storage {

/// Limits of a WAL. Every length read from disk is checked against them before use.
struct WalOptions {
  /// A segment is closed once the next batch would take it past this size (a segment is
  /// larger only when a single record is).
  std::uint64_t segment_bytes_max = std::uint64_t{16} << 20;
  /// The largest body append() accepts and a scan believes.
  std::size_t body_bytes_max = std::size_t{8} << 20;
  /// When a write reaches past the end of its segment file, the file is extended with zeros
  /// to the next multiple of this (at most to segment_bytes_max), in the same fdatasync.
  /// Most fdatasyncs then write data only: one that changes the file size must also write
  /// the inode, a second disk write. 0: plain appends. Zeros after the last record are not
  /// a record, and a scan ignores them (docs/vsr/storage.md).
  std::uint64_t preallocate_bytes = std::uint64_t{1} << 20;
  /// Test-only (core::InjectedBug::corrupt_tail_is_torn, set by the simulator): open() cuts
  /// any damage at the end of the last segment as a torn write, the old rule that loses a
  /// last record whose bytes went bad after it was acknowledged. Never set it elsewhere.
  bool bug_corrupt_tail_is_torn = false;
};

/// What a scan found for one op.
enum class RecordStatus : std::uint8_t {
  ok,       ///< a record whose checksum verifies and that chains to its predecessor
  corrupt,  ///< bytes are there but fail their checksum or grammar, or break the chain
  missing,  ///< no bytes at all for this op (a lost or deleted segment, a gap)
};

/// Why an op is corrupt.
enum class Damage : std::uint8_t {
  none,      ///< not corrupt
  checksum,  ///< a complete record whose checksum or fields are wrong
  framing,   ///< bytes that do not parse as records, lying where this op belongs
  chain,     ///< a sound record whose parent is not its predecessor's checksum
};

/// One op of a scan.
struct WalEntry {
  std::uint64_t op = 0;
  RecordStatus status = RecordStatus::missing;
  Damage damage = Damage::none;
  Checksum checksum;  ///< the record's checksum (when its bytes verified: ok or chain)
  std::string body;   ///< the body (ok only)
};

/// The end of the last segment that open() cut away as a torn write: the front of a record
/// for the op after the head, cut short by a crash (so never acknowledged). For the logs.
struct TornTail {
  std::string segment;       ///< file name
  std::uint64_t offset = 0;  ///< the file now ends here
  std::uint64_t bytes = 0;   ///< how many bytes were cut
};

/// What open() found, from `first_op` on.
struct WalScan {
  std::uint64_t first_op = 1;  ///< the first op reported
  std::uint64_t head_op = 0;   ///< the last op with bytes in the WAL, at least first_op - 1
  /// Ops first_op..head_op, in order, each with its status.
  std::vector<WalEntry> entries;
  std::optional<TornTail> torn_tail;

  /// The entry for `op`, or nullptr when it is outside [first_op, head_op].
  const WalEntry* find(std::uint64_t op) const;
  /// The ops with status `status`, in order.
  std::vector<std::uint64_t> ops_with(RecordStatus status) const;
};

/// Where one op's bytes lie (its record, or the damaged region standing in for it).
struct RecordLocation {
  std::string segment;  ///< file name
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  ///< 0 for an op that has no bytes of its own
};

struct OpenedWal;

/// The write-ahead log of one replica. Move-only; not thread-safe.
class Wal {
 public:
  /// Opens the WAL in `dir` (which must exist), reporting ops from `first_op` on. Cuts a
  /// torn tail (a record cut short) off the last segment durably; other damage there is the
  /// op after the last sound one, reported corrupt. Deletes leftover temporary files.
  /// Fails only when the directory cannot be listed or a file cannot be read or written.
  static Result<OpenedWal, Error> open(Env& env, std::string dir, const WalOptions& options,
                                       std::uint64_t first_op);

  Wal(Wal&&) noexcept;
  Wal& operator=(Wal&&) noexcept;
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  ~Wal();

  /// Buffers the record for `op`; nothing reaches the disk before sync().
  /// REQUIRES: op == head_op() + 1 and body.size() <= WalOptions::body_bytes_max.
  Status append(std::uint64_t op, std::string_view body);
  /// Writes every buffered record and makes it durable: one write and one fdatasync per
  /// segment touched (one, except at a segment boundary), then a directory fsync when a
  /// segment file was created. When it returns ok, durable_op() == head_op().
  Status sync();

  /// The body of `op`, read from disk and verified. Errc::not_found outside the indexed,
  /// durable range; Errc::corruption when the op is not ok (or no longer verifies, in which
  /// case it becomes corrupt).
  Result<std::string, Error> read(std::uint64_t op);
  /// The status of a durable op. REQUIRES: first_indexed_op() <= op <= durable_op().
  RecordStatus status(std::uint64_t op) const;
  /// Where a durable op's bytes are, if it has a place in a segment.
  std::optional<RecordLocation> locate(std::uint64_t op) const;

  /// Durably replaces a corrupt or missing op with `body` (e.g. fetched from a peer and
  /// verified by the core). Rewrites in place when the damaged record has the same length,
  /// otherwise rewrites its segment atomically. Repair oldest first: the record chains to
  /// op - 1 only when that op is sound.
  /// REQUIRES: nothing buffered; first_indexed_op() <= op <= durable_op(); status(op) != ok.
  Status repair(std::uint64_t op, std::string_view body);
  /// Durably discards every record after `op` (newest segment first, so that a crash
  /// leaves a prefix); afterwards head_op() == op. When `op` is past the head (a state
  /// transfer), nothing is deleted: the ops up to `op` leave the index and the next append,
  /// op + 1, starts a new segment; a checkpoint of `op` must be durable first, or a restart
  /// would find those ops missing. REQUIRES: nothing buffered; op + 1 >= first_indexed_op().
  Status truncate_after(std::uint64_t op);
  /// Deletes the segments that hold only ops below `op` (the durable checkpoint's op).
  /// The last segment always stays, so the head and its checksum stay known.
  Status remove_below(std::uint64_t op);

  /// The last op appended (buffered or durable), or truncated to.
  std::uint64_t head_op() const { return head_op_; }
  /// The last op made durable by sync() (or found by open()).
  std::uint64_t durable_op() const { return durable_op_; }
  /// The first op whose status this Wal knows.
  std::uint64_t first_indexed_op() const { return slots_first_op_; }
  /// The number of segment files.
  std::size_t segment_count() const { return segments_.size(); }
  /// The name of the segment file whose first op is `first_op`.
  static std::string segment_name(std::uint64_t first_op);

 private:
  struct Segment {
    std::uint64_t first_op = 0;  // from the file name; every op in it is >= first_op
    std::uint64_t size = 0;      // bytes in the file
    std::uint64_t last_op = 0;   // the highest op placed in it, first_op - 1 when none
  };
  struct Slot {
    RecordStatus status = RecordStatus::missing;
    Damage damage = Damage::none;
    std::uint64_t segment = 0;  // first_op of the segment it lies in; 0 for none
    std::uint64_t offset = 0;   // its bytes (or where it belongs, when length is 0)
    std::uint64_t length = 0;
    Checksum checksum;  // known iff its bytes verified (ok, or damage == chain)
    Checksum parent;
  };
  struct Pending {
    std::uint64_t op = 0;
    std::uint64_t offset = 0;  // in the chunk
    std::uint64_t length = 0;
    Checksum checksum;
    Checksum parent;
  };
  // Buffered records bound for one segment.
  struct Chunk {
    std::uint64_t segment = 0;  // first_op of the target segment
    bool creates_segment = false;
    std::uint64_t base = 0;  // the segment's size before this chunk
    std::string bytes;
    std::vector<Pending> records;
  };
  // What absorbing one segment found, for open().
  struct Absorbed {
    std::optional<std::uint64_t> bad_tail;  // a damaged region runs from here to the end
    std::vector<std::pair<std::uint64_t, std::string_view>> bodies;  // sound records
  };

  Wal(Env& env, std::string dir, const WalOptions& options);

  Status scan_all(std::uint64_t first_op, WalScan& scan);
  /// The bytes of a segment; sectors that cannot be read come back as 0xff bytes.
  Result<std::string, Error> read_segment(const std::string& path, std::size_t read_max);
  Status absorb(std::size_t index, std::string_view data, bool tail_may_tear, Absorbed* out);
  Status reindex(std::size_t index);
  void check_chain(std::uint64_t from_op, std::uint64_t to_op);
  Status cut_torn_tail(std::size_t index, std::uint64_t offset, WalScan& scan);
  bool is_torn_write(std::string_view tail, std::uint64_t expect) const;
  Status write_chunk(Chunk& chunk);
  Status rewrite_segment(std::size_t index, const Slot& slot, std::string_view record);
  Status write_into(std::size_t index, std::uint64_t offset, std::string_view record,
                    bool creates_segment);
  Status poison(Error error);

  Slot& slot(std::uint64_t op) { return slots_[op - slots_first_op_]; }
  const Slot& slot(std::uint64_t op) const { return slots_[op - slots_first_op_]; }
  bool indexed(std::uint64_t op) const;
  void grow_slots(std::uint64_t through_op);
  std::optional<Checksum> known_checksum(std::uint64_t op) const;
  std::size_t segment_index(std::uint64_t first_op) const;
  std::string path_of(std::uint64_t segment_first_op) const;
  bool can_extend_last(std::uint64_t record_bytes) const;

  Env* env_;
  std::string dir_;
  WalOptions options_;
  std::vector<Segment> segments_;  // sorted by first_op
  std::deque<Slot> slots_;         // ops slots_first_op_ .. durable_op_
  std::uint64_t slots_first_op_ = 1;
  std::uint64_t durable_op_ = 0;
  std::uint64_t head_op_ = 0;
  std::vector<Chunk> chunks_;  // appended, not yet synced
  std::string spare_;          // a chunk buffer kept for reuse, so appends do not allocate
  std::unique_ptr<WritableFile> active_;  // open on the last segment, or null
  std::uint64_t active_segment_ = 0;      // first_op of the segment active_ writes
  std::optional<Error> poisoned_;
};

/// A Wal just opened, and what its scan found.
struct OpenedWal {
  Wal wal;
  WalScan scan;
};

}  // namespace vsr::storage
