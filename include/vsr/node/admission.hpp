#pragma once
// Admission of inbound connections (docs/vsr/config.md, "Connections"): how many
// connections of each kind a node holds, given its descriptor limit, and a log of refusals
// that stays readable under a flood.
//
// A connection is *unauthenticated* until its first frame passes its MAC. Such connections
// are bounded apart from authenticated ones, must authenticate within a deadline, and may
// buffer at most one client-sized frame; peers (replica key) and clients (client key) then
// have limits of their own, so that a flood of silent connections neither starves the
// peer links nor the node's own files of descriptors, nor keeps an honest client out.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/config/cluster_config.hpp"

namespace vsr::node {

/// The connection limits of one node.
struct AdmissionLimits {
  std::size_t unauthenticated_max = 0;  ///< connections that have not authenticated yet
  std::size_t client_max = 0;           ///< authenticated client connections
  std::size_t replica_max = 0;          ///< authenticated peer connections
  std::chrono::milliseconds handshake_timeout{0};
  std::chrono::milliseconds client_idle_timeout{0};
  /// The largest frame an unauthenticated or client connection may send: a request with
  /// the largest operation, and its framing.
  std::size_t client_frame_bytes_max = 0;
  std::uint64_t descriptors = 0;        ///< the descriptor limit they were derived from
  std::size_t rejection_log_lines = 0;  ///< per 10 s (RejectionLog)
};

/// The limits for a node of a cluster of `nodes` whose process may hold `descriptors` file
/// descriptors: the configured maximums (`connections`, from cluster.tnet), shrunk to fit
/// the descriptors left after the reserve, unauthenticated connections taking at most a
/// quarter of them and no more than unauthenticated_buffer_mib holds request-sized frames.
AdmissionLimits admission_limits(std::uint64_t descriptors, std::size_t nodes,
                                 const config::Connections& connections);

/// Raises the soft RLIMIT_NOFILE to the hard limit (a common default soft limit is 1024)
/// and returns the soft limit then in force.
std::uint64_t raise_descriptor_limit();

/// Rate-limits log lines about refused and closed connections: at most `lines_max` lines
/// per window, after which each reason is only counted, and one summary line per reason
/// ("N connections ...: REASON, in the last 10 s") is logged when the window ends.
class RejectionLog {
 public:
  using Clock = std::chrono::steady_clock;

  RejectionLog(std::size_t lines_max, std::chrono::seconds window)
      : lines_max_(lines_max), window_(window) {}

  void set_lines_max(std::size_t lines_max) { lines_max_ = lines_max; }
  /// Notes one refusal; returns the line to log now, if it is one of the window's first.
  std::optional<std::string> note(std::string_view reason, std::string_view detail,
                                  Clock::time_point now);
  /// The summary lines due at `now` (one per reason counted but not logged), once the
  /// window that counted them is over; starts a new window then.
  std::vector<std::string> flush(Clock::time_point now);

 private:
  void roll(Clock::time_point now);

  std::size_t lines_max_;
  std::chrono::seconds window_;
  std::optional<Clock::time_point> window_start_;
  std::size_t lines_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> suppressed_;
  std::vector<std::string> due_;
};

}  // namespace vsr::node
