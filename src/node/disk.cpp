// The storage adapter of the daemon: core effects in, durable files out, in issue order
// (vsr/core/effects.hpp). See disk.hpp for what it adds to the storage layer and why.

#include "vsr/node/disk.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "vsr/base/assert.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::node {
namespace {

constexpr std::size_t core_metadata_bytes_max = std::size_t{1} << 20;

// A core metadata copy: the checksum of the encoding (16 bytes), then the encoding, so that
// a damaged copy is detected rather than decoded into something plausible.
std::string seal(const std::string& encoded) {
  return core::checksum_of(encoded).bytes() + encoded;
}

std::optional<std::string_view> unseal(std::string_view file) {
  if (file.size() < 16) return std::nullopt;
  core::Checksum stored;
  if (!core::Checksum::from_bytes(file.substr(0, 16), stored)) return std::nullopt;
  std::string_view body = file.substr(16);
  if (core::checksum_of(body) != stored) return std::nullopt;
  return body;
}

DiskError environment(std::string message) {
  return DiskError{DiskError::Kind::environment, std::move(message)};
}

}  // namespace

Result<std::unique_ptr<NodeDisk>, DiskError> NodeDisk::open(storage::Env& env, std::string dir,
                                                            const DiskIdentity& identity) {
  auto recovered = storage::recover(env, dir);
  if (!recovered) {
    const storage::Error& e = recovered.error();
    if (e.code == storage::Errc::nothing_valid) {
      return fail(DiskError{DiskError::Kind::nothing_valid, e.message});
    }
    return fail(environment(e.message));
  }
  storage::RecoveredState& state = recovered->state;
  if (state.fresh) {
    storage::Metadata initial;
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
  std::unique_ptr<NodeDisk> disk(
      new NodeDisk(env, std::move(dir), identity, std::move(recovered->storage)));
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
  for (storage::WalEntry& entry : state.wal.entries) {
    if (entry.status == storage::RecordStatus::missing) continue;  // the core repairs gaps
    core::WalEntry out;
    out.op = core::Op{entry.op};
    if (entry.status == storage::RecordStatus::ok) {
      out.state = core::WalEntryState::intact;
      out.bytes = core::make_bytes(std::move(entry.body));
    } else {
      out.state = core::WalEntryState::corrupt;
    }
    durable.wal.push_back(std::move(out));
  }
  disk->load_core_metadata();
  disk->read_restored_marker();
  return disk;
}

void NodeDisk::read_restored_marker() {
  // Presence is the rule (docs/vsr/storage.md, "Restored replicas"): a damaged or
  // unreadable marker counts too, with the views of the copied metadata as the floor.
  if (!storage::was_restored(*env_, dir_)) return;
  std::uint64_t floor = 0;
  if (durable_.metadata) {
    floor = std::max(durable_.metadata->view.value, durable_.metadata->log_view.value);
  }
  auto marker = storage::read_restored(*env_, dir_);
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

Result<void, std::string> NodeDisk::clear_restored_marker() {
  if (auto cleared = storage::clear_restored(*env_, dir_); !cleared) {
    return fail(cleared.error().message);
  }
  restored_reason_.reset();
  return {};
}

void NodeDisk::load_core_metadata() {
  for (const char* name : core_metadata_files) {
    auto file = env_->read_file(storage::join(dir_, name), core_metadata_bytes_max);
    if (!file) continue;
    auto body = unseal(*file);
    if (!body) continue;
    auto metadata = core::decode_metadata(*body, identity_.cluster_id);
    if (!metadata) continue;
    durable_.metadata = std::move(*metadata);
    return;
  }
}

Result<std::uint64_t, std::string> NodeDisk::execute(std::span<const core::Effect> effects) {
  stats_.batches += 1;
  for (const core::Effect& effect : effects) {
    const std::optional<std::uint64_t> id = core::write_id_of(effect);
    if (!id) continue;
    VSR_ASSERT_MSG(*id > executed_, "storage effects arrive in issue order");
    Status done = std::visit(
        [&](const auto& e) -> Status {
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

NodeDisk::Status NodeDisk::sync_wal() {
  if (!wal_buffered_) return {};
  wal_buffered_ = false;
  stats_.wal_syncs += 1;
  if (auto synced = storage_.wal().sync(); !synced) return fail(synced.error().message);
  return {};
}

NodeDisk::Status NodeDisk::append(std::uint64_t op, const core::Bytes& bytes) {
  if (auto appended = storage_.wal().append(op, *bytes); !appended) {
    return fail(appended.error().message);
  }
  wal_buffered_ = true;
  stats_.prepares += 1;
  return {};
}

NodeDisk::Status NodeDisk::append_held() {
  storage::Wal& wal = storage_.wal();
  while (!held_.empty() && held_.begin()->first == wal.head_op() + 1) {
    auto node = held_.extract(held_.begin());
    if (auto appended = append(node.key(), node.mapped().second); !appended) return appended;
    held_ids_.erase(node.mapped().first);
  }
  return {};
}

NodeDisk::Status NodeDisk::write_prepare(const core::WritePrepare& w) {
  storage::Wal& wal = storage_.wal();
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
    if (wal.status(op) != storage::RecordStatus::ok) {
      if (auto repaired = wal.repair(op, *w.message); !repaired) {
        return fail(repaired.error().message);
      }
      stats_.prepares += 1;
      return append_held();
    }
    // An intact op replaced: it and everything after it are from an older view.
    if (auto cut = wal.truncate_after(op - 1); !cut) return fail(cut.error().message);
  }
  if (auto appended = append(op, w.message); !appended) return appended;
  return append_held();
}

NodeDisk::Status NodeDisk::truncate(const core::TruncateWal& t) {
  const std::uint64_t op = t.op.value;
  for (auto it = held_.upper_bound(op); it != held_.end();) {
    held_ids_.erase(it->second.first);  // superseded: the core dropped those slots
    it = held_.erase(it);
  }
  storage::Wal& wal = storage_.wal();
  if (op == wal.head_op()) return {};
  if (auto synced = sync_wal(); !synced) return synced;
  // Above the head this is the jump after a state transfer: the ops up to `op` are in the
  // checkpoint the core wrote before, and the WAL continues at op + 1.
  if (op < wal.head_op() && op + 1 < wal.first_indexed_op()) return {};
  if (auto cut = wal.truncate_after(op); !cut) return fail(cut.error().message);
  return {};
}

NodeDisk::Status NodeDisk::write_copy(const std::string& name, const std::string& contents) {
  const std::string path = storage::join(dir_, name);
  const std::string tmp = path + ".tmp";
  {
    auto file = env_->open_writable(tmp, storage::OpenMode::truncate);
    if (!file) return fail(file.error().message);
    if (auto w = (*file)->append(contents); !w) return fail(w.error().message);
    if (auto s = (*file)->sync(); !s) return fail(s.error().message);
  }
  if (auto r = env_->rename(tmp, path); !r) return fail(r.error().message);
  if (auto s = env_->sync_dir(dir_); !s) return fail(s.error().message);
  return {};
}

NodeDisk::Status NodeDisk::write_metadata(const core::WriteMetadata& m) {
  // Durable in issue order: WAL appends issued before this metadata go first.
  if (auto synced = sync_wal(); !synced) return synced;
  const std::string sealed = seal(*m.encoded);
  for (const char* name : core_metadata_files) {
    if (auto written = write_copy(name, sealed); !written) return written;
  }
  storage::Metadata next = storage_.metadata();
  next.view = m.metadata.view.value;
  next.log_view = m.metadata.log_view.value;
  next.commit = std::max(next.commit, m.metadata.commit.value);
  next.checkpoint_op = std::max(next.checkpoint_op, m.metadata.checkpoint_op.value);
  if (auto written = storage_.write_metadata(next); !written) {
    return fail(written.error().message);
  }
  return {};
}

NodeDisk::Status NodeDisk::write_checkpoint(const core::WriteCheckpoint& c) {
  if (auto synced = sync_wal(); !synced) return synced;
  if (auto written = storage_.write_checkpoint(c.op.value, *c.encoded); !written) {
    return fail(written.error().message);
  }
  return {};
}

NodeDisk::Status NodeDisk::release(const core::ReleaseWal& r) {
  if (auto synced = sync_wal(); !synced) return synced;
  if (auto removed = storage_.wal().remove_below(r.op.value); !removed) {
    return fail(removed.error().message);
  }
  return {};
}

}  // namespace vsr::node
