// Validation of the cluster configuration: node names, addresses, tunables and timeouts.
// Every rule returns a one-line message that names the offending value and says what is
// allowed, because it reaches the operator unchanged (CLI stderr, or a file-load error).

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "text.hpp"
#include "vsr/config/cluster_config.hpp"

namespace vsr::config {
namespace {

using detail::printable;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

bool is_hostname_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
}

// Hostname labels per RFC 1123 §2.1: letters, digits and '-', not starting or ending with '-'.
Result<void, std::string> validate_hostname(std::string_view host) {
  if (host.size() > limits::host_length_max) {
    return fail(fmt::format("host '{}' is longer than {} characters", printable(host),
                            limits::host_length_max));
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    const bool ok = !label.empty() && label.size() <= limits::host_label_length_max &&
                    std::all_of(label.begin(), label.end(), is_hostname_char) &&
                    label.front() != '-' && label.back() != '-';
    if (!ok) {
      return fail(fmt::format(
          "host '{}' is not a valid hostname or IPv4 address (labels of letters, digits and "
          "'-', separated by '.')",
          printable(host)));
    }
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

// The IPv6 address in canonical text form, or nothing when `host` is not IPv6.
std::optional<std::string> canonical_ipv6(std::string_view host) {
  const std::string copy(host);
  in6_addr address{};
  if (::inet_pton(AF_INET6, copy.c_str(), &address) != 1) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(AF_INET6, &address, text, sizeof(text)) == nullptr) return std::nullopt;
  return std::string(text);
}

Result<std::uint16_t, std::string> parse_port(std::string_view text, std::string_view address) {
  if (text.empty()) {
    return fail(fmt::format("address '{}' has no port: use HOST:PORT, e.g. 127.0.0.1:9000",
                            printable(address)));
  }
  std::uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  const bool all_digits =
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!all_digits || end != text.data() + text.size()) {
    return fail(fmt::format("port '{}' in address '{}' is not a number", printable(text),
                            printable(address)));
  }
  if (ec == std::errc::result_out_of_range || port == 0 || port > 65535) {
    return fail(fmt::format("port {} in address '{}' is out of range: use 1..65535",
                            printable(text), printable(address)));
  }
  return static_cast<std::uint16_t>(port);
}

// Equal for addresses that are surely the same endpoint: hostnames are case-insensitive and
// IPv6 has many spellings. (localhost vs 127.0.0.1 would need DNS; not our business.)
std::string address_identity(const NodeAddress& address) {
  std::string host = canonical_ipv6(address.host).value_or(address.host);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return fmt::format("{}|{}", host, address.port);
}

Result<void, std::string> check_tunable(const limits::Tunable& tunable, std::uint32_t value) {
  if (value >= tunable.min && value <= tunable.max) return {};
  return fail(fmt::format("{} is {}: it must be {}..{} ({})", tunable.name, value, tunable.min,
                          tunable.max, tunable.unit));
}

}  // namespace

std::string ClusterId::hex() const {
  return detail::to_hex(bytes.data(), bytes.size());
}

std::string NodeAddress::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::optional<std::size_t> ClusterConfig::find_node(std::string_view name) const {
  for (std::size_t i = 0; i < nodes.size(); i++) {
    if (nodes[i].name == name) return i;
  }
  return std::nullopt;
}

ClientConfig client_config_of(const ClusterConfig& cluster) {
  return ClientConfig{cluster.cluster_id, cluster.config_version, cluster.nodes, cluster.client_key,
                      cluster.timeouts.request_timeout_ms};
}

Result<void, std::string> validate_node_name(std::string_view name) {
  if (!name.empty() && name.size() <= limits::node_name_length_max &&
      std::all_of(name.begin(), name.end(), is_name_char)) {
    return {};
  }
  return fail(fmt::format("node name '{}' is invalid: use 1 to {} characters of A-Z a-z 0-9 _ -",
                          printable(name), limits::node_name_length_max));
}

Result<void, std::string> validate_host(std::string_view host) {
  if (host.empty()) return fail(std::string("host is empty"));
  if (host.find(':') != std::string_view::npos) {
    if (canonical_ipv6(host)) return {};
    return fail(fmt::format("host '{}' is not a valid IPv6 address", printable(host)));
  }
  const bool looks_ipv4 = std::all_of(host.begin(), host.end(),
                                      [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  if (looks_ipv4) {
    // inet_pton takes exactly a dotted quad: no octal, no short forms, octets 0..255.
    const std::string copy(host);
    in_addr address{};
    if (::inet_pton(AF_INET, copy.c_str(), &address) == 1) return {};
    return fail(
        fmt::format("host '{}' is not a valid IPv4 address (use a dotted quad like "
                    "10.0.0.1)",
                    printable(host)));
  }
  return validate_hostname(host);
}

Result<NodeAddress, std::string> parse_address(std::string_view text) {
  if (text.empty()) {
    return fail(std::string("address is empty: use HOST:PORT, e.g. 127.0.0.1:9000"));
  }
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return fail(fmt::format("address '{}' has no closing ']': use [IPV6]:PORT, e.g. [::1]:9000",
                              printable(text)));
    }
    const std::string_view host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return fail(
          fmt::format("address '{}' needs ':PORT' after ']', e.g. [::1]:9000", printable(text)));
    }
    const std::optional<std::string> canonical = canonical_ipv6(host);
    if (!canonical) {
      return fail(fmt::format("'{}' in address '{}' is not a valid IPv6 address", printable(host),
                              printable(text)));
    }
    auto port = parse_port(rest.substr(1), text);
    if (!port) return fail(port.error());
    return NodeAddress{*canonical, *port};
  }
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(fmt::format("address '{}' has no port: use HOST:PORT, e.g. 127.0.0.1:9000",
                            printable(text)));
  }
  const std::string_view host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    return fail(fmt::format("address '{}': put an IPv6 address in brackets, e.g. [::1]:9000",
                            printable(text)));
  }
  if (host.empty()) {
    return fail(fmt::format("address '{}' has no host: use HOST:PORT, e.g. 127.0.0.1:9000",
                            printable(text)));
  }
  if (auto valid = validate_host(host); !valid) {
    return fail(fmt::format("address '{}': {}", printable(text), valid.error()));
  }
  auto port = parse_port(text.substr(colon + 1), text);
  if (!port) return fail(port.error());
  return NodeAddress{std::string(host), *port};
}

Result<std::vector<Node>, std::string> parse_node_list(std::string_view text) {
  std::vector<Node> nodes;
  std::size_t start = 0;
  for (std::size_t position = 1;; position++) {
    // Bound the work on hostile input before building anything for it.
    if (position > limits::node_count_max) {
      return fail(fmt::format("more than {} nodes: a cluster has at most {}",
                              limits::node_count_max, limits::node_count_max));
    }
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::size_t equals = item.find('=');
    if (item.empty() || equals == std::string_view::npos) {
      return fail(fmt::format("node {} '{}' is not NAME=HOST:PORT (e.g. n0=127.0.0.1:9000)",
                              position, printable(item)));
    }
    const std::string_view name = item.substr(0, equals);
    if (auto valid = validate_node_name(name); !valid) return fail(valid.error());
    auto address = parse_address(item.substr(equals + 1));
    if (!address) return fail(fmt::format("node '{}': {}", name, address.error()));
    nodes.push_back(Node{std::string(name), std::move(*address)});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (auto valid = validate_nodes(nodes); !valid) return fail(valid.error());
  return nodes;
}

Result<void, std::string> validate_nodes(const std::vector<Node>& nodes) {
  if (nodes.empty()) return fail(std::string("no nodes: a cluster needs at least 1"));
  if (nodes.size() > limits::node_count_max) {
    return fail(fmt::format("{} nodes is too many: a cluster has at most {}", nodes.size(),
                            limits::node_count_max));
  }
  std::map<std::string_view, std::string_view> names;  // name -> itself, for duplicates
  std::map<std::string, std::string_view> addresses;   // identity -> node name
  for (const Node& node : nodes) {
    if (auto valid = validate_node_name(node.name); !valid) return valid;
    if (auto valid = validate_host(node.address.host); !valid) {
      return fail(fmt::format("node '{}': {}", node.name, valid.error()));
    }
    if (node.address.port == 0) {
      return fail(fmt::format("node '{}': port 0 is out of range: use 1..65535", node.name));
    }
    if (!names.emplace(node.name, node.name).second) {
      return fail(
          fmt::format("node name '{}' appears more than once: names must be unique", node.name));
    }
    auto [it, inserted] = addresses.emplace(address_identity(node.address), node.name);
    if (!inserted) {
      return fail(
          fmt::format("nodes '{}' and '{}' have the same address {}: addresses must be "
                      "unique",
                      it->second, node.name, node.address.to_string()));
    }
  }
  return {};
}

Result<void, std::string> validate_tuning(const Tuning& tuning) {
  if (auto ok = check_tunable(limits::max_batch_size, tuning.max_batch_size); !ok) return ok;
  if (auto ok = check_tunable(limits::max_batch_delay_ms, tuning.max_batch_delay_ms); !ok) {
    return ok;
  }
  if (auto ok = check_tunable(limits::max_pipeline_depth, tuning.max_pipeline_depth); !ok) {
    return ok;
  }
  return check_tunable(limits::checkpoint_interval, tuning.checkpoint_interval);
}

Result<void, std::string> validate_timeouts(const Timeouts& timeouts) {
  if (auto ok = check_tunable(limits::heartbeat_ms, timeouts.heartbeat_ms); !ok) return ok;
  if (auto ok = check_tunable(limits::view_change_timeout_ms, timeouts.view_change_timeout_ms);
      !ok) {
    return ok;
  }
  if (auto ok = check_tunable(limits::request_timeout_ms, timeouts.request_timeout_ms); !ok) {
    return ok;
  }
  // One delayed heartbeat must not depose a healthy primary.
  const std::uint64_t floor_ms =
      std::uint64_t{limits::view_change_heartbeats_min} * timeouts.heartbeat_ms;
  if (timeouts.view_change_timeout_ms < floor_ms) {
    return fail(
        fmt::format("view_change_timeout_ms is {}: it must be at least {} x heartbeat_ms "
                    "({} ms)",
                    timeouts.view_change_timeout_ms, limits::view_change_heartbeats_min, floor_ms));
  }
  return {};
}

namespace {

Result<void, std::string> validate_version(std::uint64_t config_version) {
  // The files store it as a tnetstring integer, which is signed 64-bit.
  if (config_version >= 1 &&
      config_version <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return {};
  }
  return fail(fmt::format("config_version is {}: it starts at 1", config_version));
}

}  // namespace

Result<void, std::string> validate_connections(const Connections& c) {
  const std::pair<const limits::Tunable&, std::uint32_t> fields[] = {
      {limits::handshake_timeout_ms, c.handshake_timeout_ms},
      {limits::client_idle_timeout_ms, c.client_idle_timeout_ms},
      {limits::unauthenticated_connections_max, c.unauthenticated_connections_max},
      {limits::unauthenticated_buffer_mib, c.unauthenticated_buffer_mib},
      {limits::client_connections_max, c.client_connections_max},
      {limits::descriptor_reserve, c.descriptor_reserve},
      {limits::rejection_log_lines_per_10s, c.rejection_log_lines_per_10s},
  };
  for (const auto& [tunable, value] : fields) {
    if (auto ok = check_tunable(tunable, value); !ok) return ok;
  }
  return {};
}

Result<void, std::string> validate(const ClusterConfig& cluster) {
  if (auto ok = validate_version(cluster.config_version); !ok) return ok;
  if (auto ok = validate_nodes(cluster.nodes); !ok) return ok;
  if (auto ok = validate_tuning(cluster.tuning); !ok) return ok;
  if (auto ok = validate_timeouts(cluster.timeouts); !ok) return ok;
  return validate_connections(cluster.connections);
}

Result<void, std::string> validate(const ClientConfig& client) {
  if (auto ok = validate_version(client.config_version); !ok) return ok;
  if (auto ok = validate_nodes(client.nodes); !ok) return ok;
  return check_tunable(limits::request_timeout_ms, client.request_timeout_ms);
}

}  // namespace vsr::config
