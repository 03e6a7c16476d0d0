#pragma once
// The core's storage effects executed against a replica's directory (vsr/storage), and
// the core's DurableState built from that directory on start.
//
// The core hands out WritePrepare / TruncateWal / WriteMetadata / WriteCheckpoint /
// ReleaseWal effects with increasing write ids and requires them durable in issue order
// (vsr/core/effects.hpp). ReplicaDisk::execute() takes every effect pending when the caller
// runs it (the daemon's disk thread, or the simulator when writes fall due) and runs them
// in order: consecutive prepares are appended to the WAL and made durable by one write and
// one fdatasync (group commit); any other effect first syncs what is buffered, then runs
// (each of those is durable when it returns). It returns the highest write id such that it
// and every lower one are durable. WAL segments are deleted only on ReleaseWal, never
// below the durable checkpoint (NodeStorage::release_wal).
//
// One metadata format: the core's metadata (its encoding, core::encode_metadata, with the
// canonical view headers and the voted view) travels in storage's own metadata copies
// (Metadata::core), with view / log_view / commit / checkpoint_op kept in step, so one
// alternating write of one copy makes it durable.
//
// What the storage layer does not offer, and how this adapter stands in for it:
//  - The WAL appends only at head + 1. A prepare for a higher op (a backup that missed
//    some) is held in memory, not reported durable, until the gap is filled (repair
//    writes the missing ops) or a TruncateWal drops it; so reported progress never
//    includes a write that is not on disk.
//  - A prepare for an op the WAL already holds replaces it: a damaged op is repaired in
//    place; an intact one (a stale op of an older view) is cut off with everything after
//    it (those chain to it, so they are stale too) and the new one appended.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/storage/env.hpp"
#include "vsr/storage/node_storage.hpp"

namespace vsr::storage {

/// Why a replica's directory cannot be used.
struct DiskError {
  enum class Kind : std::uint8_t {
    nothing_valid,  ///< no valid metadata or checkpoint: run `vsr sync-node`
    environment,    ///< the OS failed (I/O error, permissions, disk full)
  };
  Kind kind = Kind::environment;
  std::string message;
};

/// Who the directory belongs to.
struct DiskIdentity {
  std::uint64_t cluster_id = 0;  ///< the core's cluster id
  std::string cluster_id_text;   ///< the config's cluster id (hex), stored in the metadata
  std::uint32_t replica = 0;
};

/// Counters for tests and logs.
struct DiskStats {
  std::uint64_t batches = 0;            ///< execute() calls
  std::uint64_t wal_syncs = 0;          ///< WAL write+fdatasync rounds
  std::uint64_t prepares = 0;           ///< prepares written
  std::uint64_t held_prepares = 0;      ///< prepares held for a gap below them
  std::uint64_t replaced_prepares = 0;  ///< intact ops replaced (cut with their suffix)
};

/// The open storage of one replica: the daemon's disk thread, or a simulated replica.
/// Not thread-safe.
class ReplicaDisk {
 public:
  /// Opens the existing directory `dir`, formats it when it is fresh, and builds the
  /// core's durable state from what it holds. DiskError::Kind::nothing_valid: the replica
  /// cannot start from this directory (docs/vsr/storage.md, "Recovery").
  static Result<std::unique_ptr<ReplicaDisk>, DiskError> open(Env& env, std::string dir,
                                                              const DiskIdentity& identity,
                                                              const NodeOptions& options = {});

  /// The state to hand to Replica::open(). Moves it out; call once.
  core::DurableState take_durable_state() { return std::move(durable_); }

  /// Executes the storage effects in `effects` in order (sends are ignored). Returns the
  /// highest write id through which everything issued is durable (the previous value when
  /// nothing new became durable). Err: an I/O failure; the caller must stop (fatal).
  Result<std::uint64_t, std::string> execute(std::span<const core::Effect> effects);

  /// The highest write id reported durable so far.
  std::uint64_t durable_id() const { return reported_; }
  const DiskStats& stats() const { return stats_; }
  /// The WAL's head op (for tests).
  std::uint64_t wal_head() const { return storage_.wal().head_op(); }
  /// The storage underneath (for tests and the simulator's inspection).
  const NodeStorage& storage() const { return storage_; }

  /// Why this directory cannot serve a cluster of one replica, or nullopt: the WAL ops after
  /// the checkpoint that open() found corrupt or missing, which only a peer could repair
  /// (each with its file and bytes), and what the operator can do. With peers the core
  /// repairs them; alone it would wait forever for a repair, and must not drop them either
  /// (each may have been acknowledged), so the runtime refuses to start (exit 4).
  std::optional<std::string> damage_without_peers() const;

  /// Why the replica must start in status recovering (the directory holds a RESTORED
  /// marker: its state was copied from another replica), or nullopt. For the start log.
  const std::optional<std::string>& restored_reason() const { return restored_reason_; }
  /// Removes the RESTORED marker durably once the replica is durably normal again. Touches
  /// only the marker file (env and directory never change), so the actor may call it while
  /// the disk thread runs. No marker is fine.
  Result<void, std::string> clear_restored_marker();

 private:
  ReplicaDisk(Env& env, std::string dir, DiskIdentity identity, NodeStorage storage)
      : env_(&env),
        dir_(std::move(dir)),
        identity_(std::move(identity)),
        storage_(std::move(storage)) {}

  using Outcome = Result<void, std::string>;
  Outcome write_prepare(const core::WritePrepare& w);
  Outcome truncate(const core::TruncateWal& t);
  Outcome write_metadata(const core::WriteMetadata& m);
  Outcome write_checkpoint(const core::WriteCheckpoint& c);
  Outcome release(const core::ReleaseWal& r);
  Outcome sync_wal();
  Outcome append(std::uint64_t op, const core::Bytes& bytes);
  Outcome append_held();
  Result<void, DiskError> load_core_metadata(const Metadata& metadata);
  Result<void, DiskError> name_recovered_checkpoint();
  void read_restored_marker();
  // A damaged metadata copy may have been the newest, with a vote the valid one lacks: the
  // replica starts recovering, as a restored one does, with the valid copy's views as floor.
  void distrust_damaged_metadata(const std::array<CopyState, 2>& copies);

  Env* env_;
  std::string dir_;
  DiskIdentity identity_;
  NodeStorage storage_;
  core::DurableState durable_;
  std::optional<std::string> restored_reason_;
  std::optional<std::string> damaged_metadata_;  // the damaged copy and why, when one is
  std::vector<WalEntry> damaged_;       // the WAL ops open() found corrupt or missing (no body)
  std::uint64_t recovered_commit_ = 0;  // the storage metadata's commit at open()
  bool wal_buffered_ = false;           // appends not yet synced
  /// Prepares above the WAL's head + 1: op -> (write id, bytes). Bounded by the core's
  /// pipeline and repair window; a TruncateWal drops those above its op.
  std::map<std::uint64_t, std::pair<std::uint64_t, core::Bytes>> held_;
  std::set<std::uint64_t> held_ids_;
  std::uint64_t executed_ = 0;  // highest write id executed (held ones aside)
  std::uint64_t reported_ = 0;
  DiskStats stats_;
};

}  // namespace vsr::storage
