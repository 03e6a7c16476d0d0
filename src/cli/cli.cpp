// The frame of the `vsr` command line: global options, parsing, and the mapping of every
// outcome to an exit code and a one-line message. Commands stay thin: parse, call a
// library function, print (docs/vsr/architecture.md).

#include "cli.hpp"

#include <cmath>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#ifndef VSR_VERSION
#error "VSR_VERSION must be defined by the build (the project version)"
#endif

namespace vsr::cli {
namespace {

constexpr std::string_view description =
    "vsr: a replicated state machine built on Viewstamped Replication (Liskov and Cowling, "
    "2012). A cluster of replica processes executes the same operations in the same order, "
    "so the bundled apps keep working and lose no acknowledged write while a minority of "
    "replicas crash, restart or are cut off. This one executable sets up the cluster's "
    "files, runs the replicas and acts as the apps' client.";

constexpr std::string_view footer =
    "Environment: VSR_CLUSTER_DIR sets the default of --cluster-dir.\n"
    "Exit codes: 0 success, 1 the app refused the operation, 2 usage or configuration "
    "error,\n3 outcome unknown (timed out), 4 storage or environment error.\n"
    "Run 'vsr COMMAND --help' for a command's options.\n";

// Every command, in the order `vsr --help` lists them. Adding a command adds one line here.
void add_commands(CLI::App& app, GlobalOptions& globals) {
  add_init_cluster(app, globals);
  add_start_node(app, globals);
  add_status(app, globals);
  add_recover_node(app, globals);
  add_sync_node(app, globals);
  add_move_node(app, globals);
  add_bench(app, globals);
  add_demo(app, globals);
  add_bank(app, globals);
  add_inventory(app, globals);
  add_catalog(app, globals);
  add_locks(app, globals);
}

void add_global_options(CLI::App& app, GlobalOptions& globals) {
  app.add_option("--cluster-dir", globals.cluster_dir,
                 "Directory of cluster.tnet, client.tnet and nodes/")
      ->envname("VSR_CLUSTER_DIR")
      ->type_name("DIR")
      ->check(CLI::Validator(
          [](const std::string& dir) {
            return dir.empty() ? std::string("the directory must not be empty") : std::string();
          },
          ""))
      ->capture_default_str();
  app.add_option("--app", globals.apps,
                 "A compiled-in app a node serves; repeatable (default: every bundled app)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app.add_option("--log-level", globals.log_level, "Log verbosity, to stderr")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
}

// Logs go to stderr so that stdout carries only a command's result (product.md §1).
void configure_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get("vsr");
  if (!logger) logger = spdlog::stderr_color_mt("vsr");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int parse_and_run(int argc, char** argv) {
  CLI::App app(std::string(description), "vsr");
  GlobalOptions globals;
  app.set_version_flag("--version", fmt::format("vsr {}", VSR_VERSION), "Print the version");
  app.footer(std::string(footer));
  app.require_subcommand(1);
  // Global options are documented before the command, but accepted after it too.
  app.fallthrough();
  add_global_options(app, globals);
  add_commands(app, globals);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports a misspelt command as "a subcommand is required"; name it instead.
    const std::vector<std::string> unparsed = app.remaining();
    if (app.get_subcommands().empty() && !unparsed.empty() && !unparsed.front().starts_with('-')) {
      return static_cast<int>(report(
          ExitCode::usage, fmt::format("unknown command '{}'; run 'vsr --help' for the commands",
                                       unparsed.front())));
    }
    // CLI11 messages name the option and the problem; add what to do.
    return static_cast<int>(
        report(ExitCode::usage,
               fmt::format("{}; run 'vsr --help' or 'vsr COMMAND --help' for usage", e.what())));
  }
  VSR_ASSERT_MSG(globals.run != nullptr, "a required subcommand sets its run function");
  configure_logging(globals.log_level);
  return static_cast<int>(globals.run());
}

}  // namespace

ExitCode report(ExitCode code, std::string_view message) {
  std::fprintf(stderr, "vsr: %.*s\n", static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  return code;
}

std::string node_names(const config::ClusterConfig& cluster) {
  std::string names;
  for (const config::Node& node : cluster.nodes) names += (names.empty() ? "" : ", ") + node.name;
  return names;
}

ExitCode exit_code_for(config::ErrorKind kind) {
  switch (kind) {
    case config::ErrorKind::invalid:
    case config::ErrorKind::missing:
    case config::ErrorKind::exists:
      return ExitCode::usage;
    case config::ErrorKind::environment:
      return ExitCode::environment;
  }
  return ExitCode::environment;
}

int run_cli(int argc, char** argv) {
  // No exception text reaches the user (product.md §1): the library reports failures as
  // values, so what remains here is memory exhaustion or a bug.
  try {
    return parse_and_run(argc, argv);
  } catch (const std::bad_alloc&) {
    return static_cast<int>(report(ExitCode::environment, "out of memory"));
  } catch (...) {
    return static_cast<int>(report(ExitCode::environment,
                                   "internal error (an unexpected exception); please report "
                                   "this with the command line that caused it"));
  }
}

CLI::Validator seconds_between(double min, double max) {
  return CLI::Validator(
      [min, max](const std::string& text) {
        std::size_t used = 0;
        double value = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || text.empty() || !std::isfinite(value) || value < min ||
            value > max) {
          return fmt::format("{} is not a number of seconds from {} to {}", text, min, max);
        }
        return std::string();
      },
      "SECONDS");
}

}  // namespace vsr::cli
