// Proves the reconnect backoff: waits are jittered within [b/2, b] while b doubles up to
// the maximum; a link that stayed up for the maximum starts over from the minimum, and one
// that was closed at once keeps backing off.

#include "vsr/net/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

namespace vsr::net {
namespace {

using std::chrono::milliseconds;

TEST(NetBackoff, WaitsDoubleWithinJitterUpToTheMaximum) {
  std::mt19937_64 rng(7);
  Backoff backoff(milliseconds(50), milliseconds(2000));
  long upper = 50;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const milliseconds wait = backoff.wait(rng);
    EXPECT_GE(wait.count(), upper / 2) << attempt;
    EXPECT_LE(wait.count(), upper) << attempt;
    upper = std::min(upper * 2, 2000L);
  }
}

TEST(NetBackoff, OnlyALinkThatStayedUpStartsOver) {
  std::mt19937_64 rng(7);
  Backoff backoff(milliseconds(50), milliseconds(2000));
  for (int i = 0; i < 8; ++i) backoff.wait(rng);  // backed off to the maximum
  const auto t0 = Backoff::Clock::now();

  // Accepted and closed at once: still at the maximum.
  backoff.up(t0);
  backoff.down(t0 + milliseconds(5));
  EXPECT_GE(backoff.wait(rng).count(), 1000);

  // Up for the maximum: back to the minimum.
  backoff.up(t0);
  backoff.down(t0 + milliseconds(2000));
  EXPECT_LE(backoff.wait(rng).count(), 50);
}

}  // namespace
}  // namespace vsr::net
