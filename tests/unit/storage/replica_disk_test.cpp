// Proves the storage effect adapter (ReplicaDisk) keeps the core's durability contract:
// consecutive prepares share one write + fdatasync (group commit); a crash at any point of
// a batch leaves a prefix of it durable, in issue order; reported progress never covers a
// write that is not on disk (a prepare above a gap is held until the gap is filled or
// truncated away); what was written is what a restart hands back to the core. Also: the
// core's metadata lives in storage's metadata copies (one format), and WAL segments go only
// when the core releases them, never below the durable checkpoint.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/metadata.hpp"
#include "vsr/storage/replica_disk.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::storage {
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

core::Effect checkpoint(std::uint64_t id, std::uint64_t op) {
  core::Checkpoint c;
  c.op = core::Op{op};
  c.checksum = core::checksum_of("prepare " + std::to_string(op));
  c.app_snapshot = "app@" + std::to_string(op);
  return core::WriteCheckpoint{id, core::Op{op},
                               core::make_bytes(core::encode_checkpoint(cluster, c))};
}

core::Effect release(std::uint64_t id, std::uint64_t op) {
  return core::ReleaseWal{id, core::Op{op}};
}

// Prepares 1..last, one per write id (ids 1..last), in batches of four.
void write_prepares(ReplicaDisk& disk, std::uint64_t last) {
  std::vector<core::Effect> batch;
  for (std::uint64_t op = 1; op <= last; ++op) {
    batch.push_back(prepare(op, op, "prepare " + std::to_string(op)));
    if (batch.size() == 4 || op == last) {
      ASSERT_TRUE(disk.execute(batch).ok());
      batch.clear();
    }
  }
}

NodeOptions small_segments() {
  NodeOptions options;
  options.wal.segment_bytes_max = 256;
  return options;
}

std::unique_ptr<ReplicaDisk> open(MemoryEnv& env, const NodeOptions& options = {}) {
  auto disk = ReplicaDisk::open(env, dir, identity, options);
  EXPECT_TRUE(disk.ok()) << (disk.ok() ? "" : disk.error().message);
  return disk.ok() ? std::move(*disk) : nullptr;
}

std::optional<std::string> wal_body(const core::DurableState& state, std::uint64_t op) {
  for (const core::WalEntry& e : state.wal) {
    if (e.op.value == op && e.state == core::WalEntryState::intact) return *e.bytes;
  }
  return std::nullopt;
}

class ReplicaDiskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.create_dir(dir).ok()); }
  MemoryEnv env_;
};

TEST_F(ReplicaDiskTest, FreshDirectoryGivesANewReplica) {
  auto disk = open(env_);
  ASSERT_TRUE(disk);
  core::DurableState state = disk->take_durable_state();
  EXPECT_FALSE(state.metadata.has_value());
  EXPECT_FALSE(state.checkpoint.has_value());
  EXPECT_TRUE(state.wal.empty());
}

TEST_F(ReplicaDiskTest, ConsecutivePreparesShareOneSync) {
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

TEST_F(ReplicaDiskTest, MetadataRoundTripsThroughARestart) {
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

TEST_F(ReplicaDiskTest, ACrashAnywhereLeavesAPrefixInIssueOrder) {
  const std::vector<core::Effect> batch{prepare(1, 1, "p1"), prepare(2, 2, "p2"), metadata(3, 1),
                                        prepare(4, 3, "p3"), metadata(5, 2)};
  bool completed = false;
  for (std::uint64_t strike = 0; !completed && strike < 200; ++strike) {
    MemoryEnv env;
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

TEST_F(ReplicaDiskTest, APrepareAboveAGapIsHeldUntilTheGapFills) {
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

TEST_F(ReplicaDiskTest, TruncateDropsHeldPreparesAndTheWalSuffix) {
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

TEST_F(ReplicaDiskTest, TruncateAboveTheHeadJumpsForStateTransfer) {
  // After a state transfer the core says "the WAL continues at op + 1"; the next prepare
  // must then be appended and reported, not held above a gap forever.
  auto disk = open(env_);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{prepare(1, 1, "p1")}), 1u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{truncate(2, 10)}), 2u);
  EXPECT_EQ(disk->wal_head(), 10u);
  EXPECT_EQ(*disk->execute(std::vector<core::Effect>{prepare(3, 11, "p11")}), 3u);
  EXPECT_EQ(disk->wal_head(), 11u);
}

TEST_F(ReplicaDiskTest, AnIntactOpIsReplacedWithItsSuffix) {
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

// Finding 5 of issue 12: the last prepare written, damaged by the medium afterwards, reaches
// the core as a corrupt entry (repaired from a peer, never a nack), not as nothing.
TEST_F(ReplicaDiskTest, AFlippedLastPrepareReachesTheCoreCorrupt) {
  auto disk = open(env_);
  write_prepares(*disk, 6);
  const std::string path = join(dir, Wal::segment_name(1));
  const RecordLocation last = *disk->storage().wal().locate(6);
  disk.reset();
  env_.crash();
  env_.flip_bit(path, last.offset + last.length / 2, 4);
  auto reopened = open(env_);
  EXPECT_EQ(reopened->wal_head(), 6u);
  core::DurableState state = reopened->take_durable_state();
  ASSERT_FALSE(state.wal.empty());
  EXPECT_EQ(state.wal.back().op.value, 6u);
  EXPECT_EQ(state.wal.back().state, core::WalEntryState::corrupt);
  EXPECT_EQ(wal_body(state, 5), "prepare 5");
  // Alone, nobody could repair it: the report names the op, the file and its bytes, and the
  // way out (it is the last op, above the commit point: it can be cut off deliberately).
  const std::optional<std::string> why = reopened->damage_without_peers();
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("op 6 of the WAL is corrupt"), std::string::npos) << *why;
  EXPECT_NE(why->find(path), std::string::npos) << *why;
  EXPECT_NE(why->find(fmt::format("truncate -s {} {}", last.offset, path)), std::string::npos)
      << *why;
}

TEST_F(ReplicaDiskTest, ATornLastPrepareIsCutAndNothingIsDamaged) {
  auto disk = open(env_);
  write_prepares(*disk, 6);
  ASSERT_TRUE(disk->execute(std::vector<core::Effect>{prepare(7, 7, "prepare 7")}).ok());
  disk.reset();
  // The medium keeps only the front of op 7's record, as a crash inside its write would.
  const std::string path = join(dir, Wal::segment_name(1));
  std::string bytes = *env_.contents(path);
  const std::size_t end_of_seven = bytes.find_last_not_of('\0') + 1;
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(end_of_seven - 20),
            bytes.begin() + static_cast<std::ptrdiff_t>(end_of_seven), '\0');
  env_.set_file(path, bytes);
  auto reopened = open(env_);
  EXPECT_EQ(reopened->wal_head(), 6u);
  EXPECT_FALSE(reopened->damage_without_peers().has_value());
  core::DurableState state = reopened->take_durable_state();
  EXPECT_EQ(state.wal.back().op.value, 6u);
  EXPECT_EQ(state.wal.back().state, core::WalEntryState::intact);
}

TEST_F(ReplicaDiskTest, AFailedSyncIsAnError) {
  auto disk = open(env_);
  env_.fail_syncs(true);
  EXPECT_FALSE(disk->execute(std::vector<core::Effect>{prepare(1, 1, "p1")}).ok());
}

TEST_F(ReplicaDiskTest, AnotherReplicasDirectoryIsRefused) {
  open(env_).reset();
  DiskIdentity other = identity;
  other.replica = 2;
  auto disk = ReplicaDisk::open(env_, dir, other);
  ASSERT_FALSE(disk.ok());
  EXPECT_EQ(disk.error().kind, DiskError::Kind::nothing_valid);
}

TEST_F(ReplicaDiskTest, TheCoresMetadataLivesInTheMetadataCopies) {
  auto disk = open(env_);
  core::Metadata m;
  m.view = core::View{7};
  m.log_view = core::View{6};
  m.commit = core::Op{1};
  m.voted_view = core::View{7};
  const std::string encoded = core::encode_metadata(cluster, m);
  std::vector<core::Effect> batch{prepare(1, 1, "a"),
                                  core::WriteMetadata{2, m, core::make_bytes(encoded)}};
  ASSERT_EQ(*disk->execute(batch), 2u);
  disk.reset();
  env_.crash();
  // No file of its own: one metadata format, the newest copy carries both.
  auto names = env_.list_dir(dir);
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) EXPECT_EQ(name.find("core"), std::string::npos) << name;
  MetadataStore store(env_, dir);
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok() && loaded->newest);
  EXPECT_EQ(loaded->newest->core, encoded);
  EXPECT_EQ(loaded->newest->view, 7u);
  EXPECT_EQ(loaded->newest->log_view, 6u);
  EXPECT_EQ(loaded->newest->commit, 1u);
  core::DurableState state = open(env_)->take_durable_state();
  ASSERT_TRUE(state.metadata.has_value());
  EXPECT_EQ(*state.metadata, m);
}

TEST_F(ReplicaDiskTest, ACheckpointTheCoresMetadataDoesNotNameYetIsNamedOnOpen) {
  // A crash after a checkpoint became durable and before the core's next metadata write:
  // the core is handed the newest checkpoint and the WAL after it, so its metadata must
  // name that checkpoint (else it would start from op 0 next to a WAL that starts later).
  auto disk = open(env_);
  write_prepares(*disk, 10);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{metadata(11, 1)}), 11u);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{checkpoint(12, 6)}), 12u);
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_)->take_durable_state();
  ASSERT_TRUE(state.metadata && state.checkpoint);
  EXPECT_EQ(state.checkpoint->op, core::Op{6});
  EXPECT_EQ(state.metadata->checkpoint_op, core::Op{6});
  EXPECT_EQ(state.metadata->checkpoint_checksum, state.checkpoint->checksum);
  EXPECT_EQ(state.metadata->view, core::View{1});
  ASSERT_FALSE(state.wal.empty());
  EXPECT_EQ(state.wal.front().op, core::Op{7});
}

TEST_F(ReplicaDiskTest, TheLargestMetadataTheCoreDecodesFitsACopy) {
  // core::decode_metadata takes up to 1024 view headers; every field at its widest.
  core::Metadata m;
  constexpr std::uint64_t wide = std::uint64_t{1} << 62;
  m.view = core::View{wide};
  m.log_view = core::View{wide};
  m.voted_view = core::View{wide};  // commit and checkpoint_op stay 0: storage acts on those
  for (std::uint64_t i = 0; i < 1024; ++i) {
    core::PrepareHeader h;
    h.view = core::View{wide + i};
    h.op = core::Op{wide - i};
    h.commit = core::Op{wide - i - 1};
    h.timestamp_ms = wide + i;
    h.checksum = h.compute_checksum(cluster);
    m.view_headers.push_back(h);
  }
  const std::string encoded = core::encode_metadata(cluster, m);
  auto decoded = core::decode_metadata(encoded, cluster);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_LE(encoded.size(), MetadataStore::core_bytes_max);
  auto disk = open(env_);
  ASSERT_EQ(*disk->execute(
                std::vector<core::Effect>{core::WriteMetadata{1, m, core::make_bytes(encoded)}}),
            1u);
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_)->take_durable_state();
  ASSERT_TRUE(state.metadata.has_value());
  EXPECT_EQ(state.metadata->view_headers.size(), 1024u);
}

TEST_F(ReplicaDiskTest, ACheckpointKeepsTheWalUntilTheCoreReleasesIt) {
  auto disk = open(env_, small_segments());
  write_prepares(*disk, 40);
  const std::size_t segments = disk->storage().wal().segment_count();
  ASSERT_GT(segments, 3u);
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{checkpoint(41, 30)}), 41u);
  // Durable checkpoint, but the core has not released anything: peers slightly behind may
  // still repair from these ops.
  EXPECT_EQ(disk->storage().wal().segment_count(), segments);
  EXPECT_TRUE(disk->storage().wal().locate(2).has_value());
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{release(42, 20)}), 42u);
  EXPECT_LT(disk->storage().wal().segment_count(), segments);
  EXPECT_FALSE(disk->storage().wal().locate(2).has_value());
  EXPECT_TRUE(disk->storage().wal().locate(20).has_value());
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_, small_segments())->take_durable_state();
  ASSERT_TRUE(state.checkpoint.has_value());
  EXPECT_EQ(state.checkpoint->op, core::Op{30});
  ASSERT_FALSE(state.wal.empty());
  EXPECT_EQ(state.wal.front().op, core::Op{31});
  EXPECT_EQ(wal_body(state, 40), "prepare 40");
}

TEST_F(ReplicaDiskTest, AReleaseNeverGoesBelowTheDurableCheckpoint) {
  auto disk = open(env_, small_segments());
  write_prepares(*disk, 40);
  // No checkpoint yet: a release deletes nothing.
  ASSERT_EQ(*disk->execute(std::vector<core::Effect>{release(41, 30)}), 41u);
  EXPECT_TRUE(disk->storage().wal().locate(1).has_value());
  // A release past the checkpoint stops at it: the checkpoint's own record (the next op
  // chains to it) and everything after stay.
  std::vector<core::Effect> batch{checkpoint(42, 20), release(43, 40)};
  ASSERT_EQ(*disk->execute(batch), 43u);
  EXPECT_FALSE(disk->storage().wal().locate(2).has_value());
  EXPECT_TRUE(disk->storage().wal().locate(20).has_value());
  disk.reset();
  env_.crash();
  core::DurableState state = open(env_, small_segments())->take_durable_state();
  ASSERT_EQ(state.wal.size(), 20u);
  for (std::uint64_t op = 21; op <= 40; ++op) {
    EXPECT_EQ(wal_body(state, op), "prepare " + std::to_string(op)) << op;
  }
}

// A metadata copy damaged by the medium (no crash can tear one: copies are replaced by
// rename) may have been the newer one, holding a vote the valid copy lacks. Whichever copy
// is damaged, flipped or unreadable, the replica starts recovering with the valid copy's
// views as its floor, and says why; once it has written its metadata again (the damaged
// copy replaced), it starts normally.
TEST_F(ReplicaDiskTest, ADamagedMetadataCopyStartsTheReplicaRecovering) {
  for (const std::string copy : {"metadata.0", "metadata.1"}) {
    for (const bool unreadable : {false, true}) {
      SCOPED_TRACE(copy + (unreadable ? " unreadable" : " flipped"));
      MemoryEnv env;
      ASSERT_TRUE(env.create_dir(dir).ok());
      {
        auto disk = open(env);
        ASSERT_TRUE(disk->execute(std::vector<core::Effect>{prepare(1, 1, "a"), metadata(2, 3),
                                                            metadata(3, 5)})
                        .ok());
      }
      env.crash();
      const std::string path = join(dir, copy);
      if (unreadable) {
        env.add_bad_sector(path, 10, 1);
      } else {
        env.flip_bit(path, env.contents(path)->size() / 2, 3);
      }
      std::uint64_t valid_view = 0;
      {
        MetadataStore store(env, dir);
        auto loaded = store.load();
        ASSERT_TRUE(loaded.ok() && loaded->newest);
        valid_view = loaded->newest->log_view;
      }
      auto disk = open(env);
      ASSERT_TRUE(disk);
      ASSERT_TRUE(disk->restored_reason().has_value());
      EXPECT_NE(disk->restored_reason()->find("is damaged"), std::string::npos)
          << *disk->restored_reason();
      core::DurableState state = disk->take_durable_state();
      ASSERT_TRUE(state.restored_view_floor.has_value());
      EXPECT_EQ(state.restored_view_floor->value, valid_view);
      // The next metadata write replaces the damaged copy; the one after, the other.
      ASSERT_TRUE(disk->execute(std::vector<core::Effect>{metadata(4, 6), metadata(5, 6)}).ok());
      disk.reset();
      env.crash();
      auto healthy = open(env);
      ASSERT_TRUE(healthy);
      EXPECT_FALSE(healthy->restored_reason().has_value());
      EXPECT_FALSE(healthy->take_durable_state().restored_view_floor.has_value());
    }
  }
}

// A cluster of one replica has no peer to learn a lost vote from: a damaged metadata copy
// keeps it from starting (the runtime exits 4 with this text).
TEST_F(ReplicaDiskTest, ADamagedMetadataCopyKeepsASingleReplicaDown) {
  {
    auto disk = open(env_);
    ASSERT_TRUE(disk->execute(std::vector<core::Effect>{prepare(1, 1, "a"), metadata(2, 1)}).ok());
  }
  env_.crash();
  env_.flip_bit(join(dir, "metadata.0"), 20, 1);
  auto disk = open(env_);
  ASSERT_TRUE(disk);
  const std::optional<std::string> why = disk->damage_without_peers();
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->rfind("metadata copy /node/metadata.0 (", 0), 0u) << *why;
  EXPECT_NE(why->find("is damaged"), std::string::npos) << *why;
}

}  // namespace
}  // namespace vsr::storage
