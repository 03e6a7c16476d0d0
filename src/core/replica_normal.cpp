// Normal operation (VR Revisited §4.1) with batching and a bounded pipeline (§6): the
// primary batches requests into prepares, writes them to its WAL and sends the same bytes
// to the backups; a backup acknowledges a prepare only once its own WAL write of it has
// completed; the primary commits in op order once a quorum (itself included, after its own
// write completed) has the prepare durable, executes it and replies to the client.

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "vsr/core/replica.hpp"

namespace vsr::core {

void Replica::on_request(Request m) {
  if (!is_primary()) {
    counters_.dropped_messages += 1;  // clients retry to every replica and find the primary
    return;
  }
  switch (clients_.classify(m.client_id, named_session(m.client_id, m.session), m.request_no,
                            m.operation)) {
    case RequestClass::stale:
      send_reply(m.client_id, m.request_no, Op{0}, ReplyStatus::stale_request, "");
      return;
    case RequestClass::registered:
      // The client id has a session: its number answers the registration.
      send_reply(m.client_id, m.request_no, clients_.find(m.client_id)->session, ReplyStatus::ok,
                 "");
      return;
    case RequestClass::retry_latest: {
      // At-most-once: the retry of the latest request gets the cached reply.
      const ClientSession* s = clients_.find(m.client_id);
      send_reply(m.client_id, m.request_no, s->op, ReplyStatus::ok, s->result);
      return;
    }
    case RequestClass::reused:
      // Another operation under the latest number: never the cached reply of the other one.
      send_reply(m.client_id, m.request_no, Op{0}, ReplyStatus::request_no_reused, "");
      return;
    case RequestClass::no_session:
      if (inflight_requests_.count(m.client_id) == 0) {
        // No session as of commit_min_: op tells the client how recent this news is.
        send_reply(m.client_id, m.request_no, commit_min_, ReplyStatus::evicted, "");
      }
      return;  // else its registration is still being committed: the client retries
    case RequestClass::fresh:
      break;
  }
  if (auto it = inflight_requests_.find(m.client_id); it != inflight_requests_.end()) {
    // One request per client in flight: the newer one waits for the client's retry.
    counters_.dropped_messages += 1;
    return;
  }
  if (queue_.size() >= options_.max_request_queue) {
    counters_.dropped_messages += 1;
    return;
  }
  if (queue_.empty()) queue_since_tick_ = now_;
  inflight_requests_[m.client_id] = m.request_no;
  queue_.push_back(std::move(m));
  // A full batch goes at once; a partial one waits for the end of this burst of input
  // (take_effects) or for its delay (tick), so that requests arriving together share it.
  if (queue_.size() >= options_.max_batch_size) flush_batch(false);
}

void Replica::flush_batch(bool force) {
  VSR_ASSERT(is_primary());
  while (!queue_.empty() && inflight_.size() < options_.max_pipeline_depth) {
    const bool full = queue_.size() >= options_.max_batch_size;
    const bool due = now_ - queue_since_tick_ >= options_.max_batch_delay_ticks &&
                     (options_.eager_partial_batches || inflight_.empty());
    if (!full && !due && !force) return;
    prepare_batch();
  }
}

std::size_t Replica::batch_count() const {
  // Bounded by count and by bytes: backups refuse a message over max_message_bytes, so a
  // prepare of max_batch_size large operations must not be built (finding 8 of #12). The
  // first request always fits (the constructor checks max_operation_bytes against it).
  std::size_t bytes = prepare_overhead_bytes;
  std::size_t count = 0;
  for (const Request& r : queue_) {
    if (count == options_.max_batch_size) break;
    const std::size_t size = r.client_id.size() + r.operation.size() + batch_entry_overhead_bytes;
    if (count > 0 && bytes + size > options_.max_message_bytes) break;
    bytes += size;
    count += 1;
  }
  return count;
}

void Replica::prepare_batch() {
  const Slot* head = slot_at(op_);
  VSR_ASSERT_MSG(head != nullptr && head->checksum, "the primary knows its head");
  Prepare p;
  p.replica = self_;
  p.header.view = view_;
  p.header.op = next(op_);
  p.header.commit = commit_max_;
  // Time never goes backwards, even when the primary's clock does (docs/vsr/protocol.md, *Normal
  // operation*).
  std::uint64_t floor_ms = timestamp_ms_;
  if (head->header) floor_ms = std::max(floor_ms, head->header->timestamp_ms);
  p.header.timestamp_ms = std::max(realtime_ms_, floor_ms + 1);
  p.header.parent = *head->checksum;
  const std::size_t count = batch_count();
  p.batch.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Request& r = queue_.front();
    p.batch.push_back(
        BatchRequest{std::move(r.client_id), r.request_no, std::move(r.operation), r.session});
    queue_.pop_front();
  }
  seal_prepare(options_.cluster_id, p);
  timestamp_ms_ = p.header.timestamp_ms;

  // Encode once: the same buffer goes to the WAL and to every backup.
  Bytes bytes = make_bytes(encode(options_.cluster_id, Message{p}));
  Slot slot;
  slot.checksum = p.header.checksum;
  slot.header = p.header;
  slot.body = bytes;
  slot.batch = std::make_shared<const std::vector<BatchRequest>>(std::move(p.batch));
  slot.batch_of = p.header.checksum;
  op_ = p.header.op;
  Slot& stored = log_[op_.value] = std::move(slot);
  flush_wal();
  VSR_ASSERT_MSG(stored.in_wal, "the primary's WAL reaches its head");
  verify_chain();
  inflight_[op_.value] = Inflight{p.header.checksum, 0, now_, now_};
  broadcast(bytes);
  counters_.prepares_sent += 1;
  queue_since_tick_ = now_;
}

void Replica::on_prepare(Prepare& m, const Bytes& bytes) {
  if (status_ == Status::recovering) {
    counters_.dropped_messages += 1;
    return;
  }
  if (m.replica != primary_of(m.header.view)) {
    counters_.rejected_messages += 1;  // a prepare is always signed by its view's primary
    return;
  }
  if (m.header.view > view_) {
    request_start_view(m.header.view);  // we missed a view change
    counters_.dropped_messages += 1;
    return;
  }
  if (is_durably_normal() && primary_of(view_) != self_) {
    // A retransmission (perhaps of an older view's prepare that this view kept): the
    // primary is missing our PrepareOk.
    const Slot* have = slot_at(m.header.op);
    if (have != nullptr && have->durable && have->checksum == m.header.checksum) {
      if (m.header.view == view_) last_primary_contact_ = now_;
      send_prepare_ok(m.header.op);
      return;
    }
  }
  if (m.header.view < view_ || status_ != Status::normal || primary_of(view_) == self_) {
    // Not the normal path: perhaps the answer to a repair request.
    if (!accept_repair(m, bytes)) counters_.dropped_messages += 1;
    return;
  }
  VSR_ASSERT(status_ == Status::normal && m.header.view == view_);
  last_primary_contact_ = now_;
  const Op op = m.header.op;
  if (op <= commit_min_) {
    counters_.dropped_messages += 1;
    return;
  }
  timestamp_ms_ = std::max(timestamp_ms_, m.header.timestamp_ms);
  Slot* existing = slot_at(op);
  if (existing != nullptr && existing->checksum == m.header.checksum && existing->body) {
    if (existing->durable) send_prepare_ok(op);  // the primary missed our PrepareOk
    advance_commit_max(m.header.commit);
    return;
  }
  // A prepare of the current view from its primary is canonical: it extends (or, for a
  // slot we could not read, replaces) our log.
  Slot& slot = log_[op.value];
  if (slot.checksum == m.header.checksum) {
    counters_.prepares_repaired += 1;  // a gap the chain already knew
  } else if (slot.checksum) {
    forget_slot(op, slot, m.header.checksum);
  }
  slot.checksum = m.header.checksum;
  slot.header = m.header;
  slot.body = bytes;
  slot.batch = std::make_shared<const std::vector<BatchRequest>>(std::move(m.batch));
  slot.batch_of = m.header.checksum;
  if (op > op_) op_ = op;
  if (slot.corrupt && slot.in_wal && op <= wal_head_) {
    write_prepare(slot, op);  // rewrite the unreadable entry in place
  } else {
    flush_wal();
  }
  if (options_.bug == InjectedBug::prepare_ok_before_durable && is_durably_normal()) {
    send(primary_of(view_), Message{PrepareOk{view_, self_, op, m.header.checksum}});
  }
  verify_chain();
  advance_commit_max(m.header.commit);
}

void Replica::send_prepare_ok(Op op) {
  if (!is_durably_normal() || primary_of(view_) == self_) return;
  const Slot* slot = slot_at(op);
  if (slot == nullptr || !slot->durable || !slot->checksum) return;
  // A checkpoint anchor holds no prepare, but its op is executed here and durable in the
  // checkpoint, which is what a PrepareOk promises. A new primary that holds that op still
  // uncommitted needs the acknowledgement, or it waits forever (sim seed 2104).
  if (!slot->body && op > commit_min_) return;
  send(primary_of(view_), Message{PrepareOk{view_, self_, op, *slot->checksum}});
}

void Replica::on_prepare_ok(const PrepareOk& m) {
  if (!is_primary() || m.view != view_) {
    counters_.dropped_messages += 1;
    return;
  }
  heard_from(m.replica);
  if (m.op <= commit_max_) return;  // already committed; or the answer to a heartbeat
  primary_count_ack(m.op, m.checksum, m.replica);
}

void Replica::heard_from(ReplicaIndex from) {
  if (heard_view_ != view_) {
    heard_view_ = view_;
    std::fill(heard_tick_.begin(), heard_tick_.end(), now_);
  }
  heard_tick_[from.value] = now_;
}

void Replica::answer_heartbeat(Op commit) {
  // A true PrepareOk for an op at or below the primary's commit point that we hold durably
  // (the WAL head, else the last executed op); the primary takes it as a sign of life.
  for (Op op : {std::min(commit, wal_head_), commit_min_}) {
    const Slot* slot = slot_at(op);
    if (slot != nullptr && slot->durable && slot->checksum && (slot->body || op <= commit_min_)) {
      send_prepare_ok(op);
      return;
    }
  }
}

void Replica::primary_count_ack(Op op, const Checksum& checksum, ReplicaIndex from) {
  auto it = inflight_.find(op.value);
  if (it == inflight_.end() || it->second.checksum != checksum) {
    counters_.dropped_messages += 1;  // for another prepare
    return;
  }
  it->second.acks |= 1u << from.value;
  advance_primary_commit();
}

void Replica::advance_primary_commit() {
  VSR_ASSERT(is_primary());
  bool advanced = false;
  // Commit strictly in op order: a later op with a quorum waits for the earlier ones.
  while (!inflight_.empty()) {
    auto first = inflight_.begin();
    if (static_cast<std::uint32_t>(std::popcount(first->second.acks)) < options_.quorum()) break;
    VSR_ASSERT(first->first == commit_max_.value + 1);
    commit_max_ = Op{first->first};
    inflight_.erase(first);
    advanced = true;
  }
  if (!advanced) return;
  execute_committed();
  // The freed pipeline slot is filled by take_effects(), at the end of this burst of input,
  // so that requests arriving in the same burst join the batch.
}

void Replica::advance_commit_max(Op commit) {
  if (commit > commit_max_) commit_max_ = std::min(commit, op_);
  execute_committed();
}

void Replica::on_commit(const Commit& m) {
  if (status_ == Status::recovering || m.view < view_) {
    counters_.dropped_messages += 1;
    return;
  }
  if (m.view > view_ || status_ != Status::normal) {
    if (m.view >= view_) request_start_view(m.view);
    counters_.dropped_messages += 1;
    return;
  }
  if (m.replica != primary_of(view_) || primary_of(view_) == self_) {
    counters_.rejected_messages += 1;
    return;
  }
  last_primary_contact_ = now_;
  if (m.commit <= commit_min_) {
    answer_heartbeat(m.commit);
    return;
  }
  // The primary's commit point is canonical: anchor our log to it.
  Slot& slot = log_[m.commit.value];
  if (slot.checksum != m.checksum) forget_slot(m.commit, slot, m.checksum);
  if (m.commit > op_) op_ = m.commit;
  verify_chain();
  advance_commit_max(m.commit);
  answer_heartbeat(m.commit);
}

void Replica::on_reply(const Reply&) {
  counters_.dropped_messages += 1;  // replies go to clients, never to replicas
}

void Replica::primary_tick() {
  flush_batch(false);
  if (options_.replica_count == 1) return;
  if (heard_view_ != view_) {
    heard_view_ = view_;  // a new term: everybody counts as heard at its start
    std::fill(heard_tick_.begin(), heard_tick_.end(), now_);
  }
  std::uint32_t heard = 1;  // itself
  for (std::uint32_t r = 0; r < options_.replica_count; ++r) {
    if (r != self_.value && now_ - heard_tick_[r] < options_.primary_timeout_ticks) heard += 1;
  }
  if (heard < options_.quorum() && options_.bug != InjectedBug::primary_never_abdicates) {
    // Abdicate: a primary that hears no quorum may be one that can send but not receive;
    // its heartbeats would keep the backups from electing another for as long as that lasts.
    // In a view change it sends no more Commits, so they time out and elect (finding 6).
    start_view_change(next(view_), ViewChangeCause::abdication);
    return;
  }
  if (now_ - last_heartbeat_sent_ >= options_.commit_heartbeat_ticks) {
    last_heartbeat_sent_ = now_;
    const Slot* slot = slot_at(commit_max_);
    Checksum checksum = commit_max_ == commit_min_ ? commit_min_checksum_ : Checksum{};
    if (slot != nullptr && slot->checksum) checksum = *slot->checksum;
    broadcast(Message{Commit{view_, self_, commit_max_, checksum}});
  }
  for (auto& [op, entry] : inflight_) {
    if (now_ - entry.sent_tick < options_.prepare_retry_ticks) continue;
    entry.sent_tick = now_;
    const Slot* slot = slot_at(Op{op});
    VSR_ASSERT(slot != nullptr && slot->body);
    for (std::uint32_t r = 0; r < options_.replica_count; ++r) {
      if (r != self_.value && (entry.acks & (1u << r)) == 0) send(ReplicaIndex{r}, slot->body);
    }
  }
}

void Replica::backup_tick() {
  if (options_.replica_count == 1) return;
  if (now_ - last_primary_contact_ >= options_.primary_timeout_ticks + primary_timeout_jitter_) {
    start_view_change(next(view_), ViewChangeCause::primary_timeout);
  }
}

void Replica::send_reply(const std::string& client_id, RequestNo request_no, Op op,
                         ReplyStatus status, const std::string& result) {
  const ReplyFields reply{view_, self_, client_id, request_no, op, status, result};
  effects_.push_back(SendToClient{client_id, make_bytes(encode_reply(options_.cluster_id, reply))});
}

void Replica::request_start_view(View view) {
  if (now_ - last_rsv_sent_ < options_.repair_retry_ticks && last_rsv_sent_ != 0) return;
  last_rsv_sent_ = now_;
  if (primary_of(view) == self_) return;
  send(primary_of(view), Message{RequestStartView{view_, self_, request_start_view_nonce_}});
}

void Replica::rebuild_inflight_requests() {
  inflight_requests_.clear();
  for (auto it = log_.upper_bound(commit_min_.value); it != log_.end(); ++it) {
    if (!it->second.body) continue;
    auto prepare = decode_prepare(*it->second.body, limits_);
    if (!prepare) continue;
    for (const BatchRequest& r : prepare->batch) inflight_requests_[r.client_id] = r.request_no;
  }
}

}  // namespace vsr::core
