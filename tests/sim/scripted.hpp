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
