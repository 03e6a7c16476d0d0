#pragma once
// Helpers of the named scenario suites: a fault-free base configuration that each scenario
// then scripts, and the common ending (every request done, every replica converged).

#include <gtest/gtest.h>

#include <cstdint>

#include "simulator.hpp"

namespace vsr::sim {

inline SimOptions scripted(std::uint32_t replicas, std::uint32_t clients, std::uint64_t seed = 7) {
  SimOptions o;
  o.seed = seed;
  o.replicas = replicas;
  o.clients = clients;
  o.requests_per_client = 40;
  o.fault_ticks = 0;
  o.core.max_batch_size = 4;
  o.core.max_pipeline_depth = 4;
  return o;
}

/// Finding 5 of issue 12 (R=3): backup 1 acknowledges ops that backup 2 never receives
/// (the primary commits and answers them with 1's acknowledgements); 1 crashes, and the
/// medium flips a bit in the body of its last WAL record (the last op the primary
/// committed); the primary crashes; 1 restarts and, with 2, tries to change views for
/// `alone_ticks`; then the old primary returns. Taken for a torn write, the flipped record
/// is forgotten: 1 and 2 both nack that op and a new view truncates a committed, answered
/// op. Read back corrupt, it is never a nack: the view change waits for the old primary's
/// copy. Returns the run's result; `flipped` (if given) receives the op that was flipped.
inline SimResult flipped_last_record_script(core::InjectedBug bug, std::uint64_t* flipped) {
  SimOptions o = scripted(3, 1, 5);
  o.core.bug = bug;
  Simulator sim(o);
  sim.run_until(150);
  sim.block(0, 2);
  sim.run_until(400);
  sim.set_client_active(0, false);
  sim.run_until(450);  // everything in flight acknowledged and answered
  const std::uint64_t op = sim.replica(1).op().value;
  sim.crash(1);
  const bool hit = sim.flip_wal_bit(1, op, -10, 3);  // in the body
  sim.crash(0);
  sim.heal();
  sim.restart(1);
  sim.set_client_active(0, true);
  sim.run_until(sim.now() + 1500);
  sim.restart(0);
  sim.run_until_done(20000);
  const std::uint64_t end = sim.now() + 5000;
  while (!sim.failed() && !sim.converged() && sim.now() < end) sim.run_until(sim.now() + 1);
  if (flipped != nullptr) *flipped = hit ? op : 0;
  return sim.summarize();
}

/// Runs until the clients are done and the replicas converged, or fails the test.
inline void finish(Simulator& sim, std::uint64_t max_ticks = 20000) {
  ASSERT_TRUE(sim.run_until_done(max_ticks))
      << (sim.failed() ? sim.result().failure : "clients did not finish");
  const std::uint64_t end = sim.now() + 5000;
  while (!sim.failed() && !sim.converged() && sim.now() < end) sim.run_until(sim.now() + 1);
  ASSERT_FALSE(sim.failed()) << sim.result().failure;
  ASSERT_TRUE(sim.converged()) << "replicas did not converge";
}

}  // namespace vsr::sim
