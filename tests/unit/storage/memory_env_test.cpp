// Proves the fault model of MemoryEnv, on which every power-loss test rests: a crash keeps
// exactly what fdatasync and directory fsync made durable, can tear the last unsynced
// write, strikes at a chosen mutation, and media faults (bit flips, bad sectors, failing
// reads and syncs) happen when asked and survive crashes; an armed I/O error fails one call,
// and a misdirected write lands elsewhere in its file.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "storage_test_util.hpp"
#include "vsr/storage/memory_env.hpp"

namespace vsr::storage {
namespace {

using testing::node_dir;

class StorageMemoryEnv : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_node_dir(env_); }

  std::unique_ptr<WritableFile> open(const std::string& name, OpenMode mode = OpenMode::existing) {
    auto file = env_.open_writable(join(node_dir, name), mode);
    EXPECT_TRUE(file.ok());
    return std::move(file).value();
  }

  // A file whose contents and directory entry are durable.
  void make_durable(const std::string& name, std::string_view contents) {
    auto file = open(name, OpenMode::truncate);
    ASSERT_TRUE(file->append(contents).ok());
    ASSERT_TRUE(file->sync().ok());
    ASSERT_TRUE(env_.sync_dir(node_dir).ok());
  }

  std::optional<std::string> contents(const std::string& name) {
    return env_.contents(join(node_dir, name));
  }

  MemoryEnv env_;
};

TEST_F(StorageMemoryEnv, CrashDropsUnsyncedWrites) {
  make_durable("f", "abc");
  auto file = open("f");
  ASSERT_TRUE(file->append("def").ok());
  EXPECT_EQ(contents("f"), "abcdef");
  env_.crash();
  EXPECT_EQ(contents("f"), "abc");
}

TEST_F(StorageMemoryEnv, SyncedWritesSurvive) {
  make_durable("f", "abc");
  auto file = open("f");
  ASSERT_TRUE(file->append("def").ok());
  ASSERT_TRUE(file->sync().ok());
  env_.crash();
  EXPECT_EQ(contents("f"), "abcdef");
}

TEST_F(StorageMemoryEnv, NewFileWithoutDirectorySyncVanishes) {
  auto file = open("f", OpenMode::truncate);
  ASSERT_TRUE(file->append("abc").ok());
  ASSERT_TRUE(file->sync().ok());
  env_.crash();
  EXPECT_FALSE(env_.exists(join(node_dir, "f")));
}

TEST_F(StorageMemoryEnv, RenameWithoutDirectorySyncIsUndone) {
  make_durable("f", "old");
  auto temp = open("f.tmp", OpenMode::truncate);
  ASSERT_TRUE(temp->append("new").ok());
  ASSERT_TRUE(temp->sync().ok());
  ASSERT_TRUE(env_.rename(join(node_dir, "f.tmp"), join(node_dir, "f")).ok());
  EXPECT_EQ(contents("f"), "new");
  env_.crash();
  EXPECT_EQ(contents("f"), "old");
  EXPECT_FALSE(env_.exists(join(node_dir, "f.tmp")));
}

TEST_F(StorageMemoryEnv, RenameWithDirectorySyncIsDurable) {
  make_durable("f", "old");
  auto temp = open("f.tmp", OpenMode::truncate);
  ASSERT_TRUE(temp->append("new").ok());
  ASSERT_TRUE(temp->sync().ok());
  ASSERT_TRUE(env_.rename(join(node_dir, "f.tmp"), join(node_dir, "f")).ok());
  ASSERT_TRUE(env_.sync_dir(node_dir).ok());
  env_.crash();
  EXPECT_EQ(contents("f"), "new");
}

TEST_F(StorageMemoryEnv, RemoveWithoutDirectorySyncIsUndone) {
  make_durable("f", "abc");
  ASSERT_TRUE(env_.remove(join(node_dir, "f")).ok());
  EXPECT_FALSE(env_.exists(join(node_dir, "f")));
  env_.crash();
  EXPECT_EQ(contents("f"), "abc");
}

TEST_F(StorageMemoryEnv, UnsyncedTruncateIsUndone) {
  make_durable("f", "abcdef");
  auto file = open("f");
  ASSERT_TRUE(file->truncate(2).ok());
  env_.crash();
  EXPECT_EQ(contents("f"), "abcdef");
}

TEST_F(StorageMemoryEnv, CrashCanTearTheLastUnsyncedWrite) {
  make_durable("f", "abc");
  auto file = open("f");
  ASSERT_TRUE(file->append("012345").ok());
  env_.crash(CrashOptions{2});
  EXPECT_EQ(contents("f"), "abc01");
}

TEST_F(StorageMemoryEnv, TearKeepsOnlyTheLastWriteAndZeroFillsTheGap) {
  make_durable("f", "abc");
  auto file = open("f");
  ASSERT_TRUE(file->append("lost").ok());
  ASSERT_TRUE(file->append("torn").ok());
  env_.crash(CrashOptions{3});
  EXPECT_EQ(contents("f"), std::string("abc\0\0\0\0tor", 10));
}

TEST_F(StorageMemoryEnv, TearOfASyncedWriteChangesNothing) {
  make_durable("f", "abc");
  env_.crash(CrashOptions{2});
  EXPECT_EQ(contents("f"), "abc");
}

TEST_F(StorageMemoryEnv, ArmedCrashStrikesAtTheChosenMutation) {
  make_durable("f", "abc");
  auto file = open("f");
  const std::uint64_t before = env_.mutations();
  env_.arm_crash(1);
  EXPECT_TRUE(file->append("d").ok());  // the one mutation allowed
  EXPECT_FALSE(env_.down());
  auto struck = file->sync();
  ASSERT_FALSE(struck.ok());
  EXPECT_EQ(struck.error().code, Errc::io);
  EXPECT_TRUE(env_.down());
  EXPECT_EQ(env_.mutations(), before + 2);
  // The machine is dead: reads fail too.
  EXPECT_FALSE(env_.read_file(join(node_dir, "f"), 100).ok());
  env_.crash();
  EXPECT_FALSE(env_.down());
  EXPECT_EQ(contents("f"), "abc");  // the sync never happened
  // Handles from before the crash stay dead.
  EXPECT_FALSE(file->append("x").ok());
}

TEST_F(StorageMemoryEnv, AWriteStruckByTheCrashCanBeTorn) {
  make_durable("f", "abc");
  auto file = open("f");
  env_.arm_crash(0);
  ASSERT_FALSE(file->append("012345").ok());
  env_.crash(CrashOptions{4});
  EXPECT_EQ(contents("f"), "abc0123");
}

TEST_F(StorageMemoryEnv, FlippedBitsSurviveCrashes) {
  make_durable("f", "abc");
  env_.flip_bit(join(node_dir, "f"), 1, 0);
  EXPECT_EQ(contents("f"), "acc");
  env_.crash();
  EXPECT_EQ(contents("f"), "acc");
}

TEST_F(StorageMemoryEnv, FailingReadsAndSyncs) {
  make_durable("f", "abc");
  env_.fail_reads(join(node_dir, "f"), true);
  auto read = env_.read_file(join(node_dir, "f"), 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::io);
  EXPECT_FALSE(env_.read_at(join(node_dir, "f"), 0, 1).ok());
  env_.fail_reads(join(node_dir, "f"), false);
  EXPECT_TRUE(env_.read_file(join(node_dir, "f"), 100).ok());

  auto file = open("f");
  ASSERT_TRUE(file->append("def").ok());
  env_.fail_syncs(true);
  EXPECT_FALSE(file->sync().ok());
  EXPECT_FALSE(env_.sync_dir(node_dir).ok());
  env_.fail_syncs(false);
  env_.crash();
  EXPECT_EQ(contents("f"), "abc");  // the failed sync made nothing durable
}

TEST_F(StorageMemoryEnv, BytesInCountsLiveFiles) {
  make_durable("a", "abc");
  make_durable("b", "de");
  EXPECT_EQ(env_.bytes_in(node_dir), 5u);
}

TEST_F(StorageMemoryEnv, DurableFilesAreWhatACrashWouldKeep) {
  make_durable("a", "synced");
  auto a = open("a");
  ASSERT_TRUE(a->append(" and more").ok());  // not synced
  EXPECT_EQ(env_.unsynced_write_bytes(), 9u);
  auto b = open("b", OpenMode::truncate);  // entry not synced
  ASSERT_TRUE(b->append("new").ok());
  ASSERT_TRUE(b->sync().ok());
  const std::map<std::string, std::string> expected{{"a", "synced"}};
  EXPECT_EQ(env_.durable_files(node_dir), expected);
  ASSERT_TRUE(a->sync().ok());
  EXPECT_EQ(env_.unsynced_write_bytes(), 0u);
  env_.crash();
  const std::map<std::string, std::string> kept{{"a", "synced and more"}};
  EXPECT_EQ(env_.durable_files(node_dir), kept);
}

TEST_F(StorageMemoryEnv, ABadSectorFailsReadsThatTouchItUntilAWriteCoversIt) {
  make_durable("f", "0123456789abcdef");
  const std::string path = join(node_dir, "f");
  env_.add_bad_sector(path, 4, 2);
  EXPECT_EQ(env_.read_file(path, 100).error().code, Errc::io);
  EXPECT_EQ(env_.read_at(path, 5, 1).error().code, Errc::io);
  EXPECT_EQ(*env_.read_at(path, 0, 4), "0123");
  EXPECT_EQ(*env_.read_at(path, 6, 4), "6789");
  env_.crash();  // the medium keeps it
  EXPECT_EQ(env_.read_at(path, 4, 1).error().code, Errc::io);
  auto file = open("f");
  ASSERT_TRUE(file->write_at(3, "XYZ").ok());  // covers bytes 4 and 5: remapped
  EXPECT_EQ(*env_.read_file(path, 100), "012XYZ6789abcdef");
}

TEST_F(StorageMemoryEnv, AMisdirectedWriteLandsElsewhereAndLeavesTheAimedRangeAsItWas) {
  make_durable("f", "0123456789");
  env_.misdirect_next_write(-6);
  auto file = open("f");
  ASSERT_TRUE(file->append("ABCD").ok());  // aimed at 10..13, lands at 4..7
  ASSERT_TRUE(file->sync().ok());
  std::string expected = "0123ABCD89";
  expected.append(4, '\0');  // the file grew as if it had landed
  EXPECT_EQ(contents("f"), expected);
  ASSERT_TRUE(file->append("E").ok());  // only the next write was misdirected
  EXPECT_EQ(contents("f"), expected + "E");
}

TEST_F(StorageMemoryEnv, AnArmedIoErrorFailsOneCallAndNothingElse) {
  make_durable("f", "abc");
  auto file = open("f");
  env_.arm_io_error(1);
  ASSERT_TRUE(file->append("d").ok());
  const Status failed = file->sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::io);
  EXPECT_FALSE(env_.down());
  ASSERT_TRUE(file->sync().ok());  // the next one works
  env_.crash();
  EXPECT_EQ(contents("f"), "abcd");
}

}  // namespace
}  // namespace vsr::storage
