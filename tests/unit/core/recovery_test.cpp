// Proves the rule for a replica that opens without metadata (docs/vsr/protocol.md, "Replicas
// without metadata"): it asks the others with a nonce and votes for nothing until enough of
// them answered; it becomes new only if every answer is pristine, and otherwise rejoins only
// through a StartView of at least the highest view any of them voted in. Every replica
// answers, in every status.

#include <gtest/gtest.h>

#include <algorithm>

#include "core_test_util.hpp"
#include "vsr/core/replica.hpp"

namespace vsr::core {
namespace {

using testing::last_write;
using testing::NullApp;

constexpr std::uint64_t kCluster = 5;

Options options(std::uint32_t replicas) {
  Options o;
  o.cluster_id = kCluster;
  o.replica_count = replicas;
  o.max_batch_delay_ticks = 0;
  return o;
}

std::vector<testing::Sent> sent(Replica& r, std::uint32_t replicas) {
  return testing::sent(r, decode_limits(options(replicas)));
}

using testing::of;

RecoveryResponse pristine_answer(std::uint32_t from, std::uint64_t nonce, bool asking = false) {
  return RecoveryResponse{View{0}, ReplicaIndex{from}, View{0}, Op{0}, Op{0}, true, asking, nonce};
}

/// Opens an empty replica `self` of `replicas` and returns the nonce it asks with.
std::uint64_t open_empty(Replica& r, std::uint32_t replicas) {
  r.open({});
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_TRUE(r.asking());
  auto asks = of<Recovery>(sent(r, replicas));
  EXPECT_EQ(asks.size(), replicas - 1);  // everyone else is asked
  return asks.empty() ? 0 : asks[0].nonce;
}

Prepare prepare_at(std::uint64_t op, const Checksum& parent, View view = View{0}) {
  Prepare p;
  p.replica = ReplicaIndex{static_cast<std::uint32_t>(view.value % 3)};
  p.header.view = view;
  p.header.op = Op{op};
  p.header.commit = Op{op - 1};
  p.header.timestamp_ms = 10 + op;
  p.header.parent = parent;
  p.batch = {BatchRequest{"c" + std::to_string(op), RequestNo{0}, "", Op{0}}};
  seal_prepare(kCluster, p);
  return p;
}

TEST(CoreRecovery, EveryReplicaAnswersInEveryStatus) {
  // While asking itself: pristine and asking, with the asker's nonce.
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  r.on_message(Message{Recovery{View{0}, ReplicaIndex{2}, 1234}});
  auto answers = of<RecoveryResponse>(sent(r, 3));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].pristine);
  EXPECT_TRUE(answers[0].asking);
  EXPECT_EQ(answers[0].nonce, 1234u);
  EXPECT_EQ(answers[0].replica, ReplicaIndex{1});

  // New (both others answered): pristine, no longer asking.
  r.on_message(Message{pristine_answer(0, nonce, true)});
  r.on_message(Message{pristine_answer(2, nonce, true)});
  ASSERT_EQ(r.status(), Status::normal);
  EXPECT_FALSE(r.asking());
  r.on_storage_done(last_write(r.take_effects()));
  r.on_message(Message{Recovery{View{0}, ReplicaIndex{0}, 7}});
  answers = of<RecoveryResponse>(sent(r, 3));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].pristine);
  EXPECT_FALSE(answers[0].asking);

  // Once it has written a prepare it is no longer pristine, and says its op.
  r.on_message(Message{prepare_at(1, root_prepare(kCluster).header.checksum)});
  r.on_storage_done(last_write(r.take_effects()));
  r.on_message(Message{Recovery{View{0}, ReplicaIndex{2}, 8}});
  answers = of<RecoveryResponse>(sent(r, 3));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].pristine);
  EXPECT_EQ(answers[0].op, Op{1});
  EXPECT_EQ(answers[0].nonce, 8u);

  // In a view change: not pristine, its view and vote.
  r.on_message(Message{StartViewChange{View{1}, ReplicaIndex{0}, View{0}}});
  r.on_message(Message{StartViewChange{View{1}, ReplicaIndex{2}, View{0}}});
  ASSERT_EQ(r.status(), Status::view_change);
  r.take_effects();
  r.on_message(Message{Recovery{View{0}, ReplicaIndex{0}, 9}});
  answers = of<RecoveryResponse>(sent(r, 3));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].pristine);
  EXPECT_EQ(answers[0].view, View{1});
}

TEST(CoreRecovery, IgnoresAnswersWithAnotherNonce) {
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  r.on_message(Message{pristine_answer(0, nonce + 1)});
  r.on_message(Message{pristine_answer(2, nonce + 1)});
  EXPECT_TRUE(r.asking());
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_EQ(r.counters().dropped_messages, 2u);
  // It asks again, with the same nonce, those that have not answered.
  for (int i = 0; i < 20; ++i) r.tick(0);
  auto asks = of<Recovery>(sent(r, 3));
  ASSERT_FALSE(asks.empty());
  for (const Recovery& a : asks) EXPECT_EQ(a.nonce, nonce);
}

TEST(CoreRecovery, CountsEachReplicaOnce) {
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  for (int i = 0; i < 3; ++i) r.on_message(Message{pristine_answer(0, nonce)});
  EXPECT_TRUE(r.asking());
  r.on_message(Message{pristine_answer(2, nonce)});
  EXPECT_FALSE(r.asking());
  EXPECT_EQ(r.status(), Status::normal);
}

TEST(CoreRecovery, AllPristineMakesANewReplicaThatVotes) {
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  r.on_message(Message{pristine_answer(0, nonce, true)});
  r.on_message(Message{pristine_answer(2, nonce)});
  ASSERT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.view(), View{0});
  r.on_storage_done(last_write(r.take_effects()));
  EXPECT_TRUE(r.is_durably_normal());
  // It acknowledges its primary's prepares...
  r.on_message(Message{prepare_at(1, root_prepare(kCluster).header.checksum)});
  r.on_storage_done(last_write(r.take_effects()));
  EXPECT_EQ(of<PrepareOk>(sent(r, 3)).size(), 1u);
  // ...and votes in view changes.
  r.on_message(Message{StartViewChange{View{2}, ReplicaIndex{0}, View{0}}});
  r.on_message(Message{StartViewChange{View{2}, ReplicaIndex{2}, View{0}}});
  for (int i = 0; i < 4; ++i) {
    auto effects = r.take_effects();
    bool dvc = false;
    for (const Effect& e : effects) {
      if (const auto* s = std::get_if<SendToReplica>(&e)) {
        auto m = decode(*s->message, decode_limits(options(3)));
        dvc = dvc || (m.ok() && std::holds_alternative<DoViewChange>(*m));
      }
    }
    if (dvc) return;
    r.on_storage_done(last_write(effects));
  }
  ADD_FAILURE() << "no DoViewChange sent";
}

TEST(CoreRecovery, OneNonPristineAnswerSetsTheFloorAndNoVotes) {
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  r.on_message(Message{pristine_answer(0, nonce)});
  EXPECT_TRUE(r.asking());
  // Replica 2 is in view 5 and voted in view 4: the floor is 4.
  r.on_message(Message{
      RecoveryResponse{View{5}, ReplicaIndex{2}, View{4}, Op{9}, Op{7}, false, false, nonce}});
  EXPECT_FALSE(r.asking());
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_EQ(r.view(), View{4});
  auto rsv = of<RequestStartView>(sent(r, 3));
  EXPECT_EQ(rsv.size(), 2u);  // asks everyone for the StartView
  for (const RequestStartView& m : rsv) EXPECT_EQ(m.view, View{4});

  // It neither acknowledges nor votes.
  const Checksum root = root_prepare(kCluster).header.checksum;
  r.on_message(Message{prepare_at(1, root, View{5})});
  r.on_message(Message{StartViewChange{View{6}, ReplicaIndex{0}, View{5}}});
  r.on_message(Message{StartViewChange{View{6}, ReplicaIndex{2}, View{5}}});
  r.on_message(Message{DoViewChange{View{7}, ReplicaIndex{0}, View{4}, Op{0}, Op{0}, {}}});
  for (int i = 0; i < 30; ++i) r.tick(0);
  auto out = sent(r, 3);
  EXPECT_TRUE(of<PrepareOk>(out).empty());
  EXPECT_TRUE(of<DoViewChange>(out).empty());
  // Its only StartViewChanges push the cluster up to its floor (a view that one of its peers
  // voted in), never into a view of its own choosing.
  for (const StartViewChange& m : of<StartViewChange>(out)) {
    EXPECT_EQ(m.view, View{4});
    EXPECT_EQ(m.voted_view, View{4});
  }
  EXPECT_EQ(r.status(), Status::recovering);

  // A StartView below the floor is dropped; one above it installs the log.
  const Prepare p1 = prepare_at(1, root, View{3});
  r.on_message(Message{StartView{View{3}, ReplicaIndex{0}, Op{1}, Op{0}, {p1.header}}});
  EXPECT_EQ(r.status(), Status::recovering);
  const Prepare q1 = prepare_at(1, root, View{6});
  r.on_message(Message{StartView{View{6}, ReplicaIndex{0}, Op{1}, Op{0}, {q1.header}}});
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_EQ(r.view(), View{6});
}

TEST(CoreRecovery, AnAskingReplicaTakesNoStartView) {
  NullApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  open_empty(r, 3);
  const Prepare p1 = prepare_at(1, root_prepare(kCluster).header.checksum, View{3});
  r.on_message(Message{StartView{View{3}, ReplicaIndex{0}, Op{1}, Op{0}, {p1.header}}});
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_TRUE(r.asking());
}

TEST(CoreRecovery, AskingAnswersShowNothingR5) {
  // f = 2: it needs three answers from replicas that are not asking themselves, or an
  // answer from all four others.
  NullApp app;
  Replica r(options(5), ReplicaIndex{4}, app, 1);
  const std::uint64_t nonce = open_empty(r, 5);
  r.on_message(Message{pristine_answer(0, nonce, true)});
  r.on_message(Message{pristine_answer(1, nonce)});
  r.on_message(Message{pristine_answer(2, nonce)});
  EXPECT_TRUE(r.asking());  // two informed answers and one asking: not enough
  r.on_message(Message{pristine_answer(3, nonce, true)});
  EXPECT_FALSE(r.asking());  // everyone answered, all pristine
  EXPECT_EQ(r.status(), Status::normal);

  NullApp app2;
  Replica s(options(5), ReplicaIndex{4}, app2, 2);
  const std::uint64_t n2 = open_empty(s, 5);
  s.on_message(Message{pristine_answer(0, n2)});
  s.on_message(Message{pristine_answer(1, n2)});
  s.on_message(
      Message{RecoveryResponse{View{2}, ReplicaIndex{2}, View{2}, Op{3}, Op{3}, false, false, n2}});
  EXPECT_FALSE(s.asking());  // three informed answers
  EXPECT_EQ(s.status(), Status::recovering);
  EXPECT_EQ(s.view(), View{2});
}

TEST(CoreRecovery, ANewPrimaryBornWithoutAnInformedQuorumHoldsRequests) {
  // Replica 0 (primary of view 0) heard only from replicas that are still asking: it is
  // new, but prepares nothing until f others answer while not asking, so that no replica
  // still asking sees it non-pristine while fewer than a quorum can vote.
  NullApp app;
  Replica r(options(3), ReplicaIndex{0}, app, 1);
  const std::uint64_t nonce = open_empty(r, 3);
  r.on_message(Message{pristine_answer(1, nonce, true)});
  r.on_message(Message{pristine_answer(2, nonce, true)});
  ASSERT_EQ(r.status(), Status::normal);
  ASSERT_TRUE(r.is_primary());
  r.on_storage_done(last_write(r.take_effects()));
  r.on_message(Message{Request{View{0}, "c", RequestNo{0}, "", Op{0}}});
  for (int i = 0; i < 10; ++i) r.tick(1000);
  std::vector<Effect> effects = r.take_effects();
  for (const Effect& e : effects) EXPECT_FALSE(std::holds_alternative<WritePrepare>(e));
  std::vector<Recovery> asks;
  for (const Effect& e : effects) {
    if (const auto* s = std::get_if<SendToReplica>(&e)) {
      auto m = decode(*s->message, decode_limits(options(3)));
      if (m.ok() && std::holds_alternative<Recovery>(*m)) asks.push_back(std::get<Recovery>(*m));
    }
  }
  ASSERT_FALSE(asks.empty());  // it asks again
  EXPECT_EQ(asks[0].nonce, nonce);
  r.on_message(Message{pristine_answer(1, nonce)});  // f = 1 other, informed
  r.on_message(Message{Request{View{0}, "c", RequestNo{0}, "", Op{0}}});
  r.tick(1001);
  bool prepared = false;
  for (const Effect& e : r.take_effects()) prepared |= std::holds_alternative<WritePrepare>(e);
  EXPECT_TRUE(prepared);
}

// Even sizes (issue 12, finding 1): with n = 4 a quorum is 3, so a new primary born
// without an informed quorum holds requests until quorum - 1 = 2 others (not f = 1) answered
// while not asking: with one, only two replicas could vote, which is no quorum of four.
TEST(CoreRecovery, ANewPrimaryOfFourHoldsUntilTwoOthersAreInformedR4) {
  NullApp app;
  Replica r(options(4), ReplicaIndex{0}, app, 1);
  const std::uint64_t nonce = open_empty(r, 4);
  for (std::uint32_t other = 1; other < 4; ++other) {
    r.on_message(Message{pristine_answer(other, nonce, true)});
  }
  ASSERT_EQ(r.status(), Status::normal);
  ASSERT_TRUE(r.is_primary());
  r.on_storage_done(last_write(r.take_effects()));
  auto prepares_after_a_request = [&](std::uint64_t realtime_ms) {
    r.on_message(Message{Request{View{0}, "c", RequestNo{0}, "", Op{0}}});
    r.tick(realtime_ms);
    bool prepared = false;
    for (const Effect& e : r.take_effects()) prepared |= std::holds_alternative<WritePrepare>(e);
    return prepared;
  };
  EXPECT_FALSE(prepares_after_a_request(1000));
  r.on_message(Message{pristine_answer(1, nonce)});  // f = 1 other informed: not enough
  EXPECT_FALSE(prepares_after_a_request(1001));
  r.on_message(Message{pristine_answer(2, nonce)});  // quorum - 1 = 2 others informed
  EXPECT_TRUE(prepares_after_a_request(1002));
}

// An asking replica of four decides on n - quorum + 1 = 2 informed answers: any two of the
// three others include one of the quorum - 1 = 2 others of every quorum it was part of.
TEST(CoreRecovery, AReplicaOfFourDecidesOnTwoInformedAnswersR4) {
  NullApp app;
  Replica r(options(4), ReplicaIndex{3}, app, 1);
  const std::uint64_t nonce = open_empty(r, 4);
  r.on_message(Message{pristine_answer(0, nonce)});
  r.on_message(Message{pristine_answer(1, nonce, true)});
  EXPECT_TRUE(r.asking());  // one informed answer
  r.on_message(Message{
      RecoveryResponse{View{3}, ReplicaIndex{2}, View{3}, Op{5}, Op{4}, false, false, nonce}});
  EXPECT_FALSE(r.asking());
  EXPECT_EQ(r.status(), Status::recovering);
  EXPECT_EQ(r.view(), View{3});
}

TEST(CoreRecovery, ASingleReplicaWithoutMetadataIsNewAtOnce) {
  NullApp app;
  Replica r(options(1), ReplicaIndex{0}, app, 1);
  r.open({});
  EXPECT_FALSE(r.asking());
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_TRUE(r.is_primary());
}

TEST(CoreRecovery, InjectedBugOpensAnEmptyReplicaAsNew) {
  Options o = options(3);
  o.bug = InjectedBug::wiped_replica_votes_as_new;
  NullApp app;
  Replica r(o, ReplicaIndex{1}, app, 1);
  r.open({});
  EXPECT_FALSE(r.asking());
  EXPECT_EQ(r.status(), Status::normal);
}

}  // namespace
}  // namespace vsr::core
