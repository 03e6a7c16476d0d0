// `vsr recover-node NAME --from-node SRC [--force]`: the offline, local, educational restore
// (product.md §1): copies SRC's node directory over NAME's, both on this machine and both
// stopped. The work is storage::restore_from_replica(); this file resolves the names,
// warns, and prints. The copy is unchecked, hence the warning: it is as stale as SRC is,
// and the RESTORED marker it leaves makes NAME rejoin without voting until it has caught
// up (docs/vsr/protocol.md, "Restored replicas"; docs/vsr/storage.md).

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "restore_exit.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::cli {
namespace {

struct RecoverNodeOptions {
  std::string name;
  std::string source;
  bool force = false;
};

void warn_stale(const RecoverNodeOptions& options) {
  report(ExitCode::success,
         fmt::format("warning: recover-node copies node '{}' as it is on this disk, without "
                     "asking the cluster: if '{}' was behind, or lost writes, the copy is "
                     "stale, and '{}' must catch up from the running cluster. The "
                     "quorum-checked path is `vsr sync-node`.",
                     options.source, options.source, options.name));
}

void print_outcome(const config::ClusterPaths& paths, const RecoverNodeOptions& options,
                   const storage::RestoreOutcome& outcome) {
  const storage::RestoredMarker& marker = outcome.marker;
  const std::string target_dir = paths.node_dir(options.name).string();
  std::printf("recovered node %s (replica %u) from node %s (replica %u): %zu files, %llu bytes\n",
              options.name.c_str(), marker.replica, options.source.c_str(), marker.source_replica,
              outcome.files.size(), static_cast<unsigned long long>(outcome.bytes));
  if (outcome.replaced_data) {
    std::printf("replaced the earlier contents of %s (its last view: %llu)\n", target_dir.c_str(),
                static_cast<unsigned long long>(marker.previous_view));
  }
  std::printf("copied state: view %llu, log view %llu, commit %llu, checkpoint op %llu\n",
              static_cast<unsigned long long>(marker.source_view),
              static_cast<unsigned long long>(marker.source_log_view),
              static_cast<unsigned long long>(marker.source_commit),
              static_cast<unsigned long long>(marker.source_checkpoint_op));
  std::printf(
      "wrote %s/%s: marks %s as restored: it must not vote before a StartView of view %llu "
      "or later has given it the cluster's log\n",
      target_dir.c_str(), std::string(storage::restored_file_name).c_str(), options.name.c_str(),
      static_cast<unsigned long long>(marker.view_floor()));
  std::printf("next: vsr start-node %s\n", options.name.c_str());
  std::fflush(stdout);
}

ExitCode run_recover_node(const GlobalOptions& globals, const RecoverNodeOptions& options) {
  const config::ClusterPaths paths = globals.paths();
  auto cluster = config::load_cluster(paths.cluster_file());
  if (!cluster) return report(exit_code_for(cluster.error().kind), cluster.error().message);
  const auto target = cluster->find_node(options.name);
  const auto source = cluster->find_node(options.source);
  for (const auto& [found, name] :
       {std::pair{target, &options.name}, std::pair{source, &options.source}}) {
    if (!found) {
      return report(ExitCode::usage,
                    fmt::format("no node '{}' in {} (nodes: {})", *name,
                                paths.cluster_file().string(), node_names(*cluster)));
    }
  }
  if (*target == *source) {
    return report(ExitCode::usage,
                  fmt::format("node '{}' cannot be recovered from itself; name another node "
                              "with --from-node",
                              options.name));
  }
  warn_stale(options);
  storage::RestoreRequest request;
  request.nodes_dir = paths.nodes_dir();
  request.target = options.name;
  request.target_replica = static_cast<std::uint32_t>(*target);
  request.source = options.source;
  request.source_replica = static_cast<std::uint32_t>(*source);
  request.cluster_id = cluster->cluster_id.hex();
  request.force = options.force;
  auto outcome = storage::restore_from_replica(request);
  if (!outcome) {
    return report(restore_exit_code(outcome.error().kind),
                  fmt::format("cannot recover node '{}' from '{}': {}", options.name,
                              options.source, outcome.error().message));
  }
  print_outcome(paths, options, *outcome);
  return ExitCode::success;
}

}  // namespace

void add_recover_node(CLI::App& app, GlobalOptions& globals) {
  // Shared with the callback, which runs after parsing; CLI::App outlives both.
  auto options = std::make_shared<RecoverNodeOptions>();
  CLI::App* command = app.add_subcommand(
      "recover-node",
      "Offline and local: replace node NAME's directory with a copy of node SRC's (both "
      "stopped, both on this machine); the copy may be stale");
  command->footer(
      "NAME's directory gets a RESTORED marker: the restored replica starts in status "
      "recovering and does not vote until it has caught up in a view at least as high as any "
      "it may have voted in. `vsr sync-node` is the quorum-checked path. See "
      "docs/vsr/static_membership.md and docs/vsr/storage.md.\n");
  command->add_option("NAME", options->name, "The node to restore")->required();
  command->add_option("--from-node", options->source, "The node whose directory is copied")
      ->type_name("SRC")
      ->required();
  command->add_flag("--force", options->force,
                    "Replace NAME's directory even when it holds data (that data is lost)");
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_recover_node(globals, *options); };
  });
}

}  // namespace vsr::cli
