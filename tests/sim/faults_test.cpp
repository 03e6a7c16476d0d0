// Named scenarios for the wider fault model (simulator.hpp): messages held beyond every
// timeout, cut and crashing clients, skewed and stepping clocks, paused processes, slow
// disks, and checker (e), liveness under faults. Each scripts one situation in a whole
// cluster, with every checker running after each tick; the checkers are the assertions,
// and the clients must finish and the replicas converge.

#include <gtest/gtest.h>

#include <string>

#include "scripted.hpp"
#include "simulator.hpp"

namespace vsr::sim {
namespace {

std::uint32_t primary_or_fail(const Simulator& sim) {
  auto p = sim.primary();
  EXPECT_TRUE(p.has_value());
  return p.value_or(0);
}

bool failed_with(const Simulator& sim, const std::string& checker) {
  return sim.failed() && sim.result().failure.find(checker) != std::string::npos;
}

// --- messages held beyond every timeout ------------------------------------------------

TEST(SimFaults, NetworkMessagesOfAnEarlierLifeArriveAfterItsRestartR3) {
  // Everything the primary sends for a while is held longer than every timeout; it crashes
  // and restarts meanwhile, the others change views, and its old prepares, commits and
  // replies arrive in a later view, from a replica that has restarted since.
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(200));
  const std::uint32_t p = primary_or_fail(sim);
  const std::uint64_t hold = sim.long_delay_ticks();
  for (std::uint32_t to = 0; to < 3 + 3; ++to) {
    if (to != p) sim.delay_link(p, to, hold);
  }
  ASSERT_TRUE(sim.run_until(260));
  sim.crash(p);
  for (std::uint32_t to = 0; to < 3 + 3; ++to) sim.delay_link(p, to, 0);
  ASSERT_TRUE(sim.run_until(300));
  sim.restart(p);
  ASSERT_TRUE(sim.run_until(260 + hold + 100));
  finish(sim);
  const Coverage& c = sim.summarize().coverage;
  EXPECT_GT(c.long_delayed_deliveries, 0u);
  EXPECT_GT(c.earlier_incarnation_deliveries, 0u);
}

TEST(SimFaults, NetworkStaleStartViewsArriveAfterLaterViewsR5) {
  // Each replica's messages to the next one are held beyond every timeout while primaries
  // fail one after the other: StartViews, DoViewChanges and prepares of views that are long
  // over arrive at replicas that moved on (and must refuse or ignore them).
  Simulator sim(scripted(5, 4));
  ASSERT_TRUE(sim.run_until(150));
  const std::uint64_t hold = sim.long_delay_ticks();
  for (std::uint32_t r = 0; r < 5; ++r) sim.delay_link(r, (r + 1) % 5, hold);
  for (int round = 0; round < 2; ++round) {
    const std::uint32_t p = primary_or_fail(sim);
    sim.crash(p);
    ASSERT_TRUE(sim.run_until(sim.now() + 400));
    sim.restart(p);
    ASSERT_TRUE(sim.run_until(sim.now() + 100));
  }
  for (std::uint32_t r = 0; r < 5; ++r) sim.delay_link(r, (r + 1) % 5, 0);
  ASSERT_TRUE(sim.run_until(sim.now() + hold + 100));
  finish(sim);
  EXPECT_GT(sim.summarize().coverage.long_delayed_deliveries, 0u);
}

// --- view changes around a late new primary --------------------------------------------

TEST(SimFaults, ViewChangeTruncatesWhatOnlyTheOldPrimaryHadR3) {
  // The primary's prepares stop reaching anyone (it still hears them), so its last op is
  // on its disk alone; the next primary is paused until after the others and the old
  // primary all sent their DoViewChanges. It chooses from all three: two say they never
  // had that op (a quorum of nacks), and it is truncated. A prompt new primary decides on
  // the first two and keeps it (it might have been committed).
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(200));
  const std::uint32_t p = primary_or_fail(sim);
  sim.block(p, (p + 1) % 3);
  sim.block(p, (p + 2) % 3);
  sim.pause((p + 1) % 3, 100);
  ASSERT_TRUE(sim.run_until(290));
  sim.heal();
  finish(sim);
  EXPECT_GT(sim.summarize().coverage.truncated_ops, 0u);
}

// --- clients --------------------------------------------------------------------------

TEST(SimFaults, ClientLinksCutOneWayAndBothR3) {
  // Client 0 reaches only one backup; client 1 hears no reply from the primary; client 2
  // is cut from a backup both ways. Requests that cannot reach the primary wait; the rest
  // go on; once healed, all finish.
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(150));
  const std::uint32_t p = primary_or_fail(sim);
  sim.block_client(0, p, true, false);
  sim.block_client(0, (p + 2) % 3, true, false);
  sim.block_client(1, p, false, true);
  sim.block_client(2, (p + 1) % 3, true, true);
  ASSERT_TRUE(sim.run_until(700));
  sim.heal();
  finish(sim);
}

TEST(SimFaults, ClientCrashesAndComesBackUnderANewIdR3) {
  // Clients crash with requests outstanding (which may still execute) and come back under
  // new ids, registering first; at most once per (id, request number) holds (checker (c)),
  // and no id is used twice.
  SimOptions o = scripted(3, 3);
  o.network.drop_percent = 10;
  Simulator sim(o);
  std::set<std::string> ids;
  for (std::uint32_t c = 0; c < 3; ++c) ids.insert(sim.client_id(c));
  for (std::uint64_t at = 100; at <= 700; at += 150) {
    ASSERT_TRUE(sim.run_until(at));
    const auto c = static_cast<std::uint32_t>(at / 150 % 3);
    sim.crash_client(c, 40);
    EXPECT_TRUE(ids.insert(sim.client_id(c)).second) << sim.client_id(c);
  }
  sim.set_network(NetworkFaults{});
  finish(sim);
  EXPECT_EQ(sim.summarize().coverage.client_crashes, 5u);
}

// --- clocks ---------------------------------------------------------------------------

TEST(SimFaults, ClockSkewAndStepsBackKeepTimestampsIncreasingR3) {
  // The first primary's clock is an hour ahead, the next one's an hour behind and slow;
  // clocks step back by minutes. Prepare stamps still strictly increase along the
  // committed history, and the app (the KV app's stamp operation) sees the primary's stamp
  // at every replica (checkers (b), (c)).
  SimOptions o = scripted(3, 3);
  Simulator sim(o);
  sim.set_clock(0, 3'600'000, 0);
  sim.set_clock(1, -3'600'000, -200);
  sim.set_clock(2, 0, 150);
  ASSERT_TRUE(sim.run_until(250));
  sim.crash(primary_or_fail(sim));
  ASSERT_TRUE(sim.run_until(500));
  for (std::uint32_t r = 0; r < 3; ++r) sim.jump_clock(r, -600'000);
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (!sim.is_up(r)) sim.restart(r);
  }
  ASSERT_TRUE(sim.run_until(700));
  sim.crash(primary_or_fail(sim));
  ASSERT_TRUE(sim.run_until(900));
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (!sim.is_up(r)) sim.restart(r);
  }
  finish(sim);
}

// Every replica restarts from a checkpoint at the head of its log (checkpoint_interval 1,
// so each op is one), and the next primary's clock is an hour behind the last one's: the
// timestamp of the last committed op must come from the checkpoint, or the next op would be
// stamped below it (found by this model: the checkpoint once carried no timestamp, and
// vsr_sim --seed 215 --replicas 1 failed checker (c) the same way).
TEST(SimFaults, ClockBehindAfterRestartFromACheckpointAtTheHeadR3) {
  SimOptions o = scripted(3, 3);
  o.core.checkpoint_interval = 1;
  Simulator sim(o);
  sim.set_clock(0, 3'600'000, 0);
  sim.set_clock(1, -3'600'000, 0);
  sim.set_clock(2, -3'600'000, 0);
  ASSERT_TRUE(sim.run_until(300));
  for (std::uint32_t c = 0; c < 3; ++c) sim.set_client_active(c, false);
  ASSERT_TRUE(sim.run_until(600));  // idle: every log ends at its checkpoint
  for (std::uint32_t r = 0; r < 3; ++r) sim.crash(r);
  for (std::uint32_t r = 0; r < 3; ++r) sim.restart(r);
  for (std::uint32_t c = 0; c < 3; ++c) sim.set_client_active(c, true);
  finish(sim);
}

// --- process pauses -------------------------------------------------------------------

TEST(SimFaults, PausedPrimaryResumesWithStaleTimersR3) {
  // The primary freezes for longer than the election (no ticks are replayed after a long
  // stall): it resumes believing it leads view 0, with a burst of what waited for it, and
  // must step down. Then a backup freezes briefly (its missed ticks are replayed at once).
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(200));
  const std::uint32_t p = primary_or_fail(sim);
  sim.pause(p, 600);
  ASSERT_TRUE(sim.run_until(700));
  EXPECT_TRUE(sim.is_paused(p));
  ASSERT_TRUE(sim.primary().has_value());
  EXPECT_NE(*sim.primary(), p);
  ASSERT_TRUE(sim.run_until(900));
  EXPECT_FALSE(sim.is_paused(p));
  sim.pause((primary_or_fail(sim) + 1) % 3, 60);
  finish(sim);
  EXPECT_EQ(sim.summarize().coverage.pauses, 2u);
}

// --- slow disks -----------------------------------------------------------------------

TEST(SimFaults, SlowDiskOnThePrimaryR3) {
  // The primary's writes take longer than the primary timeout for a while: it commits
  // late (its own vote waits for its disk), but the cluster keeps going.
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(150));
  sim.slow_disk(primary_or_fail(sim), 90, 700);
  finish(sim);
}

// --- checker (e) ----------------------------------------------------------------------

/// The primary hears nobody (every link into it is cut) but its heartbeats reach the
/// backups; the cut persists. Returns the simulator after checker (e)'s bound and some
/// more, or earlier if a checker failed.
std::unique_ptr<Simulator> deaf_primary(core::InjectedBug bug) {
  SimOptions o = scripted(3, 3);
  o.requests_per_client = 200;  // busy for the whole run
  o.core.bug = bug;
  auto sim = std::make_unique<Simulator>(o);
  EXPECT_TRUE(sim->run_until(200));
  const std::uint32_t p = primary_or_fail(*sim);
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (r != p) sim->block(r, p);
  }
  sim->run_until(sim->now() + sim->liveness_bound_ticks() + 500);
  return sim;
}

TEST(SimFaults, LivenessCheckerFiresOnAPrimaryThatNeverAbdicatesR3) {
  // With abdication switched off the deaf primary keeps its backups in view 0 with its
  // heartbeats: the two backups are a connected quorum of healthy replicas and the clients
  // wait, yet nothing commits. Checker (e) must say so within its bound.
  auto sim = deaf_primary(core::InjectedBug::primary_never_abdicates);
  EXPECT_TRUE(failed_with(*sim, "(e) liveness under faults")) << sim->result().failure;
}

TEST(SimFaults, LivenessCheckerIsSilentWhenThePrimaryAbdicatesR3) {
  // The same cut with the fix: the deaf primary abdicates, the backups elect one of them,
  // and the cluster commits while the cut persists.
  auto sim = deaf_primary(core::InjectedBug::none);
  EXPECT_FALSE(sim->failed()) << sim->result().failure;
  EXPECT_GT(sim->summarize().coverage.commits_around_faults, 0u);
  ASSERT_TRUE(sim->primary().has_value());
  EXPECT_GT(sim->replica(*sim->primary()).view().value, 0u);
}

TEST(SimFaults, LivenessCheckerWaitsOutDamagedAndSlowReplicasR3) {
  // Checker (e) counts a replica healthy only when nothing in it may stall the cluster by
  // design: not paused, recovering or wiped, and with a fast disk.
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(150));
  EXPECT_EQ(sim.healthy_quorum().size(), 3u);
  sim.slow_disk(0, Simulator::healthy_disk_latency_ticks + 1, 100);
  sim.pause(1, 50);
  ASSERT_TRUE(sim.run_until(160));
  EXPECT_FALSE(sim.healthy(0));
  EXPECT_FALSE(sim.healthy(1));
  EXPECT_TRUE(sim.healthy(2));
  EXPECT_TRUE(sim.healthy_quorum().empty());
  finish(sim);
}

}  // namespace
}  // namespace vsr::sim
