// Repair: a replica fills the gaps and replaces the stale or corrupt entries of its log from
// its peers, verifying every prepare by checksum against the hash chain that descends from
// a canonical head (a prepare of the current view from its primary, a StartView, the
// primary's Commit, or the new primary's chosen log). Requests go out oldest first.
// Nothing here trusts the sender: an answer is accepted only if it matches the checksum the
// chain expects at that op.

#include <fmt/format.h>

#include <algorithm>

#include "vsr/core/replica.hpp"

namespace vsr::core {

void Replica::verify_chain() {
  // Walk down from the head while every slot has a header whose parent is the checksum of
  // the slot below. Where the chain says a slot must hold another prepare, the slot learns
  // the expected checksum (and forgets a stale header/body); that is what repair fetches.
  std::uint64_t op = op_.value;
  const Slot* head = slot_at(op_);
  if (head == nullptr || !head->header) {
    chain_low_ = next(op_);
    return;
  }
  while (op > commit_min_.value + 1) {
    const Slot& above = log_.at(op);
    const Checksum expected = above.header->parent;
    auto it = log_.find(op - 1);
    if (it == log_.end()) {
      Slot slot;
      slot.checksum = expected;
      log_[op - 1] = slot;
      break;
    }
    Slot& below = it->second;
    if (below.checksum != expected) {
      forget_slot(Op{op - 1}, below, expected);
      break;
    }
    if (!below.header) break;
    op -= 1;
  }
  chain_low_ = Op{op};
  if (op == commit_min_.value + 1 && log_.at(op).header->parent != commit_min_checksum_) {
    // The canonical log disagrees with what we executed.
    VSR_ASSERT_MSG(false, "canonical log diverges from executed ops");
  }
}

bool Replica::log_repaired() const {
  if (chain_low_ > next(commit_min_) && op_ > commit_min_) return false;
  for (auto it = log_.upper_bound(commit_min_.value); it != log_.end(); ++it) {
    if (!it->second.body || !it->second.durable) return false;
  }
  return true;
}

ReplicaIndex Replica::repair_peer() {
  // A backup asks its primary half of the time (it has everything), else a random peer.
  if (status_ == Status::normal && primary_of(view_) != self_ && prng_.chance(1, 2)) {
    return primary_of(view_);
  }
  std::uint32_t r = static_cast<std::uint32_t>(prng_.below(options_.replica_count - 1));
  if (r >= self_.value) r += 1;
  return ReplicaIndex{r};
}

void Replica::repair_tick(bool force) {
  if (options_.replica_count == 1 || status_ == Status::recovering) return;
  if (!force && now_ - last_repair_ < options_.repair_retry_ticks) return;
  const bool new_primary =
      status_ == Status::view_change && log_chosen_ && primary_of(view_) == self_;
  const bool backup = status_ == Status::normal && primary_of(view_) != self_;
  if (!new_primary && !backup) return;
  last_repair_ = now_;
  verify_chain();
  if (const Slot* head = slot_at(op_);
      backup && op_ > commit_max_ && head != nullptr && is_phantom(*head)) {
    // Nothing names our head: perhaps the end of a damaged WAL that held no op. Only a
    // StartView that answers this incarnation may drop it (drop_phantom_slots).
    request_start_view(view_);
  }

  // Bodies we know the checksum of, oldest first, a few per round.
  std::uint32_t sent = 0;
  for (auto it = log_.upper_bound(commit_min_.value); it != log_.end() && sent < 8; ++it) {
    const Slot& slot = it->second;
    if (!slot.checksum || slot.body) continue;  // a body waiting for its turn in the WAL
    send(repair_peer(), Message{RequestPrepare{view_, self_, Op{it->first}, *slot.checksum}});
    counters_.repairs_requested += 1;
    sent += 1;
  }
  // The op after our commit point may be gone from every peer (released after a checkpoint):
  // ask for a checkpoint too. A peer answers only if it no longer holds that op (§5).
  const Slot* next_slot = slot_at(next(commit_min_));
  if (commit_min_ < commit_max_ &&
      (next_slot == nullptr || !next_slot->body || next(commit_min_) < chain_low_)) {
    send(repair_peer(), Message{RequestCheckpoint{view_, self_, commit_min_}});
  }
  // Headers below the verified chain, in one request, so a long gap fills in one round trip.
  if (chain_low_ > next(commit_min_) && chain_low_ <= op_) {
    const std::uint64_t high = chain_low_.value - 1;
    const std::uint64_t span = options_.max_headers_per_message;
    const std::uint64_t low =
        std::max(commit_min_.value + 1, high + 1 > span ? high + 1 - span : 0);
    send(repair_peer(), Message{RequestHeaders{view_, self_, Op{low}, Op{high}}});
    counters_.repairs_requested += 1;
  }
}

void Replica::on_request_headers(const RequestHeaders& m) {
  if (status_ == Status::recovering) {
    counters_.dropped_messages += 1;
    return;
  }
  Headers reply{view_, self_, {}};
  auto it = log_.upper_bound(m.op_max.value);
  while (it != log_.begin() && reply.headers.size() < options_.max_headers_per_message) {
    --it;
    if (it->first < m.op_min.value) break;
    if (it->second.header) reply.headers.push_back(*it->second.header);
  }
  if (!reply.headers.empty()) send(m.replica, Message{reply});
}

void Replica::on_headers(const Headers& m) {
  if (status_ == Status::recovering) {
    counters_.dropped_messages += 1;
    return;
  }
  // Descending op: each accepted header reveals the checksum expected just below it.
  std::vector<PrepareHeader> headers = m.headers;
  std::sort(headers.begin(), headers.end(),
            [](const PrepareHeader& a, const PrepareHeader& b) { return a.op > b.op; });
  for (const PrepareHeader& h : headers) {
    if (h.op <= commit_min_) break;
    verify_chain();
    Slot* slot = slot_at(h.op);
    if (slot == nullptr || slot->checksum != h.checksum || slot->header) continue;
    slot->header = h;
  }
  verify_chain();
  execute_committed();
}

void Replica::on_request_prepare(const RequestPrepare& m) {
  const Slot* slot = slot_at(m.op);
  if (slot == nullptr || !slot->body || slot->checksum != m.checksum) {
    counters_.dropped_messages += 1;
    return;
  }
  send(m.replica, slot->body);  // the stored bytes, verified when we took them
}

bool Replica::accept_repair(const Prepare& m, const Bytes& bytes) {
  Slot* slot = slot_at(m.header.op);
  if (slot == nullptr || slot->checksum != m.header.checksum) return false;
  if (slot->body) return false;
  VSR_ASSERT(bytes != nullptr);
  slot->header = m.header;
  slot->body = bytes;
  if (slot->corrupt && slot->in_wal && m.header.op <= wal_head_) {
    write_prepare(*slot, m.header.op);  // rewrite the unreadable entry in place
  } else {
    flush_wal();
  }
  timestamp_ms_ = std::max(timestamp_ms_, m.header.timestamp_ms);
  counters_.prepares_repaired += 1;
  verify_chain();
  execute_committed();
  return true;
}

}  // namespace vsr::core

namespace vsr::core {

void Replica::on_request_checkpoint(const RequestCheckpoint& m) {
  // Only a durable checkpoint, and only when repair cannot serve the asker instead.
  const Slot* wanted = slot_at(next(m.op));
  if (checkpoint_bytes_ == nullptr || checkpoint_op_ <= m.op ||
      (wanted != nullptr && wanted->body)) {
    counters_.dropped_messages += 1;
    return;
  }
  send(m.replica, Message{SyncCheckpoint{view_, self_, checkpoint_op_, checkpoint_checksum_,
                                         *checkpoint_bytes_}});
}

void Replica::on_sync_checkpoint(const SyncCheckpoint& m) {
  const bool repairing =
      (status_ == Status::normal && primary_of(view_) != self_) ||
      (status_ == Status::view_change && log_chosen_ && primary_of(view_) == self_);
  if (!repairing || m.op <= commit_min_ || m.op > op_) {
    counters_.dropped_messages += 1;
    return;
  }
  // Verified by the hash chain: the canonical checksum at op (inside the verified chain, or
  // the head the primary's Commit named), or the parent named by the canonical prepare at
  // op + 1.
  verify_chain();
  const Slot* at = slot_at(m.op);
  const Slot* above = slot_at(next(m.op));
  const bool at_matches =
      at != nullptr && at->checksum == m.checksum && (m.op >= chain_low_ || m.op == op_);
  const bool above_matches = above != nullptr && above->header && next(m.op) >= chain_low_ &&
                             above->header->parent == m.checksum;
  if (!at_matches && !above_matches) {
    counters_.dropped_messages += 1;
    return;
  }
  auto cp = decode_checkpoint(m.checkpoint, options_.cluster_id);
  if (!cp || cp->op != m.op || cp->checksum != m.checksum) {
    counters_.rejected_messages += 1;
    return;
  }
  ClientTable table(options_.client_table_size);
  if (!table.decode(cp->client_table).ok() || !app_.restore(cp->app_snapshot).ok()) {
    counters_.rejected_messages += 1;
    return;
  }
  if (options_.bug != InjectedBug::forget_client_table) clients_ = std::move(table);
  timestamp_ms_ = std::max(timestamp_ms_, cp->timestamp_ms);
  commit_min_ = m.op;
  commit_min_checksum_ = m.checksum;
  commit_max_ = std::max(commit_max_, m.op);
  // Time never goes backwards: a later primary stamps above every prepare it holds, and the
  // checkpoint carries no stamp of its own, so take the chain's.
  if (at != nullptr && at->header)
    timestamp_ms_ = std::max(timestamp_ms_, at->header->timestamp_ms);
  if (above != nullptr && above->header) {
    timestamp_ms_ = std::max(timestamp_ms_, above->header->timestamp_ms);
  }
  // Durable like our own checkpoints: written, then named in the metadata.
  const std::uint64_t id = next_write_id();
  Slot anchor;
  if (at != nullptr && at->checksum == m.checksum) anchor = *at;  // keep its header and body
  anchor.checksum = m.checksum;
  if (!anchor.body || !anchor.durable) {
    // The op is durable here once the checkpoint is (on_storage_done); a PrepareOk for it
    // before then could be lost in a crash.
    anchor.durable = false;
    anchor.write_id = id;
    pending_writes_.emplace_back(id, m.op.value);
  }
  anchor.in_wal = true;
  log_.erase(log_.begin(), log_.upper_bound(m.op.value));
  log_[m.op.value] = anchor;
  counters_.state_transfers += 1;
  checkpoint_write_id_ = id;
  checkpoint_pending_ = std::move(*cp);
  checkpoint_pending_bytes_ = make_bytes(m.checkpoint);
  emit(WriteCheckpoint{id, m.op, checkpoint_pending_bytes_});
  if (wal_head_ < m.op) {
    // The WAL continues after the checkpoint (which is written first, in issue order).
    wal_head_ = m.op;
    emit(TruncateWal{next_write_id(), m.op});
  }
  flush_wal();
  verify_chain();
  execute_committed();
  repair_tick(true);
}

}  // namespace vsr::core
