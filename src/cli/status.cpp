// `vsr status [NAME...] [--json]`: asks running nodes about themselves over the network.
// Unreachable nodes are reported, not fatal (exit 0 as long as the config loads), except
// when every node refuses this client's key (exit 2: the wrong client.tnet, not an outage).

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "vsr/node/client.hpp"

namespace vsr::cli {
namespace {

struct StatusOptions {
  std::vector<std::string> names;
  bool json = false;
  double timeout_s = 2.0;
};

ExitCode run_status(const GlobalOptions& globals, const StatusOptions& options) {
  auto client_config = config::load_client(globals.paths().client_file());
  if (!client_config) {
    return report(exit_code_for(client_config.error().kind), client_config.error().message);
  }
  std::vector<std::size_t> nodes;
  if (options.names.empty()) {
    for (std::size_t i = 0; i < client_config->nodes.size(); ++i) nodes.push_back(i);
  }
  for (const std::string& name : options.names) {
    bool found = false;
    for (std::size_t i = 0; i < client_config->nodes.size(); ++i) {
      if (client_config->nodes[i].name == name) {
        nodes.push_back(i);
        found = true;
      }
    }
    if (!found) return report(ExitCode::usage, fmt::format("no node '{}' in client.tnet", name));
  }
  const std::vector<config::Node> config_nodes = client_config->nodes;
  node::Client client(std::move(*client_config));
  const auto timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000));
  auto results = client.status_all(nodes, timeout);

  nlohmann::ordered_json out;
  out["nodes"] = nlohmann::ordered_json::array();
  std::size_t authentication_failed = 0;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    const config::Node& n = config_nodes[nodes[k]];
    const auto& r = results[k];
    nlohmann::ordered_json j;
    j["node"] = n.name;
    j["address"] = n.address.to_string();
    j["reachable"] = r.ok();
    if (!r.ok()) {
      j["unreachable"] = node::to_string(r.error().why);
      j["error"] = r.error().detail;
      if (r.error().why == node::Unreachable::Why::authentication) authentication_failed += 1;
    }
    if (r.ok()) {
      const node::NodeStatus& s = *r;
      j["role"] = s.role;
      j["status"] = s.status;
      j["view"] = s.view;
      j["op"] = s.op;
      j["commit"] = s.commit;
      j["checkpoint_op"] = s.checkpoint_op;
      j["state_digest"] = s.state_digest;
      j["peers_connected"] = s.peers_connected;
      j["rejected_messages"] = s.rejected_messages;
      if (!s.waiting_for.empty()) j["waiting_for"] = s.waiting_for;
    }
    if (!options.json) {
      if (r.ok()) {
        const node::NodeStatus& s = *r;
        std::printf(
            "%s %s %s %s view=%llu op=%llu commit=%llu checkpoint_op=%llu "
            "digest=%s peers=%u rejected=%llu\n",
            n.name.c_str(), n.address.to_string().c_str(), s.role.c_str(), s.status.c_str(),
            static_cast<unsigned long long>(s.view), static_cast<unsigned long long>(s.op),
            static_cast<unsigned long long>(s.commit),
            static_cast<unsigned long long>(s.checkpoint_op), s.state_digest.c_str(),
            s.peers_connected, static_cast<unsigned long long>(s.rejected_messages));
        if (!s.waiting_for.empty()) std::printf("  waiting for %s\n", s.waiting_for.c_str());
      } else if (r.error().why == node::Unreachable::Why::authentication) {
        std::printf(
            "%s %s authentication failed (this client.tnet does not belong to this "
            "cluster)\n",
            n.name.c_str(), n.address.to_string().c_str());
      } else {
        std::printf("%s %s unreachable (%s)\n", n.name.c_str(), n.address.to_string().c_str(),
                    r.error().detail.c_str());
      }
    }
    out["nodes"].push_back(std::move(j));
  }
  if (options.json) std::printf("%s\n", out.dump().c_str());
  if (authentication_failed == nodes.size()) {
    // Not an outage: this machine holds another cluster's client.tnet.
    return report(ExitCode::usage,
                  "authentication failed: this client.tnet does not belong to this cluster");
  }
  return ExitCode::success;
}

}  // namespace

void add_status(CLI::App& app, GlobalOptions& globals) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* command = app.add_subcommand(
      "status", "Ask running nodes for their role, view, op, commit and state digest");
  command->add_option("NAME", options->names, "Nodes to ask (default: every node)");
  command->add_flag("--json", options->json, "One JSON object on stdout");
  command->add_option("--timeout", options->timeout_s, "Seconds to wait for each node")
      ->check(seconds_between(0.01, 600.0))
      ->capture_default_str();
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_status(globals, *options); };
  });
}

}  // namespace vsr::cli
