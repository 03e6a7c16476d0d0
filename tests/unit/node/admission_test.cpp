// Proves the connection limits a node derives from its descriptor limit (admission.hpp):
// they never exceed the configured maximums, always leave the reserve for the node's own
// files and peer links, and give unauthenticated connections at most a quarter; and that
// the rejection log writes at most its stated number of lines per window, then one summary
// per reason.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "vsr/config/limits.hpp"
#include "vsr/node/admission.hpp"

namespace vsr::node {
namespace {

namespace limits = config::limits;
using namespace std::chrono_literals;

TEST(Admission, AGenerousDescriptorLimitGivesTheConfiguredMaximums) {
  const config::Connections defaults;
  const AdmissionLimits a = admission_limits(1u << 20, 3, defaults);
  EXPECT_EQ(a.unauthenticated_max, limits::unauthenticated_connections_max.default_value);
  EXPECT_EQ(a.client_max, limits::client_connections_max.default_value);
  EXPECT_EQ(a.replica_max, 6u);
  EXPECT_EQ(a.handshake_timeout,
            std::chrono::milliseconds(limits::handshake_timeout_ms.default_value));
  EXPECT_EQ(a.rejection_log_lines, limits::rejection_log_lines_per_10s.default_value);
  EXPECT_GT(a.client_frame_bytes_max, 64u * 1024);
  EXPECT_LT(a.client_frame_bytes_max, 80u * 1024);
  // The default buffer total holds the default number of request-sized frames.
  EXPECT_LE(a.unauthenticated_max * a.client_frame_bytes_max,
            std::size_t{limits::unauthenticated_buffer_mib.default_value} << 20);
}

TEST(Admission, TheConfiguredValuesAreUsedAndTheBufferTotalBoundsUnauthenticatedConnections) {
  config::Connections c;
  c.handshake_timeout_ms = 700;
  c.client_idle_timeout_ms = 9'000;
  c.client_connections_max = 50;
  c.unauthenticated_connections_max = 10'000;
  c.unauthenticated_buffer_mib = 2;
  c.rejection_log_lines_per_10s = 4;
  const AdmissionLimits a = admission_limits(1u << 20, 3, c);
  EXPECT_EQ(a.handshake_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(a.client_idle_timeout, std::chrono::milliseconds(9'000));
  EXPECT_EQ(a.client_max, 50u);
  EXPECT_EQ(a.rejection_log_lines, 4u);
  EXPECT_GE(a.unauthenticated_max, 1u);
  EXPECT_LE(a.unauthenticated_max * a.client_frame_bytes_max, std::size_t{2} << 20);
  EXPECT_GT((a.unauthenticated_max + 1) * a.client_frame_bytes_max, std::size_t{2} << 20);
}

TEST(Admission, EveryConnectionFitsUnderTheDescriptorLimitWithTheReserveLeft) {
  for (std::uint64_t descriptors : {128u, 256u, 1024u, 4096u, 65536u}) {
    for (std::size_t nodes : {1u, 3u, 16u}) {
      const config::Connections defaults;
      const AdmissionLimits a = admission_limits(descriptors, nodes, defaults);
      SCOPED_TRACE(std::to_string(descriptors) + " descriptors, " + std::to_string(nodes) +
                   " nodes");
      const std::uint64_t used = a.unauthenticated_max + a.client_max + a.replica_max + nodes +
                                 defaults.descriptor_reserve;
      EXPECT_LE(used,
                std::max<std::uint64_t>(descriptors, defaults.descriptor_reserve + 3 * nodes + 2));
      EXPECT_GE(a.unauthenticated_max, 1u);
      EXPECT_GE(a.client_max, 1u);
      EXPECT_LE(a.unauthenticated_max * 4, std::max<std::uint64_t>(descriptors, 4));
    }
  }
}

TEST(Admission, TheRejectionLogWritesAFewLinesPerWindowThenASummaryPerReason) {
  RejectionLog log(3, 10s);
  const auto t0 = RejectionLog::Clock::now();
  int written = 0;
  for (int i = 0; i < 100; ++i) {
    if (log.note(i % 2 ? "bad MAC" : "malformed frame", "rejected input from x", t0 + 1ms * i)) {
      written += 1;
    }
  }
  EXPECT_EQ(written, 3);
  EXPECT_TRUE(log.flush(t0 + 5s).empty());  // the window is not over
  const auto summary = log.flush(t0 + 11s);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_NE(summary[0].find("more connections refused or closed (bad MAC)"), std::string::npos)
      << summary[0];
  EXPECT_NE(summary[0].find("49 "), std::string::npos) << summary[0];
  EXPECT_NE(summary[1].find("(malformed frame)"), std::string::npos) << summary[1];
  // A new window writes again.
  EXPECT_TRUE(log.note("bad MAC", "rejected input from y", t0 + 12s).has_value());
}

}  // namespace
}  // namespace vsr::node
