// Proves the storage effect adapter (NodeDisk) keeps the core's durability contract:
// consecutive prepares share one write + fdatasync (group commit); a crash at any point of
// a batch leaves a prefix of it durable, in issue order; reported progress never covers a
// write that is not on disk (a prepare above a gap is held until the gap is filled or
// truncated away); what was written is what a restart hands back to the core.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "vsr/node/disk.hpp"
#include "vsr/storage/memory_env.hpp"

namespace vsr::node {
namespace {

constexpr std::uint64_t cluster = 42;
const DiskIdentity identity{cluster, "00112233445566778899aabbccddeeff", 1};
const std::string dir = "/node";

core::Effect prepare(std::uint64_t id, std::uint64_t op, const std::string& body) {
  return core::WritePrepare{id, core::Op{op}, core::Checksum{}, core::make_bytes(body)};
}

core::Effect metadata(std::uint64_t id, std::uint64_t view) {
  core::Metadata m;
  m.view = core::View{view};
  m.log_view = core::View{view};
  return core::WriteMetadata{id, m, core::make_bytes(core::encode_metadata(cluster, m))};
}

core::Effect truncate(std::uint64_t id, std::uint64_t op) {
  return core::TruncateWal{id, core::Op{op}};
}

std::unique_ptr<NodeDisk> open(storage::MemoryEnv& env) {
  auto disk = NodeDisk::open(env, dir, identity);
  EXPECT_TRUE(disk.ok()) << (disk.ok() ? "" : disk.error().message);
  return disk.ok() ? std::move(*disk) : nullptr;
}

std::optional<std::string> wal_body(const core::DurableState& state, std::uint64_t op) {
  for (const core::WalEntry& e : state.wal) {
    if (e.op.value == op && e.state == core::WalEntryState::intact) return *e.bytes;
  }
  return std::nullopt;
}

class NodeDiskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.create_dir(dir).ok()); }
  storage::MemoryEnv env_;
};

TEST_F(NodeDiskTest, FreshDirectoryGivesANewReplica) {
  auto disk = open(env_);
  ASSERT_TRUE(disk);
  core::DurableState state = disk->take_durable_state();
  EXPECT_FALSE(state.metadata.has_value());
  EXPECT_FALSE(state.checkpoint.has_value());
  EXPECT_TRUE(state.wal.empty());
}

TEST_F(NodeDiskTest, ConsecutivePreparesShareOneSync) {
  auto disk = open(env_);
  std::vector<core::Effect> batch;
  for (std::uint64_t op = 1; op <= 8; ++op)
    batch.push_back(prepare(op, op, "p" + std::to_string(op)));
  auto done = disk->execute(batch);
  ASSERT_TRUE(done.ok()) << done.error();
  EXPECT_EQ(*done, 8u);
  EXPECT_EQ(disk->stats().wal_syncs, 1u);
  EXPECT_EQ(disk->wal_head(), 8u);
  disk.reset();
  env_.crash();  // only what was synced survives
  auto reopened = open(env_);
  core::DurableState state = reopened->take_durable_state();
  for (std::uint64_t op = 1; op <= 8; ++op) {
    EXPECT_EQ(wal_body(state, op), "p" + std::to_string(op)) << op;
  }
}

TEST_F(NodeDiskTest, MetadataRoundTripsThroughARestart) {
  auto disk = open(env_);
  std::vector<core::Effect> batch{prepare(1, 1, "a"), metadata(2, 3)};
  ASSERT_EQ(*disk->execute(batch), 2u);
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_)->take_durable_state();
  ASSERT_TRUE(state.metadata.has_value());
  EXPECT_EQ(state.metadata->view, core::View{3});
  EXPECT_EQ(wal_body(state, 1), "a");
}

TEST_F(NodeDiskTest, ACrashAnywhereLeavesAPrefixInIssueOrder) {
  const std::vector<core::Effect> batch{prepare(1, 1, "p1"), prepare(2, 2, "p2"), metadata(3, 1),
                                        prepare(4, 3, "p3"), metadata(5, 2)};
  bool completed = false;
  for (std::uint64_t strike = 0; !completed && strike < 200; ++strike) {
    storage::MemoryEnv env;
    ASSERT_TRUE(env.create_dir(dir).ok());
    {
      auto disk = open(env);
      ASSERT_TRUE(disk);
      env.arm_crash(strike);
      completed = disk->execute(batch).ok();
    }
    env.crash();
    auto disk = open(env);
    ASSERT_TRUE(disk) << "strike " << strike;
    core::DurableState state = disk->take_durable_state();
    const bool p1 = wal_body(state, 1).has_value();
    const bool p2 = wal_body(state, 2).has_value();
    const bool p3 = wal_body(state, 3).has_value();
    const std::uint64_t view = state.metadata ? state.metadata->view.value : 0;
    SCOPED_TRACE("strike " + std::to_string(strike));
    EXPECT_TRUE(!p2 || p1);
    EXPECT_TRUE(view < 1 || (p1 && p2));
    EXPECT_TRUE(!p3 || view >= 1);
    EXPECT_TRUE(view < 2 || p3);
    EXPECT_TRUE(!completed || (p1 && p2 && p3 && view == 2));
  }
  EXPECT_TRUE(completed);
}

TEST_F(NodeDiskTest, APrepareAboveAGapIsHeldUntilTheGapFills) {
  auto disk = open(env_);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{prepare(1, 1, "p1")}), 1u);
  // op 3 arrives before op 2: not durable, so not reported.
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{prepare(2, 3, "p3")}), 1u);
  EXPECT_EQ(disk->wal_head(), 1u);
  // A later write cannot be reported either: reports are cumulative.
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{metadata(3, 1)}), 1u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{prepare(4, 2, "p2")}), 4u);
  EXPECT_EQ(disk->wal_head(), 3u);
}

TEST_F(NodeDiskTest, TruncateDropsHeldPreparesAndTheWalSuffix) {
  auto disk = open(env_);
  std::vector<core::Effect> first{prepare(1, 1, "p1"), prepare(2, 2, "p2")};
  ASSERT_EQ(*disk->execute(first), 2u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{prepare(3, 4, "p4")}), 2u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{truncate(4, 1)}), 4u);
  EXPECT_EQ(disk->wal_head(), 1u);
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_)->take_durable_state();
  EXPECT_TRUE(wal_body(state, 1).has_value());
  EXPECT_FALSE(wal_body(state, 2).has_value());
}

TEST_F(NodeDiskTest, TruncateAboveTheHeadJumpsForStateTransfer) {
  // After a state transfer the core says "the WAL continues at op + 1"; the next prepare
  // must then be appended and reported, not held above a gap forever.
  auto disk = open(env_);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{prepare(1, 1, "p1")}), 1u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{truncate(2, 10)}), 2u);
  EXPECT_EQ(disk->wal_head(), 10u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{prepare(3, 11, "p11")}), 3u);
  EXPECT_EQ(disk->wal_head(), 11u);
}

TEST_F(NodeDiskTest, AnIntactOpIsReplacedWithItsSuffix) {
  auto disk = open(env_);
  std::vector<core::Effect> first{prepare(1, 1, "p1"), prepare(2, 2, "old2"),
                                  prepare(3, 3, "old3")};
  ASSERT_EQ(*disk->execute(first), 3u);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{prepare(4, 2, "new2")}), 4u);
  EXPECT_EQ(disk->wal_head(), 2u);
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_)->take_durable_state();
  EXPECT_EQ(wal_body(state, 2), "new2");
  EXPECT_FALSE(wal_body(state, 3).has_value());
}

TEST_F(NodeDiskTest, AFailedSyncIsAnError) {
  auto disk = open(env_);
  env_.fail_syncs(true);
  EXPECT_FALSE(disk->execute(std::vector<core::Effect>{prepare(1, 1, "p1")}).ok());
}

TEST_F(NodeDiskTest, AnotherReplicasDirectoryIsRefused) {
  open(env_).reset();
  DiskIdentity other = identity;
  other.replica = 2;
  auto disk = NodeDisk::open(env_, dir, other);
  ASSERT_FALSE(disk.ok());
  EXPECT_EQ(disk.error().kind, DiskError::Kind::nothing_valid);
}

}  // namespace
}  // namespace vsr::node
