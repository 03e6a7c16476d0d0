// Proves the bench histogram's contract: every value is reported within 1% of itself
// (bucket midpoints), quantiles follow the rank definition, max is exact, merge adds.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "vsr/node/histogram.hpp"

namespace vsr::node {
namespace {

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < Histogram::sub_buckets; ++v) {
    EXPECT_EQ(Histogram::index_of(v), v);
    EXPECT_EQ(Histogram::midpoint_of(Histogram::index_of(v)), v);
  }
}

TEST(Histogram, EveryBucketMidpointIsWithinOnePercent) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::size_t index = Histogram::index_of(v);
    ASSERT_LT(index, Histogram::bucket_count);
    ASSERT_LE(Histogram::lowest_of(index), v);
    const double mid = static_cast<double>(Histogram::midpoint_of(index));
    const double error =
        std::abs(mid - static_cast<double>(v)) / std::max(1.0, static_cast<double>(v));
    ASSERT_LE(error, 0.01) << v;
  }
}

TEST(Histogram, BucketsAreMonotonic) {
  for (std::size_t i = 1; i < Histogram::bucket_count; ++i) {
    ASSERT_LT(Histogram::lowest_of(i - 1), Histogram::lowest_of(i)) << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_of(i)), i);
  }
}

TEST(Histogram, QuantilesMatchSortedValuesWithinOnePercent) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> latency(13.0, 1.0);  // ~0.4 ms median in ns
  Histogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    const double truth = static_cast<double>(values[rank - 1]);
    const double got = static_cast<double>(h.quantile(q));
    EXPECT_NEAR(got, truth, truth * 0.01) << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.quantile(1.0), values.back());
  EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a;
  Histogram b;
  for (std::uint64_t v = 1; v <= 1000; ++v) (v % 2 ? a : b).record(v * 1000);
  a.merge(b);
  EXPECT_EQ(a.count(), 1000u);
  EXPECT_EQ(a.max(), 1'000'000u);
  EXPECT_NEAR(static_cast<double>(a.quantile(0.5)), 500'000.0, 5000.0);
}

}  // namespace
}  // namespace vsr::node
