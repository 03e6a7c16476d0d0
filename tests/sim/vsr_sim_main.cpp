// vsr_sim: runs the deterministic simulator from the command line, to replay a failing seed
// or to sweep many. Usage:
//   vsr_sim --seed 1234 --replicas 3            replay one seed
//   vsr_sim --seed 1 --seeds 1000 --replicas 5  sweep seeds 1..1000
//   vsr_sim ... --bug shortest_log_wins         with an injected protocol bug
//   vsr_sim --help                              the accepted sizes (1..16) and options
// Exit status 0 iff every run passed.

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "simulator.hpp"

namespace {

bool parse_bug(const std::string& name, vsr::core::InjectedBug& bug) {
  const auto parsed = vsr::sim::parse_injected_bug(name);
  if (parsed) bug = *parsed;
  return parsed.has_value();
}

constexpr std::uint32_t replicas_max = vsr::core::Options::max_replicas;

void print_usage(std::FILE* to) {
  fmt::print(to,
             "usage: vsr_sim [--seed N] [--seeds COUNT] [--replicas 1..{}] [--bug NAME] "
             "[--client-table N] [--verbose]\n"
             "  --replicas R  cluster size, any of 1..{} (every size the configuration "
             "accepts;\n"
             "                quorum n/2 + 1, faults tolerated (n-1)/2); default 3\n"
             "  --client-table N  sessions in the client table (fewer than the clients:\n"
             "                they evict each other); default: the clients plus 0..2, by seed\n",
             replicas_max, replicas_max);
}

int usage() {
  print_usage(stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::uint32_t replicas = 3;
  bool verbose = false;
  std::optional<std::uint32_t> table;
  vsr::core::InjectedBug bug = vsr::core::InjectedBug::none;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--seed") {
      const char* v = value();
      if (v == nullptr) return usage();
      seed = std::strtoull(v, nullptr, 10);
    } else if (arg == "--seeds") {
      const char* v = value();
      if (v == nullptr) return usage();
      seeds = std::strtoull(v, nullptr, 10);
    } else if (arg == "--replicas") {
      const char* v = value();
      if (v == nullptr) return usage();
      char* end = nullptr;
      const unsigned long parsed = std::strtoul(v, &end, 10);
      if (*v == '\0' || *end != '\0' || parsed < 1 || parsed > replicas_max) {
        fmt::print(stderr, "vsr_sim: --replicas {}: a cluster has 1 to {} replicas\n", v,
                   replicas_max);
        return usage();
      }
      replicas = static_cast<std::uint32_t>(parsed);
    } else if (arg == "--bug") {
      const char* v = value();
      if (v == nullptr || !parse_bug(v, bug)) return usage();
    } else if (arg == "--client-table") {
      const char* v = value();
      if (v == nullptr) return usage();
      table = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
      if (*table == 0) return usage();
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      return usage();
    }
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t ops = 0;
  std::uint64_t failures = 0;
  std::uint64_t replies_checked = 0;
  std::uint64_t ticks = 0;
  vsr::sim::Coverage coverage;
  vsr::sim::SimResult longest;  // the longest wait for a commit under checker (e)
  std::uint64_t longest_seed = 0;
  for (std::uint64_t s = seed; s < seed + seeds; ++s) {
    vsr::sim::SimOptions options = vsr::sim::random_options(s, replicas, bug);
    options.verbose = verbose;
    if (table) options.core.client_table_size = *table;
    vsr::sim::Simulator sim(options);
    vsr::sim::SimResult result = sim.run();
    ops += result.ops_committed;
    replies_checked += result.replies_checked;
    ticks += result.ticks;
    if (result.longest_commit_wait > longest.longest_commit_wait) {
      longest = result;
      longest_seed = s;
    }
    coverage += result.coverage;
    if (!result.ok) {
      failures += 1;
      fmt::print("FAIL seed {}: {}\n  replay: {}\n", s, result.failure, result.replay);
    } else if (verbose || seeds == 1) {
      fmt::print(
          "ok seed {}: {} ticks, {} ops committed, {} requests ({} replies checked), max view {}, "
          "{} crashes, {} prepares repaired, {} ops truncated\n",
          s, result.ticks, result.ops_committed, result.requests_completed, result.replies_checked,
          result.max_view, result.coverage.crashes, result.coverage.prepares_repaired,
          result.coverage.truncated_ops);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("coverage (faults injected and protocol paths taken, summed over the seeds):\n");
  for (const auto& [name, field] : vsr::sim::Coverage::fields()) {
    fmt::print("  {:<32} {}\n", name, coverage.*field);
  }
  fmt::print("longest wait for a commit under checker (e): {} ticks (bound {}), seed {}\n",
             longest.longest_commit_wait, longest.longest_commit_wait_bound, longest_seed);
  fmt::print(
      "{} seeds, {} failed, {} simulated ops in {} ticks, {} replies checked, in {:.2f} s wall "
      "({:.0f} ops/s)\n",
      seeds, failures, ops, ticks, replies_checked, seconds,
      seconds > 0 ? static_cast<double>(ops) / seconds : 0.0);
  return failures == 0 ? 0 : 1;
}
