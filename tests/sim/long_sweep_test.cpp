// The long seed sweep (ctest label `long`, not part of `make check`): 20,000 random fault
// mixes cycling every cluster size the configuration accepts, R = 1..16 (1,250 seeds each).
// VSR_SIM_LONG_SEEDS overrides the count.

#include <gtest/gtest.h>

#include <cstdlib>

#include "simulator.hpp"

namespace vsr::sim {
namespace {

TEST(SimLongSweep, Seeds20000) {
  std::uint64_t count = 20000;
  if (const char* env = std::getenv("VSR_SIM_LONG_SEEDS")) count = std::strtoull(env, nullptr, 10);
  constexpr std::uint32_t sizes = core::Options::max_replicas;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto replicas = static_cast<std::uint32_t>(1 + i % sizes);
    Simulator sim(random_options(100000 + i, replicas, core::InjectedBug::none));
    SimResult result = sim.run();
    ASSERT_TRUE(result.ok) << result.failure << "\n  replay: " << result.replay;
  }
}

}  // namespace
}  // namespace vsr::sim
