// Opening without metadata (docs/vsr/protocol.md, "Replicas without metadata"). A replica
// whose directory is empty cannot tell whether it is new or was wiped, and one that lost its
// metadata does not know what it acknowledged or voted for. It opens recovering and asks
// every other replica for its state (Recovery, with a nonce from the seeded Prng); every
// replica answers in any status (RecoveryResponse). Once the answers show enough:
//  - all pristine (nothing was ever prepared or voted for): it becomes a new replica;
//  - otherwise it stays recovering with floor = the highest voted_view answered (the
//    highest view any of them voted for or was normal in), exactly like a restored replica:
//    no PrepareOk, StartViewChange or DoViewChange until a StartView of the floor or a later
//    view installs the cluster's log.
// "Enough" is n - quorum + 1 (f + 1 for every n) answers from replicas that are not
// themselves asking, or an answer from every other replica: an asking replica may itself
// have been wiped, so its answer shows nothing, and up to f replicas may be damaged at once.

#include <algorithm>

#include "vsr/core/replica.hpp"

namespace vsr::core {

void Replica::start_asking() {
  VSR_ASSERT(options_.replica_count > 1);
  status_ = Status::recovering;
  asking_ = true;
  // A wire integer is below 2^63. The nonce only has to differ from the previous
  // incarnations' (whose answers may still be in the network).
  recovery_nonce_ = prng_.next() >> 1;
  recovery_answers_.clear();
  last_recovery_sent_ = now_;
  broadcast(Message{Recovery{view_, self_, recovery_nonce_}});
}

void Replica::recovery_tick() {
  if (!asking_ && !birth_hold_) return;
  if (now_ - last_recovery_sent_ < options_.repair_retry_ticks) return;
  last_recovery_sent_ = now_;
  // Ask again those that have not answered, or answered while asking themselves (they may
  // know more by now).
  const Bytes bytes =
      make_bytes(encode(options_.cluster_id, Message{Recovery{view_, self_, recovery_nonce_}}));
  for (std::uint32_t r = 0; r < options_.replica_count; ++r) {
    auto it = recovery_answers_.find(r);
    if (r != self_.value && (it == recovery_answers_.end() || it->second.asking)) {
      send(ReplicaIndex{r}, bytes);
    }
  }
}

bool Replica::pristine() const {
  // Never prepared, acknowledged or voted for anything. Its view may have moved on its own
  // timeout (a replica whose primary is still asking changes views alone): that is no vote.
  if (asking_) return true;
  if (status_ == Status::recovering) return false;  // restored, or it decided a floor
  return log_view_.value == 0 && voted_view_.value == 0 && op_.value == 0 &&
         commit_max_.value == 0 && checkpoint_op_.value == 0;
}

void Replica::on_recovery(const Recovery& m) {
  // Answered in every status, even while asking: at the birth of a cluster every replica
  // asks, and each must learn that the others are pristine too.
  RecoveryResponse answer;
  answer.view = asking_ ? View{0} : view_;
  answer.replica = self_;
  // A recovering replica's view is its floor (it voted in none since it opened).
  answer.voted_view = asking_                         ? View{0}
                      : status_ == Status::recovering ? view_
                                                      : std::max(voted_view_, log_view_);
  answer.op = asking_ ? Op{0} : op_;
  answer.commit = asking_ ? Op{0} : std::min(commit_max_, op_);
  answer.pristine = pristine();
  answer.asking = asking_;
  answer.nonce = m.nonce;
  send(m.replica, Message{answer});
}

void Replica::on_recovery_response(const RecoveryResponse& m) {
  if (birth_hold_ && m.nonce == recovery_nonce_) {
    recovery_answers_[m.replica.value] = m;
    std::uint32_t informed = 0;
    for (const auto& [r, answer] : recovery_answers_) informed += answer.asking ? 0u : 1u;
    if (informed + 1 >= options_.quorum()) {
      birth_hold_ = false;  // with itself, a quorum can vote: the cluster is born
      recovery_answers_.clear();
    }
    return;
  }
  if (!asking_ || m.nonce != recovery_nonce_) {
    counters_.dropped_messages += 1;  // an answer to an earlier incarnation, or late
    return;
  }
  recovery_answers_[m.replica.value] = m;  // each replica counts once (its latest answer)

  const std::uint32_t others = options_.replica_count - 1;
  // Informed answers that must intersect every quorum: a started view had a quorum of
  // voters and an acknowledged op a quorum of holders; if this replica was one of them,
  // quorum - 1 of the n - 1 others were, and any n - quorum + 1 of the others include one
  // of those, since (n - quorum + 1) + (quorum - 1) = n > n - 1. With quorum = n/2 + 1 this
  // is f + 1 for every n (odd n = 2f + 1: quorum f + 1; even n = 2f + 2: quorum f + 2).
  const std::uint32_t informed_min = options_.replica_count - options_.quorum() + 1;
  std::uint32_t informed = 0;  // answers from replicas that are not asking themselves
  bool all_pristine = true;
  View floor{0};
  for (const auto& [r, answer] : recovery_answers_) {
    if (!answer.asking) informed += 1;
    all_pristine = all_pristine && answer.pristine;
    floor = std::max(floor, answer.voted_view);
  }
  if (options_.bug == InjectedBug::recovery_trusts_asking) {
    if (recovery_answers_.size() < informed_min) return;
  } else if (informed < informed_min && recovery_answers_.size() < others) {
    return;
  }

  asking_ = false;
  if (all_pristine) {
    // Nothing was ever prepared or voted for by anyone: this is a new replica. Decided
    // without an informed quorum (at the birth of the cluster), its first prepare would
    // make it non-pristine to replicas still asking, which would then wait for a StartView
    // that fewer than a quorum of voters might never produce: as primary it takes no
    // request until quorum - 1 others answered while not asking (recovery_tick asks them).
    birth_hold_ = informed < informed_min && primary_of(view_) == self_;
    if (!birth_hold_) recovery_answers_.clear();
    open_as_new();
    return;
  }
  recovery_answers_.clear();
  // Something happened that this replica may have taken part in: it rejoins like a
  // restored replica, never below a view it may have voted in (on_start_view).
  status_ = Status::recovering;
  view_ = std::max(view_, floor);
  commit_max_ = commit_min_;
  last_rsv_sent_ = now_;
  broadcast(Message{RequestStartView{view_, self_, request_start_view_nonce_}});
}

void Replica::open_as_new() {
  // A new replica: view 0 with an empty log. Its (empty) state is known, so it votes.
  asking_ = false;
  status_ = Status::normal;
  write_metadata();
  last_primary_contact_ = now_;
  primary_timeout_jitter_ = jitter();
  if (primary_of(view_) == self_) last_heartbeat_sent_ = now_;
}

}  // namespace vsr::core
