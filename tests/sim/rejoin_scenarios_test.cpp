// Named scenarios for the holes of issue #12 that a single-step core test cannot show in
// full: each scripts the situation in a whole simulated cluster, with all checkers running
// after every tick, and requires the clients to finish within a stated bound while the
// fault persists. The same script with the fix switched off (core::InjectedBug) must fail,
// so the scenario proves the fix.
//
// The liveness bound is a formula in the configured timeouts (docs/vsr/protocol.md,
// "Liveness"): a primary that hears no quorum abdicates after primary_timeout_ticks; its
// backups time out on it within primary_timeout_ticks + timeout_jitter_ticks of its last
// heartbeat; a view change then completes within view_change_timeout_ticks x 8 (the
// back-off cap) + timeout_jitter_ticks per attempt, and at most f + 1 attempts can land on a
// primary that is down or cut off.

#include <gtest/gtest.h>

#include "scripted.hpp"
#include "simulator.hpp"

namespace vsr::sim {
namespace {

/// Ticks within which a connected quorum elects a primary once the old one went deaf
/// (see the file comment).
std::uint64_t election_bound_ticks(const core::Options& o) {
  const std::uint64_t attempt =
      (std::uint64_t{o.view_change_timeout_ticks} << core::Options::view_change_backoff_max) +
      o.timeout_jitter_ticks;
  return o.primary_timeout_ticks + o.primary_timeout_ticks + o.timeout_jitter_ticks +
         (o.faults_tolerated() + 1) * attempt;
}

/// Cuts every link into the primary (it still sends: its heartbeats reach the backups),
/// then requires every client to finish, with the cut in place, within the election bound
/// plus the clients' own work. Returns whether they did.
bool clients_finish_with_a_deaf_primary(core::InjectedBug bug) {
  SimOptions o = scripted(3, 3);
  o.core.bug = bug;
  Simulator sim(o);
  EXPECT_TRUE(sim.run_until(200));
  auto primary = sim.primary();
  EXPECT_TRUE(primary.has_value());
  if (!primary) return false;
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (r != *primary) sim.block(r, *primary);
  }
  const bool done = sim.run_until_done(election_bound_ticks(o.core) + 4000);
  // A stall is reported by checker (e), liveness under faults (the backups are a connected
  // quorum of healthy replicas); no other checker may fail.
  if (sim.failed()) {
    EXPECT_NE(sim.result().failure.find("(e) liveness under faults"), std::string::npos)
        << sim.result().failure;
  }
  if (done) {
    auto now = sim.primary();
    EXPECT_TRUE(now.has_value());
    if (now) {
      EXPECT_NE(*now, *primary);
    }
  }
  return done;
}

TEST(SimRejoin, ViewChangeAPrimaryThatCannotHearAbdicatesR3) {
  EXPECT_TRUE(clients_finish_with_a_deaf_primary(core::InjectedBug::none));
}

TEST(SimRejoin, InjectedBugPrimaryNeverAbdicatesStallsTheCluster) {
  EXPECT_FALSE(clients_finish_with_a_deaf_primary(core::InjectedBug::primary_never_abdicates));
}

TEST(SimRejoin, BeyondTheFaultBudgetTheClusterStallsAndSaysWhyR3) {
  // Both backups crash: more than f = 1 replica is down. The survivor must not go on alone
  // (the checkers watch every tick), and says what it waits for (vsr status shows it).
  Simulator sim(scripted(3, 3));
  ASSERT_TRUE(sim.run_until(200));
  const auto primary = sim.primary();
  ASSERT_TRUE(primary.has_value());
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (r != *primary) sim.crash(r);
  }
  ASSERT_TRUE(sim.run_until(sim.now() + 2000));
  const core::Replica& survivor = sim.replica(*primary);
  EXPECT_EQ(survivor.status(), core::Status::view_change) << "it abdicated";
  EXPECT_NE(survivor.waiting_for().find("from a quorum: 1 of 2"), std::string::npos)
      << survivor.waiting_for();
  for (std::uint32_t r = 0; r < 3; ++r) {
    if (r != *primary) sim.restart(r);
  }
  finish(sim);
}

}  // namespace
}  // namespace vsr::sim
