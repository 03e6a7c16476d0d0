// `vsr move-node NAME HOST:PORT`: gives node NAME a new address in cluster.tnet and
// client.tnet (product.md §1). The work is config::move_node(); this file parses and prints,
// and says what the operator must do next: only the files change, and a running node reads
// them only when it starts (docs/vsr/static_membership.md, "move-node").

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "vsr/config/move_node.hpp"

namespace vsr::cli {
namespace {

struct MoveNodeOptions {
  std::string name;
  std::string address;
};

std::string other_nodes(const config::MoveOutcome& outcome) {
  std::string names;
  for (std::size_t i = 0; i < outcome.cluster.nodes.size(); i++) {
    if (i == outcome.replica) continue;
    names += (names.empty() ? "" : ", ") + outcome.cluster.nodes[i].name;
  }
  return names;
}

void print_outcome(const GlobalOptions& globals, const config::MoveOutcome& outcome) {
  const std::string& name = outcome.cluster.nodes[outcome.replica].name;
  const std::string old_address = outcome.old_address.to_string();
  const std::string new_address = outcome.new_address.to_string();
  const unsigned long long version = outcome.new_version;
  std::printf("moved node %s (replica %zu) from %s to %s\n", name.c_str(), outcome.replica,
              old_address.c_str(), new_address.c_str());
  std::printf("wrote %s (config version %llu)\n", outcome.paths.client_file().c_str(), version);
  std::printf("wrote %s (config version %llu)\n", outcome.paths.cluster_file().c_str(), version);
  std::printf("next steps (nodes read cluster.tnet only when they start):\n");
  std::printf(
      "  1. copy the new cluster.tnet to the host of every node, and client.tnet to the "
      "clients, if they do not share %s\n",
      globals.cluster_dir.c_str());
  std::printf(
      "  2. stop %s (SIGTERM) if it is running: until then it listens on %s; then start it "
      "on the host of %s: vsr start-node %s (its data in nodes/%s is kept, moved along if the "
      "host changes)\n",
      name.c_str(), old_address.c_str(), new_address.c_str(), name.c_str(), name.c_str());
  if (outcome.cluster.nodes.size() > 1) {
    std::printf(
        "  3. restart the other nodes (%s) one at a time, each after the one before is back "
        "(vsr status): until a node restarts it sends to %s at %s, so %s does not hear from "
        "it\n",
        other_nodes(outcome).c_str(), name.c_str(), old_address.c_str(), name.c_str());
  }
  std::printf("  clients read client.tnet on every command: nothing to restart\n");
  std::fflush(stdout);
}

ExitCode run_move_node(const GlobalOptions& globals, const MoveNodeOptions& options) {
  auto outcome = config::move_node(globals.cluster_dir, options.name, options.address);
  if (!outcome) return report(exit_code_for(outcome.error().kind), outcome.error().message);
  print_outcome(globals, *outcome);
  return ExitCode::success;
}

}  // namespace

void add_move_node(CLI::App& app, GlobalOptions& globals) {
  // Shared with the callback, which runs after parsing; CLI::App outlives both.
  auto options = std::make_shared<MoveNodeOptions>();
  CLI::App* command = app.add_subcommand(
      "move-node",
      "Give node NAME a new address in cluster.tnet and client.tnet (config version + 1); "
      "then restart NAME, and the other nodes one at a time");
  command->footer(
      "Only the files change: a running node reads cluster.tnet when it starts. "
      "See docs/vsr/static_membership.md.\n");
  command->add_option("NAME", options->name, "The node's name in cluster.tnet")->required();
  command->add_option("ADDRESS", options->address, "The new address: HOST:PORT or [IPV6]:PORT")
      ->type_name("HOST:PORT")
      ->required();
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_move_node(globals, *options); };
  });
}

}  // namespace vsr::cli
