// The simulator with the real bank app (apps/bank) on every replica instead of the KV test
// app: under random faults the replicas' bank states must agree at equal commit numbers,
// and every reply a client got must equal what a fresh bank replaying the committed
// history answers at that op (checkers (a)-(d), see simulator.hpp).

#include <gtest/gtest.h>

#include "bank/bank.hpp"
#include "simulator.hpp"

namespace vsr::sim {
namespace {

std::unique_ptr<app::StateMachine> make_bank() {
  return apps::bank::descriptor().factory();
}

std::string bank_operation(core::Prng& prng) {
  const std::string account = "acct-" + std::to_string(prng.below(4));
  const auto amount = static_cast<std::int64_t>(prng.below(300)) - 100;
  switch (prng.below(4)) {
    case 0:
      return apps::bank::encode_get(account);
    case 1:
      return apps::bank::encode_transfer(account, "acct-" + std::to_string(prng.below(4)),
                                         static_cast<std::int64_t>(1 + prng.below(50)));
    default:
      return apps::bank::encode_add(account, amount);
  }
}

TEST(SimBank, SweepR3Seeds100) {
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    SimOptions o = random_options(seed, 3, core::InjectedBug::none);
    o.app_factory = &make_bank;
    o.make_operation = &bank_operation;
    SimResult r = Simulator(o).run();
    ASSERT_TRUE(r.ok) << r.failure << "\n  replay: " << r.replay << " (with the bank app)";
    EXPECT_GT(r.replies_checked, 0u);
  }
}

TEST(SimBank, SweepR5Seeds50) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    SimOptions o = random_options(seed, 5, core::InjectedBug::none);
    o.app_factory = &make_bank;
    o.make_operation = &bank_operation;
    SimResult r = Simulator(o).run();
    ASSERT_TRUE(r.ok) << r.failure << "\n  replay: " << r.replay << " (with the bank app)";
  }
}

}  // namespace
}  // namespace vsr::sim
