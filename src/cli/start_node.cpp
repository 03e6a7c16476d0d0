// `vsr start-node NAME`: runs one replica in the foreground until SIGINT/SIGTERM.

#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "vsr/node/node.hpp"

namespace vsr::cli {
namespace {

ExitCode run_start_node(const GlobalOptions& globals, const std::string& name) {
  const config::ClusterPaths paths = globals.paths();
  auto cluster = config::load_cluster(paths.cluster_file());
  if (!cluster) return report(exit_code_for(cluster.error().kind), cluster.error().message);
  const auto index = cluster->find_node(name);
  if (!index) {
    return report(ExitCode::usage,
                  fmt::format("no node '{}' in {} (nodes: {})", name, paths.cluster_file().string(),
                              node_names(*cluster)));
  }
  node::NodeSpec spec;
  spec.cluster = std::move(*cluster);
  spec.replica = *index;
  spec.cluster_dir = paths.dir;
  spec.apps = globals.apps;
  auto ran = node::run_node(spec);
  if (!ran) {
    const ExitCode code =
        ran.error().kind == node::NodeError::Kind::usage ? ExitCode::usage : ExitCode::environment;
    return report(code, ran.error().message);
  }
  return ExitCode::success;
}

}  // namespace

void add_start_node(CLI::App& app, GlobalOptions& globals) {
  auto name = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "start-node",
      "Run replica NAME in the foreground until SIGINT/SIGTERM (creates nodes/NAME on first "
      "start and holds its lock)");
  command->add_option("NAME", *name, "The node's name in cluster.tnet")->required();
  command->callback([&globals, name] {
    globals.run = [&globals, name] { return run_start_node(globals, *name); };
  });
}

}  // namespace vsr::cli
