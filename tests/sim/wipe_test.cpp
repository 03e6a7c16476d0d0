// Wiped replicas (`rm -rf nodes/NAME`, then `vsr start-node NAME`): a replica that opens
// without metadata cannot tell whether it is new or was wiped, so it asks the others
// (docs/vsr/protocol.md, "Replicas without metadata"). These scenarios wipe replicas where a
// naive "empty means new" would lose committed ops, and require every client request to
// complete, every replica to converge and the checkers (a)-(d) to hold throughout.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "scripted.hpp"
#include "simulator.hpp"

namespace vsr::sim {
namespace {

using core::InjectedBug;

bool is_safety_failure(const SimResult& r) {
  return !r.ok &&
         (r.failure.find("(a)") != std::string::npos ||
          r.failure.find("(b)") != std::string::npos || r.failure.find("(c)") != std::string::npos);
}

/// The classic lost commit. The primary of view 0 (replica 0) is cut off; replicas 1 and 2
/// start view 1 (replica 2 votes for it) and commit ops in it. Replica 2 is wiped and
/// restarted, the new primary (replica 1) fails, and the old primary's partition heals. Had
/// replica 2 come back as a new replica in view 0, it would acknowledge the old primary's
/// prepares at the ops view 1 committed, and the two would commit different ones there.
/// Returns the result after `ticks_down` ticks without replica 1 and then the rest of the run.
SimResult wiped_voter_then_primary_fails(InjectedBug bug, bool* checked = nullptr) {
  SimOptions o = scripted(3, 3);
  o.core.bug = bug;
  Simulator sim(o);
  sim.run_until(150);
  const std::uint32_t old_primary = sim.primary().value_or(0);
  sim.isolate(old_primary);
  // Wait for the view change and for ops committed in the new view.
  std::uint64_t before = sim.canonical_commit();
  while (!sim.failed() && sim.now() < 3000 &&
         (!sim.primary() || sim.replica(*sim.primary()).view().value == 0 ||
          sim.canonical_commit() < before + 8)) {
    sim.run_until(sim.now() + 1);
  }
  const std::uint32_t new_primary = sim.primary().value_or(1);
  const std::uint32_t voter = 3 - old_primary - new_primary;
  bool ok = sim.replica(new_primary).view().value > 0 && sim.canonical_commit() >= before + 8;
  sim.crash(voter);
  sim.wipe(voter);
  sim.restart(voter);
  ok = ok && sim.replica(voter).status() == core::Status::recovering;
  sim.crash(new_primary);
  sim.heal();
  sim.run_until(sim.now() + 1500);
  if (bug == InjectedBug::none) {
    // Without the new primary it cannot learn what it may have voted for: it waits.
    ok = ok && sim.replica(voter).status() == core::Status::recovering;
  }
  sim.restart(new_primary);
  sim.run_until_done(20000);
  const std::uint64_t end = sim.now() + 5000;
  while (!sim.failed() && !sim.converged() && sim.now() < end) sim.run_until(sim.now() + 1);
  if (checked != nullptr) *checked = ok && sim.converged();
  return sim.summarize();
}

TEST(SimWipe, WipedBackupThatVotedThenPrimaryFailsR3) {
  bool checked = false;
  SimResult r = wiped_voter_then_primary_fails(InjectedBug::none, &checked);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(checked) << "the script did not go as planned, or the replicas did not converge";
  EXPECT_GT(r.max_view, 1u);
}

TEST(SimInjectedBug, WipedReplicaVotesAsNewIsCaught) {
  SimResult good = wiped_voter_then_primary_fails(InjectedBug::none);
  EXPECT_TRUE(good.ok) << good.failure;
  SimResult bad = wiped_voter_then_primary_fails(InjectedBug::wiped_replica_votes_as_new);
  EXPECT_TRUE(is_safety_failure(bad)) << (bad.ok ? "no violation reported" : bad.failure);
}

TEST(SimWipe, WipeAtClusterBirthR3) {
  // Every replica of a new cluster opens empty and asks; one is wiped before it could
  // answer, and another right after the cluster started. Nothing was lost, so the first
  // comes back new; the second rejoins through a StartView.
  Simulator sim(scripted(3, 3));
  EXPECT_TRUE(sim.replica(2).asking());
  sim.crash(2);
  sim.wipe(2);
  ASSERT_TRUE(sim.run_until(30));
  EXPECT_TRUE(sim.replica(0).asking());  // a fresh replica needs both others to answer
  EXPECT_TRUE(sim.replica(1).asking());
  sim.restart(2);
  ASSERT_TRUE(sim.run_until(80));
  for (std::uint32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(sim.replica(r).status(), core::Status::normal) << "replica " << r;
  }
  ASSERT_TRUE(sim.run_until(200));
  const std::uint32_t backup = (sim.primary().value_or(0) + 1) % 3;
  sim.crash(backup);
  sim.wipe(backup);
  sim.restart(backup);
  EXPECT_TRUE(sim.replica(backup).asking());
  finish(sim);
  EXPECT_FALSE(sim.is_wiped(backup));
}

TEST(SimWipe, WipeEveryReplicaOfANewClusterR3) {
  // Wiped before anything happened: indistinguishable from new, and harmless.
  Simulator sim(scripted(3, 2));
  ASSERT_TRUE(sim.run_until(1));
  for (std::uint32_t r = 0; r < 3; ++r) {
    sim.crash(r);
    sim.wipe(r);
  }
  ASSERT_TRUE(sim.run_until(20));
  for (std::uint32_t r = 0; r < 3; ++r) sim.restart(r);
  finish(sim);
  EXPECT_EQ(sim.summarize().max_view, 0u);
}

/// Ops are committed by replicas 0, 1 and 2 only (3 and 4 are down and never see any).
/// Then 1 and 2 are wiped (f = 2 damaged), 0 is down, and 3 and 4 come back. The answers 1
/// and 2 can get are from each other (asking, so they show nothing) and from 3 and 4
/// (pristine: view 0, op 0, never voted): taking those
/// for "nothing ever happened" would make 1 and 2 new and lose the ops with 3 and 4. They
/// must wait for replica 0: f + 1 answers from replicas that are not asking, or all others.
SimResult wipe_two_of_five(InjectedBug bug, bool* checked = nullptr) {
  // Client 3 registers only at the end: its registration is the first op a cluster that
  // forgot the history would commit (at op 1 again), which checker (a) tells apart.
  SimOptions o = scripted(5, 4);
  o.core.bug = bug;
  Simulator sim(o);
  for (std::uint32_t c = 0; c < 4; ++c) sim.set_client_active(c, false);
  sim.run_until(60);
  bool ok = sim.primary().value_or(9) == 0;
  for (std::uint32_t r = 0; r < 5; ++r) ok = ok && sim.replica(r).status() == core::Status::normal;
  sim.crash(3);
  sim.crash(4);
  for (std::uint32_t c = 0; c < 3; ++c) sim.set_client_active(c, true);
  while (!sim.failed() && sim.canonical_commit() < 10 && sim.now() < 2000) {
    sim.run_until(sim.now() + 1);
  }
  for (std::uint32_t c = 0; c < 3; ++c) sim.set_client_active(c, false);
  ok = ok && sim.canonical_commit() >= 10;
  for (std::uint32_t r : {0u, 1u, 2u}) sim.crash(r);
  sim.wipe(1);
  sim.wipe(2);
  sim.run_until(sim.now() + 20);  // nothing of the old view is left in the network
  sim.restart(3);
  sim.restart(4);
  sim.restart(1);
  sim.restart(2);
  for (std::uint32_t c = 0; c < 4; ++c) sim.set_client_active(c, true);
  sim.run_until(sim.now() + 1500);
  if (bug == InjectedBug::none) ok = ok && sim.replica(1).asking() && sim.replica(2).asking();
  sim.restart(0);
  sim.run_until_done(20000);
  const std::uint64_t end = sim.now() + 5000;
  while (!sim.failed() && !sim.converged() && sim.now() < end) sim.run_until(sim.now() + 1);
  ok = ok && sim.converged() && !sim.is_wiped(1) && !sim.is_wiped(2);
  if (checked != nullptr) *checked = ok;
  return sim.summarize();
}

TEST(SimWipe, WipeTwoOfFiveWhileTheOtherHolderIsDownR5) {
  bool checked = false;
  SimResult r = wipe_two_of_five(InjectedBug::none, &checked);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(checked) << "the script did not go as planned, or the replicas did not converge";
}

TEST(SimInjectedBug, RecoveryTrustsAskingIsCaught) {
  SimResult bad = wipe_two_of_five(InjectedBug::recovery_trusts_asking);
  EXPECT_TRUE(is_safety_failure(bad)) << (bad.ok ? "no violation reported" : bad.failure);
}

TEST(SimWipe, WipeABackupR5) {
  // One wiped backup of five, while another backup is down: three of the four others
  // answer, and it rejoins through a StartView.
  Simulator sim(scripted(5, 4));
  ASSERT_TRUE(sim.run_until(300));
  const std::uint32_t primary = sim.primary().value_or(0);
  const std::uint32_t backup = (primary + 2) % 5;
  const std::uint32_t down = (primary + 3) % 5;
  sim.crash(backup);
  sim.wipe(backup);
  sim.crash(down);
  sim.restart(backup);
  ASSERT_TRUE(sim.run_until(sim.now() + 300));
  EXPECT_FALSE(sim.replica(backup).asking());
  EXPECT_EQ(sim.replica(backup).status(), core::Status::normal);
  sim.restart(down);
  finish(sim);
}

TEST(SimWipe, WipeTheSingleReplicaR1) {
  // With n = 1 there is nobody to ask: a replica without metadata is new at once. A wiped
  // single node cannot be told from a new one (docs/vsr/static_membership.md, "Wipe").
  Simulator sim(scripted(1, 1));
  ASSERT_TRUE(sim.run_until(1));
  EXPECT_EQ(sim.replica(0).status(), core::Status::normal);
  finish(sim);
}

}  // namespace
}  // namespace vsr::sim
