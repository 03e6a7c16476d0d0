// The replica's frame: construction and restart from durable state, the tick, message
// dispatch, storage completions, execution of committed ops and checkpoints. The
// sub-protocols live in replica_normal.cpp, replica_view_change.cpp and replica_repair.cpp.

#include "vsr/core/replica.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <set>

namespace vsr::core {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

const char* to_string(Status status) {
  switch (status) {
    case Status::normal:
      return "normal";
    case Status::view_change:
      return "view_change";
    case Status::recovering:
      return "recovering";
  }
  return "?";
}

Replica::Replica(const Options& options, ReplicaIndex self, app::StateMachine& app,
                 std::uint64_t seed)
    : options_(options),
      limits_(decode_limits(options)),
      self_(self),
      app_(app),
      prng_(seed),
      clients_(options.client_table_size) {
  VSR_ASSERT(options.replica_count >= 1 && options.replica_count <= Options::max_replicas);
  VSR_ASSERT(self.value < options.replica_count);
  VSR_ASSERT(options.max_pipeline_depth >= 1 && options.max_batch_size >= 1);
  VSR_ASSERT(options.checkpoint_interval >= 1);
  VSR_ASSERT_MSG(std::size_t{options.max_operation_bytes} + Options::max_client_id_bytes +
                         prepare_overhead_bytes + batch_entry_overhead_bytes <=
                     options.max_message_bytes,
                 "a prepare of one request of max_operation_bytes fits in max_message_bytes");
  Prepare root = root_prepare(options.cluster_id);
  root_header_ = root.header;
  root_bytes_ = make_bytes(encode(options.cluster_id, Message{root}));
}

ReplicaIndex Replica::primary_of(View view) const {
  return ReplicaIndex{static_cast<std::uint32_t>(view.value % options_.replica_count)};
}

std::optional<Checksum> Replica::executed_checksum(Op op) const {
  if (op > commit_min_) return std::nullopt;
  if (op == commit_min_) return commit_min_checksum_;
  const Slot* slot = slot_at(op);
  if (slot == nullptr || !slot->checksum) return std::nullopt;
  return slot->checksum;
}

std::string Replica::debug_log(std::size_t max_slots) const {
  std::string out = fmt::format(
      "r{} {} v{} lv{} op{} commit {}-{} chain_low {} voted_view {} checkpoint {}\n", self_.value,
      to_string(status_), view_.value, log_view_.value, op_.value, commit_min_.value,
      commit_max_.value, chain_low_.value, voted_view_.value, checkpoint_op_.value);
  std::size_t n = 0;
  for (auto it = log_.begin(); it != log_.end() && n < max_slots; ++it, ++n) {
    const Slot& s = it->second;
    out += fmt::format(
        "  op {} checksum {} header {} parent {} body {} durable {} write {} corrupt {}\n",
        it->first, s.checksum ? s.checksum->hex().substr(0, 8) : "-", s.header ? "yes" : "no",
        s.header ? s.header->parent.hex().substr(0, 8) : "-", s.body ? "yes" : "no", s.durable,
        s.write_id, s.corrupt);
  }
  return out;
}

std::string Replica::waiting_for() const {
  const auto missing_body = [&]() -> std::optional<Op> {
    for (auto it = log_.upper_bound(commit_min_.value); it != log_.end(); ++it) {
      if (!it->second.body || !it->second.durable) return Op{it->first};
    }
    return std::nullopt;
  };
  switch (status_) {
    case Status::recovering:
      if (asking_) {
        std::uint32_t informed = 0;
        for (const auto& [r, answer] : recovery_answers_) informed += answer.asking ? 0u : 1u;
        return fmt::format(
            "answers to Recovery: {} of {} replicas answered, {} of them not asking themselves",
            recovery_answers_.size(), options_.replica_count - 1, informed);
      }
      return fmt::format(
          "a StartView of view {} or later (it may have forgotten what it voted for)", view_.value);
    case Status::view_change:
      if (primary_of(view_) != self_) {
        if (static_cast<std::uint32_t>(std::popcount(svc_from_)) < options_.quorum()) {
          return fmt::format("StartViewChange for view {} from a quorum: {} of {}", view_.value,
                             std::popcount(svc_from_), options_.quorum());
        }
        return fmt::format("the StartView of view {} from replica {}", view_.value,
                           primary_of(view_).value);
      }
      if (!log_chosen_) {
        return fmt::format("DoViewChange for view {} from a quorum: {} of {}", view_.value,
                           dvcs_.size(), options_.quorum());
      }
      if (auto op = missing_body()) {
        return fmt::format("the body of op {} (new primary repairing its log)", op->value);
      }
      return "its log and view to be durable";
    case Status::normal:
      break;
  }
  if (is_primary()) {
    // Only once the oldest prepare has waited past a resend: a loaded primary always has
    // some in flight.
    if (!inflight_.empty() &&
        now_ - inflight_.begin()->second.prepared_tick > options_.prepare_retry_ticks) {
      const auto& [op, entry] = *inflight_.begin();
      return fmt::format("acknowledgements of op {}: {} of {}", op, std::popcount(entry.acks),
                         options_.quorum());
    }
    return "";
  }
  if (commit_min_ < commit_max_) {
    if (auto op = missing_body()) {
      return fmt::format("the body of op {} (repairing; executed through {} of {})", op->value,
                         commit_min_.value, commit_max_.value);
    }
  }
  return "";
}

Bytes Replica::prepare_at(Op op) const {
  const Slot* slot = slot_at(op);
  return slot == nullptr ? nullptr : slot->body;
}

Replica::Slot* Replica::slot_at(Op op) {
  auto it = log_.find(op.value);
  return it == log_.end() ? nullptr : &it->second;
}

const Replica::Slot* Replica::slot_at(Op op) const {
  auto it = log_.find(op.value);
  return it == log_.end() ? nullptr : &it->second;
}

std::uint64_t Replica::jitter() {
  return options_.timeout_jitter_ticks == 0 ? 0 : prng_.below(options_.timeout_jitter_ticks + 1);
}

// --- open / restart ---------------------------------------------------------------------

void Replica::open(const DurableState& state) {
  VSR_ASSERT_MSG(status_ == Status::recovering && log_.empty(), "open() twice");
  Slot root;
  root.checksum = root_header_.checksum;
  root.header = root_header_;
  root.body = root_bytes_;
  root.durable = true;
  commit_min_checksum_ = root_header_.checksum;
  checkpoint_checksum_ = root_header_.checksum;
  // Differs from the earlier incarnations' (whose StartViews may still be in the network)
  // with overwhelming probability; 0 means "no nonce", and a wire integer is below 2^63.
  request_start_view_nonce_ = (prng_.next() >> 1) | 1;
  heard_tick_.assign(options_.replica_count, 0);

  const bool old_open = options_.bug == InjectedBug::wiped_replica_votes_as_new;
  if (!state.metadata && state.wal.empty() && !state.restored_view_floor && old_open) {
    // The injected bug: an empty state is taken for a new replica, which votes at once.
    log_[0] = root;
    status_ = Status::normal;
    write_metadata();
  } else if (!state.metadata && (state.restored_view_floor || old_open)) {
    // A restored state without metadata: what this replica acknowledged is unknown. It must
    // not vote or acknowledge until a StartView of at least the restored floor gives it a
    // log (docs/vsr/protocol.md, *Restored replicas*); its WAL cannot be trusted either and starts
    // over.
    log_[0] = root;
    status_ = Status::recovering;
    if (state.restored_view_floor) view_ = *state.restored_view_floor;
    emit(TruncateWal{next_write_id(), Op{0}});
  } else if (!state.metadata) {
    // New, wiped, or metadata lost: this replica does not know what it acknowledged or voted
    // for, nor can it tell a new replica from a wiped one. Its WAL (if any) cannot be
    // trusted and starts over; it asks the others (replica_recovery.cpp), except alone.
    log_[0] = root;
    if (!state.wal.empty()) emit(TruncateWal{next_write_id(), Op{0}});
    if (options_.replica_count == 1) {
      open_as_new();
    } else {
      start_asking();
    }
  } else {
    restore(state);
  }
  last_primary_contact_ = now_;
  primary_timeout_jitter_ = jitter();
  verify_chain();
  execute_committed();
  check_invariants();
}

void Replica::restore(const DurableState& state) {
  const Metadata& md = *state.metadata;
  voted_view_ = md.voted_view;
  rejoin_floor_ = md.rejoin_floor;
  view_ = md.view;
  log_view_ = md.log_view;
  view_headers_ = md.view_headers;
  metadata_written_ = md;
  metadata_durable_id_ = 0;

  if (md.checkpoint_op.value > 0) {
    VSR_ASSERT_MSG(state.checkpoint && state.checkpoint->op == md.checkpoint_op,
                   "metadata names a checkpoint that storage did not return");
    const Checkpoint& cp = *state.checkpoint;
    auto restored = app_.restore(cp.app_snapshot);
    VSR_ASSERT_MSG(restored.ok(), "checkpoint app snapshot does not restore");
    if (options_.bug != InjectedBug::forget_client_table) {
      auto table = clients_.decode(cp.client_table);
      VSR_ASSERT_MSG(table.ok(), "checkpoint client table does not decode");
    }
    commit_min_ = cp.op;
    commit_min_checksum_ = cp.checksum;
    timestamp_ms_ = std::max(timestamp_ms_, cp.timestamp_ms);
    checkpoint_op_ = cp.op;
    checkpoint_checksum_ = cp.checksum;
    checkpoint_previous_ = cp.op;
    checkpoint_bytes_ = make_bytes(encode_checkpoint(options_.cluster_id, cp));
    Slot anchor;
    anchor.checksum = cp.checksum;
    anchor.durable = true;
    anchor.in_wal = true;
    log_[cp.op.value] = anchor;
  } else {
    Slot root;
    root.checksum = root_header_.checksum;
    root.header = root_header_;
    root.body = root_bytes_;
    root.durable = true;
    log_[0] = root;
  }
  load_wal(state);
  op_ = Op{log_.rbegin()->first};
  // The commit hint speaks for the log of log_view only if it was learned in log_view: a
  // replica that restarts in a view change may have learned a higher commit in a later view
  // whose log replaced entries it still holds (seed 202264, R=3).
  commit_max_ = log_view_ == view_ ? std::max(commit_min_, std::min(md.commit, op_)) : commit_min_;

  if (options_.replica_count == 1) {
    // A single replica's WAL holds only completed writes (torn tails are skipped), and a
    // write durable on the only replica is committed.
    log_.erase(log_.upper_bound(wal_head_.value), log_.end());
    op_ = wal_head_;
    status_ = Status::normal;
    log_view_ = view_;
    commit_max_ = op_;
  } else if (state.restored_view_floor) {
    // A copied or restored state: its log and votes may not be this replica's own. It keeps
    // the log (to repair less) but must not vote until a StartView of a view at least the
    // floor gives it the cluster's log; on_start_view takes none below view_.
    status_ = Status::recovering;
    // Not the copied metadata's view: a view that rose alone on a timeout is no promise,
    // and waiting for the cluster to reach it would keep this replica out until the next
    // view change. The floor covers every view the copy or the replaced state promised in.
    view_ = std::max({log_view_, voted_view_, *state.restored_view_floor});
    commit_max_ = commit_min_;
  } else if (log_view_ == view_ && primary_of(view_) != self_) {
    status_ = Status::normal;  // a backup resumes in its durable view and repairs
  } else if (log_view_ == view_) {
    // A restarted primary has lost its pipeline; it hands over through a view change.
    status_ = Status::normal;
    start_view_change(next(view_), ViewChangeCause::restart);
  } else {
    status_ = Status::view_change;
    svc_from_ = 1u << self_.value;
    view_change_since_tick_ = now_;
    broadcast(Message{StartViewChange{view_, self_, voted_view_}});
  }
}

void Replica::load_wal(const DurableState& state) {
  const Op base = commit_min_;
  Op vh_min{0};
  Op vh_max{0};
  std::map<std::uint64_t, Checksum> canonical;
  for (const PrepareHeader& h : view_headers_) {
    if (h.op <= base) continue;
    canonical[h.op.value] = h.checksum;
    Slot& slot = log_[h.op.value];
    slot.checksum = h.checksum;
    slot.header = h;
  }
  if (!view_headers_.empty()) {
    vh_min = view_headers_.front().op;
    vh_max = view_headers_.back().op;
  }
  // A torn entry is the write a crash interrupted: at the end of the WAL it never
  // completed (absent); anywhere else it was an in-place rewrite of a corrupt entry.
  std::uint64_t physical_head = base.value;
  for (const WalEntry& entry : state.wal) {
    if (entry.op > base && entry.state != WalEntryState::torn) {
      physical_head = std::max(physical_head, entry.op.value);
    }
  }
  std::set<std::uint64_t> present;  // ops whose WAL entry this replica keeps
  for (const WalEntry& entry : state.wal) {
    if (entry.op < base) continue;
    if (entry.state == WalEntryState::torn && entry.op.value > physical_head) continue;
    std::optional<Prepare> prepare;
    if (entry.state == WalEntryState::intact && entry.bytes) {
      auto decoded = decode_prepare(*entry.bytes, limits_);
      if (decoded && decoded->header.op == entry.op) prepare = std::move(*decoded);
    }
    if (!prepare) {
      if (entry.op == base) continue;
      // Alone, nobody could repair it and it must not be dropped: the runtime refuses to
      // start a single replica with a damaged WAL (storage::ReplicaDisk::damage_without_peers).
      VSR_ASSERT_MSG(options_.replica_count > 1,
                     "a single replica was opened with an unreadable WAL entry");
      // Written once, unreadable now: it may have been acknowledged, so it is never a nack.
      Slot& slot = log_[entry.op.value];
      slot.corrupt = true;
      slot.in_wal = true;
      present.insert(entry.op.value);
      continue;
    }
    const PrepareHeader& h = prepare->header;
    bool accept = false;
    if (entry.op == base) {
      accept = h.checksum == commit_min_checksum_;
    } else if (auto it = canonical.find(entry.op.value); it != canonical.end()) {
      accept = it->second == h.checksum;  // else a stale entry from an older view
    } else if (!view_headers_.empty() && entry.op > vh_max) {
      accept = h.view == log_view_;  // appended in log_view; older views were truncated
    } else {
      accept = view_headers_.empty() ? h.view <= log_view_ : entry.op < vh_min;
    }
    if (!accept) continue;
    Slot& slot = log_[entry.op.value];
    slot.checksum = h.checksum;
    slot.header = h;
    slot.body = entry.bytes;
    slot.durable = true;
    slot.corrupt = false;
    slot.in_wal = true;
    present.insert(entry.op.value);
    timestamp_ms_ = std::max(timestamp_ms_, h.timestamp_ms);
  }
  // The WAL this replica keeps is the unbroken run above the base. Whatever lies beyond
  // the first entry it rejected chains to that entry, so it is not canonical in log_view
  // (hence never committed) and is truncated before anything is appended.
  wal_head_ = base;
  while (present.count(wal_head_.value + 1) != 0) wal_head_ = next(wal_head_);
  if (physical_head > wal_head_.value) {
    emit(TruncateWal{next_write_id(), wal_head_});
    for (auto it = log_.upper_bound(wal_head_.value); it != log_.end(); ++it) {
      it->second.in_wal = false;
      it->second.durable = false;
      it->second.corrupt = false;
    }
  }
}

// --- inputs -----------------------------------------------------------------------------

void Replica::tick(std::uint64_t realtime_ms) {
  now_ += 1;
  realtime_ms_ = realtime_ms;
  switch (status_) {
    case Status::normal:
      if (birth_hold_) recovery_tick();
      if (primary_of(view_) == self_) {
        primary_tick();
      } else {
        backup_tick();
      }
      break;
    case Status::view_change:
      view_change_tick();
      break;
    case Status::recovering:
      if (asking_) {
        recovery_tick();
      } else if (now_ - last_rsv_sent_ >= options_.repair_retry_ticks) {
        last_rsv_sent_ = now_;
        broadcast(Message{RequestStartView{view_, self_, request_start_view_nonce_}});
        // The floor (view_) is a view that this replica, the copy it came from or one of its
        // peers promised in. A cluster still below it would drop our requests for ever (a
        // primary answers only views up to its own): StartViewChange with voted_view = floor
        // moves it up (on_start_view_change), and a StartView of a view above the floor then
        // lets us in (finding 2 of #12). A cluster at or above the floor ignores it.
        if (options_.bug != InjectedBug::recovering_never_pushes_floor) {
          broadcast(Message{StartViewChange{view_, self_, view_}});
        }
      }
      break;
  }
  repair_tick(false);
  check_invariants();
}

void Replica::on_message(std::string_view bytes) {
  auto decoded = decode(bytes, limits_);
  if (!decoded) {
    counters_.rejected_messages += 1;
    return;
  }
  Bytes shared;
  if (std::holds_alternative<Prepare>(*decoded)) shared = make_bytes(std::string(bytes));
  dispatch(*decoded, shared);
  check_invariants();
}

void Replica::on_message(Message message) {
  Bytes shared;
  if (std::holds_alternative<Prepare>(message)) {
    shared = make_bytes(encode(options_.cluster_id, message));
  }
  dispatch(message, shared);
  check_invariants();
}

void Replica::dispatch(Message& message, const Bytes& bytes) {
  // Messages that claim to come from this replica are foreign (a misrouted or forged frame).
  bool from_self = std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Request> || std::is_same_v<T, Reply> ||
                      std::is_same_v<T, Prepare>) {
          return false;
        } else {
          return m.replica == self_;
        }
      },
      message);
  if (from_self) {
    counters_.dropped_messages += 1;
    return;
  }
  // A replica that is still asking what it may have forgotten takes nothing else: not even
  // a StartView, since it does not know the lowest view it may rejoin.
  if (asking_ && !std::holds_alternative<Recovery>(message) &&
      !std::holds_alternative<RecoveryResponse>(message)) {
    counters_.dropped_messages += 1;
    return;
  }
  // A new primary prepares nothing while the cluster is being born (birth_hold_): the
  // client retries.
  if (birth_hold_ && std::holds_alternative<Request>(message)) {
    if (status_ == Status::normal && primary_of(view_) == self_) {
      counters_.dropped_messages += 1;
      return;
    }
    birth_hold_ = false;  // no longer the primary of view 0: nothing to hold
  }
  std::visit(Overloaded{
                 [&](Request& m) { on_request(std::move(m)); },
                 [&](const Reply& m) { on_reply(m); },
                 [&](Prepare& m) { on_prepare(m, bytes); },
                 [&](const PrepareOk& m) { on_prepare_ok(m); },
                 [&](const Commit& m) { on_commit(m); },
                 [&](const StartViewChange& m) { on_start_view_change(m); },
                 [&](const DoViewChange& m) { on_do_view_change(m); },
                 [&](const StartView& m) { on_start_view(m); },
                 [&](const RequestStartView& m) { on_request_start_view(m); },
                 [&](const RequestHeaders& m) { on_request_headers(m); },
                 [&](const Headers& m) { on_headers(m); },
                 [&](const RequestPrepare& m) { on_request_prepare(m); },
                 [&](const RequestCheckpoint& m) { on_request_checkpoint(m); },
                 [&](const SyncCheckpoint& m) { on_sync_checkpoint(m); },
                 [&](const Recovery& m) { on_recovery(m); },
                 [&](const RecoveryResponse& m) { on_recovery_response(m); },
             },
             message);
}

void Replica::on_storage_done(std::uint64_t write_id) {
  VSR_ASSERT_MSG(write_id >= storage_done_ && write_id <= write_id_last_,
                 "storage completions must be reported in issue order");
  const bool metadata_was_durable = metadata_durable();
  storage_done_ = write_id;
  std::vector<Op> now_durable;
  while (!pending_writes_.empty() && pending_writes_.front().first <= write_id) {
    auto [id, op] = pending_writes_.front();
    pending_writes_.pop_front();
    Slot* slot = slot_at(Op{op});
    if (slot == nullptr || slot->write_id != id) continue;  // replaced or truncated since
    slot->durable = true;
    slot->write_id = 0;
    slot->corrupt = false;
    now_durable.push_back(Op{op});
  }
  if (checkpoint_pending_ && checkpoint_write_id_ <= write_id) {
    // The checkpoint is durable: name it in the metadata, then the WAL below the previous
    // checkpoint can go (a peer a little behind can still repair from us).
    checkpoint_previous_ = checkpoint_op_;
    checkpoint_op_ = checkpoint_pending_->op;
    checkpoint_checksum_ = checkpoint_pending_->checksum;
    checkpoint_bytes_ = checkpoint_pending_bytes_;
    checkpoint_pending_.reset();
    counters_.checkpoints_written += 1;
    write_metadata();
    if (checkpoint_previous_.value > 0) {
      emit(ReleaseWal{next_write_id(), checkpoint_previous_});
      log_.erase(log_.begin(), log_.lower_bound(checkpoint_previous_.value));
    }
  }
  const bool metadata_became_durable = !metadata_was_durable && metadata_durable();

  if (status_ == Status::normal && primary_of(view_) == self_) {
    for (Op op : now_durable) {
      if (auto it = inflight_.find(op.value); it != inflight_.end()) {
        primary_count_ack(op, it->second.checksum, self_);
      }
    }
  } else if (is_durably_normal()) {
    if (metadata_became_durable) {
      // A StartView was installed: acknowledge the uncommitted suffix we hold (§4.2).
      for (auto it = log_.upper_bound(commit_max_.value); it != log_.end(); ++it) {
        if (it->second.durable) send_prepare_ok(Op{it->first});
      }
    } else {
      for (Op op : now_durable) send_prepare_ok(op);
    }
  }
  if (metadata_became_durable || metadata_durable()) {
    maybe_send_do_view_change(false);
    maybe_start_view();
  }
  execute_committed();
  maybe_clear_rejoin_floor();
  check_invariants();
}

std::vector<Effect> Replica::take_effects() {
  if (is_primary()) flush_batch(false);
  std::vector<Effect> out;
  out.swap(effects_);
  return out;
}

// --- effects ----------------------------------------------------------------------------

void Replica::emit(Effect effect) {
  if (auto id = write_id_of(effect)) VSR_ASSERT(*id == write_id_last_);
  effects_.push_back(std::move(effect));
}

void Replica::send(ReplicaIndex to, const Message& message) {
  send(to, make_bytes(encode(options_.cluster_id, message)));
}

void Replica::send(ReplicaIndex to, const Bytes& bytes) {
  VSR_ASSERT(to != self_ && to.value < options_.replica_count);
  // In place: g++ 12 -O3 misreads a moved-from temporary variant as maybe-uninitialized.
  // (Braces, not parentheses: clang 14 cannot initialize an aggregate from a parenthesized
  // list.)
  effects_.emplace_back(std::in_place_type<SendToReplica>, SendToReplica{to, bytes});
}

void Replica::broadcast(const Message& message) {
  if (options_.replica_count == 1) return;
  broadcast(make_bytes(encode(options_.cluster_id, message)));
}

void Replica::broadcast(const Bytes& bytes) {
  for (std::uint32_t r = 0; r < options_.replica_count; ++r) {
    if (r != self_.value) send(ReplicaIndex{r}, bytes);
  }
}

Metadata Replica::current_metadata() const {
  Metadata md;
  md.view = view_;
  md.log_view = log_view_;
  md.commit = commit_max_;
  md.checkpoint_op = checkpoint_op_;
  md.checkpoint_checksum = checkpoint_checksum_;
  md.view_headers = view_headers_;
  md.voted_view = voted_view_;
  md.rejoin_floor = rejoin_floor_;
  return md;
}

void Replica::write_metadata() {
  Metadata md = current_metadata();
  const std::uint64_t id = next_write_id();
  metadata_durable_id_ = id;
  metadata_written_ = md;
  Bytes encoded = make_bytes(encode_metadata(options_.cluster_id, md));
  emit(WriteMetadata{id, std::move(md), std::move(encoded)});
}

bool Replica::is_durably_normal() const {
  return status_ == Status::normal && metadata_durable() && metadata_written_.view == view_ &&
         metadata_written_.log_view == view_;
}

std::vector<PrepareHeader> Replica::suffix_headers() const {
  // The contiguous, chained run of headers ending at op_, at most pipeline + 2 long: enough
  // to cover every op that can be uncommitted plus one committed anchor.
  std::vector<PrepareHeader> out;
  const std::uint64_t limit = options_.max_pipeline_depth + 2;
  for (auto it = log_.rbegin(); it != log_.rend() && out.size() < limit; ++it) {
    const Slot& slot = it->second;
    if (!slot.header) break;
    if (!out.empty() &&
        (out.back().op.value != it->first + 1 || out.back().parent != slot.header->checksum))
      break;
    out.push_back(*slot.header);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void Replica::write_prepare(Slot& slot, Op op) {
  VSR_ASSERT(slot.body && slot.checksum);
  VSR_ASSERT_MSG(op == next(wal_head_) || (op <= wal_head_ && slot.corrupt),
                 "the WAL is appended in op order or rewritten in place where corrupt");
  const std::uint64_t id = next_write_id();
  slot.write_id = id;
  slot.durable = false;
  slot.in_wal = true;
  if (op == next(wal_head_)) wal_head_ = op;
  pending_writes_.emplace_back(id, op.value);
  emit(WritePrepare{id, op, *slot.checksum, slot.body});
}

void Replica::flush_wal() {
  // Append every prepare that is next in op order and chains to the WAL head; a gap or a
  // break waits for repair (and delays this replica's PrepareOk, never anyone's safety).
  while (true) {
    const Slot* head = slot_at(wal_head_);
    Slot* slot = slot_at(next(wal_head_));
    if (head == nullptr || !head->checksum || slot == nullptr || !slot->body || !slot->header ||
        slot->header->parent != *head->checksum) {
      break;
    }
    write_prepare(*slot, next(wal_head_));
  }
}

void Replica::wal_forget_from(Op op) {
  // Everything in the WAL from `op` up chains to the entry at `op`, which is being replaced
  // by another prepare: all of it is non-canonical (so never committed) and goes.
  if (op > wal_head_) return;
  VSR_ASSERT(op.value > 0);
  wal_head_ = prev(op);
  emit(TruncateWal{next_write_id(), wal_head_});
  for (auto it = log_.lower_bound(op.value); it != log_.end(); ++it) {
    Slot& slot = it->second;
    if (slot.corrupt) continue;  // unreadable entries were dropped too; still never a nack
    slot.in_wal = false;
    slot.durable = false;
    slot.write_id = 0;
  }
}

void Replica::forget_slot(Op op, Slot& slot, const Checksum& expected) {
  // The slot must hold another prepare. Its WAL entry (if readable: a corrupt one is
  // rewritten in place) is stale, and so is everything the WAL chained on top of it.
  const bool was_corrupt = slot.corrupt;
  if (!was_corrupt && slot.in_wal) wal_forget_from(op);
  slot = Slot{};
  slot.corrupt = was_corrupt;
  slot.in_wal = was_corrupt;
  slot.checksum = expected;
}

// --- execution --------------------------------------------------------------------------

void Replica::execute_committed() {
  // Commits execute strictly in op order (§4.1), each only once its prepare is verified by
  // the hash chain down to the last executed op.
  Op limit = commit_max_;
  if (options_.bug == InjectedBug::execute_before_commit && primary_of(view_) != self_) limit = op_;
  while (commit_min_ < limit) {
    const Op op = next(commit_min_);
    Slot* slot = slot_at(op);
    if (slot == nullptr || !slot->body || !slot->header) break;
    if (op < chain_low_ && options_.bug != InjectedBug::execute_before_commit) break;
    if (slot->header->parent != commit_min_checksum_) break;
    if (slot->batch && slot->batch_of == slot->checksum) {
      execute_op(op, slot->header->timestamp_ms, *slot->batch);
    } else {
      auto prepare = decode_prepare(*slot->body, limits_);
      VSR_ASSERT_MSG(prepare.ok(), "a verified prepare no longer decodes");
      execute_op(op, prepare->header.timestamp_ms, prepare->batch);
    }
    slot->batch.reset();
    commit_min_ = op;
    commit_min_checksum_ = *slot->checksum;
    counters_.ops_committed += 1;
    maybe_checkpoint(op, commit_min_checksum_, slot->header->timestamp_ms);
  }
}

Op Replica::named_session(std::string_view client_id, Op session) const {
  if (options_.bug != InjectedBug::ignore_client_session || session.value == 0) return session;
  const ClientSession* s = clients_.find(client_id);
  return s != nullptr ? s->session : session;
}

void Replica::execute_op(Op op, std::uint64_t timestamp_ms,
                         const std::vector<BatchRequest>& batch) {
  const bool primary = is_primary();
  for (const BatchRequest& req : batch) {
    ExecuteOutcome outcome =
        clients_.begin_execute(req.client_id, named_session(req.client_id, req.session),
                               req.request_no, req.operation, op);
    if (outcome.evicted_client && primary) {
      // The eviction notice names the op that evicted the session, so that the client can
      // tell it from a notice about an older session of its own (the network duplicates).
      send_reply(*outcome.evicted_client, RequestNo{0}, op, ReplyStatus::evicted, "");
    }
    if (auto it = inflight_requests_.find(req.client_id);
        it != inflight_requests_.end() && it->second <= req.request_no) {
      inflight_requests_.erase(it);
    }
    switch (outcome.kind) {
      case ExecuteOutcome::Kind::registered:
        if (primary) send_reply(req.client_id, req.request_no, op, ReplyStatus::ok, "");
        break;
      case ExecuteOutcome::Kind::duplicate: {
        const ClientSession* s = clients_.find(req.client_id);
        if (primary && s != nullptr && req.request_no.value == 0) {
          send_reply(req.client_id, req.request_no, s->session, ReplyStatus::ok, "");
        } else if (primary && s != nullptr && s->request_no == req.request_no) {
          send_reply(req.client_id, req.request_no, s->op, ReplyStatus::ok, s->result);
        }
        break;
      }
      case ExecuteOutcome::Kind::reused:
        if (primary) {
          send_reply(req.client_id, req.request_no, Op{0}, ReplyStatus::request_no_reused, "");
        }
        break;
      case ExecuteOutcome::Kind::no_session:
        if (primary) send_reply(req.client_id, req.request_no, op, ReplyStatus::evicted, "");
        break;
      case ExecuteOutcome::Kind::execute: {
        std::string result;
        result.reserve(128);  // an app's reply is usually small: one allocation
        app::Context context{op.value, timestamp_ms, req.client_id};
        app_.execute(context, req.operation, result);
        counters_.requests_executed += 1;
        if (primary) send_reply(req.client_id, req.request_no, op, ReplyStatus::ok, result);
        clients_.finish_execute(req.client_id, req.request_no, req.operation, op,
                                std::move(result));
        break;
      }
    }
  }
}

void Replica::maybe_checkpoint(Op op, const Checksum& checksum, std::uint64_t timestamp_ms) {
  if (op.value % options_.checkpoint_interval != 0 || checkpoint_pending_) return;
  Checkpoint cp;
  cp.op = op;
  cp.checksum = checksum;
  cp.timestamp_ms = timestamp_ms;
  app_.snapshot(cp.app_snapshot);
  clients_.encode(cp.client_table);
  const std::uint64_t id = next_write_id();
  Bytes encoded = make_bytes(encode_checkpoint(options_.cluster_id, cp));
  checkpoint_write_id_ = id;
  checkpoint_pending_bytes_ = encoded;
  checkpoint_pending_ = std::move(cp);
  emit(WriteCheckpoint{id, op, std::move(encoded)});
}

// --- invariants -------------------------------------------------------------------------

void Replica::check_invariants() const {
  VSR_ASSERT(!log_.empty());
  VSR_ASSERT_MSG(log_.rbegin()->first == op_.value || status_ == Status::recovering,
                 "op_ is the head of the log");
  VSR_ASSERT_MSG(commit_min_ <= commit_max_, "executed beyond the commit point");
  VSR_ASSERT_MSG(commit_max_ <= op_, "committed beyond the head");
  VSR_ASSERT(log_view_ <= view_);
  VSR_ASSERT_MSG(voted_view_ <= view_, "voted for a view above the current one");
  VSR_ASSERT_MSG(rejoin_floor_ <= view_, "rejoined above the current view");
  // What never goes backwards, checked against the state at the previous check (LogCabin's
  // style): a replica that forgot a view it was normal or voted in, ops it executed or a
  // checkpoint it named could let the cluster lose committed ops. (view_ itself may go back
  // when rejoining a lower view, and commit_max_ with a truncation above what is executed.)
  VSR_ASSERT_MSG(log_view_ >= checked_.log_view, "log_view went backwards");
  VSR_ASSERT_MSG(voted_view_ >= checked_.voted_view, "voted_view went backwards");
  VSR_ASSERT_MSG(commit_min_ >= checked_.commit_min, "executed ops were undone");
  VSR_ASSERT_MSG(checkpoint_op_ >= checked_.checkpoint_op, "the checkpoint went backwards");
  checked_ = Monotonic{log_view_, voted_view_, commit_min_, checkpoint_op_};
  VSR_ASSERT(storage_done_ <= write_id_last_);
  if (is_primary()) {
    VSR_ASSERT_MSG(inflight_.size() <= op_.value - std::min(op_.value, commit_max_.value),
                   "pipeline entries are uncommitted ops");
    if (!inflight_.empty()) {
      VSR_ASSERT(inflight_.begin()->first == commit_max_.value + 1);
      VSR_ASSERT(inflight_.rbegin()->first == op_.value);
    }
  }
}

}  // namespace vsr::core
