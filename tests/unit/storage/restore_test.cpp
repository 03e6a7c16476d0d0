// Proves the RESTORED marker's contract (vsr/storage/restore.hpp): it round-trips; any
// damage is reported as corruption, never decoded into something else; was_restored()
// fails safe (only "no such file" is false: a damaged or unreadable marker still holds the
// replica back); write_restored() is atomic and durable at every crash point, so after a
// power loss the directory holds either no marker or the whole marker; clear_restored()
// is durable and idempotent. The copy itself (restore_from_replica) runs against the real
// file system and is proved by tests/integration/maintenance_test.cpp.

#include "vsr/storage/restore.hpp"

#include <gtest/gtest.h>

#include <string>

#include "storage_test_util.hpp"
#include "vsr/storage/memory_env.hpp"

namespace vsr::storage {
namespace {

using testing::make_node_dir;
using testing::node_dir;

RestoredMarker sample_marker() {
  RestoredMarker marker;
  marker.source_node = "n0";
  marker.source_replica = 0;
  marker.replica = 2;
  marker.source_view = 7;
  marker.source_log_view = 6;
  marker.source_commit = 1234;
  marker.source_checkpoint_op = 1024;
  marker.previous_view = 9;
  marker.copied_at_ms = 1'700'000'000'000;
  return marker;
}

const std::string marker_path = node_dir + "/RESTORED";

TEST(StorageRestoredMarker, RoundTrips) {
  const RestoredMarker marker = sample_marker();
  auto decoded = decode_restored_marker(encode_restored_marker(marker));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, marker);
}

TEST(StorageRestoredMarker, TheViewFloorIsTheHighestViewItMayHaveTakenPartIn) {
  RestoredMarker marker = sample_marker();
  EXPECT_EQ(marker.view_floor(), 9u);  // its own earlier view
  marker.previous_view = 0;
  EXPECT_EQ(marker.view_floor(), 7u);  // the copied view
  marker.source_log_view = 8;          // (not possible from a sound replica, but safe)
  EXPECT_EQ(marker.view_floor(), 8u);
}

TEST(StorageRestoredMarker, EveryTruncationAndBitFlipIsCorruption) {
  const std::string bytes = encode_restored_marker(sample_marker());
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    auto decoded = decode_restored_marker(bytes.substr(0, size));
    ASSERT_FALSE(decoded.ok()) << "truncated at " << size;
    EXPECT_EQ(decoded.error().code, Errc::corruption);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto decoded = decode_restored_marker(flipped);
      // A flip the seal cannot see would have to leave the same marker (e.g. in a length
      // prefix's redundant form, which the codec refuses anyway).
      if (decoded.ok()) {
        EXPECT_EQ(*decoded, sample_marker()) << "byte " << i << " bit " << bit;
      } else {
        EXPECT_EQ(decoded.error().code, Errc::corruption);
      }
    }
  }
}

TEST(StorageRestoredMarker, AbsentMeansNotRestored) {
  MemoryEnv env;
  make_node_dir(env);
  EXPECT_FALSE(was_restored(env, node_dir));
  auto read = read_restored(env, node_dir);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
}

TEST(StorageRestoredMarker, WrittenMeansRestored) {
  MemoryEnv env;
  make_node_dir(env);
  ASSERT_TRUE(write_restored(env, node_dir, sample_marker()).ok());
  EXPECT_TRUE(was_restored(env, node_dir));
  auto read = read_restored(env, node_dir);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(**read, sample_marker());
}

TEST(StorageRestoredMarker, DamagedOrUnreadableStillMeansRestored) {
  MemoryEnv env;
  make_node_dir(env);
  ASSERT_TRUE(write_restored(env, node_dir, sample_marker()).ok());
  env.flip_bit(marker_path, 20, 3);
  EXPECT_TRUE(was_restored(env, node_dir));
  auto read = read_restored(env, node_dir);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::corruption);
  EXPECT_NE(read.error().message.find("RESTORED"), std::string::npos);

  env.set_file(marker_path, "");
  EXPECT_TRUE(was_restored(env, node_dir));
  env.set_file(marker_path, std::string(10'000, 'x'));  // over the size limit
  EXPECT_TRUE(was_restored(env, node_dir));

  ASSERT_TRUE(write_restored(env, node_dir, sample_marker()).ok());
  env.fail_reads(marker_path, true);
  EXPECT_TRUE(was_restored(env, node_dir));
  auto unreadable = read_restored(env, node_dir);
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.error().code, Errc::io);
}

TEST(StorageRestoredMarker, ClearIsDurableAndIdempotent) {
  MemoryEnv env;
  make_node_dir(env);
  ASSERT_TRUE(write_restored(env, node_dir, sample_marker()).ok());
  ASSERT_TRUE(clear_restored(env, node_dir).ok());
  EXPECT_FALSE(was_restored(env, node_dir));
  env.crash();
  EXPECT_FALSE(was_restored(env, node_dir)) << "the removal did not survive a power loss";
  EXPECT_TRUE(clear_restored(env, node_dir).ok());
}

TEST(StorageRestoredMarker, AWriteCrashedAtAnyPointLeavesNoMarkerOrTheWholeOne) {
  for (std::uint64_t mutations = 0;; ++mutations) {
    MemoryEnv env;
    make_node_dir(env);
    env.arm_crash(mutations);
    const bool written = write_restored(env, node_dir, sample_marker()).ok();
    const bool struck = env.down();
    env.crash({.tear_last_write_at = 17});
    auto read = read_restored(env, node_dir);
    ASSERT_TRUE(read.ok()) << "after " << mutations << ": " << read.error().message;
    if (read->has_value()) {
      EXPECT_EQ(**read, sample_marker());
    } else {
      EXPECT_FALSE(written) << "an acknowledged marker was lost after " << mutations;
    }
    if (!struck) {
      EXPECT_TRUE(written);
      break;  // the write ran to completion before the armed crash
    }
  }
}

}  // namespace
}  // namespace vsr::storage
