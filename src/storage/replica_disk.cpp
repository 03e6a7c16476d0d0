// The storage adapter of a replica: core effects in, durable files out, in issue order
// (vsr/core/effects.hpp). See replica_disk.hpp for what it adds to NodeStorage and why.

#include "vsr/storage/replica_disk.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "vsr/base/assert.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::storage {
namespace {

DiskError environment(std::string message) {
  return DiskError{DiskError::Kind::environment, std::move(message)};
}

}  // namespace

Result<std::unique_ptr<ReplicaDisk>, DiskError> ReplicaDisk::open(Env& env, std::string dir,
                                                                  const DiskIdentity& identity,
                                                                  const NodeOptions& options) {
  auto recovered = recover(env, dir, options);
  if (!recovered) {
    const Error& e = recovered.error();
    if (e.code == Errc::nothing_valid) {
      return fail(DiskError{DiskError::Kind::nothing_valid, e.message});
    }
    return fail(environment(e.message));
  }
  RecoveredState& state = recovered->state;
  if (state.fresh) {
    Metadata initial;
    initial.cluster_id = identity.cluster_id_text;
    initial.replica = identity.replica;
    if (auto formatted = recovered->storage.format(initial); !formatted) {
      return fail(environment(formatted.error().message));
    }
  } else if (state.metadata.cluster_id != identity.cluster_id_text ||
             state.metadata.replica != identity.replica) {
    return fail(DiskError{
        DiskError::Kind::nothing_valid,
        fmt::format("node directory {} belongs to cluster {} replica {}, not cluster {} replica "
                    "{}; move it away, or restore this replica with `vsr sync-node`",
                    dir, state.metadata.cluster_id, state.metadata.replica,
                    identity.cluster_id_text, identity.replica)});
  }
  std::unique_ptr<ReplicaDisk> disk(
      new ReplicaDisk(env, std::move(dir), identity, std::move(recovered->storage)));
  core::DurableState& durable = disk->durable_;
  if (state.checkpoint) {
    auto checkpoint = core::decode_checkpoint(state.checkpoint->blob, identity.cluster_id);
    if (!checkpoint) {
      return fail(DiskError{DiskError::Kind::nothing_valid,
                            fmt::format("node directory {}: checkpoint {} does not decode ({}); "
                                        "restore this replica with `vsr sync-node`",
                                        disk->dir_, state.checkpoint->op, checkpoint.error())});
    }
    durable.checkpoint = std::move(*checkpoint);
  }
  disk->recovered_commit_ = state.metadata.commit;
  for (WalEntry& entry : state.wal.entries) {
    if (entry.status != RecordStatus::ok) {
      disk->damaged_.push_back(WalEntry{entry.op, entry.status, entry.damage, {}, {}});
    }
    if (entry.status == RecordStatus::missing) continue;  // the core repairs gaps
    core::WalEntry out;
    out.op = core::Op{entry.op};
    if (entry.status == RecordStatus::ok) {
      out.state = core::WalEntryState::intact;
      out.bytes = core::make_bytes(std::move(entry.body));
    } else {
      out.state = core::WalEntryState::corrupt;
    }
    durable.wal.push_back(std::move(out));
  }
  if (auto loaded = disk->load_core_metadata(state.metadata); !loaded) {
    return fail(std::move(loaded).error());
  }
  if (auto named = disk->name_recovered_checkpoint(); !named) return fail(std::move(named).error());
  disk->read_restored_marker();
  disk->distrust_damaged_metadata(state.metadata_copies);
  return disk;
}

namespace {

const char* what_is_wrong(const WalEntry& entry) {
  if (entry.status == RecordStatus::missing) return "missing (no bytes for it in any segment)";
  switch (entry.damage) {
    case Damage::checksum:
      return "corrupt (a complete record that fails its checksum)";
    case Damage::framing:
      return "corrupt (bytes that do not parse as a record)";
    case Damage::chain:
      return "corrupt (its parent is not the checksum of the op before it)";
    case Damage::none:
      break;
  }
  return "corrupt";
}

}  // namespace

std::optional<std::string> ReplicaDisk::damage_without_peers() const {
  if (damaged_metadata_) {
    return fmt::format(
               "metadata copy {} is damaged. It may have held the replica's newest vote, and a "
               "cluster of one replica has no peer to learn it from, so the node does not start. "
               "Restore the node directory from a backup",
               *damaged_metadata_) +
           ".";
  }
  if (damaged_.empty()) return std::nullopt;
  const Wal& wal = storage_.wal();
  const WalEntry& first = damaged_.front();
  std::string where;
  const std::optional<RecordLocation> at = wal.locate(first.op);
  if (at && at->length > 0) {
    where = fmt::format(" in {}, bytes {} to {}", join(dir_, at->segment), at->offset,
                        at->offset + at->length);
  }
  std::string text = fmt::format("op {} of the WAL is {}{}", first.op, what_is_wrong(first), where);
  if (damaged_.size() > 1) {
    text += fmt::format(", and {} later ops are damaged too", damaged_.size() - 1);
  }
  text +=
      ". A cluster of one replica has no peer to repair it from, and the op may have been "
      "acknowledged to a client, so the node does not start rather than lose it. Restore the "
      "node directory from a backup";
  // The one case an operator may choose to give up: one damaged region at the end of the
  // WAL (the ops it could have held are all reported corrupt), above the durable commit
  // point (else recovery reports them missing).
  const bool one_region_at_the_end =
      std::all_of(damaged_.begin(), damaged_.end(),
                  [](const WalEntry& e) { return e.status == RecordStatus::corrupt; }) &&
      damaged_.back().op == wal.head_op() && damaged_.back().op - first.op + 1 == damaged_.size();
  if (one_region_at_the_end && first.op > recovered_commit_ && at) {
    const std::string ops = damaged_.size() == 1
                                ? fmt::format("op {}", first.op)
                                : fmt::format("ops {} to {}", first.op, damaged_.back().op);
    text += fmt::format(
        "; or, to accept losing {} (and any reply a client got for them), cut the WAL there "
        "with `truncate -s {} {}` and start again",
        ops, at->offset, join(dir_, at->segment));
  }
  return text + ".";
}

Result<void, DiskError> ReplicaDisk::name_recovered_checkpoint() {
  // The core's metadata names the checkpoint it had when it was written; the checkpoint
  // recovered is the newest valid copy, and the WAL is reported from its op + 1. They
  // differ after a crash between a checkpoint write and the core's next metadata write
  // (the checkpoint is newer), or when the newer checkpoint copies were damaged (older).
  // The core must start from the checkpoint it is handed, with the WAL that follows it, so
  // its metadata names that one: what the core's next metadata write would have said.
  if (!durable_.metadata) return {};
  core::Metadata& metadata = *durable_.metadata;
  if (!durable_.checkpoint) {
    if (metadata.checkpoint_op.value == 0) return {};
    return fail(DiskError{DiskError::Kind::nothing_valid,
                          fmt::format("node directory {}: the replica metadata names checkpoint "
                                      "{} and no checkpoint remains; restore this replica with "
                                      "`vsr sync-node`",
                                      dir_, metadata.checkpoint_op.value)});
  }
  const core::Checkpoint& checkpoint = *durable_.checkpoint;
  metadata.checkpoint_op = checkpoint.op;
  metadata.checkpoint_checksum = checkpoint.checksum;
  metadata.commit = std::max(metadata.commit, checkpoint.op);
  return {};
}

void ReplicaDisk::read_restored_marker() {
  // Presence is the rule (docs/vsr/storage.md, "Restored replicas"): a damaged or
  // unreadable marker counts too, with the views of the copied metadata as the floor.
  if (!was_restored(*env_, dir_)) return;
  std::uint64_t floor = 0;
  if (durable_.metadata) {
    // The views the copied state may have promised in, not a view that rose alone.
    floor = std::max(durable_.metadata->log_view.value, durable_.metadata->voted_view.value);
  }
  auto marker = read_restored(*env_, dir_);
  if (marker && *marker) {
    floor = std::max(floor, (*marker)->view_floor());
    restored_reason_ = fmt::format(
        "{} holds a RESTORED marker (copied from node {} at view {} commit {}): starting in "
        "status recovering, no votes until a StartView of view {} or later",
        dir_, (*marker)->source_node, (*marker)->source_view, (*marker)->source_commit, floor);
  } else {
    restored_reason_ = fmt::format(
        "{} holds a RESTORED marker that cannot be read ({}): starting in status recovering, "
        "no votes until a StartView of view {} or later",
        dir_, marker ? std::string("?") : marker.error().message, floor);
  }
  durable_.restored_view_floor = core::View{floor};
}

void ReplicaDisk::distrust_damaged_metadata(const std::array<CopyState, 2>& copies) {
  // A copy is damaged only by the medium: a crash in a metadata write leaves the temporary
  // file, never a torn copy (docs/vsr/storage.md, "Metadata"). Copies alternate, so the
  // damaged one may be the newer one, holding a vote or a view the valid copy does not
  // have. Voting again as if it never happened could elect two primaries; the replica starts
  // in status recovering instead, like a restored one, and votes again only once a StartView
  // of a view at or above its floor brings it back.
  for (const CopyState& copy : copies) {
    if (copy.status != CopyStatus::corrupt && copy.status != CopyStatus::unreadable) continue;
    damaged_metadata_ = fmt::format("{} ({})", join(dir_, copy.file), copy.problem);
    // Without the core's metadata in the valid copy, the core starts as a replica without
    // metadata, which learns its views from the others before it votes.
    if (!durable_.metadata) return;
    const std::uint64_t floor =
        std::max(durable_.metadata->log_view.value, durable_.metadata->voted_view.value);
    const std::uint64_t previous =
        durable_.restored_view_floor ? durable_.restored_view_floor->value : 0;
    durable_.restored_view_floor = core::View{std::max(floor, previous)};
    restored_reason_ = fmt::format(
        "metadata copy {} is damaged and may have held a later vote: starting in status "
        "recovering, no votes until a StartView of view {} or later",
        *damaged_metadata_, durable_.restored_view_floor->value);
    return;
  }
}

Result<void, std::string> ReplicaDisk::clear_restored_marker() {
  if (auto cleared = clear_restored(*env_, dir_); !cleared) {
    return fail(cleared.error().message);
  }
  restored_reason_.reset();
  return {};
}

Result<void, DiskError> ReplicaDisk::load_core_metadata(const Metadata& metadata) {
  if (metadata.core.empty()) return {};  // the core has not written its metadata yet
  auto decoded = core::decode_metadata(metadata.core, identity_.cluster_id);
  if (!decoded) {
    // The copy's checksum verified, so these are the bytes a core wrote: of another
    // version, or of another cluster id. Starting without them could forget a vote.
    return fail(DiskError{DiskError::Kind::nothing_valid,
                          fmt::format("node directory {}: the replica metadata (sequence {}) "
                                      "does not decode ({}); restore this replica with `vsr "
                                      "sync-node`",
                                      dir_, metadata.sequence, decoded.error())});
  }
  durable_.metadata = std::move(*decoded);
  return {};
}

Result<std::uint64_t, std::string> ReplicaDisk::execute(std::span<const core::Effect> effects) {
  stats_.batches += 1;
  for (const core::Effect& effect : effects) {
    const std::optional<std::uint64_t> id = core::write_id_of(effect);
    if (!id) continue;
    VSR_ASSERT_MSG(*id > executed_, "storage effects arrive in issue order");
    Outcome done = std::visit(
        [&](const auto& e) -> Outcome {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, core::WritePrepare>) {
            return write_prepare(e);
          } else if constexpr (std::is_same_v<T, core::TruncateWal>) {
            return truncate(e);
          } else if constexpr (std::is_same_v<T, core::WriteMetadata>) {
            return write_metadata(e);
          } else if constexpr (std::is_same_v<T, core::WriteCheckpoint>) {
            return write_checkpoint(e);
          } else if constexpr (std::is_same_v<T, core::ReleaseWal>) {
            return release(e);
          } else {
            return {};
          }
        },
        effect);
    if (!done) return fail(done.error());
    executed_ = *id;
  }
  if (auto synced = sync_wal(); !synced) return fail(synced.error());
  // Everything executed is durable, except prepares held above a gap.
  const std::uint64_t durable = held_ids_.empty() ? executed_ : *held_ids_.begin() - 1;
  reported_ = std::max(reported_, durable);
  return reported_;
}

ReplicaDisk::Outcome ReplicaDisk::sync_wal() {
  if (!wal_buffered_) return {};
  wal_buffered_ = false;
  stats_.wal_syncs += 1;
  if (auto synced = storage_.wal().sync(); !synced) return fail(synced.error().message);
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::append(std::uint64_t op, const core::Bytes& bytes) {
  if (auto appended = storage_.wal().append(op, *bytes); !appended) {
    return fail(appended.error().message);
  }
  wal_buffered_ = true;
  stats_.prepares += 1;
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::append_held() {
  Wal& wal = storage_.wal();
  while (!held_.empty() && held_.begin()->first == wal.head_op() + 1) {
    auto node = held_.extract(held_.begin());
    if (auto appended = append(node.key(), node.mapped().second); !appended) return appended;
    held_ids_.erase(node.mapped().first);
  }
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::write_prepare(const core::WritePrepare& w) {
  Wal& wal = storage_.wal();
  const std::uint64_t op = w.op.value;
  if (op < wal.first_indexed_op()) return {};  // below the checkpoint: nothing to keep
  if (op > wal.head_op() + 1) {
    // A gap below: hold it (not durable, not reported) until repair fills the gap.
    if (auto old = held_.find(op); old != held_.end()) held_ids_.erase(old->second.first);
    held_[op] = {w.write_id, w.message};
    held_ids_.insert(w.write_id);
    stats_.held_prepares += 1;
    return {};
  }
  if (op <= wal.head_op()) {
    if (auto synced = sync_wal(); !synced) return synced;
    if (wal.status(op) != RecordStatus::ok) {
      if (auto repaired = wal.repair(op, *w.message); !repaired) {
        return fail(repaired.error().message);
      }
      stats_.prepares += 1;
      return append_held();
    }
    // An intact op replaced: it and everything after it are from an older view.
    stats_.replaced_prepares += 1;
    if (auto cut = wal.truncate_after(op - 1); !cut) return fail(cut.error().message);
  }
  if (auto appended = append(op, w.message); !appended) return appended;
  return append_held();
}

ReplicaDisk::Outcome ReplicaDisk::truncate(const core::TruncateWal& t) {
  const std::uint64_t op = t.op.value;
  for (auto it = held_.upper_bound(op); it != held_.end();) {
    held_ids_.erase(it->second.first);  // superseded: the core dropped those slots
    it = held_.erase(it);
  }
  Wal& wal = storage_.wal();
  if (op == wal.head_op()) return {};
  if (auto synced = sync_wal(); !synced) return synced;
  // Above the head this is the jump after a state transfer: the ops up to `op` are in the
  // checkpoint the core wrote before, and the WAL continues at op + 1.
  if (op < wal.head_op() && op + 1 < wal.first_indexed_op()) return {};
  if (auto cut = wal.truncate_after(op); !cut) return fail(cut.error().message);
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::write_metadata(const core::WriteMetadata& m) {
  // Durable in issue order: WAL appends issued before this metadata go first.
  if (auto synced = sync_wal(); !synced) return synced;
  if (m.encoded->size() > MetadataStore::core_bytes_max) {
    return fail(fmt::format("the core's metadata is {} bytes, over the {} a metadata copy holds",
                            m.encoded->size(), MetadataStore::core_bytes_max));
  }
  Metadata next = storage_.metadata();
  next.view = m.metadata.view.value;
  next.log_view = m.metadata.log_view.value;
  next.commit = std::max(next.commit, m.metadata.commit.value);
  next.checkpoint_op = std::max(next.checkpoint_op, m.metadata.checkpoint_op.value);
  next.core = *m.encoded;
  if (auto written = storage_.write_metadata(next); !written) {
    return fail(written.error().message);
  }
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::write_checkpoint(const core::WriteCheckpoint& c) {
  if (auto synced = sync_wal(); !synced) return synced;
  if (auto written = storage_.write_checkpoint(c.op.value, *c.encoded); !written) {
    return fail(written.error().message);
  }
  return {};
}

ReplicaDisk::Outcome ReplicaDisk::release(const core::ReleaseWal& r) {
  // The only place WAL segments are deleted; NodeStorage never goes below the durable
  // checkpoint, whatever the op.
  if (auto synced = sync_wal(); !synced) return synced;
  if (auto removed = storage_.release_wal(r.op.value); !removed) {
    return fail(removed.error().message);
  }
  return {};
}

}  // namespace vsr::storage
