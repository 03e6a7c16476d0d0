// `vsr init-cluster`: writes cluster.tnet and client.tnet with a fresh cluster id and keys
// (product.md §1, §2). The work is config::init_cluster(); this file parses and prints.

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/config/limits.hpp"

namespace vsr::cli {
namespace {

struct InitClusterOptions {
  std::string nodes{config::default_node_list};
  config::Tuning tuning;
  bool force = false;
};

// Checks a tunable's text before CLI11 converts it, so that the message says what is
// allowed ("use 1..1024 requests") for both "abc" and "0".
CLI::Validator tunable_range(const config::limits::Tunable& tunable) {
  const std::string range = fmt::format("{}..{}", tunable.min, tunable.max);
  return CLI::Validator(
      [tunable, range](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::invalid_argument || end != text.data() + text.size()) {
          return fmt::format("'{}' is not a whole number; use {} ({})", text, range, tunable.unit);
        }
        if (ec == std::errc::result_out_of_range || value < tunable.min || value > tunable.max) {
          return fmt::format("{} is out of range; use {} ({})", text, range, tunable.unit);
        }
        return {};
      },
      range);
}

// The tunables' option: bounds come from limits.hpp, so help, CLI checks and file
// validation agree.
void add_tunable(CLI::App& command, const std::string& flag, std::uint32_t& value,
                 const config::limits::Tunable& tunable, std::string_view meaning,
                 const char* type_name) {
  command.add_option(flag, value, std::string(meaning))
      ->type_name(type_name)
      ->check(tunable_range(tunable))
      ->capture_default_str();
}

std::string timeouts_footer() {
  const config::Timeouts defaults;
  return fmt::format(
      "Node names: [A-Za-z0-9_-]{{1,{}}}, unique. Addresses: HOST:PORT (hostname or IPv4) or "
      "[IPV6]:PORT, unique. 1 to {} nodes; a node's replica index is its position. Quorums are "
      "majorities (n/2 + 1), so every size is safe; an even size tolerates as many failed "
      "nodes as the odd size below it.\n"
      "Timeouts are written with their defaults: heartbeat_ms={}, view_change_timeout_ms={}, "
      "request_timeout_ms={}.\nBoth files are mode 0600; cluster.tnet is for the nodes, "
      "client.tnet (no replica key) for clients. See docs/vsr/config.md.\n",
      config::limits::node_name_length_max, config::limits::node_count_max, defaults.heartbeat_ms,
      defaults.view_change_timeout_ms, defaults.request_timeout_ms);
}

void print_outcome(const config::InitOutcome& outcome) {
  const config::ClusterConfig& cluster = outcome.cluster;
  std::printf("%s %s (replica key, client key, tuning; mode 0600)\n",
              outcome.replaced ? "replaced" : "wrote", outcome.paths.cluster_file().c_str());
  std::printf("%s %s (client key only; mode 0600)\n", outcome.replaced ? "replaced" : "wrote",
              outcome.paths.client_file().c_str());
  std::printf("cluster id %s, config version %llu\n", cluster.cluster_id.hex().c_str(),
              static_cast<unsigned long long>(cluster.config_version));
  std::printf("nodes:\n");
  for (std::size_t i = 0; i < cluster.nodes.size(); i++) {
    std::printf("  %zu %s %s\n", i, cluster.nodes[i].name.c_str(),
                cluster.nodes[i].address.to_string().c_str());
  }
  std::printf(
      "tuning: max_batch_size=%u max_batch_delay_ms=%u max_pipeline_depth=%u "
      "checkpoint_interval=%u\n",
      cluster.tuning.max_batch_size, cluster.tuning.max_batch_delay_ms,
      cluster.tuning.max_pipeline_depth, cluster.tuning.checkpoint_interval);
  std::fflush(stdout);
}

ExitCode run_init_cluster(const GlobalOptions& globals, const InitClusterOptions& options) {
  auto nodes = config::parse_node_list(options.nodes);
  if (!nodes) return report(ExitCode::usage, fmt::format("--nodes: {}", nodes.error()));
  config::InitRequest request;
  request.nodes = std::move(*nodes);
  request.tuning = options.tuning;
  request.force = options.force;
  auto outcome = config::init_cluster(globals.cluster_dir, request);
  if (!outcome) return report(exit_code_for(outcome.error().kind), outcome.error().message);
  print_outcome(*outcome);
  if (outcome->node_data_present) {
    report(ExitCode::success,
           fmt::format("warning: {} holds node data; it belongs to the previous cluster, so "
                       "remove it before starting the nodes of this one",
                       outcome->paths.nodes_dir().string()));
  }
  return ExitCode::success;
}

}  // namespace

void add_init_cluster(CLI::App& app, GlobalOptions& globals) {
  // Shared with the callback, which runs after parsing; CLI::App outlives both.
  auto options = std::make_shared<InitClusterOptions>();
  CLI::App* command = app.add_subcommand(
      "init-cluster",
      "Write cluster.tnet and client.tnet (mode 0600) with a random cluster id and fresh keys");
  command->footer(timeouts_footer());
  command->add_option("--nodes", options->nodes, "The replicas, in replica-index order")
      ->type_name("NAME=HOST:PORT,...")
      ->capture_default_str();
  add_tunable(*command, "--max-batch-size", options->tuning.max_batch_size,
              config::limits::max_batch_size, "Client requests the primary packs into one Prepare",
              "N");
  add_tunable(*command, "--max-batch-delay", options->tuning.max_batch_delay_ms,
              config::limits::max_batch_delay_ms,
              "How long the primary waits to fill a batch; 0 sends at once", "MS");
  add_tunable(*command, "--max-pipeline-depth", options->tuning.max_pipeline_depth,
              config::limits::max_pipeline_depth, "Uncommitted Prepares in flight", "N");
  add_tunable(*command, "--checkpoint-interval", options->tuning.checkpoint_interval,
              config::limits::checkpoint_interval,
              "Ops between checkpoints; bounds the WAL on disk", "OPS");
  command->add_flag("--force", options->force,
                    "Replace an existing cluster: new cluster id and keys; nodes and clients "
                    "need the new files");
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_init_cluster(globals, *options); };
  });
}

}  // namespace vsr::cli
