// Proves the replica's durability ordering and quorum rules on single steps, without the
// simulator: a backup acknowledges only after its WAL write completed, the primary counts
// itself only after its own write completed, a reply leaves only after commit, a
// DoViewChange only after the new view is durable, and rejected input changes nothing.

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "core_test_util.hpp"
#include "vsr/core/replica.hpp"

namespace vsr::core {
namespace {

using testing::last_write;

constexpr std::uint64_t kCluster = 5;

class EchoApp final : public app::StateMachine {
 public:
  std::string_view name() const override { return "echo"; }
  void execute(const app::Context& c, std::string_view op, std::string& reply) override {
    reply += std::to_string(c.op) + ":" + std::string(op);
    executed += 1;
  }
  void snapshot(std::string& out) const override { out += std::to_string(executed); }
  Result<void, std::string> restore(std::string_view) override { return {}; }
  int executed = 0;
};

Options options(std::uint32_t replicas) {
  Options o;
  o.cluster_id = kCluster;
  o.replica_count = replicas;
  o.max_batch_delay_ticks = 0;
  return o;
}

template <class T>
std::vector<T> effects_of(const std::vector<Effect>& effects) {
  std::vector<T> out;
  for (const Effect& e : effects) {
    if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
  }
  return out;
}

std::vector<Message> sent(const std::vector<Effect>& effects) {
  std::vector<Message> out;
  for (const auto& s : effects_of<SendToReplica>(effects)) {
    auto m = decode(*s.message, decode_limits(options(3)));
    EXPECT_TRUE(m.ok());
    if (m.ok()) out.push_back(*m);
  }
  return out;
}

void open_new(Replica& r) {
  testing::open_new(r, options(3));
}

// A quorum is a majority for every n (issue 12, finding 1: (n-1)/2 + 1 was half of an even
// n, so two quorums could be disjoint): any two quorums intersect, and f = (n-1)/2 faulty
// replicas still leave a quorum.
TEST(CoreReplica, QuorumSizes) {
  const std::uint32_t expected[] = {0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9};
  for (std::uint32_t n = 1; n <= Options::max_replicas; ++n) {
    const Options o = options(n);
    SCOPED_TRACE(n);
    EXPECT_EQ(o.quorum(), expected[n]);
    EXPECT_EQ(o.quorum(), n / 2 + 1);
    EXPECT_GT(2 * o.quorum(), n);                     // any two quorums intersect
    EXPECT_EQ(o.faults_tolerated(), (n - 1) / 2);     // an even n: as the odd n below it
    EXPECT_LE(o.quorum() + o.faults_tolerated(), n);  // f down still leaves a quorum
  }
  EXPECT_EQ(Options::max_replicas, 16u);
  Options bug = options(5);
  bug.bug = InjectedBug::quorum_too_small;
  EXPECT_EQ(bug.quorum(), 2u);
  bug = options(4);
  bug.bug = InjectedBug::quorum_too_small;
  EXPECT_EQ(bug.quorum(), 2u);  // one less than a majority
  for (std::uint32_t n = 1; n <= Options::max_replicas; ++n) {
    Options minority = options(n);
    minority.bug = InjectedBug::minority_quorum_for_even_sizes;
    EXPECT_EQ(minority.quorum(), (n - 1) / 2 + 1) << n;  // half of an even n
    EXPECT_EQ(minority.quorum() == options(n).quorum(), n % 2 == 1) << n;
  }
}

TEST(CoreReplica, SingleReplicaRepliesOnlyAfterItsWriteIsDurable) {
  EchoApp app;
  Replica r(options(1), ReplicaIndex{0}, app, 1);
  r.open({});
  std::uint64_t done = last_write(r.take_effects());
  r.on_storage_done(done);
  r.on_message(Message{Request{View{0}, "c", RequestNo{0}, "", Op{0}}});
  r.tick(1000);
  auto effects = r.take_effects();
  ASSERT_EQ(effects_of<WritePrepare>(effects).size(), 1u);
  EXPECT_TRUE(effects_of<SendToClient>(effects).empty());
  r.on_storage_done(last_write(effects));
  auto after = r.take_effects();
  ASSERT_EQ(effects_of<SendToClient>(after).size(), 1u);
  EXPECT_EQ(r.commit_min(), Op{1});
}

TEST(CoreReplica, BackupAcknowledgesOnlyAfterDurable) {
  EchoApp app;
  Replica backup(options(3), ReplicaIndex{1}, app, 1);
  open_new(backup);
  backup.on_storage_done(last_write(backup.take_effects()));

  Prepare p;
  p.replica = ReplicaIndex{0};
  p.header.view = View{0};
  p.header.op = Op{1};
  p.header.commit = Op{0};
  p.header.timestamp_ms = 10;
  p.header.parent = root_prepare(kCluster).header.checksum;
  p.batch = {BatchRequest{"c", RequestNo{0}, "", Op{0}}};
  seal_prepare(kCluster, p);
  backup.on_message(Message{p});
  auto effects = backup.take_effects();
  ASSERT_EQ(effects_of<WritePrepare>(effects).size(), 1u);
  for (const Message& m : sent(effects)) EXPECT_FALSE(std::holds_alternative<PrepareOk>(m));
  backup.on_storage_done(last_write(effects));
  auto after = sent(backup.take_effects());
  ASSERT_EQ(after.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<PrepareOk>(after[0]));
  EXPECT_EQ(std::get<PrepareOk>(after[0]).checksum, p.header.checksum);
}

TEST(CoreReplica, BackupWritesTheWalInOpOrder) {
  // A prepare beyond a gap waits in memory: the WAL is appended in op order only, and the
  // later prepare is written (and acknowledged) once the gap is filled.
  EchoApp app;
  Replica backup(options(3), ReplicaIndex{1}, app, 1);
  open_new(backup);
  backup.on_storage_done(last_write(backup.take_effects()));
  auto make = [](std::uint64_t op, const Checksum& parent) {
    Prepare p;
    p.replica = ReplicaIndex{0};
    p.header.view = View{0};
    p.header.op = Op{op};
    p.header.commit = Op{0};
    p.header.timestamp_ms = 10 + op;
    p.header.parent = parent;
    p.batch = {BatchRequest{"c" + std::to_string(op), RequestNo{0}, "", Op{0}}};
    seal_prepare(kCluster, p);
    return p;
  };
  const Prepare p1 = make(1, root_prepare(kCluster).header.checksum);
  const Prepare p2 = make(2, p1.header.checksum);
  backup.on_message(Message{p2});
  EXPECT_TRUE(effects_of<WritePrepare>(backup.take_effects()).empty());
  backup.on_message(Message{p1});
  auto writes = effects_of<WritePrepare>(backup.take_effects());
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].op, Op{1});
  EXPECT_EQ(writes[1].op, Op{2});
}

TEST(CoreReplica, PrimaryCountsItselfOnlyAfterItsOwnWrite) {
  EchoApp app;
  Replica primary(options(3), ReplicaIndex{0}, app, 1);
  open_new(primary);
  primary.on_storage_done(last_write(primary.take_effects()));
  primary.on_message(Message{Request{View{0}, "c", RequestNo{0}, "", Op{0}}});
  primary.tick(1000);
  auto effects = primary.take_effects();
  auto writes = effects_of<WritePrepare>(effects);
  ASSERT_EQ(writes.size(), 1u);
  // One backup acknowledges: with the primary's own write pending that is not a quorum.
  primary.on_message(Message{PrepareOk{View{0}, ReplicaIndex{1}, Op{1}, writes[0].checksum}});
  EXPECT_EQ(primary.commit_max(), Op{0});
  EXPECT_TRUE(effects_of<SendToClient>(primary.take_effects()).empty());
  primary.on_storage_done(writes[0].write_id);
  EXPECT_EQ(primary.commit_max(), Op{1});
  EXPECT_EQ(effects_of<SendToClient>(primary.take_effects()).size(), 1u);
}

TEST(CoreReplica, DoViewChangeWaitsForDurableView) {
  EchoApp app;
  Replica r(options(3), ReplicaIndex{2}, app, 1);  // primary of view 2
  open_new(r);
  r.on_storage_done(last_write(r.take_effects()));
  // Two StartViewChange for view 2 (a quorum): r joins, writes its view, sends no DVC yet.
  r.on_message(Message{StartViewChange{View{2}, ReplicaIndex{0}, View{0}}});
  r.on_message(Message{StartViewChange{View{2}, ReplicaIndex{1}, View{0}}});
  EXPECT_EQ(r.status(), Status::view_change);
  EXPECT_EQ(r.view(), View{2});
  auto effects = r.take_effects();
  EXPECT_FALSE(effects_of<WriteMetadata>(effects).empty());
  r.on_message(Message{DoViewChange{View{2}, ReplicaIndex{0}, View{0}, Op{0}, Op{0}, {}}});
  EXPECT_EQ(r.status(), Status::view_change);  // its own vote is not durable yet
  // Complete the storage writes one round at a time: view, vote, then the new log_view.
  std::uint64_t pending = last_write(effects);
  std::vector<Message> started;
  for (int i = 0; i < 4 && pending != 0; ++i) {
    r.on_storage_done(pending);
    auto more = r.take_effects();
    for (const Message& m : sent(more)) started.push_back(m);
    pending = std::max(pending, last_write(more));
    if (r.status() == Status::normal) break;
  }
  EXPECT_EQ(r.status(), Status::normal);
  EXPECT_TRUE(r.is_primary());
  EXPECT_TRUE(std::any_of(started.begin(), started.end(),
                          [](const Message& m) { return std::holds_alternative<StartView>(m); }));
}

// Restarts backup 2 of view 0 from a WAL of ops 1..3 whose op 3 is `last` (ops 1 and 2
// intact), has it join the view change to view 1, and returns the DoViewChange it sends to
// the new primary (replica 1).
std::optional<DoViewChange> do_view_change_after_restart(std::optional<WalEntryState> last) {
  EchoApp app;
  Replica backup(options(3), ReplicaIndex{2}, app, 1);
  DurableState state;
  state.metadata = Metadata{};  // view 0, normal in it (log_view 0)
  Checksum parent = root_prepare(kCluster).header.checksum;
  for (std::uint64_t op = 1; op <= 3; ++op) {
    Prepare p;
    p.replica = ReplicaIndex{0};
    p.header.view = View{0};
    p.header.op = Op{op};
    p.header.commit = Op{0};
    p.header.timestamp_ms = 10 + op;
    p.header.parent = parent;
    p.batch = {BatchRequest{"c" + std::to_string(op), RequestNo{0}, "", Op{0}}};
    seal_prepare(kCluster, p);
    parent = p.header.checksum;
    WalEntry entry{Op{op}, WalEntryState::intact, make_bytes(encode(kCluster, Message{p}))};
    if (op == 3) {
      if (!last) break;  // the WAL ends at op 2
      entry.state = *last;
      if (*last != WalEntryState::intact) entry.bytes = nullptr;
    }
    state.wal.push_back(std::move(entry));
  }
  backup.open(state);
  backup.on_message(Message{StartViewChange{View{1}, ReplicaIndex{0}, View{0}}});
  backup.on_message(Message{StartViewChange{View{1}, ReplicaIndex{1}, View{0}}});
  EXPECT_EQ(backup.status(), Status::view_change);
  // The view, then the vote, become durable; then the DoViewChange leaves.
  for (int round = 0; round < 4; ++round) {
    auto effects = backup.take_effects();
    for (const Message& m : sent(effects)) {
      if (const auto* dvc = std::get_if<DoViewChange>(&m)) return *dvc;
    }
    if (const std::uint64_t id = last_write(effects); id != 0) backup.on_storage_done(id);
  }
  return std::nullopt;
}

// Finding 5 of issue 12: a last WAL entry that storage reports corrupt (its record was
// written whole and went bad, so it may have been acknowledged) is shown as corrupt in the
// DoViewChange, which never counts as a nack; a WAL that ends before the op (the write was
// torn, never acknowledged) omits it, which does.
TEST(CoreReplica, ACorruptLastWalEntryIsNotNackedInTheDoViewChange) {
  const std::optional<DoViewChange> corrupt = do_view_change_after_restart(WalEntryState::corrupt);
  ASSERT_TRUE(corrupt.has_value());
  EXPECT_EQ(corrupt->op, Op{3});
  const auto at3 = std::find_if(corrupt->entries.begin(), corrupt->entries.end(),
                                [](const DvcEntry& e) { return e.op == Op{3}; });
  ASSERT_NE(at3, corrupt->entries.end());
  EXPECT_EQ(at3->state, SlotState::corrupt);

  const std::optional<DoViewChange> intact = do_view_change_after_restart(WalEntryState::intact);
  ASSERT_TRUE(intact.has_value());
  EXPECT_EQ(intact->op, Op{3});

  const std::optional<DoViewChange> cut = do_view_change_after_restart(std::nullopt);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->op, Op{2});  // op 3 lies beyond its log: a nack
}

TEST(CoreReplica, RejectedInputChangesNothing) {
  EchoApp app;
  Replica r(options(3), ReplicaIndex{1}, app, 1);
  open_new(r);
  r.on_storage_done(last_write(r.take_effects()));
  r.on_message(std::string_view("not a tnetstring"));
  r.on_message(std::string_view("0:}"));
  std::string foreign = encode(kCluster + 1, Message{Commit{View{0}, ReplicaIndex{0}, Op{3}, {}}});
  r.on_message(std::string_view(foreign));
  EXPECT_EQ(r.counters().rejected_messages, 3u);
  EXPECT_TRUE(r.take_effects().empty());
  EXPECT_EQ(r.view(), View{0});
  EXPECT_EQ(r.op(), Op{0});
}

}  // namespace
}  // namespace vsr::core
