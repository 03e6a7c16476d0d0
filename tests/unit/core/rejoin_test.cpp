// Proves the rules for a replica that comes back into a view (docs/vsr/protocol.md,
// "Rejoining a lower view" and "Restored replicas"), each on single steps:
//  - a StartView of a replica's own log_view that ends below ops it acknowledged (a delayed
//    one) is refused, so rejoining never truncates acknowledged ops (#12, finding 4);
//  - a recovering replica takes a StartView of its floor view only when it answers its own
//    request (the nonce), so a StartView made before it restarted cannot pass for the log
//    of that view (#12, finding 3);
//  - after it rejoined, the slots it holds only as headers are never nacks, across
//    restarts, until their bodies are durable (#12, finding 3);
//  - a recovering replica whose floor is above the cluster's view pushes the cluster up to
//    it (#12, finding 2);
//  - a backup drops the unreadable slots at the end of its WAL that lie above its
//    primary's head, but only on a StartView that answers its own request, so made after
//    it restarted (the long sweep's phantom-slot liveness class);
//  - view-change timeouts back off.

#include <gtest/gtest.h>

#include <algorithm>

#include "core_test_util.hpp"
#include "vsr/core/replica.hpp"

namespace vsr::core {
namespace {

using testing::last_write;
using testing::NullApp;
using testing::of;

constexpr std::uint64_t kCluster = 5;

Options options(InjectedBug bug = InjectedBug::none) {
  Options o;
  o.cluster_id = kCluster;
  o.replica_count = 3;
  o.max_batch_delay_ticks = 0;
  o.bug = bug;
  return o;
}

/// The prepares of ops 1..count, chained from the root, created in `view` by its primary.
std::vector<Prepare> chain(std::uint64_t count, View view) {
  std::vector<Prepare> out;
  Checksum parent = root_prepare(kCluster).header.checksum;
  for (std::uint64_t op = 1; op <= count; ++op) {
    Prepare p;
    p.replica = ReplicaIndex{static_cast<std::uint32_t>(view.value % 3)};
    p.header.view = view;
    p.header.op = Op{op};
    p.header.commit = Op{0};
    p.header.timestamp_ms = 10 + op;
    p.header.parent = parent;
    std::string client = "c";
    client += std::to_string(op);
    p.batch = {BatchRequest{std::move(client), RequestNo{0}, "", Op{0}}};
    seal_prepare(kCluster, p);
    parent = p.header.checksum;
    out.push_back(p);
  }
  return out;
}

StartView start_view(View view, const std::vector<Prepare>& prepares, std::uint64_t op,
                     std::uint64_t nonce = 0) {
  StartView sv;
  sv.view = view;
  sv.replica = ReplicaIndex{static_cast<std::uint32_t>(view.value % 3)};
  sv.op = Op{op};
  sv.commit = Op{0};
  for (std::uint64_t i = 1; i <= op; ++i) sv.headers.push_back(prepares[i - 1].header);
  sv.nonce = nonce;
  return sv;
}

/// Completes every storage write the replica issued so far; returns what it sent, before
/// and after.
std::vector<testing::Sent> sync(Replica& r) {
  std::vector<Effect> effects = r.take_effects();
  if (const std::uint64_t id = last_write(effects)) r.on_storage_done(id);
  for (Effect& e : r.take_effects()) effects.push_back(std::move(e));
  std::vector<testing::Sent> out;
  for (const Effect& e : effects) {
    if (const auto* s = std::get_if<SendToReplica>(&e)) {
      auto m = decode(*s->message, decode_limits(options()));
      EXPECT_TRUE(m.ok());
      if (m.ok()) out.push_back(testing::Sent{s->to, *m});
    }
  }
  return out;
}

/// Ticks until the replica's status is `status` (at most `limit` ticks).
void tick_until(Replica& r, Status status, int limit = 1000) {
  for (int i = 0; i < limit && r.status() != status; ++i) r.tick(0);
  ASSERT_EQ(r.status(), status);
}

/// Replica 1, a backup of view 0 that acknowledged ops 1..3, then changed views alone (it
/// heard nothing from its primary), so that it is in view change with log_view 0.
void acknowledge_then_leave_alone(Replica& r, const std::vector<Prepare>& prepares) {
  testing::open_new(r, options());
  sync(r);
  for (const Prepare& p : prepares) r.on_message(Message{p});
  auto acks = of<PrepareOk>(sync(r));
  ASSERT_EQ(acks.size(), prepares.size());
  tick_until(r, Status::view_change);
  ASSERT_EQ(r.log_view(), View{0});
  ASSERT_EQ(r.op(), Op{prepares.size()});
  sync(r);
}

TEST(CoreRejoin, AStaleStartViewOfItsOwnLogViewIsRefused) {
  const auto prepares = chain(3, View{0});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  acknowledge_then_leave_alone(r, prepares);

  // The primary's StartView of view 0 from before ops 2 and 3, delayed until now.
  r.on_message(Message{start_view(View{0}, prepares, 1)});
  EXPECT_EQ(r.status(), Status::view_change);
  EXPECT_EQ(r.op(), Op{3}) << "acknowledged ops were truncated";

  // A current one (it covers every op we hold) lets it back in, keeping them.
  r.on_message(Message{start_view(View{0}, prepares, 3)});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.view(), View{0});
  EXPECT_EQ(r.op(), Op{3});
}

TEST(CoreRejoin, InjectedBugTakesTheStaleStartViewAndTruncates) {
  const auto prepares = chain(3, View{0});
  NullApp app;
  Replica r(options(InjectedBug::rejoin_stale_start_view), ReplicaIndex{1}, app, 1);
  acknowledge_then_leave_alone(r, prepares);
  r.on_message(Message{start_view(View{0}, prepares, 1)});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.op(), Op{1});
}

/// Replica 1 restored (vsr recover-node) with floor `floor` and no usable metadata: it
/// opens recovering; returns the nonce of its RequestStartView.
std::uint64_t open_restored(Replica& r, View floor) {
  DurableState state;
  state.restored_view_floor = floor;
  r.open(state);
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_EQ(r.view(), floor);
  std::uint64_t nonce = 0;
  for (int i = 0; i < 20 && nonce == 0; ++i) {
    r.tick(0);
    for (const RequestStartView& m : of<RequestStartView>(sync(r))) nonce = m.nonce;
  }
  EXPECT_NE(nonce, 0u);
  return nonce;
}

/// The states the replica reports for ops 1..3 in its DoViewChange for view 3, whose
/// primary (replica 0) and replica 2 both asked for it.
std::vector<SlotState> dvc_states(Replica& r) {
  r.on_message(Message{StartViewChange{View{3}, ReplicaIndex{0}, View{0}}});
  r.on_message(Message{StartViewChange{View{3}, ReplicaIndex{2}, View{0}}});
  std::vector<SlotState> states;
  for (int i = 0; i < 4 && states.empty(); ++i) {
    for (const DoViewChange& dvc : of<DoViewChange>(sync(r))) {
      for (const DvcEntry& e : dvc.entries) {
        if (e.op.value >= 1 && e.op.value <= 3) states.push_back(e.state);
      }
    }
  }
  return states;
}

TEST(CoreRejoin, ARestoredReplicaTakesAStartViewOfItsFloorOnlyWithItsNonce) {
  const auto prepares = chain(3, View{2});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_restored(r, View{2});

  // Made before it restarted (no nonce, or another incarnation's): it may end below what
  // its earlier life acknowledged in view 2.
  r.on_message(Message{start_view(View{2}, prepares, 3)});
  EXPECT_EQ(r.status(), Status::recovering);
  r.on_message(Message{start_view(View{2}, prepares, 3, nonce + 1)});
  EXPECT_EQ(r.status(), Status::recovering);

  // The answer to its own request: made after it restarted.
  r.on_message(Message{start_view(View{2}, prepares, 3, nonce)});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.view(), View{2});
  EXPECT_EQ(r.op(), Op{3});
}

TEST(CoreRejoin, ARecoveringReplicaSaysWhatItWaitsFor) {
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  open_restored(r, View{2});
  EXPECT_EQ(r.waiting_for(),
            "a StartView of view 2 or later (it may have forgotten what it voted for)");
}

TEST(CoreRejoin, InjectedBugTakesAStartViewOfTheFloorWithoutItsNonce) {
  const auto prepares = chain(3, View{2});
  NullApp app;
  Replica r(options(InjectedBug::recovering_takes_stale_start_view), ReplicaIndex{1}, app, 1);
  open_restored(r, View{2});
  r.on_message(Message{start_view(View{2}, prepares, 3)});
  EXPECT_EQ(r.status(), Status::normal);
}

TEST(CoreRejoin, ARejoinedReplicaNeverNacksWhatItHoldsOnlyAsHeaders) {
  const auto prepares = chain(3, View{2});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_restored(r, View{2});
  r.on_message(Message{start_view(View{2}, prepares, 3, nonce)});
  ASSERT_EQ(r.status(), Status::normal);

  // Its metadata carries the floor, so that a restart keeps the rule.
  std::optional<Metadata> written;
  const std::vector<Effect> effects = r.take_effects();
  for (const Effect& e : effects) {
    if (const auto* w = std::get_if<WriteMetadata>(&e)) written = w->metadata;
  }
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->rejoin_floor, View{2});
  r.on_storage_done(last_write(effects));

  // Its earlier life may have acknowledged ops 1..3: they are unknown, never missing.
  const auto states = dvc_states(r);
  ASSERT_EQ(states.size(), 3u);
  for (SlotState s : states) EXPECT_EQ(s, SlotState::corrupt);

  // The same after a restart from that metadata (with no WAL bodies).
  NullApp app2;
  Replica again(options(), ReplicaIndex{1}, app2, 2);
  DurableState state;
  state.metadata = *written;
  again.open(state);
  sync(again);
  const auto states_again = dvc_states(again);
  ASSERT_EQ(states_again.size(), 3u);
  for (SlotState s : states_again) EXPECT_EQ(s, SlotState::corrupt);
}

TEST(CoreRejoin, InjectedBugNacksWhatARejoinedReplicaHoldsOnlyAsHeaders) {
  const auto prepares = chain(3, View{2});
  NullApp app;
  Replica r(options(InjectedBug::rejoined_replica_nacks), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_restored(r, View{2});
  r.on_message(Message{start_view(View{2}, prepares, 3, nonce)});
  sync(r);
  const auto states = dvc_states(r);
  ASSERT_EQ(states.size(), 3u);
  for (SlotState s : states) EXPECT_EQ(s, SlotState::missing);
}

TEST(CoreRejoin, TheFloorIsClearedOnceEveryBodyIsDurable) {
  const auto prepares = chain(3, View{2});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_restored(r, View{2});
  r.on_message(Message{start_view(View{2}, prepares, 3, nonce)});
  sync(r);
  // Repair brings the bodies (the primary's answers to RequestPrepare).
  for (const Prepare& p : prepares) r.on_message(Message{p});
  std::optional<Metadata> last;
  for (int i = 0; i < 3; ++i) {
    std::vector<Effect> effects = r.take_effects();
    for (const Effect& e : effects) {
      if (const auto* w = std::get_if<WriteMetadata>(&e)) last = w->metadata;
    }
    if (const std::uint64_t id = last_write(effects)) r.on_storage_done(id);
  }
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->rejoin_floor, View{0});
  const auto states = dvc_states(r);
  ASSERT_EQ(states.size(), 3u);
  for (SlotState s : states) EXPECT_EQ(s, SlotState::intact);
}

TEST(CoreRejoin, ARecoveringReplicaPushesTheClusterUpToItsFloor) {
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  DurableState state;
  state.restored_view_floor = View{4};
  r.open(state);
  bool pushed = false;
  for (int i = 0; i < 20 && !pushed; ++i) {
    r.tick(0);
    for (const StartViewChange& m : of<StartViewChange>(sync(r))) {
      EXPECT_EQ(m.view, View{4});
      EXPECT_EQ(m.voted_view, View{4});
      pushed = true;
    }
  }
  EXPECT_TRUE(pushed);

  // A normal replica of view 0 follows such a StartViewChange at once: its sender (or the
  // copy it came from, or a peer it asked) voted in view 4, so that view change was real.
  NullApp app0;
  Replica backup(options(), ReplicaIndex{2}, app0, 3);
  testing::open_new(backup, options());
  sync(backup);
  backup.on_message(Message{StartViewChange{View{4}, ReplicaIndex{1}, View{4}}});
  EXPECT_EQ(backup.status(), Status::view_change);
  EXPECT_EQ(backup.view(), View{4});
}

TEST(CoreRejoin, InjectedBugNeverPushesTheFloor) {
  NullApp app;
  Replica r(options(InjectedBug::recovering_never_pushes_floor), ReplicaIndex{1}, app, 1);
  DurableState state;
  state.restored_view_floor = View{4};
  r.open(state);
  for (int i = 0; i < 40; ++i) {
    r.tick(0);
    EXPECT_TRUE(of<StartViewChange>(sync(r)).empty());
  }
}

/// Replica 1, a backup of view 0 restarted from a WAL of ops 1..3 (intact) and 4..5 (damaged
/// at the end, unreadable: storage reports every op the bytes could hold as corrupt, and
/// none of these held one). Returns the nonce of the RequestStartView its repair sends to
/// the primary because nothing names its head.
std::uint64_t open_with_phantom_tail(Replica& r, const std::vector<Prepare>& prepares) {
  DurableState state;
  state.metadata = Metadata{};  // view 0, normal in it (log_view 0)
  for (const Prepare& p : prepares) {
    state.wal.push_back(
        WalEntry{p.header.op, WalEntryState::intact, make_bytes(encode(kCluster, Message{p}))});
  }
  state.wal.push_back(WalEntry{Op{4}, WalEntryState::corrupt, nullptr});
  state.wal.push_back(WalEntry{Op{5}, WalEntryState::corrupt, nullptr});
  r.open(state);
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.op(), Op{5});
  std::uint64_t nonce = 0;
  for (int i = 0; i < 200 && nonce == 0; ++i) {
    r.tick(0);
    for (const testing::Sent& s : sync(r)) {
      const auto* rsv = std::get_if<RequestStartView>(&s.message);
      if (rsv == nullptr) continue;
      EXPECT_EQ(s.to, ReplicaIndex{0});
      EXPECT_EQ(rsv->view, View{0});
      nonce = rsv->nonce;
    }
  }
  EXPECT_NE(nonce, 0u) << "a backup whose head nothing names never asked the primary";
  return nonce;
}

// The liveness class the long sweep found (R = 7 seed 103478): unreadable slots above the
// primary's head kept a backup from verifying its chain, so it never caught up.
TEST(CoreRejoin, ABackupDropsUnreadableSlotsAboveTheHeadOfItsPrimarysFreshStartView) {
  const auto prepares = chain(3, View{0});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_with_phantom_tail(r, prepares);

  // Made before this incarnation asked (another nonce, or none): its head may be below ops
  // that an earlier life acknowledged, so it drops nothing.
  r.on_message(Message{start_view(View{0}, prepares, 3, nonce + 1)});
  r.on_message(Message{start_view(View{0}, prepares, 3)});
  EXPECT_EQ(r.op(), Op{5});

  r.on_message(Message{start_view(View{0}, prepares, 3, nonce)});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.op(), Op{3});
  EXPECT_EQ(r.counters().phantom_slots_dropped, 2u);
  // Their WAL entries go too, so nothing is appended above a hole.
  const std::vector<Effect> effects = r.take_effects();
  EXPECT_TRUE(std::any_of(effects.begin(), effects.end(), [](const Effect& e) {
    const auto* t = std::get_if<TruncateWal>(&e);
    return t != nullptr && t->op == Op{3};
  }));
}

TEST(CoreRejoin, SlotsLearnedInThisIncarnationSurviveADelayedAnswer) {
  const auto prepares = chain(5, View{0});
  const std::vector<Prepare> first(prepares.begin(), prepares.begin() + 3);
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_with_phantom_tail(r, first);

  // The primary's prepare of op 4 arrives (and is acknowledged) before its answer, which it
  // made while its head was op 3.
  r.on_message(Message{prepares[3]});
  sync(r);
  r.on_message(Message{start_view(View{0}, first, 3, nonce)});
  EXPECT_EQ(r.op(), Op{4}) << "only the unreadable slot above op 4 goes";
  EXPECT_EQ(r.counters().phantom_slots_dropped, 1u);

  // A slot whose op the primary's head covers is never dropped, readable or not.
  NullApp app2;
  Replica covered(options(), ReplicaIndex{1}, app2, 2);
  const std::uint64_t nonce2 = open_with_phantom_tail(covered, first);
  covered.on_message(Message{start_view(View{0}, prepares, 5, nonce2)});
  EXPECT_EQ(covered.op(), Op{5});
  EXPECT_EQ(covered.counters().phantom_slots_dropped, 0u);
}

// The same class in a view change (R = 16 seed 160287): a backup with such slots that left
// its view alone refused its log_view's StartView, which ends below its head, and climbed
// views alone for good.
TEST(CoreRejoin, AReplicaChangingViewsRejoinsItsLogViewAboveUnreadableSlotsOnlyWhenAsked) {
  const auto prepares = chain(3, View{0});
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_with_phantom_tail(r, prepares);
  tick_until(r, Status::view_change);
  sync(r);
  ASSERT_EQ(r.log_view(), View{0});
  ASSERT_GT(r.view(), View{0});

  // The primary of view 0 answers a StartViewChange with its StartView (no nonce): it is
  // refused, and the replica asks that primary for one that answers it.
  std::uint64_t asked = 0;
  for (int i = 0; i < 200 && asked == 0; ++i) {
    r.on_message(Message{start_view(View{0}, prepares, 3)});
    for (const testing::Sent& sent : sync(r)) {
      const auto* rsv = std::get_if<RequestStartView>(&sent.message);
      if (rsv == nullptr || rsv->view != View{0}) continue;
      EXPECT_EQ(sent.to, ReplicaIndex{0});
      asked = rsv->nonce;
    }
    r.tick(0);
  }
  EXPECT_EQ(asked, nonce);
  EXPECT_EQ(r.status(), Status::view_change);
  EXPECT_EQ(r.op(), Op{5});

  r.on_message(Message{start_view(View{0}, prepares, 3, nonce)});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.view(), View{0});
  EXPECT_EQ(r.op(), Op{3});
}

TEST(CoreViewChange, TimeoutsBackOffWhileViewChangesFail) {
  NullApp app;
  Replica r(options(), ReplicaIndex{1}, app, 1);
  testing::open_new(r, options());
  sync(r);
  // Nobody answers: each view change times out, and each waits longer than the last (up
  // to the cap), jitter included.
  std::vector<std::uint64_t> started;
  View last = r.view();
  for (std::uint64_t t = 0; t < 6000 && started.size() < 6; ++t) {
    r.tick(0);
    sync(r);
    if (r.view() != last) {
      last = r.view();
      started.push_back(t);
    }
  }
  ASSERT_EQ(started.size(), 6u);
  const Options o = options();
  for (std::size_t i = 2; i < started.size(); ++i) {
    const std::uint64_t gap = started[i] - started[i - 1];
    const std::uint32_t doublings = std::min<std::uint32_t>(static_cast<std::uint32_t>(i - 1),
                                                            Options::view_change_backoff_max);
    EXPECT_GE(gap, std::uint64_t{o.view_change_timeout_ticks} << doublings) << "attempt " << i;
  }
}

}  // namespace
}  // namespace vsr::core
