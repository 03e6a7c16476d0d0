// `vsr demo` (product.md §1): runs to completion with exit 0 and the key lines of its
// transcript, and leaves no child process and no temporary directory behind, also when it
// is stopped with SIGTERM half-way. The demo prints each child's pid ("child pid N").

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cluster.hpp"
#include "process.hpp"

namespace vsr::test {
namespace {

using namespace std::chrono_literals;

std::vector<pid_t> child_pids(const std::string& out) {
  std::vector<pid_t> pids;
  const std::string marker = "child pid ";
  for (std::size_t at = out.find(marker); at != std::string::npos; at = out.find(marker, at + 1)) {
    const std::size_t begin = at + marker.size();
    std::size_t end = begin;
    while (end < out.size() && out[end] >= '0' && out[end] <= '9') ++end;
    if (end > begin) pids.push_back(static_cast<pid_t>(std::stol(out.substr(begin, end - begin))));
  }
  return pids;
}

std::filesystem::path demo_dir(const std::string& out) {
  const std::string marker = "a 3-node cluster in ";
  const std::size_t at = out.find(marker);
  if (at == std::string::npos) return {};
  const std::size_t begin = at + marker.size();
  return out.substr(begin, out.find_first_of(" \n", begin) - begin);
}

void expect_gone(const std::vector<pid_t>& pids) {
  for (const pid_t pid : pids) {
    // Reaped by the demo (or, at worst, by init shortly after): bounded wait.
    EXPECT_TRUE(cluster::eventually([&] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, 5s))
        << "child " << pid << " still exists";
  }
}

TEST(DemoTest, RunsFailsOverLosesNothingAndCleansUp) {
  RunResult r = run(vsr_binary, SpawnOptions{{"demo"}, {}, {}}, 120s);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.status.code, 0) << r.out << r.err;
  for (const char* line :
       {"$ vsr bank add alice 100", "$ vsr bank transfer alice bob 30", "insufficient_funds",
        "$ vsr inventory reserve widget 3", "kill -9", "new primary: n",
        "bank alice: acknowledged 75, read 75 -> ok", "inventory widget: acknowledged 7, read 7",
        "no acknowledged write was lost", "stopped, exit 0", "done"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing '" << line << "' in:\n" << r.out;
  }
  const std::vector<pid_t> pids = child_pids(r.out);
  EXPECT_EQ(pids.size(), 3u) << r.out;
  expect_gone(pids);
  const std::filesystem::path dir = demo_dir(r.out);
  ASSERT_FALSE(dir.empty()) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(DemoTest, SigtermStopsTheChildrenAndCleansUp) {
  Process demo = Process::start(vsr_binary, SpawnOptions{{"demo"}, {}, {}});
  ASSERT_TRUE(cluster::eventually([&] { return child_pids(demo.stdout_text()).size() == 3; }, 30s))
      << demo.stdout_text() << demo.stderr_text();
  demo.send_signal(SIGTERM);
  auto status = demo.wait_for(30s);
  ASSERT_TRUE(status.has_value()) << demo.stdout_text();
  EXPECT_TRUE(status->exited()) << "signal " << status->signal;
  EXPECT_NE(status->code, 0);
  const std::string out = demo.stdout_text();
  expect_gone(child_pids(out));
  const std::filesystem::path dir = demo_dir(out);
  ASSERT_FALSE(dir.empty()) << out;
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_NE(demo.stderr_text().find("interrupted"), std::string::npos) << demo.stderr_text();
}

}  // namespace
}  // namespace vsr::test
