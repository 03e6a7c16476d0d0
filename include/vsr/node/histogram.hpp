#pragma once
// A latency histogram with logarithmic buckets: exact below 128, then 128 linear
// sub-buckets per power of two, so every recorded value is reported within 1/256 (< 0.4%)
// of its true value (the bucket's midpoint is at most half a bucket, 2^k / 2, away from a
// value >= 128 * 2^k). Fixed memory (about 58 KiB), O(1) record, no allocation after
// construction. HdrHistogram's idea in a few lines, because Debian packages no C++ HDR
// library. Not thread-safe: give each thread its own and merge().

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

namespace vsr::node {

class Histogram {
 public:
  static constexpr unsigned sub_bucket_bits = 7;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bucket_bits;
  static constexpr std::size_t bucket_count = sub_buckets * (64 - sub_bucket_bits + 1);

  Histogram() : counts_(bucket_count, 0) {}

  /// Records one value (e.g. nanoseconds).
  void record(std::uint64_t value) {
    counts_[index_of(value)] += 1;
    count_ += 1;
    if (value > max_) max_ = value;
    if (count_ == 1 || value < min_) min_ = value;
  }

  /// Adds every value recorded in `other`.
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    if (other.count_ > 0 && (count_ == 0 || other.min_ < min_)) min_ = other.min_;
    if (other.max_ > max_) max_ = other.max_;
    count_ += other.count_;
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }

  /// The value at quantile `q` in [0, 1] (the smallest recorded value v such that at least
  /// q of all values are <= v), within the bucket error; 0 when empty. q = 1 gives max().
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    if (q >= 1.0) return max_;
    if (q < 0.0) q = 0.0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_));
    if (static_cast<double>(rank) < q * static_cast<double>(count_)) rank += 1;
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t v = midpoint_of(i);
        return v > max_ ? max_ : (v < min_ ? min_ : v);
      }
    }
    return max_;
  }

  /// The bucket of `value`. Public for tests.
  static std::size_t index_of(std::uint64_t value) {
    if (value < sub_buckets) return static_cast<std::size_t>(value);
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (sub_bucket_bits + 1);
    const std::uint64_t top = value >> shift;  // in [sub_buckets, 2 * sub_buckets)
    return static_cast<std::size_t>(sub_buckets + shift * sub_buckets + (top - sub_buckets));
  }

  /// The lowest value that falls in bucket `index`.
  static std::uint64_t lowest_of(std::size_t index) {
    if (index < sub_buckets) return index;
    const std::uint64_t shift = (index - sub_buckets) / sub_buckets;
    const std::uint64_t top = sub_buckets + (index - sub_buckets) % sub_buckets;
    return top << shift;
  }

  /// The middle of bucket `index` (the value reported for it).
  static std::uint64_t midpoint_of(std::size_t index) {
    if (index < sub_buckets) return index;
    const std::uint64_t shift = (index - sub_buckets) / sub_buckets;
    return lowest_of(index) + ((std::uint64_t{1} << shift) >> 1);
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = 0;
};

}  // namespace vsr::node
