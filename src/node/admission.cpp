#include "vsr/node/admission.hpp"

#include <sys/resource.h>

#include <algorithm>

#include <fmt/format.h>

#include "vsr/config/limits.hpp"
#include "vsr/core/options.hpp"
#include "vsr/net/stream.hpp"

namespace vsr::node {

namespace limits = config::limits;

AdmissionLimits admission_limits(std::uint64_t descriptors, std::size_t nodes,
                                 const config::Connections& connections) {
  AdmissionLimits a;
  a.descriptors = descriptors;
  a.handshake_timeout = std::chrono::milliseconds(connections.handshake_timeout_ms);
  a.client_idle_timeout = std::chrono::milliseconds(connections.client_idle_timeout_ms);
  // A request is its operation plus a few fields (client id, numbers): 4 KiB is ample.
  a.client_frame_bytes_max = net::frame_bytes_max(core::Options{}.max_operation_bytes + 4096);
  // Each peer may hold a link to us while its previous one is being replaced.
  a.replica_max = 2 * nodes;
  // Outbound peer links, the listening socket and the node's files come out of the reserve.
  const std::uint64_t reserved = connections.descriptor_reserve + nodes + a.replica_max;
  const std::uint64_t budget = descriptors > reserved ? descriptors - reserved : 0;
  // As many unauthenticated connections as the buffer total holds request-sized frames.
  const std::uint64_t fit_in_buffers =
      (std::uint64_t{connections.unauthenticated_buffer_mib} << 20) / a.client_frame_bytes_max;
  a.unauthenticated_max = static_cast<std::size_t>(std::max<std::uint64_t>(
      1, std::min({std::uint64_t{connections.unauthenticated_connections_max}, fit_in_buffers,
                   budget / 4})));
  a.client_max = static_cast<std::size_t>(
      std::min<std::uint64_t>(connections.client_connections_max,
                              budget > a.unauthenticated_max ? budget - a.unauthenticated_max : 1));
  a.rejection_log_lines = connections.rejection_log_lines_per_10s;
  return a;
}

std::uint64_t raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::uint64_t{1} << 20 : limit.rlim_cur;
}

void RejectionLog::roll(Clock::time_point now) {
  if (window_start_ && now - *window_start_ < window_) return;
  if (window_start_) {
    for (const auto& [reason, count] : suppressed_) {
      due_.push_back(fmt::format("{} more connection{} refused or closed ({}) in the last {} s",
                                 count, count == 1 ? "" : "s", reason, window_.count()));
    }
  }
  suppressed_.clear();
  lines_ = 0;
  window_start_ = now;
}

std::optional<std::string> RejectionLog::note(std::string_view reason, std::string_view detail,
                                              Clock::time_point now) {
  roll(now);
  if (lines_ < lines_max_) {
    lines_ += 1;
    return fmt::format("{}: {}", detail, reason);
  }
  auto it = suppressed_.find(reason);
  if (it == suppressed_.end()) it = suppressed_.emplace(std::string(reason), 0).first;
  it->second += 1;
  return std::nullopt;
}

std::vector<std::string> RejectionLog::flush(Clock::time_point now) {
  roll(now);
  std::vector<std::string> lines;
  lines.swap(due_);
  return lines;
}

}  // namespace vsr::node
