// Power loss at every write point (LevelDB's fault_injection_test, for a whole node
// directory). A workload formats a node, appends batches, writes metadata, takes
// checkpoints (which delete WAL segments) and truncates suffixes, on tiny segments so that
// batches straddle segment boundaries. It is run once to count its mutating calls, then
// once per call index with a crash armed to strike there, optionally tearing the write it
// strikes. After each crash the directory is recovered and checked against what the
// workload had been told was durable:
//   - nothing acknowledged is lost: every synced op above the checkpoint is there with its
//     body, the metadata and checkpoint are the acknowledged ones or the ones in flight;
//   - nothing is invented: every op found is one that was appended with that body, and no
//     op is corrupt or missing (power loss alone tears only the tail, which is cut);
//   - the node goes on: it appends after recovery and recovers again.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "storage_test_util.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/node_storage.hpp"

namespace vsr::storage {
namespace {

using testing::blob_for;
using testing::body_for;
using testing::node_dir;

Metadata initial_metadata() {
  Metadata m;
  m.cluster_id = "power-loss";
  m.replica = 0;
  return m;
}

Metadata content(Metadata m) {
  m.sequence = 0;
  return m;
}

NodeOptions tiny_segments() {
  NodeOptions options;
  options.wal.segment_bytes_max = 300;  // two or three records
  return options;
}

// What the workload was told is durable, and what it was in the middle of.
struct Expectation {
  bool formatted = false;
  Metadata metadata;  // the last acknowledged, without its sequence
  std::optional<Metadata> metadata_in_flight;
  std::uint64_t checkpoint_op = 0;
  std::optional<std::uint64_t> checkpoint_in_flight;
  std::map<std::uint64_t, std::string> durable;    // acknowledged by sync()
  std::map<std::uint64_t, std::string> in_flight;  // appended, sync not acknowledged
  std::optional<std::uint64_t> truncating;         // truncate_after(cut) not acknowledged
};

// Runs the workload until it finishes or a call fails (the armed crash struck).
Expectation run_workload(MemoryEnv& env) {
  Expectation e;
  auto recovered = recover(env, node_dir, tiny_segments());
  if (!recovered) return e;
  NodeStorage& node = recovered->storage;
  if (!node.format(initial_metadata()).ok()) return e;
  e.formatted = true;
  e.metadata = initial_metadata();
  std::uint64_t head = 0;
  std::uint64_t generation = 0;
  for (std::uint64_t step = 0; step < 36; ++step) {
    for (std::uint64_t i = 0; i <= step % 3; ++i) {
      ++head;
      e.in_flight[head] = body_for(head, generation);
      if (!node.wal().append(head, e.in_flight[head]).ok()) return e;
    }
    if (!node.wal().sync().ok()) return e;
    e.durable.merge(e.in_flight);
    e.in_flight.clear();

    if (step % 4 == 3) {
      Metadata m = e.metadata;
      m.view = m.log_view = step;
      m.commit = std::max(m.commit, head >= 2 ? head - 2 : 0);
      e.metadata_in_flight = m;
      if (!node.write_metadata(m).ok()) return e;
      e.metadata = m;
      e.metadata_in_flight.reset();
    }
    if (step % 7 == 6 && e.metadata.commit > e.checkpoint_op) {
      const std::uint64_t op = e.metadata.commit;
      Metadata m = e.metadata;
      m.checkpoint_op = op;
      e.checkpoint_in_flight = op;
      e.metadata_in_flight = m;
      if (!node.write_checkpoint(op, blob_for(op)).ok()) return e;
      e.checkpoint_op = op;
      e.metadata = m;
      e.checkpoint_in_flight.reset();
      e.metadata_in_flight.reset();
      if (!node.release_wal(op).ok()) return e;
    }
    if (step == 10 || step == 25) {
      // A view change drops the uncommitted suffix; the new primary's ops differ.
      const std::uint64_t cut = e.metadata.commit;
      if (cut < head) {
        e.truncating = cut;
        if (!node.wal().truncate_after(cut).ok()) return e;
        e.durable.erase(e.durable.upper_bound(cut), e.durable.end());
        e.truncating.reset();
        head = cut;
        ++generation;
      }
    }
  }
  return e;
}

// Recovers `env` and checks it against `e`; then appends two ops and recovers again.
void check_recovery(MemoryEnv& env, const Expectation& e) {
  auto recovered = recover(env, node_dir, tiny_segments());
  ASSERT_TRUE(recovered.ok()) << "power loss alone must leave a recoverable node: "
                              << recovered.error().message;
  const RecoveredState& state = recovered->state;
  if (!e.formatted) {
    // Format was interrupted: a fresh directory, or its first copy made it.
    if (!state.fresh) {
      EXPECT_EQ(content(state.metadata), initial_metadata());
    }
    return;
  }
  ASSERT_FALSE(state.fresh);

  const Metadata metadata = content(state.metadata);
  EXPECT_TRUE(metadata == e.metadata || (e.metadata_in_flight && metadata == *e.metadata_in_flight))
      << "recovered view " << metadata.view << " commit " << metadata.commit;

  const std::uint64_t checkpoint_op = state.checkpoint ? state.checkpoint->op : 0;
  EXPECT_TRUE(checkpoint_op == e.checkpoint_op ||
              (e.checkpoint_in_flight && checkpoint_op == *e.checkpoint_in_flight))
      << "recovered checkpoint " << checkpoint_op;
  if (state.checkpoint) {
    EXPECT_EQ(state.checkpoint->blob, blob_for(checkpoint_op));
  }

  EXPECT_EQ(state.wal.first_op, checkpoint_op + 1);
  for (const WalEntry& entry : state.wal.entries) {
    ASSERT_EQ(entry.status, RecordStatus::ok) << "op " << entry.op;
    const auto durable = e.durable.find(entry.op);
    const auto in_flight = e.in_flight.find(entry.op);
    const bool known = (durable != e.durable.end() && durable->second == entry.body) ||
                       (in_flight != e.in_flight.end() && in_flight->second == entry.body);
    EXPECT_TRUE(known) << "op " << entry.op << " was invented: " << entry.body;
  }
  for (auto it = e.durable.upper_bound(checkpoint_op); it != e.durable.end(); ++it) {
    if (e.truncating && it->first > *e.truncating) continue;  // being discarded
    const WalEntry* entry = state.wal.find(it->first);
    EXPECT_TRUE(entry != nullptr && entry->status == RecordStatus::ok)
        << "acknowledged op " << it->first << " was lost";
  }

  // The node goes on from what it recovered.
  NodeStorage& node = recovered->storage;
  const std::uint64_t head = node.wal().head_op();
  testing::append_ops(node.wal(), head + 1, head + 2, 2, /*generation=*/7);
  auto again = recover(env, node_dir, tiny_segments());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->state.wal.head_op, head + 2);
  EXPECT_EQ(again->state.wal.find(head + 2)->body, body_for(head + 2, 7));
  EXPECT_TRUE(again->state.wal.ops_with(RecordStatus::corrupt).empty());
  EXPECT_TRUE(again->state.wal.ops_with(RecordStatus::missing).empty());
}

std::uint64_t workload_mutations() {
  MemoryEnv env;
  testing::make_node_dir(env);
  const std::uint64_t before = env.mutations();
  const Expectation e = run_workload(env);
  EXPECT_TRUE(e.formatted && e.in_flight.empty() && e.checkpoint_op > 0);
  return env.mutations() - before;
}

// The parameter: how many bytes of the struck write reach the disk (none: all unsynced
// data is dropped).
class StoragePowerLoss : public ::testing::TestWithParam<std::optional<std::size_t>> {};

TEST_P(StoragePowerLoss, AtEveryWritePoint) {
  const std::uint64_t total = workload_mutations();
  ASSERT_GT(total, 200u);  // the workload really exercises the directory
  for (std::uint64_t strike = 0; strike <= total; ++strike) {
    SCOPED_TRACE(::testing::Message() << "crash at mutation " << strike << " of " << total);
    MemoryEnv env;
    testing::make_node_dir(env);
    env.arm_crash(strike);
    const Expectation e = run_workload(env);
    EXPECT_EQ(env.down(), strike < total);
    env.crash(CrashOptions{GetParam()});
    check_recovery(env, e);
    if (::testing::Test::HasFailure()) return;  // one failing point tells the story
  }
}

INSTANTIATE_TEST_SUITE_P(Tears, StoragePowerLoss,
                         ::testing::Values(std::nullopt, std::optional<std::size_t>{1},
                                           std::optional<std::size_t>{13},
                                           std::optional<std::size_t>{1 << 20}),
                         [](const auto& test) {
                           return test.param ? "tear_at_" + std::to_string(*test.param)
                                             : std::string("drop_unsynced");
                         });

}  // namespace
}  // namespace vsr::storage
