#pragma once
// A replica's directory as one object: recover() opens it after a start or a crash (newest
// valid metadata, newest valid checkpoint, the WAL scanned from the checkpoint on) and
// returns the writers positioned to continue. ReplicaDisk (replica_disk.hpp) adapts it to
// the core's storage effects, for the daemon over the real disk and for the simulator over
// a MemoryEnv.
//
// Directory layout (docs/vsr/storage.md):
//   metadata.0 metadata.1            the metadata copies
//   checkpoint.0 checkpoint.1 ...    the checkpoint copies
//   wal-<first op, 20 digits>.log    WAL segments
//   *.tmp                            leftovers of interrupted atomic writes (deleted)
//   LOCK                             the runtime's directory lock (not touched here)

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vsr/storage/checkpoint.hpp"
#include "vsr/storage/env.hpp"
#include "vsr/storage/metadata.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::storage {

/// Limits of a node's storage.
struct NodeOptions {
  WalOptions wal;
  std::size_t checkpoint_copies = 2;
  std::size_t checkpoint_bytes_max = std::size_t{1} << 30;
};

/// Everything recover() found.
struct RecoveredState {
  /// True iff the directory holds no storage file at all: a new replica, to be format()ted.
  bool fresh = false;
  /// The newest valid metadata (default-constructed when fresh).
  Metadata metadata;
  std::array<CopyState, 2> metadata_copies;
  /// The newest valid checkpoint; none when no checkpoint was ever written (start from the
  /// empty state at op 0). It may be newer than metadata.checkpoint_op (a crash between the
  /// two writes) or, when newer copies were damaged, older.
  std::optional<Checkpoint> checkpoint;
  std::vector<CopyState> checkpoint_copies;
  /// The WAL from the checkpoint's op + 1. Its entries run to max(head_op, metadata.commit):
  /// committed ops the WAL lost at its end are listed as missing, to be fetched from peers
  /// and appended in order.
  WalScan wal;
};

struct Recovered;

/// Opens the node directory `dir` (which must exist) and recovers its durable state.
/// Errc::nothing_valid when files exist but no valid metadata copy remains, or the metadata
/// names a checkpoint and no valid checkpoint copy remains: the node cannot start and must
/// be restored with `vsr sync-node`. Errc::io / not_found for environment failures.
Result<Recovered, Error> recover(Env& env, const std::string& dir, const NodeOptions& options = {});

/// The open storage of one replica. Move-only; not thread-safe.
class NodeStorage {
 public:
  /// Writes the first metadata of a fresh directory (both copies, atomically).
  /// REQUIRES: recover() reported the directory fresh, and format() has not run.
  Status format(const Metadata& initial);
  /// Durably writes new metadata (the next sequence; the other copy).
  Status write_metadata(const Metadata& metadata);
  /// Makes a checkpoint of `op` durable, in the order that keeps a crash safe: every
  /// checkpoint copy, then the metadata with checkpoint_op = op. The WAL below op stays:
  /// the core releases it later (release_wal), keeping a checkpoint interval for peers
  /// slightly behind to repair from.
  Status write_checkpoint(std::uint64_t op, std::string_view blob);
  /// Deletes the WAL segments that hold only ops below min(op, metadata().checkpoint_op):
  /// never anything the durable checkpoint does not cover, and never the record at the
  /// checkpoint's op (the first op after it chains to it).
  Status release_wal(std::uint64_t op);

  /// The newest metadata written or recovered. REQUIRES: the node is formatted.
  const Metadata& metadata() const { return metadata_.current(); }
  Wal& wal() { return wal_; }
  const Wal& wal() const { return wal_; }
  const std::string& dir() const { return dir_; }

 private:
  friend Result<Recovered, Error> recover(Env&, const std::string&, const NodeOptions&);
  NodeStorage(std::string dir, MetadataStore metadata, CheckpointStore checkpoints, Wal wal)
      : dir_(std::move(dir)),
        metadata_(std::move(metadata)),
        checkpoints_(std::move(checkpoints)),
        wal_(std::move(wal)) {}

  std::string dir_;
  MetadataStore metadata_;
  CheckpointStore checkpoints_;
  Wal wal_;
};

/// An opened node directory and what was in it.
struct Recovered {
  NodeStorage storage;
  RecoveredState state;
};

}  // namespace vsr::storage
