// Proves the metadata copies: written alternately with rising sequence numbers, read back as
// the newest valid copy, a damaged copy (flipped bit, torn write, crash at any step) never
// costs the other one, and with both damaged there is no metadata rather than a wrong one.
// The on-disk grammar is checked by writing a copy by hand from docs/vsr/storage.md.

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "storage_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/metadata.hpp"

namespace vsr::storage {
namespace {

using testing::node_dir;

Metadata sample(std::uint64_t view) {
  Metadata m;
  m.cluster_id = "cluster-7f3a";
  m.replica = 2;
  m.view = view;
  m.log_view = view;
  m.commit = view * 10;
  m.checkpoint_op = view * 5;
  return m;
}

// `m` without its sequence, for comparisons across writes.
Metadata content(Metadata m) {
  m.sequence = 0;
  return m;
}

std::string copy_path(std::size_t index) {
  return join(node_dir, MetadataStore::file_name(index));
}

class StorageMetadata : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_node_dir(env_); }

  MetadataLoad load() {
    MetadataStore store(env_, node_dir);
    auto loaded = store.load();
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? *loaded : MetadataLoad{};
  }

  MemoryEnv env_;
};

TEST_F(StorageMetadata, NothingBeforeFormat) {
  const MetadataLoad loaded = load();
  EXPECT_FALSE(loaded.newest);
  EXPECT_FALSE(loaded.any_present());
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::missing);
}

TEST_F(StorageMetadata, FormatWritesBothCopies) {
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.format(sample(0)).ok());
  env_.crash();
  const MetadataLoad loaded = load();
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(content(*loaded.newest), sample(0));
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::valid);
  EXPECT_EQ(loaded.copies[1].status, CopyStatus::valid);
  EXPECT_EQ(loaded.newest->sequence, 2u);
}

TEST_F(StorageMetadata, WritesAlternateAndTheNewestWins) {
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.format(sample(0)).ok());
  for (std::uint64_t view = 1; view <= 5; ++view) {
    ASSERT_TRUE(store.write(sample(view)).ok());
    env_.crash();
    const MetadataLoad loaded = load();
    ASSERT_TRUE(loaded.newest);
    EXPECT_EQ(content(*loaded.newest), sample(view));
    EXPECT_EQ(loaded.newest->sequence, view + 2);
    // Format put sequences 1 and 2 in copies 0 and 1; each write then goes to the copy the
    // previous one did not touch.
    EXPECT_EQ(loaded.copies[(view + 1) % 2].sequence, view + 2);
    EXPECT_EQ(loaded.copies[view % 2].sequence, view + 1);
  }
}

TEST_F(StorageMetadata, ABitFlipInEitherCopyLeavesTheOther) {
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.format(sample(0)).ok());
  ASSERT_TRUE(store.write(sample(1)).ok());  // copy 0: view 1 (newest); copy 1: view 0
  const std::string copy0 = *env_.contents(copy_path(0));
  const std::string copy1 = *env_.contents(copy_path(1));
  for (std::size_t byte = 0; byte < copy0.size(); ++byte) {
    env_.set_file(copy_path(0), copy0);
    env_.flip_bit(copy_path(0), byte, static_cast<int>(byte % 8));
    const MetadataLoad loaded = load();
    EXPECT_EQ(loaded.copies[0].status, CopyStatus::corrupt) << byte;
    ASSERT_TRUE(loaded.newest) << byte;
    EXPECT_EQ(content(*loaded.newest), sample(0)) << byte;  // the older copy
  }
  env_.set_file(copy_path(0), copy0);
  for (std::size_t byte = 0; byte < copy1.size(); ++byte) {
    env_.set_file(copy_path(1), copy1);
    env_.flip_bit(copy_path(1), byte, static_cast<int>(byte % 8));
    const MetadataLoad loaded = load();
    EXPECT_EQ(loaded.copies[1].status, CopyStatus::corrupt) << byte;
    ASSERT_TRUE(loaded.newest) << byte;
    EXPECT_EQ(content(*loaded.newest), sample(1)) << byte;
  }
}

TEST_F(StorageMetadata, BothCopiesDamagedMeansNoMetadata) {
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.format(sample(0)).ok());
  env_.flip_bit(copy_path(0), 10, 1);
  env_.flip_bit(copy_path(1), 20, 2);
  const MetadataLoad loaded = load();
  EXPECT_FALSE(loaded.newest);
  EXPECT_TRUE(loaded.any_present());
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::corrupt);
  EXPECT_EQ(loaded.copies[1].status, CopyStatus::corrupt);
  EXPECT_FALSE(loaded.copies[0].problem.empty());
}

TEST_F(StorageMetadata, AnUnreadableCopyIsReportedAndTheOtherUsed) {
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.format(sample(0)).ok());
  ASSERT_TRUE(store.write(sample(1)).ok());
  env_.fail_reads(copy_path(0), true);
  const MetadataLoad loaded = load();
  EXPECT_EQ(loaded.copies[0].status, CopyStatus::unreadable);
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(content(*loaded.newest), sample(0));
}

TEST_F(StorageMetadata, AWriteAfterLoadAvoidsTheNewestCopyEvenWhenTheOtherIsDamaged) {
  {
    MetadataStore store(env_, node_dir);
    ASSERT_TRUE(store.load().ok());
    ASSERT_TRUE(store.format(sample(0)).ok());
    ASSERT_TRUE(store.write(sample(1)).ok());  // newest in copy 0
    ASSERT_TRUE(store.write(sample(2)).ok());  // newest in copy 1
  }
  // The newest is damaged (in its body, past what the torn write below rewrites): copy 0
  // (view 1) is the only valid one.
  env_.flip_bit(copy_path(1), env_.contents(copy_path(1))->size() - 10, 0);
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  EXPECT_EQ(content(store.current()), sample(1));
  // A torn write now must hit copy 1, not the only valid copy 0.
  env_.arm_crash(1);  // open succeeds, the write is struck
  EXPECT_FALSE(store.write(sample(3)).ok());
  env_.crash(CrashOptions{7});
  const MetadataLoad loaded = load();
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(content(*loaded.newest), sample(1));
}

TEST_F(StorageMetadata, PowerLossAtEveryStepOfAWriteKeepsOldOrNew) {
  // How many mutations one write takes.
  std::uint64_t steps = 0;
  {
    MemoryEnv env;
    testing::make_node_dir(env);
    MetadataStore store(env, node_dir);
    ASSERT_TRUE(store.load().ok());
    ASSERT_TRUE(store.format(sample(0)).ok());
    ASSERT_TRUE(store.write(sample(1)).ok());
    const std::uint64_t before = env.mutations();
    ASSERT_TRUE(store.write(sample(2)).ok());
    steps = env.mutations() - before;
  }
  ASSERT_GE(steps, 3u);
  for (std::uint64_t strike = 0; strike <= steps; ++strike) {
    for (const std::size_t tear : std::initializer_list<std::size_t>{0, 1, 17, 60, 4096}) {
      SCOPED_TRACE(::testing::Message() << "strike " << strike << " tear " << tear);
      MemoryEnv env;
      testing::make_node_dir(env);
      MetadataStore store(env, node_dir);
      ASSERT_TRUE(store.load().ok());
      ASSERT_TRUE(store.format(sample(0)).ok());
      ASSERT_TRUE(store.write(sample(1)).ok());
      env.arm_crash(strike);
      const bool acknowledged = store.write(sample(2)).ok();
      env.crash(CrashOptions{tear});
      MetadataStore after(env, node_dir);
      auto loaded = after.load();
      ASSERT_TRUE(loaded.ok());
      ASSERT_TRUE(loaded->newest);
      const Metadata got = content(*loaded->newest);
      if (acknowledged) {
        EXPECT_EQ(got, sample(2));
      } else {
        EXPECT_TRUE(got == sample(1) || got == sample(2));
      }
      // Whatever survived, the store writes on from it.
      ASSERT_TRUE(after.write(sample(3)).ok());
      MetadataStore again(env, node_dir);
      ASSERT_TRUE(again.load().ok());
      EXPECT_EQ(content(again.current()), sample(3));
    }
  }
}

TEST_F(StorageMetadata, PowerLossDuringFormatLeavesNothingOrAValidCopy) {
  for (std::uint64_t strike = 0; strike <= 12; ++strike) {
    SCOPED_TRACE(::testing::Message() << "strike " << strike);
    MemoryEnv env;
    testing::make_node_dir(env);
    MetadataStore store(env, node_dir);
    ASSERT_TRUE(store.load().ok());
    env.arm_crash(strike);
    const bool acknowledged = store.format(sample(0)).ok();
    env.crash(CrashOptions{5});
    MetadataStore after(env, node_dir);
    auto loaded = after.load();
    ASSERT_TRUE(loaded.ok());
    if (acknowledged) {
      ASSERT_TRUE(loaded->newest);
    }
    if (loaded->newest) {
      EXPECT_EQ(content(*loaded->newest), sample(0));
    } else {
      EXPECT_FALSE(loaded->any_present());  // a fresh directory again, not a broken node
    }
    auto names = env.list_dir(node_dir);
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) EXPECT_EQ(name.find(".tmp"), std::string::npos);
  }
}

TEST_F(StorageMetadata, ACopyWrittenByHandFromTheGrammarLoads) {
  std::string body;
  tnet::Encoder encoder(body);
  encoder.begin_dict();
  encoder.key("format");
  encoder.bytes("vsr.metadata.2");
  encoder.key("sequence");
  encoder.integer(9);
  encoder.key("cluster_id");
  encoder.bytes("c1");
  encoder.key("replica");
  encoder.integer(4);
  encoder.key("view");
  encoder.integer(7);
  encoder.key("log_view");
  encoder.integer(6);
  encoder.key("commit");
  encoder.integer(100);
  encoder.key("checkpoint_op");
  encoder.integer(64);
  encoder.key("core");
  encoder.bytes("opaque core metadata");
  encoder.end_dict();
  std::string file;
  tnet::Encoder sealed(file);
  sealed.begin_dict();
  sealed.key("checksum");
  sealed.bytes(checksum_of(body).bytes());
  sealed.key("body");
  sealed.bytes(body);
  sealed.end_dict();
  env_.set_file(copy_path(1), file);
  const MetadataLoad loaded = load();
  ASSERT_TRUE(loaded.newest);
  EXPECT_EQ(loaded.newest->sequence, 9u);
  EXPECT_EQ(loaded.newest->cluster_id, "c1");
  EXPECT_EQ(loaded.newest->replica, 4u);
  EXPECT_EQ(loaded.newest->view, 7u);
  EXPECT_EQ(loaded.newest->log_view, 6u);
  EXPECT_EQ(loaded.newest->commit, 100u);
  EXPECT_EQ(loaded.newest->checkpoint_op, 64u);
  EXPECT_EQ(loaded.newest->core, "opaque core metadata");
  // And what the store writes decodes with the codec the same way.
  MetadataStore store(env_, node_dir);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.write(sample(3)).ok());
  const std::string bytes = *env_.contents(copy_path(0));
  auto written = tnet::decode(bytes);
  ASSERT_TRUE(written.ok());
  ASSERT_TRUE(written->find("checksum") && written->find("body"));
  auto inner = tnet::decode(written->find("body")->bytes());
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->find("view")->integer(), 3);
  EXPECT_EQ(inner->find("sequence")->integer(), 10);
}

TEST_F(StorageMetadata, HostileCopiesAreCorruptNotCrashes) {
  for (const std::string& junk :
       {std::string(""), std::string("999999999999:"), std::string("3:abc,"),
        std::string("10:1:x,1:y,}"), std::string(5000, '7'), std::string("\0\0\0", 3)}) {
    env_.set_file(copy_path(0), junk);
    const MetadataLoad loaded = load();
    EXPECT_NE(loaded.copies[0].status, CopyStatus::valid);
    EXPECT_FALSE(loaded.newest);
  }
}

}  // namespace
}  // namespace vsr::storage

namespace vsr::storage {
namespace {

// A restored replica's floor counts only views in which a prepare may have been acknowledged
// or a DoViewChange sent (docs/vsr/protocol.md, "Restored replicas").
TEST(StoragePromisedView, IsTheHigherOfLogViewAndVotedViewNotTheView) {
  Metadata m;
  m.view = 9;  // rose alone on timeouts
  m.log_view = 2;
  m.core = "71:7:cluster,1:5#4:view,1:9#8:log_view,1:2#6:commit,1:0#10:voted_view,1:4#}";
  EXPECT_EQ(promised_view(m), 4u);
  m.core = "71:7:cluster,1:5#4:view,1:9#8:log_view,1:6#6:commit,1:0#10:voted_view,1:0#}";
  EXPECT_EQ(promised_view(m), 6u);
}

TEST(StoragePromisedView, FallsBackToTheViewWithoutTheCoresPart) {
  Metadata m;
  m.view = 9;
  m.log_view = 2;
  EXPECT_EQ(promised_view(m), 9u) << "no core part: never lower than the truth";
  m.core = "garbage";
  EXPECT_EQ(promised_view(m), 9u);
  m.core = "16:8:log_view,2:-1#}";
  EXPECT_EQ(promised_view(m), 9u);
}

}  // namespace
}  // namespace vsr::storage
