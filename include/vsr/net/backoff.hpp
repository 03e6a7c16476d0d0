#pragma once
// Jittered exponential backoff for reconnecting links (the daemon's peer links and the
// client library's node links). Each wait is uniform in [b/2, b], after which b doubles up
// to `max`. A link that stayed up for at least `max` starts over from `min`; one that is
// accepted and closed at once (a peer refusing us, a middlebox) keeps backing off, so it
// is retried ever more slowly instead of many times a second.

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>

namespace vsr::net {

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;
  using Duration = std::chrono::milliseconds;

  /// REQUIRES: 0 < min <= max.
  Backoff(Duration min, Duration max) : min_(min), max_(max), next_(min) {}

  /// The link came up at `now`.
  void up(Clock::time_point now) { up_at_ = now; }

  /// The link went down at `now`.
  void down(Clock::time_point now) {
    if (up_at_ && now - *up_at_ >= max_) next_ = min_;
    up_at_.reset();
  }

  /// How long to wait before the next attempt.
  template <class Rng>
  Duration wait(Rng& rng) {
    const auto half = next_.count() / 2;
    std::uniform_int_distribution<Duration::rep> jitter(0, std::max<Duration::rep>(1, half));
    const Duration out{half + jitter(rng)};
    next_ = std::min(next_ * 2, max_);
    return out;
  }

 private:
  Duration min_;
  Duration max_;
  Duration next_;  // the upper end of the next wait
  std::optional<Clock::time_point> up_at_;
};

}  // namespace vsr::net
