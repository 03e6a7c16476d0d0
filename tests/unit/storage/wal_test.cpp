// Proves the WAL's contract: what sync() returned for survives a reopen, batches cost one
// write and one fdatasync, records follow the documented grammar and hash chain, and each
// kind of damage is classified the way docs/vsr/storage.md says: a flipped bit in the middle
// is corrupt (and kept), a record cut short at the very end of the last segment is a torn
// tail (and cut), a last record written whole and damaged since is corrupt (and kept), a
// deleted segment is missing, a spliced history breaks the chain. Repairs, truncation and
// deletion below a checkpoint are checked by reopening, as a restart would.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "storage_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::storage {
namespace {

using testing::append_ops;
using testing::body_for;
using testing::node_dir;
using testing::open_wal;

std::string segment_path(std::uint64_t first_op) {
  return join(node_dir, Wal::segment_name(first_op));
}

// Expects ops [1, head] of `scan` to be ok with their generation-0 bodies.
void expect_ok_everywhere(const WalScan& scan, std::uint64_t head) {
  EXPECT_EQ(scan.head_op, head);
  for (std::uint64_t op = 1; op <= head; ++op) {
    const WalEntry* entry = scan.find(op);
    ASSERT_NE(entry, nullptr) << "op " << op;
    EXPECT_EQ(entry->status, RecordStatus::ok) << "op " << op;
    EXPECT_EQ(entry->body, body_for(op)) << "op " << op;
  }
}

class StorageWal : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_node_dir(env_); }

  // Writes ops [1, last] and returns where each op's record lies.
  std::vector<RecordLocation> build(std::uint64_t last, std::uint64_t batch = 1) {
    auto opened = open_wal(env_, options_);
    append_ops(opened.wal, 1, last, batch);
    std::vector<RecordLocation> where(last + 1);
    for (std::uint64_t op = 1; op <= last; ++op) where[op] = *opened.wal.locate(op);
    return where;
  }

  // Expects every op in [from, to] of `scan` to be ok with its generation-0 body.
  static void expect_ok(const WalScan& scan, std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t op = from; op <= to; ++op) {
      const WalEntry* entry = scan.find(op);
      ASSERT_NE(entry, nullptr) << "op " << op;
      EXPECT_EQ(entry->status, RecordStatus::ok) << "op " << op;
      EXPECT_EQ(entry->body, body_for(op)) << "op " << op;
    }
  }

  MemoryEnv env_;
  WalOptions options_;
};

TEST_F(StorageWal, AppendSyncAndReopen) {
  {
    auto opened = open_wal(env_, options_);
    EXPECT_EQ(opened.scan.head_op, 0u);
    EXPECT_TRUE(opened.scan.entries.empty());
    append_ops(opened.wal, 1, 20, 4);
    EXPECT_EQ(opened.wal.durable_op(), 20u);
    auto body = opened.wal.read(7);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(*body, body_for(7));
  }
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 20u);
  EXPECT_FALSE(reopened.scan.torn_tail);
  ASSERT_EQ(reopened.scan.entries.size(), 20u);
  expect_ok(reopened.scan, 1, 20);
  // And it continues where it stopped.
  append_ops(reopened.wal, 21, 22);
  expect_ok(open_wal(env_, options_).scan, 1, 22);
}

TEST_F(StorageWal, AppendsAreInvisibleUntilSync) {
  auto opened = open_wal(env_, options_);
  append_ops(opened.wal, 1, 3);
  ASSERT_TRUE(opened.wal.append(4, body_for(4)).ok());
  EXPECT_EQ(opened.wal.head_op(), 4u);
  EXPECT_EQ(opened.wal.durable_op(), 3u);
  env_.crash();
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 3u);
}

TEST_F(StorageWal, ABatchIsOneWriteAndOneSync) {
  auto opened = open_wal(env_, options_);
  append_ops(opened.wal, 1, 1);  // creates the segment
  for (std::uint64_t op = 2; op <= 17; ++op) ASSERT_TRUE(opened.wal.append(op, body_for(op)).ok());
  const std::uint64_t before = env_.mutations();
  ASSERT_TRUE(opened.wal.sync().ok());
  EXPECT_EQ(env_.mutations() - before, 2u);  // one write, one fdatasync
}

TEST_F(StorageWal, ANewSegmentIsFollowedByADirectorySync) {
  auto opened = open_wal(env_, options_);
  ASSERT_TRUE(opened.wal.append(1, body_for(1)).ok());
  const std::uint64_t before = env_.mutations();
  ASSERT_TRUE(opened.wal.sync().ok());
  // Create, write, zeros up to the preallocation step, fdatasync, directory fsync.
  EXPECT_EQ(env_.mutations() - before, 5u);
  env_.crash();  // right after sync() returned
  EXPECT_EQ(open_wal(env_, options_).scan.head_op, 1u);
}

TEST_F(StorageWal, SegmentsRollOverAndReopen) {
  options_.segment_bytes_max = 400;
  build(60, 3);
  auto reopened = open_wal(env_, options_);
  EXPECT_GT(reopened.wal.segment_count(), 5u);
  expect_ok(reopened.scan, 1, 60);
  for (std::uint64_t first_op = 1; first_op <= 60; ++first_op) {
    if (auto bytes = env_.contents(segment_path(first_op))) {
      EXPECT_LE(bytes->size(), options_.segment_bytes_max);
    }
  }
}

TEST_F(StorageWal, RecordsFollowTheGrammarAndChain) {
  build(3);
  const std::string segment = *env_.contents(segment_path(1));
  std::string_view rest = segment;
  Checksum previous;  // op 1 chains to the zero checksum
  for (std::uint64_t op = 1; op <= 3; ++op) {
    auto prefix = tnet::decode_prefix(rest);
    ASSERT_TRUE(prefix.ok());
    const tnet::Value record = prefix->value;
    ASSERT_TRUE(record.is_dict());
    EXPECT_EQ(record.size(), 4u);
    EXPECT_EQ(record.find("op")->integer(), static_cast<std::int64_t>(op));
    EXPECT_EQ(record.find("body")->bytes(), body_for(op));
    const auto parent = Checksum::from_bytes(record.find("parent")->bytes());
    const auto checksum = Checksum::from_bytes(record.find("checksum")->bytes());
    ASSERT_TRUE(parent && checksum);
    EXPECT_EQ(*parent, previous);
    EXPECT_FALSE(checksum->is_zero());
    previous = *checksum;
    rest.remove_prefix(prefix->consumed);
  }
  EXPECT_EQ(rest.find_first_not_of('\0'), std::string_view::npos) << "then only zeros";
}

TEST_F(StorageWal, TheDocumentedExampleRecord) {
  auto opened = open_wal(env_, options_);
  ASSERT_TRUE(opened.wal.append(1, "hello").ok());
  ASSERT_TRUE(opened.wal.sync().ok());
  const std::string bytes = *env_.contents(segment_path(1));
  // docs/vsr/storage.md, "Record grammar": 88 bytes, then preallocated zeros.
  ASSERT_EQ(bytes.size(), options_.preallocate_bytes);
  EXPECT_EQ(bytes.find_last_not_of('\0'), 87u);
  EXPECT_EQ(bytes.substr(0, 24), "84:2:op,1:1#6:parent,16:");
  EXPECT_EQ(bytes.substr(24, 16), std::string(16, '\0'));
  EXPECT_EQ(bytes.substr(40, 15), ",8:checksum,16:");
  EXPECT_EQ(bytes.substr(71, 17), ",4:body,5:hello,}");
}

TEST_F(StorageWal, SyncsInsidePreallocatedSpaceKeepTheFileSize) {
  options_.preallocate_bytes = 4096;
  auto opened = open_wal(env_, options_);
  append_ops(opened.wal, 1, 1);
  const std::size_t preallocated = env_.contents(segment_path(1))->size();
  EXPECT_EQ(preallocated, 4096u);
  append_ops(opened.wal, 2, 5);  // a few small records: still inside the first 4 KiB
  EXPECT_EQ(env_.contents(segment_path(1))->size(), preallocated);
  append_ops(opened.wal, 6, 80, 8);  // past it: the file grows by whole steps
  EXPECT_EQ(env_.contents(segment_path(1))->size() % 4096, 0u);
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 80u);
  EXPECT_FALSE(reopened.scan.torn_tail) << "zeros after the last record are not a torn write";
  expect_ok(reopened.scan, 1, 80);
  // The next append overwrites the zeros in place and a later scan finds it.
  append_ops(reopened.wal, 81, 81);
  expect_ok(open_wal(env_, options_).scan, 1, 81);
}

TEST_F(StorageWal, ATornRecordInPreallocatedSpaceIsATornTail) {
  std::uint64_t end_of_three = 0;
  {
    auto opened = open_wal(env_, options_);
    append_ops(opened.wal, 1, 3);
    end_of_three = opened.wal.locate(3)->offset + opened.wal.locate(3)->length;
    ASSERT_TRUE(opened.wal.append(4, body_for(4)).ok());
    env_.arm_crash(1);  // op 4's write is the last thing that happens
    EXPECT_FALSE(opened.wal.sync().ok());
    env_.crash(CrashOptions{10});  // and only its first 10 bytes reach the disk
  }
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 3u);
  ASSERT_TRUE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.torn_tail->offset, end_of_three);
  expect_ok(reopened.scan, 1, 3);
  append_ops(reopened.wal, 4, 6);
  expect_ok(open_wal(env_, options_).scan, 1, 6);
}

TEST_F(StorageWal, BitFlipInAMiddleRecordIsReportedCorruptNotDropped) {
  const auto where = build(10);
  const std::string path = segment_path(1);
  const std::size_t size_before = env_.contents(path)->size();
  env_.flip_bit(path, where[5].offset + where[5].length / 2, 3);
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 10u);
  EXPECT_FALSE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.find(5)->status, RecordStatus::corrupt);
  EXPECT_EQ(reopened.scan.find(5)->damage, Damage::checksum);
  EXPECT_EQ(reopened.scan.ops_with(RecordStatus::corrupt), std::vector<std::uint64_t>{5});
  expect_ok(reopened.scan, 1, 4);
  expect_ok(reopened.scan, 6, 10);
  EXPECT_EQ(env_.contents(path)->size(), size_before);  // nothing was cut
  auto read = reopened.wal.read(5);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::corruption);
}

TEST_F(StorageWal, BitFlipAtEveryByteOfAMiddleRecord) {
  const auto where = build(10);
  const std::string pristine = *env_.contents(segment_path(1));
  for (std::uint64_t byte = 0; byte < where[5].length; ++byte) {
    SCOPED_TRACE(::testing::Message() << "byte " << byte);
    env_.set_file(segment_path(1), pristine);
    env_.flip_bit(segment_path(1), where[5].offset + byte, static_cast<int>(byte % 8));
    auto reopened = open_wal(env_, options_);
    EXPECT_EQ(reopened.scan.head_op, 10u);
    EXPECT_FALSE(reopened.scan.torn_tail);
    EXPECT_EQ(reopened.scan.ops_with(RecordStatus::corrupt), std::vector<std::uint64_t>{5});
    expect_ok(reopened.scan, 1, 4);
    expect_ok(reopened.scan, 6, 10);
    EXPECT_EQ(*env_.contents(segment_path(1)), [&] {
      std::string flipped = pristine;
      flipped[where[5].offset + byte] =
          static_cast<char>(flipped[where[5].offset + byte] ^ (1 << (byte % 8)));
      return flipped;
    }());
  }
}

TEST_F(StorageWal, GarbledFramingInTheMiddleIsCorruptAndTheScanResynchronises) {
  const auto where = build(10);
  std::string segment = *env_.contents(segment_path(1));
  // Destroy ops 4 and 5 entirely, length prefixes included.
  for (std::uint64_t i = where[4].offset; i < where[6].offset; ++i) segment[i] = '?';
  env_.set_file(segment_path(1), segment);
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 10u);
  EXPECT_FALSE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.ops_with(RecordStatus::corrupt), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(reopened.scan.find(4)->damage, Damage::framing);
  expect_ok(reopened.scan, 1, 3);
  expect_ok(reopened.scan, 6, 10);
}

// Finding 5 of issue 12. A record that was written whole and then damaged by the medium
// may have been acknowledged: wherever a bit flips in the last record (length prefix, keys,
// op, parent, checksum, body, terminator), the op comes back corrupt, to be repaired from a
// peer, and no byte is cut. With and without preallocated zeros after it.
class StorageWalLastRecord : public StorageWal, public ::testing::WithParamInterface<bool> {};

TEST_P(StorageWalLastRecord, BitFlipAtEveryBitOfTheLastRecordIsCorruptNeverCut) {
  options_.preallocate_bytes = GetParam() ? 4096 : 0;
  const auto where = build(10);
  const std::string pristine = *env_.contents(segment_path(1));
  ASSERT_EQ(pristine.size() > where[10].offset + where[10].length, GetParam());
  // The parent is outside the checksum (so that a record's identity survives repairs): a
  // flip there leaves a sound record that breaks the chain.
  const std::string record = pristine.substr(where[10].offset, where[10].length);
  const std::size_t parent_at = record.find("6:parent,16:") + 12;
  for (std::uint64_t byte = 0; byte < where[10].length; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE(::testing::Message() << "byte " << byte << " bit " << bit);
      env_.set_file(segment_path(1), pristine);
      env_.flip_bit(segment_path(1), where[10].offset + byte, bit);
      const std::string flipped = *env_.contents(segment_path(1));
      auto reopened = open_wal(env_, options_);
      expect_ok(reopened.scan, 1, 9);
      EXPECT_EQ(reopened.scan.head_op, 10u);
      EXPECT_FALSE(reopened.scan.torn_tail);
      ASSERT_NE(reopened.scan.find(10), nullptr);
      EXPECT_EQ(reopened.scan.find(10)->status, RecordStatus::corrupt);
      const bool in_parent = byte >= parent_at && byte < parent_at + 16;
      EXPECT_EQ(reopened.scan.find(10)->damage == Damage::chain, in_parent);
      EXPECT_EQ(*env_.contents(segment_path(1)), flipped) << "nothing is cut";
      EXPECT_EQ(reopened.wal.locate(10)->offset, where[10].offset);
    }
  }
}

TEST_P(StorageWalLastRecord, ACorruptLastRecordIsRepairedAndTheLogContinues) {
  options_.preallocate_bytes = GetParam() ? 4096 : 0;
  const auto where = build(10);
  // A flip in the body, and one in the outer length prefix (which makes the record look
  // longer than the bytes there, as a cut record would, but its fields say otherwise).
  for (const std::uint64_t byte : {where[10].length / 2, std::uint64_t{0}}) {
    SCOPED_TRACE(::testing::Message() << "byte " << byte);
    MemoryEnv env;
    testing::make_node_dir(env);
    env.set_file(segment_path(1), *env_.contents(segment_path(1)));
    env.flip_bit(segment_path(1), where[10].offset + byte, 0);
    {
      auto reopened = open_wal(env, options_);
      ASSERT_EQ(reopened.scan.find(10)->status, RecordStatus::corrupt);
      ASSERT_TRUE(reopened.wal.repair(10, body_for(10)).ok());
      append_ops(reopened.wal, 11, 12);
    }
    auto again = open_wal(env, options_);
    expect_ok_everywhere(again.scan, 12);
    EXPECT_FALSE(again.scan.torn_tail);
  }
}

TEST_P(StorageWalLastRecord, ACorruptLastRecordCanBeTruncatedByAViewChange) {
  options_.preallocate_bytes = GetParam() ? 4096 : 0;
  const auto where = build(10);
  env_.flip_bit(segment_path(1), where[10].offset + where[10].length / 2, 5);
  {
    auto reopened = open_wal(env_, options_);
    ASSERT_EQ(reopened.scan.find(10)->status, RecordStatus::corrupt);
    ASSERT_TRUE(reopened.wal.truncate_after(9).ok());
    EXPECT_EQ(env_.contents(segment_path(1))->size(), where[10].offset);
    append_ops(reopened.wal, 10, 11, 1, /*generation=*/1);
  }
  auto again = open_wal(env_, options_);
  EXPECT_EQ(again.scan.head_op, 11u);
  expect_ok(again.scan, 1, 9);
  EXPECT_EQ(again.scan.find(10)->body, body_for(10, 1));
}

INSTANTIATE_TEST_SUITE_P(Preallocated, StorageWalLastRecord, ::testing::Bool());

// The other side of the rule: a write that a crash cut short, at any byte, is the front of
// the next record followed by zeros (preallocated space) or by the end of the file. It was
// never acknowledged, and it is cut as before.
TEST_F(StorageWal, ACrashTearingTheLastAppendAtEveryByteIsATornTail) {
  for (const std::uint64_t preallocate : {std::uint64_t{0}, std::uint64_t{4096}}) {
    options_.preallocate_bytes = preallocate;
    std::uint64_t length = 1;
    for (std::uint64_t landed = 0; landed < length; ++landed) {
      SCOPED_TRACE(::testing::Message() << "preallocate " << preallocate << " landed " << landed);
      MemoryEnv env;
      testing::make_node_dir(env);
      std::uint64_t end_of_three = 0;
      {
        auto opened = open_wal(env, options_);
        append_ops(opened.wal, 1, 3);
        end_of_three = opened.wal.locate(3)->offset + opened.wal.locate(3)->length;
        ASSERT_TRUE(opened.wal.append(4, body_for(4)).ok());
        env.arm_crash(1);  // op 4's write is the last thing that happens
        EXPECT_FALSE(opened.wal.sync().ok());
        length = env.unsynced_write_bytes();
        ASSERT_GE(length, 84u) << "the write in flight is op 4's record";
        env.crash(CrashOptions{landed});  // and only its first bytes reach the disk
      }
      auto reopened = open_wal(env, options_);
      EXPECT_EQ(reopened.scan.head_op, 3u);
      EXPECT_TRUE(reopened.scan.ops_with(RecordStatus::corrupt).empty());
      EXPECT_EQ(reopened.scan.torn_tail.has_value(), landed > 0);
      if (reopened.scan.torn_tail) {
        EXPECT_EQ(reopened.scan.torn_tail->offset, end_of_three);
      }
      expect_ok(reopened.scan, 1, 3);
      append_ops(reopened.wal, 4, 5);
      expect_ok(open_wal(env, options_).scan, 1, 5);
    }
  }
}

// The limit of the rule, on the safe side: bytes after the last record that no crash of an
// append can leave (a bit flipped in the preallocated zeros) cannot be told from a record
// whose front went bad, so they stand for the next op, corrupt, and are not cut. A peer's
// prepare for that op replaces them; with no peer, the node refuses to start.
TEST_F(StorageWal, AStrayBitInThePreallocatedZerosIsTheNextOpCorrupt) {
  options_.preallocate_bytes = 4096;
  const auto where = build(10);
  const std::uint64_t end = where[10].offset + where[10].length;
  env_.flip_bit(segment_path(1), end + 100, 2);
  auto reopened = open_wal(env_, options_);
  expect_ok(reopened.scan, 1, 10);
  EXPECT_EQ(reopened.scan.head_op, 11u);
  EXPECT_FALSE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.find(11)->status, RecordStatus::corrupt);
  ASSERT_TRUE(reopened.wal.repair(11, body_for(11)).ok());
  expect_ok_everywhere(open_wal(env_, options_).scan, 11);
}

// The injected bug that restores the old rule (WalOptions::bug_corrupt_tail_is_torn): the
// same flip is cut as a torn write, and op 10 is forgotten.
TEST_F(StorageWal, TheInjectedBugCutsACorruptLastRecord) {
  const auto where = build(10);
  env_.flip_bit(segment_path(1), where[10].offset + where[10].length / 2, 5);
  options_.bug_corrupt_tail_is_torn = true;
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 9u);
  ASSERT_TRUE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.torn_tail->offset, where[10].offset);
}

TEST_F(StorageWal, TruncationAtEveryByteOfTheLastRecord) {
  options_.segment_bytes_max = 500;
  const auto where = build(20, 2);
  ASSERT_NE(where[1].segment, where[20].segment);
  std::map<std::string, std::string> files;
  auto names = env_.list_dir(node_dir);
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    files[name] = *env_.contents(join(node_dir, name));
  }
  for (std::uint64_t cut = where[20].offset; cut < where[20].offset + where[20].length; ++cut) {
    SCOPED_TRACE(::testing::Message() << "cut at " << cut);
    MemoryEnv env;
    testing::make_node_dir(env);
    for (const auto& [name, contents] : files) {
      const bool last = name == where[20].segment;
      env.set_file(join(node_dir, name), last ? contents.substr(0, cut) : contents);
    }
    {
      auto reopened = open_wal(env, options_);
      EXPECT_EQ(reopened.scan.head_op, 19u);
      EXPECT_EQ(reopened.scan.torn_tail.has_value(), cut > where[20].offset);
      EXPECT_TRUE(reopened.scan.ops_with(RecordStatus::corrupt).empty());
      expect_ok(reopened.scan, 1, 19);
      // The log continues cleanly after the cut.
      append_ops(reopened.wal, 20, 21);
    }
    expect_ok(open_wal(env, options_).scan, 1, 21);
  }
}

TEST_F(StorageWal, ZerosFromEveryByteOfTheLastRecordOnAreATornTail) {
  // A write cut short inside preallocated space: the record's front, then the zeros that
  // were there before it.
  options_.preallocate_bytes = 4096;
  const auto where = build(10);
  const std::string pristine = *env_.contents(segment_path(1));
  for (std::uint64_t cut = where[10].offset; cut < where[10].offset + where[10].length; ++cut) {
    SCOPED_TRACE(::testing::Message() << "zeros from " << cut);
    std::string torn = pristine;
    std::fill(torn.begin() + static_cast<std::ptrdiff_t>(cut),
              torn.begin() + static_cast<std::ptrdiff_t>(where[10].offset + where[10].length),
              '\0');
    env_.set_file(segment_path(1), torn);
    auto reopened = open_wal(env_, options_);
    EXPECT_EQ(reopened.scan.head_op, 9u);
    EXPECT_EQ(reopened.scan.torn_tail.has_value(), cut > where[10].offset);
    EXPECT_TRUE(reopened.scan.ops_with(RecordStatus::corrupt).empty());
    expect_ok(reopened.scan, 1, 9);
  }
}

TEST_F(StorageWal, ATornFirstRecordEmptiesTheNewSegment) {
  options_.segment_bytes_max = 1;  // every record in a segment of its own
  build(5);
  const std::string path = segment_path(5);
  env_.set_file(path, env_.contents(path)->substr(0, 10));
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 4u);
  ASSERT_TRUE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.torn_tail->offset, 0u);
  append_ops(reopened.wal, 5, 6);
  expect_ok(open_wal(env_, options_).scan, 1, 6);
}

TEST_F(StorageWal, DamageAtTheEndOfAnEarlierSegmentIsCorruptNotTorn) {
  options_.segment_bytes_max = 300;
  const auto where = build(12);
  const std::string path = join(node_dir, where[1].segment);
  ASSERT_NE(where[1].segment, where[12].segment);
  std::uint64_t last_in_first = 1;
  while (where[last_in_first + 1].segment == where[1].segment) ++last_in_first;
  env_.flip_bit(path, where[last_in_first].offset + 2, 1);
  auto reopened = open_wal(env_, options_);
  EXPECT_FALSE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.ops_with(RecordStatus::corrupt),
            std::vector<std::uint64_t>{last_in_first});
  EXPECT_EQ(reopened.scan.head_op, 12u);
}

TEST_F(StorageWal, ADeletedMiddleSegmentIsReportedMissing) {
  options_.segment_bytes_max = 300;
  const auto where = build(30, 2);
  // Delete the segment holding op 15.
  const std::string victim = where[15].segment;
  std::vector<std::uint64_t> lost;
  for (std::uint64_t op = 1; op <= 30; ++op) {
    if (where[op].segment == victim) lost.push_back(op);
  }
  ASSERT_TRUE(env_.remove(join(node_dir, victim)).ok());
  ASSERT_TRUE(env_.sync_dir(node_dir).ok());
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 30u);
  EXPECT_FALSE(reopened.scan.torn_tail);
  EXPECT_EQ(reopened.scan.ops_with(RecordStatus::missing), lost);
  EXPECT_TRUE(reopened.scan.ops_with(RecordStatus::corrupt).empty());
  expect_ok(reopened.scan, 1, lost.front() - 1);
  expect_ok(reopened.scan, lost.back() + 1, 30);
}

TEST_F(StorageWal, ASplicedHistoryBreaksTheChain) {
  // Two histories that agree up to op 5 and differ from op 6 on.
  MemoryEnv other;
  testing::make_node_dir(other);
  std::vector<RecordLocation> theirs(11);
  {
    auto wal = open_wal(other, options_);
    append_ops(wal.wal, 1, 5);
    append_ops(wal.wal, 6, 10, 1, /*generation=*/1);
    for (std::uint64_t op = 1; op <= 10; ++op) theirs[op] = *wal.wal.locate(op);
  }
  const auto ours = build(10);
  // Ours up to op 6, theirs from op 7: op 7's parent is their op 6, not ours.
  const std::string mine = *env_.contents(segment_path(1));
  const std::string their_bytes = *other.contents(segment_path(1));
  env_.set_file(segment_path(1),
                mine.substr(0, ours[7].offset) + their_bytes.substr(theirs[7].offset));
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 10u);
  EXPECT_EQ(reopened.scan.ops_with(RecordStatus::corrupt), std::vector<std::uint64_t>{7});
  EXPECT_EQ(reopened.scan.find(7)->damage, Damage::chain);
  EXPECT_EQ(reopened.scan.find(8)->status, RecordStatus::ok);  // chains to their op 7
  expect_ok(reopened.scan, 1, 6);
}

TEST_F(StorageWal, RepairInPlaceOfAFlippedRecord) {
  const auto where = build(10);
  env_.flip_bit(segment_path(1), where[5].offset + where[5].length - 3, 0);
  {
    auto reopened = open_wal(env_, options_);
    ASSERT_EQ(reopened.wal.status(5), RecordStatus::corrupt);
    ASSERT_TRUE(reopened.wal.repair(5, body_for(5)).ok());
    EXPECT_EQ(reopened.wal.status(5), RecordStatus::ok);
    EXPECT_EQ(*reopened.wal.read(5), body_for(5));
    EXPECT_EQ(reopened.wal.status(6), RecordStatus::ok);  // still chains to the repaired op
  }
  auto again = open_wal(env_, options_);
  expect_ok(again.scan, 1, 10);
}

TEST_F(StorageWal, RepairOfLostFramingRewritesTheSegment) {
  const auto where = build(10);
  std::string segment = *env_.contents(segment_path(1));
  for (std::uint64_t i = where[4].offset; i < where[6].offset; ++i) segment[i] = '\0';
  env_.set_file(segment_path(1), segment);
  {
    auto reopened = open_wal(env_, options_);
    ASSERT_EQ(reopened.scan.ops_with(RecordStatus::corrupt), (std::vector<std::uint64_t>{4, 5}));
    ASSERT_TRUE(reopened.wal.repair(4, body_for(4)).ok());
    EXPECT_EQ(reopened.wal.status(4), RecordStatus::ok);
    EXPECT_NE(reopened.wal.status(5), RecordStatus::ok);
    ASSERT_TRUE(reopened.wal.repair(5, body_for(5)).ok());
    EXPECT_EQ(reopened.wal.status(5), RecordStatus::ok);
    EXPECT_EQ(reopened.wal.status(6), RecordStatus::ok);
    // The log goes on after repairs.
    append_ops(reopened.wal, 11, 12);
  }
  auto again = open_wal(env_, options_);
  expect_ok(again.scan, 1, 12);
  EXPECT_FALSE(env_.exists(segment_path(1) + ".tmp"));
}

TEST_F(StorageWal, RepairOfADeletedSegmentOldestFirst) {
  options_.segment_bytes_max = 300;
  const auto where = build(30, 2);
  const std::string victim = where[15].segment;
  ASSERT_TRUE(env_.remove(join(node_dir, victim)).ok());
  ASSERT_TRUE(env_.sync_dir(node_dir).ok());
  {
    auto reopened = open_wal(env_, options_);
    for (std::uint64_t op : reopened.scan.ops_with(RecordStatus::missing)) {
      ASSERT_TRUE(reopened.wal.repair(op, body_for(op)).ok()) << op;
      EXPECT_EQ(reopened.wal.status(op), RecordStatus::ok) << op;
    }
  }
  auto again = open_wal(env_, options_);
  expect_ok(again.scan, 1, 30);
}

TEST_F(StorageWal, RepairOutOfOrderStillEndsSound) {
  options_.segment_bytes_max = 300;
  const auto where = build(30, 2);
  std::vector<std::uint64_t> lost;
  for (std::uint64_t op = 1; op <= 30; ++op) {
    if (where[op].segment == where[15].segment) lost.push_back(op);
  }
  ASSERT_GE(lost.size(), 2u);
  ASSERT_TRUE(env_.remove(join(node_dir, where[15].segment)).ok());
  {
    auto reopened = open_wal(env_, options_);
    // Newest first: each record lands in a segment of its own and cannot chain yet.
    for (auto op = lost.rbegin(); op != lost.rend(); ++op) {
      ASSERT_TRUE(reopened.wal.repair(*op, body_for(*op)).ok());
    }
    for (std::uint64_t op : lost) EXPECT_EQ(reopened.wal.status(op), RecordStatus::ok) << op;
  }
  expect_ok(open_wal(env_, options_).scan, 1, 30);
}

// Sets up a WAL with one kind of damage for op 5 (and its neighbours); returns the ops
// to repair, oldest first.
using Damager = std::vector<std::uint64_t> (*)(MemoryEnv&, const WalOptions&);

std::vector<std::uint64_t> flip_one(MemoryEnv& env, const WalOptions& /*options*/) {
  auto opened = open_wal(env, WalOptions{});  // one segment
  append_ops(opened.wal, 1, 10);
  const auto where = *opened.wal.locate(5);
  env.flip_bit(join(node_dir, where.segment), where.offset + where.length / 2, 1);
  return {5};  // same length: repaired in place
}

std::vector<std::uint64_t> garble_two(MemoryEnv& env, const WalOptions& /*options*/) {
  auto opened = open_wal(env, WalOptions{});  // one segment
  append_ops(opened.wal, 1, 10);
  const auto four = *opened.wal.locate(4);
  const auto six = *opened.wal.locate(6);
  std::string segment = *env.contents(segment_path(1));
  for (std::uint64_t i = four.offset; i < six.offset; ++i) segment[i] = '#';
  env.set_file(segment_path(1), segment);
  return {4, 5};  // lost framing: the segment is rewritten
}

std::vector<std::uint64_t> delete_segment(MemoryEnv& env, const WalOptions& options) {
  auto opened = open_wal(env, options);
  append_ops(opened.wal, 1, 20);
  const std::string victim = opened.wal.locate(10)->segment;
  std::vector<std::uint64_t> lost;
  for (std::uint64_t op = 1; op <= 20; ++op) {
    if (opened.wal.locate(op)->segment == victim) lost.push_back(op);
  }
  EXPECT_TRUE(env.remove(join(node_dir, victim)).ok());
  EXPECT_TRUE(env.sync_dir(node_dir).ok());
  return lost;  // appended to the segment before, or a segment of their own
}

class StorageWalRepairPowerLoss : public ::testing::TestWithParam<Damager> {};

TEST_P(StorageWalRepairPowerLoss, LeavesEachOpDamagedOrRepairedNeverWorse) {
  WalOptions options;
  options.segment_bytes_max = 300;
  for (std::uint64_t strike = 0;; ++strike) {
    SCOPED_TRACE(::testing::Message() << "crash at mutation " << strike);
    MemoryEnv env;
    testing::make_node_dir(env);
    const std::vector<std::uint64_t> damaged = GetParam()(env, options);
    const std::uint64_t head = damaged.back() < 10 ? 10 : 20;
    {
      auto opened = open_wal(env, options);
      env.arm_crash(strike);
      for (std::uint64_t op : damaged) {
        if (!opened.wal.repair(op, body_for(op)).ok()) break;
      }
    }
    const bool struck = env.down();
    env.crash(CrashOptions{7});
    {
      auto reopened = open_wal(env, options);
      EXPECT_EQ(reopened.scan.head_op, head);
      EXPECT_FALSE(reopened.scan.torn_tail);
      for (const WalEntry& entry : reopened.scan.entries) {
        const bool was_damaged =
            std::find(damaged.begin(), damaged.end(), entry.op) != damaged.end();
        if (entry.status == RecordStatus::ok) {
          EXPECT_EQ(entry.body, body_for(entry.op));
        } else {
          EXPECT_TRUE(was_damaged) << "op " << entry.op << " was damaged by the repair";
        }
      }
      // Repairing what is still damaged finishes the job.
      for (std::uint64_t op : damaged) {
        if (reopened.wal.status(op) != RecordStatus::ok) {
          ASSERT_TRUE(reopened.wal.repair(op, body_for(op)).ok()) << op;
        }
      }
    }
    expect_ok_everywhere(open_wal(env, options).scan, head);
    if (!struck) break;  // the repairs ran to the end without the crash striking
  }
}

INSTANTIATE_TEST_SUITE_P(Damages, StorageWalRepairPowerLoss,
                         ::testing::Values(&flip_one, &garble_two, &delete_segment),
                         [](const auto& test) {
                           return test.index == 0   ? std::string("in_place")
                                  : test.index == 1 ? std::string("rewrite")
                                                    : std::string("missing_segment");
                         });

TEST_F(StorageWal, TruncateAfterDiscardsTheSuffixDurably) {
  options_.segment_bytes_max = 300;
  build(30, 3);
  {
    auto reopened = open_wal(env_, options_);
    ASSERT_TRUE(reopened.wal.truncate_after(12).ok());
    EXPECT_EQ(reopened.wal.head_op(), 12u);
    append_ops(reopened.wal, 13, 20, 2, /*generation=*/1);
  }
  env_.crash();
  auto again = open_wal(env_, options_);
  EXPECT_EQ(again.scan.head_op, 20u);
  expect_ok(again.scan, 1, 12);
  for (std::uint64_t op = 13; op <= 20; ++op) {
    EXPECT_EQ(again.scan.find(op)->status, RecordStatus::ok);
    EXPECT_EQ(again.scan.find(op)->body, body_for(op, 1));
  }
}

TEST_F(StorageWal, TruncateAfterPastTheHeadJumps) {
  build(10);
  {
    auto reopened = open_wal(env_, options_);
    ASSERT_TRUE(reopened.wal.truncate_after(100).ok());
    EXPECT_EQ(reopened.wal.head_op(), 100u);
    append_ops(reopened.wal, 101, 103);
  }
  auto again = open_wal(env_, options_, 101);
  EXPECT_EQ(again.scan.head_op, 103u);
  expect_ok(again.scan, 101, 103);
}

TEST_F(StorageWal, OpenFromACheckpointReportsOnlyLaterOps) {
  options_.segment_bytes_max = 300;
  build(50, 2);
  auto reopened = open_wal(env_, options_, 31);
  EXPECT_EQ(reopened.scan.first_op, 31u);
  ASSERT_EQ(reopened.scan.entries.size(), 20u);
  expect_ok(reopened.scan, 31, 50);
  EXPECT_EQ(reopened.scan.find(30), nullptr);
}

TEST_F(StorageWal, RemoveBelowKeepsTheDiskBounded) {
  options_.segment_bytes_max = 1024;
  auto opened = open_wal(env_, options_);
  std::uint64_t peak_bytes = 0;
  std::size_t peak_segments = 0;
  for (std::uint64_t op = 1; op <= 2000; ++op) {
    ASSERT_TRUE(opened.wal.append(op, body_for(op)).ok());
    if (op % 4 == 0) {
      ASSERT_TRUE(opened.wal.sync().ok());
    }
    if (op % 100 == 0) {  // a checkpoint
      ASSERT_TRUE(opened.wal.remove_below(op - 20).ok());
    }
    peak_bytes = std::max(peak_bytes, env_.bytes_in(node_dir));
    peak_segments = std::max(peak_segments, opened.wal.segment_count());
  }
  // At most ~120 records of ~130 bytes are live (100 between checkpoints, 20 kept, and
  // the segment holding the checkpoint): ~16 KiB, against ~260 KiB written in all.
  EXPECT_LE(peak_segments, 20u);
  EXPECT_LE(peak_bytes, 24u * 1024u);
  auto names = env_.list_dir(node_dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), opened.wal.segment_count());
  auto reopened = open_wal(env_, options_, 1981);
  expect_ok(reopened.scan, 1981, 2000);
}

TEST_F(StorageWal, RemoveBelowKeepsTheLastSegment) {
  options_.segment_bytes_max = 200;
  build(20);
  auto reopened = open_wal(env_, options_);
  ASSERT_TRUE(reopened.wal.remove_below(1000).ok());
  EXPECT_EQ(reopened.wal.segment_count(), 1u);
  append_ops(reopened.wal, 21, 21);
  auto again = open_wal(env_, options_, 21);
  expect_ok(again.scan, 21, 21);
  EXPECT_EQ(again.scan.find(21)->status, RecordStatus::ok);  // chained to op 20, still on disk
}

TEST_F(StorageWal, AFailedSyncPoisonsTheWal) {
  auto opened = open_wal(env_, options_);
  append_ops(opened.wal, 1, 2);
  ASSERT_TRUE(opened.wal.append(3, body_for(3)).ok());
  env_.fail_syncs(true);
  auto failed = opened.wal.sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::io);
  env_.fail_syncs(false);
  // Never retried: fsync after a failed fsync can report success for lost data.
  EXPECT_FALSE(opened.wal.sync().ok());
  EXPECT_FALSE(opened.wal.append(4, body_for(4)).ok());
  EXPECT_FALSE(opened.wal.truncate_after(1).ok());
}

TEST_F(StorageWal, AReadNoticesCorruptionAfterTheScan) {
  const auto where = build(5);
  auto reopened = open_wal(env_, options_);
  env_.flip_bit(segment_path(1), where[3].offset + where[3].length / 2, 2);
  auto read = reopened.wal.read(3);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::corruption);
  EXPECT_EQ(reopened.wal.status(3), RecordStatus::corrupt);
  env_.fail_reads(segment_path(1), true);
  auto failed = reopened.wal.read(4);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::io);
}

TEST_F(StorageWal, AnUnreadableSegmentFailsTheOpen) {
  build(5);
  env_.fail_reads(segment_path(1), true);
  auto opened = Wal::open(env_, node_dir, options_, 1);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Errc::io);
}

TEST(StorageWalPosix, RoundTripAndCorruptionOnTheRealDisk) {
  testing::TempDir dir;
  {
    auto opened = open_wal(posix_env(), {}, 1, dir.path());
    append_ops(opened.wal, 1, 50, 16);
  }
  {
    auto reopened = open_wal(posix_env(), {}, 1, dir.path());
    EXPECT_EQ(reopened.scan.head_op, 50u);
    for (std::uint64_t op = 1; op <= 50; ++op) {
      EXPECT_EQ(reopened.scan.find(op)->body, body_for(op));
    }
    auto where = reopened.wal.locate(20);
    ASSERT_TRUE(where);
    // Flip one byte in op 20's body through a raw descriptor.
    const std::string path = join(dir.path(), where->segment);
    FILE* file = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(std::fseek(file, static_cast<long>(where->offset + where->length - 5), SEEK_SET), 0);
    const int byte = std::fgetc(file);
    ASSERT_EQ(std::fseek(file, static_cast<long>(where->offset + where->length - 5), SEEK_SET), 0);
    std::fputc(byte ^ 0x10, file);
    std::fclose(file);
  }
  auto damaged = open_wal(posix_env(), {}, 1, dir.path());
  EXPECT_EQ(damaged.scan.ops_with(RecordStatus::corrupt), std::vector<std::uint64_t>{20});
  ASSERT_TRUE(damaged.wal.repair(20, body_for(20)).ok());
  append_ops(damaged.wal, 51, 52);
  auto repaired = open_wal(posix_env(), {}, 1, dir.path());
  EXPECT_TRUE(repaired.scan.ops_with(RecordStatus::corrupt).empty());
  EXPECT_EQ(repaired.scan.head_op, 52u);
}

// A latent sector error: reading the segment fails with EIO. The WAL reads it again sector
// by sector; the unreadable sector's ops are corrupt (to be repaired from a peer, never
// nacked), every other op is read, and the WAL opens. Repairs then restore every op.
TEST_F(StorageWal, ABadSectorMakesItsOpsCorruptNotTheWalUnreadable) {
  const auto where = build(20);
  const std::uint64_t bad = where[9].offset + 3;
  env_.add_bad_sector(segment_path(1), bad, 10);
  // The sectors (512 bytes) that the bad range touches.
  const std::uint64_t sector_begin = bad / 512 * 512;
  const std::uint64_t sector_end = (bad + 10 + 511) / 512 * 512;
  auto reopened = open_wal(env_, options_);
  EXPECT_EQ(reopened.scan.head_op, 20u);
  std::vector<std::uint64_t> corrupt;
  for (std::uint64_t op = 1; op <= 20; ++op) {
    const WalEntry* entry = reopened.scan.find(op);
    ASSERT_NE(entry, nullptr) << "op " << op;
    const bool in_sector =
        where[op].offset < sector_end && sector_begin < where[op].offset + where[op].length;
    EXPECT_NE(entry->status, RecordStatus::missing) << "op " << op;
    if (in_sector) {
      EXPECT_EQ(entry->status, RecordStatus::corrupt) << "op " << op;
      corrupt.push_back(op);
    } else {
      EXPECT_EQ(entry->status, RecordStatus::ok) << "op " << op;
      EXPECT_EQ(entry->body, body_for(op)) << "op " << op;
    }
  }
  ASSERT_FALSE(corrupt.empty());
  for (const std::uint64_t op : corrupt) {
    ASSERT_TRUE(reopened.wal.repair(op, body_for(op)).ok()) << "op " << op;
  }
  expect_ok_everywhere(open_wal(env_, options_).scan, 20);
}

// A misdirected write: the batch of ops 11 and 12 lands exactly over the records of ops 6
// and on, and the space it was aimed at stays zeros. Sound records with ops missing between
// them were never written that way (appends go at the head + 1), so ops 6 to 10 are corrupt,
// never missing (a nack of an op this replica acknowledged), and 11 and 12 are found where
// they landed.
TEST_F(StorageWal, AMisdirectedWriteLeavesCorruptOpsNeverMissingOnes) {
  const auto where = build(10);
  {
    auto opened = open_wal(env_, options_);
    const std::uint64_t aimed = where[10].offset + where[10].length;
    env_.misdirect_next_write(static_cast<std::int64_t>(where[6].offset) -
                              static_cast<std::int64_t>(aimed));
    append_ops(opened.wal, 11, 12, 2);
  }
  auto reopened = open_wal(env_, options_);
  expect_ok(reopened.scan, 1, 5);
  for (std::uint64_t op = 6; op <= 10; ++op) {
    const WalEntry* entry = reopened.scan.find(op);
    ASSERT_NE(entry, nullptr) << "op " << op;
    EXPECT_EQ(entry->status, RecordStatus::corrupt) << "op " << op;
  }
  expect_ok(reopened.scan, 11, 12);
  EXPECT_GE(reopened.scan.head_op, 12u);
}

}  // namespace
}  // namespace vsr::storage
