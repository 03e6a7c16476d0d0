// Checkers with teeth: each test switches on one deliberately wrong protocol rule
// (core::InjectedBug) and requires the simulator to report a safety violation — checker
// (a), (b) or (c), never just a liveness timeout — within a fixed set of seeds or a fixed
// script. The same script with the bug switched off must pass, so the failure is the bug's.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "scripted.hpp"
#include "simulator.hpp"

namespace vsr::sim {
namespace {

using core::InjectedBug;

/// A checker's safety failure, (a) to (c), or (i): an always-on invariant of a replica broke
/// (the core's own checker; injected bugs do not switch invariants off).
bool is_safety_failure(const SimResult& r) {
  return !r.ok &&
         (r.failure.find("(a)") != std::string::npos ||
          r.failure.find("(b)") != std::string::npos ||
          r.failure.find("(c)") != std::string::npos || r.failure.find("(i)") != std::string::npos);
}

/// Seeds [first, first + count) of the random sweep with `bug`: returns the seeds caught.
std::vector<std::uint64_t> caught(InjectedBug bug, std::uint32_t replicas, std::uint64_t first,
                                  std::uint64_t count, std::uint64_t checkpoint_interval = 0) {
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions o = random_options(seed, replicas, bug);
    if (checkpoint_interval != 0) {
      o.core.checkpoint_interval = checkpoint_interval;
      o.crash_percent = std::max<std::uint32_t>(o.crash_percent, 4);
    }
    SimResult r = Simulator(o).run();
    if (is_safety_failure(r)) seeds.push_back(seed);
  }
  return seeds;
}

TEST(SimInjectedBug, QuorumTooSmallIsCaught) {
  auto seeds = caught(InjectedBug::quorum_too_small, 3, 1, 20);
  EXPECT_GE(seeds.size(), 3u);
}

// Issue 12, finding 1: the old quorum (n-1)/2 + 1 is half of an even n, so a view change
// quorum can miss every replica that acknowledged a committed op. The same seeds pass with
// majority quorums (SimSweep.R2Seeds200, SimSweep.R4Seeds200, SimSweep.RegressionSeeds).
TEST(SimInjectedBug, MinorityQuorumForEvenSizesIsCaughtR2) {
  auto seeds = caught(InjectedBug::minority_quorum_for_even_sizes, 2, 1, 20);  // 2, 6, 7, ...
  EXPECT_GE(seeds.size(), 3u);
}

TEST(SimInjectedBug, MinorityQuorumForEvenSizesIsCaughtR4) {
  auto seeds = caught(InjectedBug::minority_quorum_for_even_sizes, 4, 1, 80);  // 14, 24, 57, ...
  EXPECT_GE(seeds.size(), 3u);
}

TEST(SimInjectedBug, ShortestLogWinsIsCaught) {
  auto seeds = caught(InjectedBug::shortest_log_wins, 5, 1, 100);  // 28, 74, 75, 96
  EXPECT_GE(seeds.size(), 2u);
}

TEST(SimInjectedBug, ExecuteBeforeCommitIsCaught) {
  auto seeds = caught(InjectedBug::execute_before_commit, 3, 1, 30);
  EXPECT_GE(seeds.size(), 1u);
}

TEST(SimInjectedBug, ForgetClientTableIsCaught) {
  auto seeds = caught(InjectedBug::forget_client_table, 3, 1, 30, 8);
  EXPECT_GE(seeds.size(), 1u);
}

// Issue 13, finding 3: without session numbers, a request of an earlier session of a client
// id (replayed, or retried late) executes again once the id is evicted and registered anew.
// The simulator's evicted clients register the same id again half the time, and replay
// their last request of the earlier session half of those times.
// A client table one session smaller than the clients makes evictions frequent.
std::vector<std::uint64_t> caught_with_a_small_client_table(InjectedBug bug, std::uint64_t count) {
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t seed = 1; seed <= count; ++seed) {
    SimOptions o = random_options(seed, 3, bug);
    o.core.client_table_size = std::max<std::uint32_t>(1, o.clients - 1);
    const SimResult r = Simulator(o).run();
    if (bug == InjectedBug::none) {
      // Clients that evict each other may not all finish (liveness), but never unsafely.
      EXPECT_FALSE(is_safety_failure(r)) << "seed " << seed << ": " << r.failure;
    } else if (is_safety_failure(r)) {
      seeds.push_back(seed);
    }
  }
  return seeds;
}

TEST(SimInjectedBug, IgnoreClientSessionIsCaught) {
  EXPECT_GE(caught_with_a_small_client_table(InjectedBug::ignore_client_session, 30).size(), 2u);
  EXPECT_TRUE(caught_with_a_small_client_table(InjectedBug::none, 30).empty());
}

// --- scripted -----------------------------------------------------------------------------

SimOptions scripted(InjectedBug bug, std::uint32_t clients) {
  SimOptions o;
  o.seed = 11;
  o.replicas = 3;
  o.clients = clients;
  o.requests_per_client = 30;
  o.fault_ticks = 0;
  o.network.delay_min_ticks = 1;
  o.network.delay_max_ticks = 1;
  o.core.max_batch_size = 1;
  o.core.max_pipeline_depth = 8;
  o.core.bug = bug;
  return o;
}

/// A backup acknowledges prepares its slow disk has not written, then crashes with them;
/// the primary crashes too, and the two survivors elect a log without the ops the primary
/// committed (and answered) on the strength of that acknowledgement.
SimResult prepare_ok_before_durable_script(InjectedBug bug) {
  Simulator sim(scripted(bug, 2));
  sim.run_until(100);
  sim.set_storage_latency(1, 300);
  sim.block(0, 2);
  sim.run_until(180);
  sim.crash(1);
  sim.crash(0);
  sim.run_until(sim.now() + 5);  // what replica 0 had in flight to replica 2 is lost
  sim.heal();
  sim.set_storage_latency(1, 0);
  sim.restart(1);
  sim.run_until(1200);
  sim.restart(0);
  sim.run_until_done(6000);
  return sim.summarize();
}

TEST(SimInjectedBug, PrepareOkBeforeDurableIsCaught) {
  SimResult good = prepare_ok_before_durable_script(InjectedBug::none);
  EXPECT_TRUE(good.ok) << good.failure;
  SimResult bad = prepare_ok_before_durable_script(InjectedBug::prepare_ok_before_durable);
  EXPECT_TRUE(is_safety_failure(bad)) << (bad.ok ? "no violation reported" : bad.failure);
}

/// Replica 2 holds a long uncommitted suffix from view 0; view 1 (replicas 0 and 1)
/// truncates it and commits a different op at the same position; then 0 and 2 change views
/// without 1. Comparing logs by op alone picks replica 2's stale suffix.
SimResult ignore_log_view_script(InjectedBug bug) {
  Simulator sim(scripted(bug, 6));
  sim.run_until(100);
  sim.set_storage_latency(0, 500);  // the primary's own copies never become durable
  sim.block(0, 1);                  // replica 1 sees nothing of the new prepares
  sim.block(2, 0);                  // replica 2 writes them, but its acks never arrive
  sim.run_until(160);
  for (std::uint32_t c = 0; c < 6; ++c) sim.set_client_active(c, false);
  sim.crash(0);
  sim.heal();
  sim.isolate(2);
  sim.set_storage_latency(0, 0);
  sim.restart(0);
  // View 1 (primary 1) forms from replicas 0 and 1; one client commits one op in it.
  sim.run_until(700);
  // Stop the new primary the moment it has committed (and answered) one op, before the
  // other member of view 1 learns that the op is committed.
  const std::uint32_t primary = sim.primary().value_or(1);
  const std::uint64_t before = sim.replica(primary).commit_min().value;
  sim.set_client_active(0, true);
  while (!sim.failed() && sim.replica(primary).commit_min().value <= before && sim.now() < 3000) {
    sim.run_until(sim.now() + 1);
  }
  sim.heal();
  sim.isolate(primary);
  for (std::uint32_t c = 0; c < 6; ++c) sim.set_client_active(c, true);
  sim.run_until(sim.now() + 1500);
  sim.heal();
  sim.run_until_done(8000);
  return sim.summarize();
}

TEST(SimInjectedBug, IgnoreLogViewIsCaught) {
  SimResult good = ignore_log_view_script(InjectedBug::none);
  EXPECT_TRUE(good.ok) << good.failure;
  SimResult bad = ignore_log_view_script(InjectedBug::ignore_log_view);
  EXPECT_TRUE(is_safety_failure(bad)) << (bad.ok ? "no violation reported" : bad.failure);
}

/// The old torn-tail rule (a storage decision, WalOptions::bug_corrupt_tail_is_torn): a
/// backup's last WAL record, flipped by the medium after it acknowledged it, is cut on
/// restart as if a crash had torn it; with the third replica, which never saw the op, it
/// nacks the op, and the new view truncates what the old primary committed and answered.
TEST(SimInjectedBug, CorruptTailIsTornIsCaught) {
  std::uint64_t flipped = 0;
  const SimResult good = flipped_last_record_script(InjectedBug::none, &flipped);
  ASSERT_GT(flipped, 0u);
  EXPECT_TRUE(good.ok) << good.failure;
  const SimResult bad = flipped_last_record_script(InjectedBug::corrupt_tail_is_torn, nullptr);
  EXPECT_TRUE(is_safety_failure(bad)) << (bad.ok ? "no violation reported" : bad.failure);
}

}  // namespace
}  // namespace vsr::sim
