// View change (VR Revisited §4.2) with the fixes in docs/vsr/protocol.md, *View change*:
//  - log_view is kept apart from view; the new primary picks the log with the highest
//    log_view, then the highest op;
//  - a replica moves to a new view on its own timeout or on a quorum of StartViewChange
//    (one replica on the wrong side of an asymmetric partition cannot force view changes);
//  - the new view is durable before DoViewChange is sent, and the installed log (with its
//    log_view) is durable before StartView is sent or anything in it is acknowledged;
//  - the new primary truncates an uncommitted suffix only when a quorum says it never had
//    those ops ("nack"); a corrupt slot is never a nack.

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "vsr/core/replica.hpp"

namespace vsr::core {

namespace {

std::uint32_t bit(ReplicaIndex r) {
  return 1u << r.value;
}
std::uint32_t count(std::uint32_t mask) {
  return static_cast<std::uint32_t>(std::popcount(mask));
}

}  // namespace

void Replica::start_view_change(View view, ViewChangeCause cause) {
  VSR_ASSERT(view > view_);
  VSR_ASSERT(options_.replica_count > 1);
  switch (cause) {
    case ViewChangeCause::restart:
      counters_.view_changes_on_restart += 1;
      break;
    case ViewChangeCause::primary_timeout:
      counters_.view_changes_primary_timeout += 1;
      break;
    case ViewChangeCause::abdication:
      counters_.view_changes_abdication += 1;
      break;
    case ViewChangeCause::next_view:
      counters_.view_changes_next_view += 1;
      break;
    case ViewChangeCause::svc_quorum:
      counters_.view_changes_svc_quorum += 1;
      break;
    case ViewChangeCause::followed:
      counters_.view_changes_followed += 1;
      break;
    case ViewChangeCause::voted_above:
      counters_.view_changes_voted_above += 1;
      break;
    case ViewChangeCause::do_view_change:
      counters_.view_changes_do_view_change += 1;
      break;
  }
  if (status_ == Status::view_change) view_change_attempts_ += 1;
  view_ = view;
  status_ = Status::view_change;
  svc_from_ = bit(self_);
  if (auto it = svc_future_.find(view.value); it != svc_future_.end()) svc_from_ |= it->second;
  svc_future_.erase(svc_future_.begin(), svc_future_.upper_bound(view.value));
  dvcs_.clear();
  log_chosen_ = false;
  start_view_pending_ = false;
  do_view_change_sent_ = false;
  queue_.clear();
  inflight_.clear();
  inflight_requests_.clear();
  view_change_since_tick_ = now_;
  primary_timeout_jitter_ = jitter();
  counters_.view_changes_started += 1;
  // The new view is durable before any DoViewChange for it leaves (docs/vsr/protocol.md, *View
  // change*).
  write_metadata();
  last_view_change_send_ = now_;
  broadcast(Message{StartViewChange{view_, self_, voted_view_}});
  maybe_send_do_view_change(false);
}

void Replica::on_start_view_change(const StartViewChange& m) {
  if (status_ == Status::recovering) {
    counters_.dropped_messages += 1;
    return;
  }
  if (m.view < view_) {
    // Both of us are changing views, it in an older one: tell it ours, so it follows
    // instead of racing us one timeout at a time.
    if (status_ == Status::view_change)
      send(m.replica, Message{StartViewChange{view_, self_, voted_view_}});
    counters_.dropped_messages += 1;
    return;
  }
  if (m.view == view_) {
    if (status_ != Status::view_change) {
      counters_.dropped_messages += 1;  // the view already started; the sender will hear
      return;
    }
    svc_from_ |= bit(m.replica);
    maybe_send_do_view_change(false);
    return;
  }
  // A higher view. A replica already changing views follows at once; a normal replica only
  // on a quorum, so that one replica that cannot hear the primary does not depose it.
  if (is_primary() && now_ - last_rsv_sent_ >= options_.repair_retry_ticks) {
    // It may have changed views alone; our StartView lets it come back (on_start_view).
    last_rsv_sent_ = now_;
    send(m.replica, Message{make_start_view()});
  }
  svc_future_[m.view.value] |= bit(m.replica);
  const std::uint32_t from = svc_future_[m.view.value];
  if (svc_future_.size() > 8) svc_future_.erase(svc_future_.begin());  // bounded memory
  // A sender that voted above our view saw a quorum of StartViewChange once: that view
  // change was real, and the cluster must reach its view for the sender to rejoin.
  if (status_ == Status::view_change) {
    start_view_change(m.view, ViewChangeCause::followed);
  } else if (count(from) >= options_.quorum()) {
    start_view_change(m.view, ViewChangeCause::svc_quorum);
  } else if (m.voted_view > view_) {
    start_view_change(m.view, ViewChangeCause::voted_above);
  }
}

void Replica::maybe_send_do_view_change(bool resend) {
  if (status_ != Status::view_change) return;
  if (count(svc_from_) < options_.quorum()) return;
  // Only once the new view is durable: a replica that crashed after sending DoViewChange
  // must not come back in an older view.
  if (voted_view_ < view_) {
    // The vote is durable before it leaves, so that after a restart this replica knows it
    // may not go back below this view.
    voted_view_ = view_;
    write_metadata();
    return;
  }
  if (!metadata_durable() || metadata_written_.view != view_ ||
      metadata_written_.voted_view != view_) {
    return;
  }
  if (do_view_change_sent_ && !resend) return;
  do_view_change_sent_ = true;
  DoViewChange dvc = make_do_view_change();
  if (primary_of(view_) == self_) {
    dvcs_[self_.value] = std::move(dvc);
    maybe_choose_log();
  } else {
    send(primary_of(view_), Message{dvc});
  }
}

bool Replica::maybe_acknowledged_before(const Slot& slot) const {
  if (rejoin_floor_.value == 0 || options_.bug == InjectedBug::rejoined_replica_nacks) {
    return false;
  }
  if (slot.body && slot.durable) return false;
  return !slot.header || slot.header->view <= rejoin_floor_;
}

void Replica::maybe_clear_rejoin_floor() {
  // Once every slot that an earlier life may have acknowledged is durable here, this life
  // speaks for the whole log; the floor goes with the next metadata write.
  if (rejoin_floor_.value == 0 || !is_durably_normal()) return;
  for (auto it = log_.upper_bound(commit_min_.value); it != log_.end(); ++it) {
    if (maybe_acknowledged_before(it->second)) return;
  }
  rejoin_floor_ = View{0};
  counters_.rejoin_floors_cleared += 1;
  write_metadata();
}

DoViewChange Replica::make_do_view_change() const {
  DoViewChange dvc;
  dvc.view = view_;
  dvc.replica = self_;
  dvc.log_view = log_view_;
  dvc.op = op_;
  dvc.commit = commit_max_;
  const std::uint64_t window = options_.max_pipeline_depth + 1;
  const std::uint64_t low = op_.value > window ? op_.value - window : 0;
  for (auto it = log_.lower_bound(low); it != log_.end(); ++it) {
    const Slot& slot = it->second;
    DvcEntry entry;
    entry.op = Op{it->first};
    entry.header = slot.header;
    entry.checksum = slot.checksum;
    if (slot.header && slot.body && slot.durable) {
      entry.state = SlotState::intact;
    } else if (slot.corrupt || maybe_acknowledged_before(slot)) {
      entry.state = SlotState::corrupt;
    } else if (slot.checksum) {
      entry.state = SlotState::missing;
    } else {
      continue;  // an op we never had: omitted, which reads as a nack
    }
    dvc.entries.push_back(std::move(entry));
  }
  return dvc;
}

void Replica::on_do_view_change(const DoViewChange& m) {
  if (status_ == Status::recovering || m.view < view_) {
    counters_.dropped_messages += 1;
    return;
  }
  if (m.view > view_) {
    // Its sender saw a quorum of StartViewChange for m.view, so that view change is real.
    start_view_change(m.view, ViewChangeCause::do_view_change);
  }
  if (primary_of(m.view) != self_) {
    counters_.dropped_messages += 1;
    return;
  }
  if (status_ == Status::normal) {
    send(m.replica, Message{make_start_view()});  // it missed our StartView
    return;
  }
  dvcs_[m.replica.value] = m;
  svc_from_ |= bit(m.replica);
  maybe_send_do_view_change(false);
  maybe_choose_log();
}

namespace {

const DvcEntry* entry_at(const DoViewChange& dvc, Op op) {
  for (const DvcEntry& e : dvc.entries) {
    if (e.op == op) return &e;
  }
  return nullptr;
}

/// True iff `dvc` says its sender never durably wrote the prepare `h` at op: its log ends
/// below op, or its window shows op as missing or as a different prepare. A corrupt slot
/// could have held it, so it never nacks.
bool nacks(const DoViewChange& dvc, Op op, const std::optional<Checksum>& c, std::uint64_t window) {
  if (dvc.op < op) return true;
  const std::uint64_t low = dvc.op.value > window ? dvc.op.value - window : 0;
  if (op.value < low) return false;  // outside what it told us
  const DvcEntry* e = entry_at(dvc, op);
  if (e == nullptr) return true;
  if (e->state == SlotState::corrupt) return false;
  if (e->state == SlotState::missing) return true;
  return c && e->checksum && *e->checksum != *c;
}

}  // namespace

void Replica::maybe_choose_log() {
  if (status_ != Status::view_change || log_chosen_ || primary_of(view_) != self_) return;
  if (dvcs_.size() < options_.quorum() || dvcs_.count(self_.value) == 0) return;

  // The best log: highest log_view, then highest op (§4.2; docs/vsr/protocol.md, *View change*).
  const DoViewChange* best = nullptr;
  Op commit = commit_max_;
  for (const auto& [r, dvc] : dvcs_) {
    commit = std::max(commit, dvc.commit);
    if (best == nullptr) {
      best = &dvc;
      continue;
    }
    bool better = false;
    switch (options_.bug) {
      case InjectedBug::shortest_log_wins:
        better = dvc.op < best->op;
        break;
      case InjectedBug::ignore_log_view:
        better = dvc.op > best->op;
        break;
      default:
        better =
            dvc.log_view > best->log_view || (dvc.log_view == best->log_view && dvc.op > best->op);
        break;
    }
    if (better) best = &dvc;
  }
  const std::uint64_t window = options_.max_pipeline_depth + 1;

  // The canonical checksum (and header, when known) of each op in the best log's window;
  // what the best replica cannot read may come from another replica that was normal in the
  // same log_view (its log agrees with the best one wherever both hold an op).
  struct Canonical {
    Checksum checksum;
    std::optional<PrepareHeader> header;
  };
  std::map<std::uint64_t, Canonical> canonical;
  std::vector<std::uint64_t> unknown;
  for (const DvcEntry& e : best->entries) {
    Canonical c;
    bool known = false;
    if (e.checksum) {
      c.checksum = *e.checksum;
      c.header = e.header;
      known = true;
    }
    for (const auto& [r, dvc] : dvcs_) {
      const DvcEntry* other = entry_at(dvc, e.op);
      if (dvc.log_view != best->log_view || other == nullptr || !other->checksum) continue;
      if (!known) {
        c.checksum = *other->checksum;
        known = true;
      }
      if (!c.header && other->header && other->header->checksum == c.checksum) {
        c.header = other->header;
      }
    }
    if (known) {
      canonical[e.op.value] = c;
    } else {
      unknown.push_back(e.op.value);
    }
  }

  // Truncate the uncommitted tail that a quorum never had. Committed ops are never
  // truncated: a committed op is durable on a quorum, and every quorum intersects it.
  Op op_max = best->op;
  while (op_max > commit) {
    std::optional<Checksum> c;
    if (auto it = canonical.find(op_max.value); it != canonical.end()) c = it->second.checksum;
    std::uint32_t nack_count = 0;
    for (const auto& [r, dvc] : dvcs_) {
      if (nacks(dvc, op_max, c, window)) nack_count += 1;
    }
    if (nack_count < options_.quorum()) break;
    op_max = prev(op_max);
    counters_.truncated_ops += 1;
  }
  for (std::uint64_t op : unknown) {
    if (op <= op_max.value && op > commit_min_.value) {
      return;  // an op we can neither read nor rule out: wait for more DoViewChanges
    }
  }
  if (op_max > op_ && canonical.count(op_max.value) == 0) return;  // head unknown: wait
  VSR_ASSERT_MSG(op_max >= commit_min_, "a view change would truncate executed ops");
  truncate_after(op_max);
  for (const auto& [op, c] : canonical) {
    if (op <= op_max.value) install_canonical(Op{op}, c.checksum, c.header);
  }
  if (op_max > op_) op_ = op_max;
  commit_max_ = std::max(commit_max_, std::min(commit, op_));
  log_chosen_ = true;
  verify_chain();
  repair_tick(true);
  execute_committed();
  maybe_start_view();
}

void Replica::truncate_after(Op op) {
  // Executed ops are never truncated (the callers assert it).
  VSR_ASSERT(op >= commit_min_);
  if (op_ <= op) return;
  wal_forget_from(next(op));
  log_.erase(log_.upper_bound(op.value), log_.end());
  op_ = op;
  if (commit_max_ > op_) commit_max_ = op_;
}

void Replica::install_headers(const std::vector<PrepareHeader>& headers, Op op) {
  VSR_ASSERT(!headers.empty() && headers.back().op == op);
  truncate_after(op);
  for (const PrepareHeader& h : headers) install_canonical(h.op, h.checksum, h);
  op_ = std::max(op_, op);
  if (log_.rbegin()->first != op_.value) op_ = Op{log_.rbegin()->first};
}

void Replica::install_canonical(Op op, const Checksum& checksum,
                                const std::optional<PrepareHeader>& header) {
  if (op <= commit_min_) return;
  Slot& slot = log_[op.value];
  if (header) timestamp_ms_ = std::max(timestamp_ms_, header->timestamp_ms);
  if (slot.checksum == checksum) {
    if (header) slot.header = header;
    return;
  }
  // A different prepare at this op: ours was from an older view and is not canonical. A
  // slot we could not read stays marked corrupt (it may have held this very prepare).
  if (slot.checksum) {
    forget_slot(op, slot, checksum);
  } else {
    slot.checksum = checksum;
  }
  slot.header = header;
}

void Replica::maybe_start_view() {
  if (status_ != Status::view_change || !log_chosen_ || primary_of(view_) != self_) return;
  if (!log_repaired()) return;
  if (!start_view_pending_) {
    // The installed log and log_view become durable before StartView is sent.
    log_view_ = view_;
    view_headers_ = suffix_headers();
    write_metadata();
    start_view_pending_ = true;
    return;
  }
  if (!metadata_durable() || metadata_written_.log_view != view_) return;
  status_ = Status::normal;
  start_view_pending_ = false;
  view_change_attempts_ = 0;
  inflight_.clear();
  for (auto it = log_.upper_bound(commit_max_.value); it != log_.end(); ++it) {
    VSR_ASSERT(it->second.durable && it->second.checksum);
    inflight_[it->first] = Inflight{*it->second.checksum, bit(self_), now_, now_};
  }
  rebuild_inflight_requests();
  last_heartbeat_sent_ = now_;
  broadcast(Message{make_start_view()});
  advance_primary_commit();
  execute_committed();
}

StartView Replica::make_start_view() const {
  StartView sv;
  sv.view = view_;
  sv.replica = self_;
  sv.op = op_;
  sv.commit = commit_max_;
  sv.headers = suffix_headers();
  return sv;
}

bool Replica::start_view_acceptable(const StartView& m) const {
  if (m.replica != primary_of(m.view)) return false;
  switch (status_) {
    case Status::recovering:
      // view_ is the floor: every view an earlier life of this replica (or the copy it was
      // restored from) may have acknowledged or voted in. A StartView of a later view was
      // made by a view change that this replica took no part in, so it carries every op that
      // may be committed; one of the floor view itself only if it answers our own request
      // (its nonce), so it was made after we restarted and holds every op our earlier life
      // acknowledged in that view (a stale one could end below them: finding 3 of #12).
      if (options_.bug == InjectedBug::recovering_takes_stale_start_view) return m.view >= view_;
      return m.view > view_ ||
             (m.view == view_ && m.nonce != 0 && m.nonce == request_start_view_nonce_);
    case Status::normal:
      return m.view > view_;  // we missed a view change (m.view == view_ is handled apart)
    case Status::view_change:
      if (m.view >= view_) return true;
      // Rejoining a lower view (docs/vsr/protocol.md): only one in which no view above it was
      // started with our log (voted_view_), and never one whose log we already hold in part
      // unless the StartView covers all of it: a StartView of our own log_view that was
      // delayed past later PrepareOks ends below ops we acknowledged, and installing it would
      // truncate them (finding 4 of #12).
      if (options_.bug == InjectedBug::rejoin_stale_start_view) {
        return m.view >= voted_view_ && m.view >= log_view_;
      }
      // Above its head there may be only unreadable slots that nothing names, from damage
      // at the end of the WAL (drop_phantom_slots): a StartView that answers this
      // incarnation's own request covers every op an earlier life acknowledged, so those
      // held none.
      return m.view >= voted_view_ &&
             (m.view > log_view_ ||
              (m.view == log_view_ &&
               (m.op >= op_ || (answers_own_request(m) && only_phantoms_above(m.op)))));
  }
  return false;
}

bool Replica::answers_own_request(const StartView& m) const {
  return m.nonce != 0 && m.nonce == request_start_view_nonce_;
}

bool Replica::only_phantoms_above(Op op) const {
  for (auto it = log_.upper_bound(op.value); it != log_.end(); ++it) {
    if (!is_phantom(it->second)) return false;
  }
  return true;
}

void Replica::on_start_view(const StartView& m) {
  if (m.view == view_ && status_ == Status::normal) {
    if (m.replica == primary_of(view_) && primary_of(view_) != self_) {
      last_primary_contact_ = now_;
      if (answers_own_request(m)) drop_phantom_slots(m);
      advance_commit_max(m.commit);
    }
    return;  // already installed
  }
  if (!start_view_acceptable(m)) {
    counters_.dropped_messages += 1;
    counters_.start_views_refused += 1;
    if (status_ == Status::view_change && m.view == log_view_ && m.view >= voted_view_ &&
        m.replica == primary_of(m.view) && m.op < op_ && m.op >= commit_min_ &&
        only_phantoms_above(m.op) && now_ - last_rsv_sent_ >= options_.repair_retry_ticks) {
      // Our own log_view's StartView ends below our head only by unreadable slots: ask its
      // primary for one that answers this incarnation (then it is acceptable).
      last_rsv_sent_ = now_;
      send(m.replica, Message{RequestStartView{m.view, self_, request_start_view_nonce_}});
    }
    return;
  }
  if (status_ == Status::view_change && m.view == log_view_ && op_ > m.op) {
    counters_.phantom_slots_dropped += op_.value - m.op.value;  // installing truncates them
  }
  // Every op a recovering replica holds only as a header (installed below) may have been
  // acknowledged by its earlier life: it never nacks them until their bodies are durable
  // here (make_do_view_change), and the floor survives restarts in the metadata.
  if (status_ == Status::recovering) {
    rejoin_floor_ = std::max(rejoin_floor_, view_);
    counters_.rejoins += 1;
  }
  VSR_ASSERT(m.view >= log_view_);
  view_ = m.view;
  log_view_ = m.view;
  status_ = Status::normal;
  svc_from_ = 0;
  dvcs_.clear();
  log_chosen_ = false;
  start_view_pending_ = false;
  do_view_change_sent_ = false;
  queue_.clear();
  inflight_.clear();
  inflight_requests_.clear();
  svc_future_.clear();
  view_change_attempts_ = 0;
  VSR_ASSERT_MSG(m.op >= commit_min_, "a StartView would truncate executed ops");
  install_headers(m.headers, m.op);
  view_headers_ = m.headers;
  commit_max_ = std::max(commit_max_, std::min(m.commit, op_));
  // PrepareOks for this view wait until the installed log and log_view are durable
  // (on_storage_done acknowledges the suffix then).
  write_metadata();
  last_primary_contact_ = now_;
  primary_timeout_jitter_ = jitter();
  verify_chain();
  repair_tick(true);
  execute_committed();
}

bool Replica::is_phantom(const Slot& slot) {
  return slot.corrupt && !slot.header && !slot.checksum && !slot.body;
}

void Replica::drop_phantom_slots(const StartView& m) {
  // The answer to this incarnation's own request, so made after it restarted: the primary,
  // normal in this view ever since it started it, held then every op that anyone
  // acknowledged in this view, so an op above its head was never acknowledged here.
  // Unreadable slots above it that nothing names (no header or checksum learned in this
  // incarnation, which would come from the primary's log) are the end of a damaged WAL that
  // held no op: they go, or the chain could never be verified from them. Slots learned in
  // this incarnation stay, even above a delayed answer's head.
  Op top = op_;
  while (top > m.op && top > commit_min_) {
    const Slot* slot = slot_at(top);
    if (slot == nullptr || !is_phantom(*slot)) break;
    top = prev(top);
  }
  if (top < op_) {
    counters_.phantom_slots_dropped += op_.value - top.value;
    truncate_after(top);
  }
  // The primary's log is this view's canonical log: its headers fill ours.
  for (const PrepareHeader& h : m.headers) {
    if (h.op > commit_min_ && h.op <= op_) install_canonical(h.op, h.checksum, h);
  }
  verify_chain();
  repair_tick(true);
  execute_committed();
}

void Replica::on_request_start_view(const RequestStartView& m) {
  if (!is_primary() || m.view > view_) {
    // A recovering replica whose floor is above our view pushes the cluster up with its
    // StartViewChange instead (Replica::tick).
    counters_.dropped_messages += 1;
    return;
  }
  StartView sv = make_start_view();
  sv.nonce = m.nonce;
  send(m.replica, Message{sv});
}

void Replica::view_change_tick() {
  if (now_ - last_view_change_send_ >= options_.view_change_resend_ticks) {
    last_view_change_send_ = now_;
    broadcast(Message{StartViewChange{view_, self_, voted_view_}});
    maybe_send_do_view_change(true);
  }
  // Back-off: each view change that did not complete doubles the wait for the next one.
  const std::uint32_t doublings = std::min(view_change_attempts_, Options::view_change_backoff_max);
  const std::uint64_t timeout = (std::uint64_t{options_.view_change_timeout_ticks} << doublings);
  if (now_ - view_change_since_tick_ >= timeout + primary_timeout_jitter_) {
    start_view_change(next(view_), ViewChangeCause::next_view);
  }
}

}  // namespace vsr::core
