// The long seed sweep (ctest label `long`, not part of `make check`): 20,000 random fault
// mixes cycling R = 1, 3, 5. VSR_SIM_LONG_SEEDS overrides the count.

#include <gtest/gtest.h>

#include <cstdlib>

#include "simulator.hpp"

namespace vsr::sim {
namespace {

TEST(SimLongSweep, Seeds20000) {
  std::uint64_t count = 20000;
  if (const char* env = std::getenv("VSR_SIM_LONG_SEEDS")) count = std::strtoull(env, nullptr, 10);
  const std::uint32_t configs[] = {1, 3, 5};
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint32_t replicas = configs[i % 3];
    Simulator sim(random_options(100000 + i, replicas, core::InjectedBug::none));
    SimResult result = sim.run();
    ASSERT_TRUE(result.ok) << result.failure << "\n  replay: " << result.replay;
  }
}

}  // namespace
}  // namespace vsr::sim
