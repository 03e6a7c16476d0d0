// Proves recover(): a fresh directory is told apart from a damaged one; the newest valid
// metadata and checkpoint are chosen and the WAL is scanned from the checkpoint on;
// committed ops the WAL lost are listed as missing, corrupt ones as corrupt; and when no
// valid metadata or no valid named checkpoint remains, recovery fails with nothing_valid
// and sends the operator to `vsr sync-node`.

#include <gtest/gtest.h>

#include <string>

#include "storage_test_util.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/node_storage.hpp"

namespace vsr::storage {
namespace {

using testing::blob_for;
using testing::body_for;
using testing::node_dir;

Metadata initial() {
  Metadata m;
  m.cluster_id = "cluster-1";
  m.replica = 1;
  return m;
}

class StorageRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_node_dir(env_);
    options_.wal.segment_bytes_max = 512;
  }

  Recovered recover_ok() {
    auto recovered = recover(env_, node_dir, options_);
    if (!recovered) {
      ADD_FAILURE() << recovered.error().message;
      std::abort();
    }
    return std::move(recovered).value();
  }

  // A formatted node with ops [1, last] appended and `commit` in its metadata.
  void build(std::uint64_t last, std::uint64_t commit) {
    Recovered node = recover_ok();
    ASSERT_TRUE(node.state.fresh);
    ASSERT_TRUE(node.storage.format(initial()).ok());
    testing::append_ops(node.storage.wal(), 1, last, 3);
    Metadata m = node.storage.metadata();
    m.commit = commit;
    ASSERT_TRUE(node.storage.write_metadata(m).ok());
  }

  MemoryEnv env_;
  NodeOptions options_;
};

TEST_F(StorageRecovery, AnEmptyDirectoryIsFresh) {
  Recovered node = recover_ok();
  EXPECT_TRUE(node.state.fresh);
  EXPECT_FALSE(node.state.checkpoint);
  EXPECT_TRUE(node.state.wal.entries.empty());
  ASSERT_TRUE(node.storage.format(initial()).ok());
  testing::append_ops(node.storage.wal(), 1, 2);
  Recovered again = recover_ok();
  EXPECT_FALSE(again.state.fresh);
  EXPECT_EQ(again.state.metadata.cluster_id, "cluster-1");
  EXPECT_EQ(again.state.wal.head_op, 2u);
}

TEST_F(StorageRecovery, AMissingDirectoryIsAnError) {
  auto recovered = recover(env_, "/elsewhere", options_);
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.error().code, Errc::not_found);
}

TEST_F(StorageRecovery, CheckpointThenTheWalAfterIt) {
  build(30, 25);
  {
    Recovered node = recover_ok();
    ASSERT_TRUE(node.storage.write_checkpoint(20, blob_for(20)).ok());
    EXPECT_EQ(node.storage.metadata().checkpoint_op, 20u);
  }
  env_.crash();
  Recovered node = recover_ok();
  ASSERT_TRUE(node.state.checkpoint);
  EXPECT_EQ(node.state.checkpoint->op, 20u);
  EXPECT_EQ(node.state.checkpoint->blob, blob_for(20));
  EXPECT_EQ(node.state.metadata.checkpoint_op, 20u);
  EXPECT_EQ(node.state.metadata.commit, 25u);
  EXPECT_EQ(node.state.wal.first_op, 21u);
  ASSERT_EQ(node.state.wal.entries.size(), 10u);
  for (const WalEntry& entry : node.state.wal.entries) {
    EXPECT_EQ(entry.status, RecordStatus::ok);
    EXPECT_EQ(entry.body, body_for(entry.op));
  }
}

TEST_F(StorageRecovery, CommittedOpsPastTheWalEndAreMissing) {
  build(30, 30);
  // The last segment is lost whole (an operator's mistake, a broken disk).
  auto names = env_.list_dir(node_dir);
  ASSERT_TRUE(names.ok());
  std::string last_segment;
  for (const std::string& name : *names) {
    if (name.starts_with("wal-")) last_segment = name;
  }
  ASSERT_TRUE(env_.remove(join(node_dir, last_segment)).ok());
  ASSERT_TRUE(env_.sync_dir(node_dir).ok());
  Recovered node = recover_ok();
  const std::uint64_t head = node.state.wal.head_op;
  EXPECT_LT(head, 30u);
  EXPECT_EQ(node.state.wal.entries.back().op, 30u);
  for (std::uint64_t op = head + 1; op <= 30; ++op) {
    EXPECT_EQ(node.state.wal.find(op)->status, RecordStatus::missing);
  }
  // The missing ones are appended in order, as fetched from peers.
  testing::append_ops(node.storage.wal(), head + 1, 30);
  EXPECT_TRUE(recover_ok().state.wal.ops_with(RecordStatus::missing).empty());
}

TEST_F(StorageRecovery, ACorruptRecordIsReportedNotTruncated) {
  build(30, 30);
  Recovered first = recover_ok();
  const auto where = first.storage.wal().locate(12);
  ASSERT_TRUE(where);
  env_.flip_bit(join(node_dir, where->segment), where->offset + where->length / 2, 5);
  Recovered node = recover_ok();
  EXPECT_EQ(node.state.wal.head_op, 30u);
  EXPECT_EQ(node.state.wal.ops_with(RecordStatus::corrupt), std::vector<std::uint64_t>{12});
  ASSERT_TRUE(node.storage.wal().repair(12, body_for(12)).ok());
  EXPECT_TRUE(recover_ok().state.wal.ops_with(RecordStatus::corrupt).empty());
}

TEST_F(StorageRecovery, OneDamagedMetadataCopyIsSurvivedAndReported) {
  build(5, 5);
  env_.flip_bit(join(node_dir, MetadataStore::file_name(0)), 15, 1);
  Recovered node = recover_ok();
  EXPECT_EQ(node.state.metadata_copies[0].status, CopyStatus::corrupt);
  EXPECT_EQ(node.state.metadata_copies[1].status, CopyStatus::valid);
}

TEST_F(StorageRecovery, BothMetadataCopiesDamagedIsNothingValid) {
  build(5, 5);
  env_.flip_bit(join(node_dir, MetadataStore::file_name(0)), 15, 1);
  env_.flip_bit(join(node_dir, MetadataStore::file_name(1)), 25, 1);
  auto recovered = recover(env_, node_dir, options_);
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.error().code, Errc::nothing_valid);
  EXPECT_NE(recovered.error().message.find("sync-node"), std::string::npos);
  EXPECT_NE(recovered.error().message.find("metadata.0"), std::string::npos);
}

TEST_F(StorageRecovery, MetadataGoneButTheWalThereIsNothingValid) {
  build(5, 5);
  ASSERT_TRUE(env_.remove(join(node_dir, MetadataStore::file_name(0))).ok());
  ASSERT_TRUE(env_.remove(join(node_dir, MetadataStore::file_name(1))).ok());
  auto recovered = recover(env_, node_dir, options_);
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.error().code, Errc::nothing_valid);
}

TEST_F(StorageRecovery, ANamedCheckpointWithNoValidCopyIsNothingValid) {
  build(30, 30);
  {
    Recovered node = recover_ok();
    ASSERT_TRUE(node.storage.write_checkpoint(20, blob_for(20)).ok());
  }
  for (std::size_t i = 0; i < 2; ++i) {
    env_.flip_bit(join(node_dir, CheckpointStore::file_name(i)), 40, 0);
  }
  auto recovered = recover(env_, node_dir, options_);
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.error().code, Errc::nothing_valid);
  EXPECT_NE(recovered.error().message.find("checkpoint 20"), std::string::npos);
}

TEST_F(StorageRecovery, OneDamagedCheckpointCopyIsSurvived) {
  build(30, 30);
  {
    Recovered node = recover_ok();
    ASSERT_TRUE(node.storage.write_checkpoint(20, blob_for(20)).ok());
  }
  env_.flip_bit(join(node_dir, CheckpointStore::file_name(1)), 40, 0);
  Recovered node = recover_ok();
  ASSERT_TRUE(node.state.checkpoint);
  EXPECT_EQ(node.state.checkpoint->op, 20u);
  EXPECT_EQ(node.state.checkpoint_copies[1].status, CopyStatus::corrupt);
}

TEST_F(StorageRecovery, ACheckpointKeepsTheWalUntilReleased) {
  build(60, 60);
  Recovered node = recover_ok();
  const std::size_t segments = node.storage.wal().segment_count();
  ASSERT_GT(segments, 2u);
  ASSERT_TRUE(node.storage.write_checkpoint(50, blob_for(50)).ok());
  EXPECT_EQ(node.storage.wal().segment_count(), segments);  // peers may still repair from it
  ASSERT_TRUE(node.storage.release_wal(50).ok());
  EXPECT_LT(node.storage.wal().segment_count(), segments);
  Recovered again = recover_ok();
  EXPECT_EQ(again.state.checkpoint->op, 50u);
  EXPECT_EQ(again.state.wal.first_op, 51u);
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::corrupt).empty());
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::missing).empty());
}

TEST_F(StorageRecovery, AReleaseNeverGoesBelowTheDurableCheckpoint) {
  build(60, 60);
  Recovered node = recover_ok();
  ASSERT_TRUE(node.storage.write_checkpoint(20, blob_for(20)).ok());
  const std::size_t segments = node.storage.wal().segment_count();
  // Asked for more than the checkpoint covers: only what lies below op 20 may go.
  ASSERT_TRUE(node.storage.release_wal(60).ok());
  EXPECT_LT(node.storage.wal().segment_count(), segments);
  Recovered again = recover_ok();
  EXPECT_EQ(again.state.wal.first_op, 21u);
  EXPECT_EQ(again.state.wal.head_op, 60u);
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::corrupt).empty());
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::missing).empty());
  // No checkpoint yet: nothing is released.
  {
    MemoryEnv env;
    ASSERT_TRUE(env.create_dir(node_dir).ok());
    auto fresh = recover(env, node_dir, options_);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE(fresh->storage.format(initial()).ok());
    testing::append_ops(fresh->storage.wal(), 1, 60, 8);
    const std::size_t before = fresh->storage.wal().segment_count();
    ASSERT_TRUE(fresh->storage.release_wal(50).ok());
    EXPECT_EQ(fresh->storage.wal().segment_count(), before);
  }
}

TEST_F(StorageRecovery, CheckpointsKeepTheDirectoryBounded) {
  Recovered node = recover_ok();
  ASSERT_TRUE(node.storage.format(initial()).ok());
  std::uint64_t peak = 0;
  std::uint64_t previous = 0;
  for (std::uint64_t op = 1; op <= 3000; ++op) {
    ASSERT_TRUE(node.storage.wal().append(op, body_for(op)).ok());
    if (op % 5 == 0) {
      ASSERT_TRUE(node.storage.wal().sync().ok());
    }
    if (op % 200 == 0) {
      // As the core does: checkpoint, then release the WAL below the previous checkpoint.
      ASSERT_TRUE(node.storage.write_checkpoint(op - 50, blob_for(op)).ok());
      ASSERT_TRUE(node.storage.release_wal(previous).ok());
      previous = op - 50;
    }
    peak = std::max(peak, env_.bytes_in(node_dir));
  }
  // At most ~450 records of ~130 bytes live in the WAL (~57 KiB), plus the small metadata
  // and checkpoint copies, against ~390 KiB written in all.
  EXPECT_LE(peak, 80u * 1024u);
  Recovered again = recover_ok();
  EXPECT_EQ(again.state.checkpoint->op, 2950u);
  EXPECT_EQ(again.state.wal.first_op, 2951u);
  EXPECT_EQ(again.state.wal.head_op, 3000u);
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::corrupt).empty());
  EXPECT_TRUE(again.state.wal.ops_with(RecordStatus::missing).empty());
}

TEST_F(StorageRecovery, RecoversOnTheRealDisk) {
  testing::TempDir dir;
  {
    auto recovered = recover(posix_env(), dir.path(), options_);
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    ASSERT_TRUE(recovered->state.fresh);
    ASSERT_TRUE(recovered->storage.format(initial()).ok());
    testing::append_ops(recovered->storage.wal(), 1, 40, 8);
    ASSERT_TRUE(recovered->storage.write_checkpoint(30, blob_for(30)).ok());
  }
  auto recovered = recover(posix_env(), dir.path(), options_);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_FALSE(recovered->state.fresh);
  EXPECT_EQ(recovered->state.checkpoint->op, 30u);
  EXPECT_EQ(recovered->state.checkpoint->blob, blob_for(30));
  EXPECT_EQ(recovered->state.metadata.checkpoint_op, 30u);
  EXPECT_EQ(recovered->state.wal.head_op, 40u);
  EXPECT_EQ(recovered->state.wal.find(35)->body, body_for(35));
}

}  // namespace
}  // namespace vsr::storage
