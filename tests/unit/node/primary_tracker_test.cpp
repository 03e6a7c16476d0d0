// Proves the client's primary finding: before any view is known every attempt goes to
// every node; afterwards the first attempt goes to view mod n and retries to everyone;
// a higher view wins, a lower one is ignored.

#include <gtest/gtest.h>

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
  const core::RequestNo a = default_request_no();
  core::RequestNo b = default_request_no();
  for (int i = 0; i < 1000 && b == a; ++i) b = default_request_no();
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace vsr::node
