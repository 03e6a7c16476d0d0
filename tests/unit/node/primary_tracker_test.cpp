// Proves the client's primary finding: before any view is known every attempt goes to
// every node; afterwards the first attempt goes to view mod n and retries to everyone;
// a higher view wins, a lower one is ignored.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "vsr/node/client.hpp"

namespace vsr::node {
namespace {

using Targets = std::vector<std::size_t>;

TEST(PrimaryTracker, UnknownViewBroadcasts) {
  PrimaryTracker t(3);
  EXPECT_FALSE(t.primary().has_value());
  EXPECT_EQ(t.targets(0), (Targets{0, 1, 2}));
  EXPECT_EQ(t.targets(1), (Targets{0, 1, 2}));
}

TEST(PrimaryTracker, KnownViewTriesPrimaryFirstThenEveryone) {
  PrimaryTracker t(3);
  t.observe(core::View{4});
  EXPECT_EQ(t.primary(), 1u);
  EXPECT_EQ(t.targets(0), (Targets{1}));
  EXPECT_EQ(t.targets(1), (Targets{0, 1, 2}));
}

TEST(PrimaryTracker, HigherViewWinsLowerIgnored) {
  PrimaryTracker t(5);
  t.observe(core::View{7});
  t.observe(core::View{3});
  EXPECT_EQ(t.view(), core::View{7});
  EXPECT_EQ(t.primary(), 2u);
  t.observe(core::View{10});
  EXPECT_EQ(t.primary(), 0u);
}

TEST(ClientIds, RandomIdsDifferAndRequestNumbersIncrease) {
  EXPECT_NE(random_client_id(), random_client_id());
  EXPECT_EQ(random_client_id().size(), 32u);
  // Milliseconds apart, the numbers of one client id increase; within one millisecond they
  // share the clock part and differ in 20 random bits, so two processes on one id rarely
  // pick the same number. All are wire integers (below 2^63).
  const core::RequestNo a = default_request_no();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const core::RequestNo b = default_request_no();
  EXPECT_LT(a, b);
  EXPECT_LT(b.value, std::uint64_t{1} << 63);
  int distinct = 0;
  for (int i = 0; i < 8; ++i) {
    const core::RequestNo x = default_request_no();
    const core::RequestNo y = default_request_no();
    if ((x.value >> 20) == (y.value >> 20) && x != y) distinct += 1;
  }
  EXPECT_GT(distinct, 0) << "numbers drawn in one millisecond are the same";
}

}  // namespace
}  // namespace vsr::node
