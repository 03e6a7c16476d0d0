#pragma once
// The command-line frame shared by every `vsr` command: global options, exit codes, error
// reporting, and the registration functions of the commands. Adding a command is one file
// (src/cli/<command>.cpp defining add_<command>) plus one line in cli.cpp's add_commands().

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/config/cluster_config.hpp"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace vsr::cli {

/// Exit codes of every command (product.md §1).
enum class ExitCode : int {
  success = 0,
  refused = 1,          ///< the app refused the operation (a definite, committed "no")
  usage = 2,            ///< bad usage or configuration
  unknown_outcome = 3,  ///< no reply before the timeout: the operation may have committed
  environment = 4,      ///< storage or environment error
};

/// Options given before the command (product.md §1), filled in while parsing.
struct GlobalOptions {
  std::string cluster_dir = ".vsr";  ///< --cluster-dir, or $VSR_CLUSTER_DIR
  std::vector<std::string> apps;     ///< --app, repeatable; empty means every bundled app
  std::string log_level = "info";    ///< --log-level

  /// Set by the chosen command's parse callback; run_cli() calls it once parsing succeeded.
  std::function<ExitCode()> run;

  /// The files under --cluster-dir.
  config::ClusterPaths paths() const { return config::ClusterPaths{cluster_dir}; }
};

/// Prints "vsr: <message>" as one line on stderr and returns `code`, for
/// `return report(ExitCode::usage, "...")`. The message says what is wrong and what to do.
ExitCode report(ExitCode code, std::string_view message);

/// The exit code for a config error: bad input is a usage error, OS failures are environment
/// errors.
ExitCode exit_code_for(config::ErrorKind kind);

/// Accepts a number of seconds from `min` to `max`; refuses nan, inf and anything that is not
/// a number (CLI::Range lets nan through: every comparison with it is false).
CLI::Validator seconds_between(double min, double max);

/// The names of the cluster's nodes, comma-separated, for "no node 'x' (nodes: ...)".
std::string node_names(const config::ClusterConfig& cluster);

// One registration function per command file. Each adds its subcommand to `app` and, from
// the subcommand's parse callback, sets `globals.run`.

/// src/cli/init_cluster.cpp: `vsr init-cluster`.
void add_init_cluster(CLI::App& app, GlobalOptions& globals);

/// src/cli/start_node.cpp: `vsr start-node`.
void add_start_node(CLI::App& app, GlobalOptions& globals);
/// src/cli/status.cpp: `vsr status`.
void add_status(CLI::App& app, GlobalOptions& globals);
/// src/cli/bench.cpp: `vsr bench`.
void add_bench(CLI::App& app, GlobalOptions& globals);
/// src/cli/app_commands.cpp: `vsr bank|inventory|catalog|locks ...`.
void add_bank(CLI::App& app, GlobalOptions& globals);
void add_inventory(CLI::App& app, GlobalOptions& globals);
void add_catalog(CLI::App& app, GlobalOptions& globals);
void add_locks(CLI::App& app, GlobalOptions& globals);
/// src/cli/recover_node.cpp: `vsr recover-node`.
void add_recover_node(CLI::App& app, GlobalOptions& globals);
/// src/cli/sync_node.cpp: `vsr sync-node`.
void add_sync_node(CLI::App& app, GlobalOptions& globals);
/// src/cli/move_node.cpp: `vsr move-node`.
void add_move_node(CLI::App& app, GlobalOptions& globals);
/// src/cli/demo.cpp: `vsr demo`.
void add_demo(CLI::App& app, GlobalOptions& globals);

/// Parses `argv`, runs the chosen command and returns the process exit code. Never throws.
int run_cli(int argc, char** argv);

}  // namespace vsr::cli
