// The long seed sweep (ctest label `long`, `make long`, not part of `make check`): 100,000
// random fault mixes with the whole fault model, cycling every cluster size the
// configuration accepts, R = 1..16 (6,250 seeds each), in four shards of 25,000 seeds so
// that ctest runs them in parallel. VSR_SIM_LONG_SEEDS overrides the count per shard.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "simulator.hpp"

namespace vsr::sim {
namespace {

constexpr std::uint64_t kFirstSeed = 100000;
constexpr std::uint64_t kShardSeeds = 25000;

void sweep_shard(std::uint64_t shard) {
  std::uint64_t count = kShardSeeds;
  if (const char* env = std::getenv("VSR_SIM_LONG_SEEDS")) count = std::strtoull(env, nullptr, 10);
  constexpr std::uint32_t sizes = core::Options::max_replicas;
  Coverage coverage;
  const std::uint64_t first = shard * kShardSeeds;
  // Every seed runs, also after a failure: one run shows every class of failure in reach.
  for (std::uint64_t i = first; i < first + count; ++i) {
    const auto replicas = static_cast<std::uint32_t>(1 + i % sizes);
    Simulator sim(random_options(kFirstSeed + i, replicas, core::InjectedBug::none));
    SimResult result = sim.run();
    coverage += result.coverage;
    EXPECT_TRUE(result.ok) << result.failure << "\n  replay: " << result.replay;
  }
  std::string report;
  for (const auto& [name, field] : Coverage::fields()) {
    report += fmt::format("  {:<32} {:>10}\n", name, coverage.*field);
  }
  fmt::print("coverage of seeds {}..{}:\n{}", kFirstSeed + first, kFirstSeed + first + count - 1,
             report);
}

TEST(SimLongSweep, Seeds100000To124999) {
  sweep_shard(0);
}
TEST(SimLongSweep, Seeds125000To149999) {
  sweep_shard(1);
}
TEST(SimLongSweep, Seeds150000To174999) {
  sweep_shard(2);
}
TEST(SimLongSweep, Seeds175000To199999) {
  sweep_shard(3);
}

}  // namespace
}  // namespace vsr::sim
