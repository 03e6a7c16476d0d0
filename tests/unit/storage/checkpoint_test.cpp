// Proves the checkpoint copies: every copy holds the blob with its op and checksum, the
// newest valid copy (by op, then sequence) wins, damage to any copy is reported and costs
// only that copy, damage to all leaves no checkpoint, and a crash at any step of a write
// (with the last write torn or not) leaves the old or the new checkpoint, never neither.

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "storage_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/storage/checkpoint.hpp"
#include "vsr/storage/memory_env.hpp"

namespace vsr::storage {
namespace {

using testing::blob_for;
using testing::node_dir;

std::string copy_path(std::size_t index) {
  return join(node_dir, CheckpointStore::file_name(index));
}

class StorageCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_node_dir(env_); }

  CheckpointLoad load(std::size_t copies = 2) {
    CheckpointStore store(env_, node_dir, copies);
    auto loaded = store.load();
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? *loaded : CheckpointLoad{};
  }

  void write(std::uint64_t op, std::size_t copies = 2) {
    CheckpointStore store(env_, node_dir, copies);
    ASSERT_TRUE(store.load().ok());
    ASSERT_TRUE(store.write(op, blob_for(op)).ok());
  }

  MemoryEnv env_;
};

TEST_F(StorageCheckpoint, NoneBeforeTheFirstWrite) {
  const CheckpointLoad loaded = load();
  EXPECT_FALSE(loaded.newest);
  EXPECT_FALSE(loaded.any_present());
  ASSERT_EQ(loaded.copies.size(), 2u);
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::missing);
}

TEST_F(StorageCheckpoint, WriteThenLoadSurvivesACrash) {
  write(10);
  env_.crash();
  const CheckpointLoad loaded = load();
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(loaded.newest->op, 10u);
  EXPECT_EQ(loaded.newest->blob, blob_for(10));
  EXPECT_EQ(loaded.newest->checksum, checksum_of(blob_for(10)));
  for (const CopyState& copy : loaded.copies) EXPECT_EQ(copy.status, CopyStatus::valid);
}

TEST_F(StorageCheckpoint, TheNewestByOpThenSequenceWins) {
  write(10);
  write(20);
  EXPECT_EQ(load().newest->op, 20u);
  // An equal op written later wins by sequence.
  {
    CheckpointStore store(env_, node_dir);
    ASSERT_TRUE(store.load().ok());
    ASSERT_TRUE(store.write(20, "second blob at 20").ok());
  }
  EXPECT_EQ(load().newest->blob, "second blob at 20");
}

TEST_F(StorageCheckpoint, DamageToEachCopyIsReportedAndTheOthersServe) {
  write(10);
  write(20);
  const std::string pristine[] = {*env_.contents(copy_path(0)), *env_.contents(copy_path(1))};
  for (std::size_t victim = 0; victim < 2; ++victim) {
    for (std::size_t byte = 0; byte < pristine[victim].size(); byte += 3) {
      env_.set_file(copy_path(0), pristine[0]);
      env_.set_file(copy_path(1), pristine[1]);
      env_.flip_bit(copy_path(victim), byte, static_cast<int>(byte % 8));
      const CheckpointLoad loaded = load();
      EXPECT_EQ(loaded.copies[victim].status, CopyStatus::corrupt) << victim << " " << byte;
      EXPECT_EQ(loaded.copies[1 - victim].status, CopyStatus::valid);
      ASSERT_TRUE(loaded.newest);
      EXPECT_EQ(loaded.newest->op, 20u);
      EXPECT_EQ(loaded.newest->blob, blob_for(20));
    }
  }
}

TEST_F(StorageCheckpoint, DamageToAllCopiesLeavesNone) {
  write(10, 3);
  for (std::size_t i = 0; i < 3; ++i) env_.flip_bit(copy_path(i), 30 + i, 4);
  const CheckpointLoad loaded = load(3);
  EXPECT_FALSE(loaded.newest);
  EXPECT_TRUE(loaded.any_present());
  for (const CopyState& copy : loaded.copies) {
    EXPECT_EQ(copy.status, CopyStatus::corrupt);
    EXPECT_FALSE(copy.problem.empty());
  }
}

TEST_F(StorageCheckpoint, PowerLossAtEveryStepOfAWriteKeepsOldOrNew) {
  std::uint64_t steps = 0;
  {
    MemoryEnv env;
    testing::make_node_dir(env);
    CheckpointStore store(env, node_dir);
    ASSERT_TRUE(store.load().ok());
    const std::uint64_t before = env.mutations();
    ASSERT_TRUE(store.write(10, blob_for(10)).ok());
    steps = env.mutations() - before;
  }
  ASSERT_EQ(steps, 10u);  // per copy: create, write, fdatasync, rename, directory fsync
  for (std::uint64_t strike = 0; strike <= steps; ++strike) {
    for (const std::size_t tear : std::initializer_list<std::size_t>{0, 1, 9, 100000}) {
      SCOPED_TRACE(::testing::Message() << "strike " << strike << " tear " << tear);
      MemoryEnv env;
      testing::make_node_dir(env);
      CheckpointStore store(env, node_dir);
      ASSERT_TRUE(store.load().ok());
      ASSERT_TRUE(store.write(10, blob_for(10)).ok());
      env.arm_crash(strike);
      const bool acknowledged = store.write(20, blob_for(20)).ok();
      env.crash(CrashOptions{tear});
      CheckpointStore after(env, node_dir);
      auto loaded = after.load();
      ASSERT_TRUE(loaded.ok());
      ASSERT_TRUE(loaded->newest);
      if (acknowledged) {
        EXPECT_EQ(loaded->newest->op, 20u);
      }
      EXPECT_EQ(loaded->newest->blob, blob_for(loaded->newest->op));
      auto names = env.list_dir(node_dir);
      ASSERT_TRUE(names.ok());
      for (const std::string& name : *names) EXPECT_EQ(name.find(".tmp"), std::string::npos);
      // Whatever survived, the next checkpoint goes on top of it.
      ASSERT_TRUE(after.write(30, blob_for(30)).ok());
      CheckpointStore again(env, node_dir);
      auto reloaded = again.load();
      ASSERT_TRUE(reloaded.ok() && reloaded->newest);
      EXPECT_EQ(reloaded->newest->op, 30u);
    }
  }
}

TEST_F(StorageCheckpoint, AFileWrittenByHandFromTheGrammarLoads) {
  const std::string blob = "app state + client table";
  std::string fields;
  tnet::Encoder encoder(fields);
  encoder.begin_dict();
  encoder.key("format");
  encoder.bytes("vsr.checkpoint.1");
  encoder.key("op");
  encoder.integer(42);
  encoder.key("sequence");
  encoder.integer(3);
  encoder.key("checksum");
  encoder.bytes(checksum_of(blob).bytes());
  encoder.key("blob");
  encoder.bytes(blob);
  encoder.end_dict();
  std::string file;
  tnet::Encoder sealed(file);
  sealed.begin_dict();
  sealed.key("checksum");
  sealed.bytes(checksum_of(fields).bytes());
  sealed.key("body");
  sealed.bytes(fields);
  sealed.end_dict();
  env_.set_file(copy_path(1), file);
  const CheckpointLoad loaded = load();
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(loaded.newest->op, 42u);
  EXPECT_EQ(loaded.newest->sequence, 3u);
  EXPECT_EQ(loaded.newest->blob, blob);
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::missing);
}

TEST_F(StorageCheckpoint, ABlobWhoseChecksumFieldLiesIsCorrupt) {
  std::string fields;
  tnet::Encoder encoder(fields);
  encoder.begin_dict();
  encoder.key("format");
  encoder.bytes("vsr.checkpoint.1");
  encoder.key("op");
  encoder.integer(1);
  encoder.key("sequence");
  encoder.integer(1);
  encoder.key("checksum");
  encoder.bytes(checksum_of("something else").bytes());
  encoder.key("blob");
  encoder.bytes("blob");
  encoder.end_dict();
  std::string file;
  tnet::Encoder sealed(file);
  sealed.begin_dict();
  sealed.key("checksum");
  sealed.bytes(checksum_of(fields).bytes());
  sealed.key("body");
  sealed.bytes(fields);
  sealed.end_dict();
  env_.set_file(copy_path(0), file);
  const CheckpointLoad loaded = load();
  EXPECT_FALSE(loaded.newest);
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::corrupt);
}

}  // namespace
}  // namespace vsr::storage
