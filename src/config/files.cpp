// cluster.tnet and client.tnet: encoding, decoding, loading, saving, and init-cluster.
//
// Each file is an envelope around a body (grammar in docs/vsr/config.md):
//   {format, format_version, body, checksum = BLAKE2b-128(body's encoded bytes), hex}
// The checksum is what turns a flipped bit inside a key or a port (still well-formed) into
// a detected corruption instead of a cluster that silently fails to authenticate. Decoding
// is strict: unknown fields, wrong types and out-of-range values are all errors, and each
// message names the field, so that "what is wrong with this file" has a one-line answer.

#include <sodium.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "text.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/io/file.hpp"

namespace vsr::config {
namespace {

using detail::printable;

constexpr std::string_view cluster_format = "vsr-cluster";
constexpr std::string_view client_format = "vsr-client";
constexpr mode_t secret_file_mode = 0600;  // both files hold a key
constexpr mode_t cluster_dir_mode = 0700;

tnet::Limits file_limits() {
  tnet::Limits limits;
  limits.max_size = limits::config_file_size_max;
  limits.max_depth = limits::config_file_depth_max;
  // Every node is a dict of 3 entries plus the list item; the rest is a few dozen fields.
  // Room for four times node_count_max nodes (64, the limit of earlier versions): a file
  // with too many nodes still decodes, and validate_nodes() refuses it with the limit in the
  // message instead of a bare "too many elements".
  limits.max_elements = 64 + 4 * (4 * limits::node_count_max);
  return limits;
}

std::string body_checksum(std::string_view body) {
  unsigned char digest[limits::checksum_size] = {};
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(body.data()),
                     body.size(), nullptr, 0);
  return detail::to_hex(digest, sizeof(digest));
}

const char* type_name(const tnet::Value& value) {
  switch (value.tag()) {
    case tnet::Tag::bytes:
    case tnet::Tag::text:
      return "a byte string";
    case tnet::Tag::integer:
      return "an integer";
    case tnet::Tag::floating:
      return "a float";
    case tnet::Tag::boolean:
      return "a boolean";
    case tnet::Tag::null:
      return "null";
    case tnet::Tag::list:
      return "a list";
    case tnet::Tag::dict:
      return "a dict";
  }
  return "an unknown type";
}

// A field we do not know is a typo or a file from another version: refuse it rather than
// run with a setting the operator believes is in effect.
Result<void, std::string> reject_unknown_fields(const tnet::Value& dict, std::string_view what,
                                                std::span<const std::string_view> known) {
  for (const tnet::Entry& entry : dict.entries()) {
    if (std::find(known.begin(), known.end(), entry.key) == known.end()) {
      return fail(fmt::format("{}: unknown field '{}'", what, printable(entry.key)));
    }
  }
  return {};
}

Result<void, std::string> reject_unknown_fields(const tnet::Value& dict, std::string_view what,
                                                std::initializer_list<std::string_view> known) {
  return reject_unknown_fields(dict, what,
                               std::span<const std::string_view>(known.begin(), known.size()));
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>, std::string> decode_hex_field(std::string_view hex,
                                                                  std::string_view what,
                                                                  std::string_view field) {
  std::array<std::uint8_t, N> out{};
  if (!detail::from_hex(hex, out.data(), N)) {
    return fail(fmt::format("{}: field '{}' must be {} lowercase hex digits", what, field, 2 * N));
  }
  return out;
}

void encode_nodes(tnet::Encoder& e, const std::vector<Node>& nodes) {
  e.begin_list();
  for (const Node& node : nodes) {
    e.begin_dict();
    e.key("name");
    e.bytes(node.name);
    e.key("host");
    e.bytes(node.address.host);
    e.key("port");
    e.integer(node.address.port);
    e.end_dict();
  }
  e.end_list();
}

Result<std::vector<Node>, std::string> decode_nodes(const tnet::Value& list) {
  std::vector<Node> nodes;
  std::size_t index = 0;
  for (const tnet::Value& item : list.items()) {
    const std::string what = fmt::format("nodes[{}]", index++);
    if (!item.is_dict()) return fail(fmt::format("{} is {}, not a dict", what, type_name(item)));
    if (auto ok = reject_unknown_fields(item, what, {"name", "host", "port"}); !ok) {
      return fail(ok.error());
    }
    tnet::FieldReader r(item, what);
    const std::string_view name = r.bytes("name");
    const std::string_view host = r.bytes("host");
    const std::int64_t port = r.integer_in("port", 1, 65535);
    if (!r.ok()) return fail(r.error());
    nodes.push_back(
        Node{std::string(name), NodeAddress{std::string(host), static_cast<std::uint16_t>(port)}});
  }
  return nodes;
}

// The connection limits with their tunables, in file order (encode and decode share it).
template <class C>
auto connection_fields(C& c) {
  using Value = std::conditional_t<std::is_const_v<C>, const std::uint32_t, std::uint32_t>;
  return std::array<std::pair<const limits::Tunable*, Value*>, 7>{{
      {&limits::handshake_timeout_ms, &c.handshake_timeout_ms},
      {&limits::client_idle_timeout_ms, &c.client_idle_timeout_ms},
      {&limits::unauthenticated_connections_max, &c.unauthenticated_connections_max},
      {&limits::unauthenticated_buffer_mib, &c.unauthenticated_buffer_mib},
      {&limits::client_connections_max, &c.client_connections_max},
      {&limits::descriptor_reserve, &c.descriptor_reserve},
      {&limits::rejection_log_lines_per_10s, &c.rejection_log_lines_per_10s},
  }};
}

// Reads a tunable as any u32; validate_tuning() then reports the bounds by name.
std::uint32_t read_u32(tnet::FieldReader& r, const limits::Tunable& tunable) {
  return static_cast<std::uint32_t>(
      r.integer_in(tunable.name, 0, std::numeric_limits<std::uint32_t>::max()));
}

std::string seal(std::string_view format, std::string_view body) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("format");
  e.bytes(format);
  e.key("format_version");
  e.integer(limits::config_format_version);
  e.key("body");
  e.raw(body);
  e.key("checksum");
  e.bytes(body_checksum(body));
  e.end_dict();
  VSR_ASSERT(e.complete());
  return out;
}

// Checks the envelope and returns the body, a view into `bytes`.
Result<tnet::Value, std::string> open_envelope(std::string_view bytes, std::string_view format) {
  if (bytes.empty()) return fail(std::string("the file is empty"));
  auto decoded = tnet::decode(bytes, file_limits());
  if (!decoded) {
    return fail(fmt::format("not a valid tnetstring: {}", decoded.error().message()));
  }
  const tnet::Value top = *decoded;
  if (!top.is_dict()) return fail(fmt::format("the file holds {}, not a dict", type_name(top)));
  if (auto ok =
          reject_unknown_fields(top, "top level", {"format", "format_version", "body", "checksum"});
      !ok) {
    return fail(ok.error());
  }
  tnet::FieldReader r(top, "top level");
  const std::string_view found_format = r.bytes("format");
  const std::int64_t version = r.integer("format_version");
  const tnet::Value body = r.dict("body");
  const std::string_view checksum = r.bytes("checksum");
  if (!r.ok()) return fail(r.error());
  if (found_format != format) {
    return fail(
        fmt::format("this is a '{}' file, not a '{}' file", printable(found_format), format));
  }
  if (version != limits::config_format_version) {
    return fail(fmt::format("format_version {} is not supported (this vsr reads version {})",
                            version, limits::config_format_version));
  }
  if (checksum != body_checksum(body.encoded())) {
    return fail(
        std::string("checksum mismatch: the file is corrupted (restore it from another "
                    "node or a backup)"));
  }
  return body;
}

Error environment_error(io::Error error) {
  return Error{ErrorKind::environment, std::move(error.message)};
}

// Maps a read failure to what the operator must do about it.
Error read_error(io::Error error) {
  if (error.sys_errno == ENOENT) {
    return Error{ErrorKind::missing,
                 error.message + "; run 'vsr init-cluster' or pass the right --cluster-dir"};
  }
  if (error.sys_errno == 0) return Error{ErrorKind::invalid, std::move(error.message)};
  return environment_error(std::move(error));
}

template <class Config, class Decode>
Result<Config, Error> load(const std::filesystem::path& path, Decode decode) {
  auto bytes = io::read_file(path, limits::config_file_size_max);
  if (!bytes) return fail(read_error(std::move(bytes).error()));
  auto config = decode(*bytes);
  if (!config) {
    return fail(Error{ErrorKind::invalid, fmt::format("{}: {}", path.string(), config.error())});
  }
  return std::move(*config);
}

}  // namespace

std::string encode_cluster(const ClusterConfig& cluster) {
  VSR_ASSERT_MSG(validate(cluster).ok(), "only a validated cluster config is written");
  std::string body;
  tnet::Encoder e(body);
  e.begin_dict();
  e.key("cluster_id");
  e.bytes(cluster.cluster_id.hex());
  e.key("config_version");
  e.integer(static_cast<std::int64_t>(cluster.config_version));
  e.key("nodes");
  encode_nodes(e, cluster.nodes);
  e.key("replica_key");
  e.bytes(detail::to_hex(cluster.replica_key.bytes.data(), cluster.replica_key.bytes.size()));
  e.key("client_key");
  e.bytes(detail::to_hex(cluster.client_key.bytes.data(), cluster.client_key.bytes.size()));
  e.key("tuning");
  e.begin_dict();
  e.key(limits::max_batch_size.name);
  e.integer(cluster.tuning.max_batch_size);
  e.key(limits::max_batch_delay_ms.name);
  e.integer(cluster.tuning.max_batch_delay_ms);
  e.key(limits::max_pipeline_depth.name);
  e.integer(cluster.tuning.max_pipeline_depth);
  e.key(limits::checkpoint_interval.name);
  e.integer(cluster.tuning.checkpoint_interval);
  e.end_dict();
  e.key("timeouts");
  e.begin_dict();
  e.key(limits::heartbeat_ms.name);
  e.integer(cluster.timeouts.heartbeat_ms);
  e.key(limits::view_change_timeout_ms.name);
  e.integer(cluster.timeouts.view_change_timeout_ms);
  e.key(limits::request_timeout_ms.name);
  e.integer(cluster.timeouts.request_timeout_ms);
  e.end_dict();
  e.key("connections");
  e.begin_dict();
  for (const auto& [tunable, value] : connection_fields(cluster.connections)) {
    e.key(tunable->name);
    e.integer(*value);
  }
  e.end_dict();
  e.end_dict();
  return seal(cluster_format, body);
}

std::string encode_client(const ClientConfig& client) {
  VSR_ASSERT_MSG(validate(client).ok(), "only a validated client config is written");
  std::string body;
  tnet::Encoder e(body);
  e.begin_dict();
  e.key("cluster_id");
  e.bytes(client.cluster_id.hex());
  e.key("config_version");
  e.integer(static_cast<std::int64_t>(client.config_version));
  e.key("nodes");
  encode_nodes(e, client.nodes);
  e.key("client_key");
  e.bytes(detail::to_hex(client.client_key.bytes.data(), client.client_key.bytes.size()));
  e.key(limits::request_timeout_ms.name);
  e.integer(client.request_timeout_ms);
  e.end_dict();
  return seal(client_format, body);
}

Result<ClusterConfig, std::string> decode_cluster(std::string_view bytes) {
  auto body = open_envelope(bytes, cluster_format);
  if (!body) return fail(body.error());
  constexpr std::string_view what = "cluster config";
  if (auto ok = reject_unknown_fields(*body, what,
                                      {"cluster_id", "config_version", "nodes", "replica_key",
                                       "client_key", "tuning", "timeouts", "connections"});
      !ok) {
    return fail(ok.error());
  }
  tnet::FieldReader r(*body, what);
  const std::string_view id_hex = r.bytes("cluster_id");
  const std::int64_t version = r.integer_in("config_version", 1, INT64_MAX);
  const tnet::Value nodes_list = r.list("nodes");
  const std::string_view replica_key_hex = r.bytes("replica_key");
  const std::string_view client_key_hex = r.bytes("client_key");
  const tnet::Value tuning_dict = r.dict("tuning");
  const tnet::Value timeouts_dict = r.dict("timeouts");
  if (!r.ok()) return fail(r.error());

  ClusterConfig cluster;
  cluster.config_version = static_cast<std::uint64_t>(version);
  auto id = decode_hex_field<limits::cluster_id_size>(id_hex, what, "cluster_id");
  if (!id) return fail(id.error());
  cluster.cluster_id.bytes = *id;
  auto replica_key = decode_hex_field<limits::key_size>(replica_key_hex, what, "replica_key");
  if (!replica_key) return fail(replica_key.error());
  cluster.replica_key.bytes = *replica_key;
  auto client_key = decode_hex_field<limits::key_size>(client_key_hex, what, "client_key");
  if (!client_key) return fail(client_key.error());
  cluster.client_key.bytes = *client_key;
  auto nodes = decode_nodes(nodes_list);
  if (!nodes) return fail(nodes.error());
  cluster.nodes = std::move(*nodes);

  if (auto ok = reject_unknown_fields(
          tuning_dict, "tuning",
          {limits::max_batch_size.name, limits::max_batch_delay_ms.name,
           limits::max_pipeline_depth.name, limits::checkpoint_interval.name});
      !ok) {
    return fail(ok.error());
  }
  tnet::FieldReader t(tuning_dict, "tuning");
  cluster.tuning.max_batch_size = read_u32(t, limits::max_batch_size);
  cluster.tuning.max_batch_delay_ms = read_u32(t, limits::max_batch_delay_ms);
  cluster.tuning.max_pipeline_depth = read_u32(t, limits::max_pipeline_depth);
  cluster.tuning.checkpoint_interval = read_u32(t, limits::checkpoint_interval);
  if (!t.ok()) return fail(t.error());

  if (auto ok =
          reject_unknown_fields(timeouts_dict, "timeouts",
                                {limits::heartbeat_ms.name, limits::view_change_timeout_ms.name,
                                 limits::request_timeout_ms.name});
      !ok) {
    return fail(ok.error());
  }
  tnet::FieldReader o(timeouts_dict, "timeouts");
  cluster.timeouts.heartbeat_ms = read_u32(o, limits::heartbeat_ms);
  cluster.timeouts.view_change_timeout_ms = read_u32(o, limits::view_change_timeout_ms);
  cluster.timeouts.request_timeout_ms = read_u32(o, limits::request_timeout_ms);
  if (!o.ok()) return fail(o.error());

  // Files written before the connection limits were fields lack the dict: the defaults.
  if (auto connections = body->find("connections")) {
    if (!connections->is_dict()) {
      return fail(fmt::format("{}: field 'connections' must be a dict", what));
    }
    std::vector<std::string_view> names;
    for (const auto& [tunable, value] : connection_fields(cluster.connections)) {
      names.push_back(tunable->name);
    }
    if (auto ok = reject_unknown_fields(*connections, "connections", names); !ok) {
      return fail(ok.error());
    }
    tnet::FieldReader c(*connections, "connections");
    for (auto& [tunable, value] : connection_fields(cluster.connections)) {
      *value = read_u32(c, *tunable);
    }
    if (!c.ok()) return fail(c.error());
  }

  if (auto ok = validate(cluster); !ok) return fail(fmt::format("{}: {}", what, ok.error()));
  return cluster;
}

Result<ClientConfig, std::string> decode_client(std::string_view bytes) {
  auto body = open_envelope(bytes, client_format);
  if (!body) return fail(body.error());
  constexpr std::string_view what = "client config";
  if (auto ok = reject_unknown_fields(
          *body, what,
          {"cluster_id", "config_version", "nodes", "client_key", limits::request_timeout_ms.name});
      !ok) {
    return fail(ok.error());
  }
  tnet::FieldReader r(*body, what);
  const std::string_view id_hex = r.bytes("cluster_id");
  const std::int64_t version = r.integer_in("config_version", 1, INT64_MAX);
  const tnet::Value nodes_list = r.list("nodes");
  const std::string_view client_key_hex = r.bytes("client_key");
  ClientConfig client;
  client.request_timeout_ms = read_u32(r, limits::request_timeout_ms);
  if (!r.ok()) return fail(r.error());

  client.config_version = static_cast<std::uint64_t>(version);
  auto id = decode_hex_field<limits::cluster_id_size>(id_hex, what, "cluster_id");
  if (!id) return fail(id.error());
  client.cluster_id.bytes = *id;
  auto client_key = decode_hex_field<limits::key_size>(client_key_hex, what, "client_key");
  if (!client_key) return fail(client_key.error());
  client.client_key.bytes = *client_key;
  auto nodes = decode_nodes(nodes_list);
  if (!nodes) return fail(nodes.error());
  client.nodes = std::move(*nodes);

  if (auto ok = validate(client); !ok) return fail(fmt::format("{}: {}", what, ok.error()));
  return client;
}

Result<ClusterConfig, Error> load_cluster(const std::filesystem::path& path) {
  return load<ClusterConfig>(path, decode_cluster);
}

Result<ClientConfig, Error> load_client(const std::filesystem::path& path) {
  return load<ClientConfig>(path, decode_client);
}

Result<void, Error> save_cluster(const std::filesystem::path& path, const ClusterConfig& cluster) {
  auto written = io::write_file_atomic(path, encode_cluster(cluster), secret_file_mode);
  if (!written) return fail(environment_error(written.error()));
  return {};
}

Result<void, Error> save_client(const std::filesystem::path& path, const ClientConfig& client) {
  auto written = io::write_file_atomic(path, encode_client(client), secret_file_mode);
  if (!written) return fail(environment_error(written.error()));
  return {};
}

Result<ClusterConfig, Error> generate_cluster(std::vector<Node> nodes, const Tuning& tuning,
                                              const Timeouts& timeouts) {
  ClusterConfig cluster;
  cluster.nodes = std::move(nodes);
  cluster.tuning = tuning;
  cluster.timeouts = timeouts;
  if (auto ok = validate(cluster); !ok) return fail(Error{ErrorKind::invalid, ok.error()});
  if (::sodium_init() < 0) {
    return fail(
        Error{ErrorKind::environment, "libsodium failed to initialise (no source of randomness?)"});
  }
  ::randombytes_buf(cluster.cluster_id.bytes.data(), cluster.cluster_id.bytes.size());
  ::randombytes_buf(cluster.replica_key.bytes.data(), cluster.replica_key.bytes.size());
  ::randombytes_buf(cluster.client_key.bytes.data(), cluster.client_key.bytes.size());
  return cluster;
}

Result<InitOutcome, Error> init_cluster(const std::filesystem::path& cluster_dir,
                                        const InitRequest& request) {
  InitOutcome outcome;
  outcome.paths = ClusterPaths{cluster_dir};
  auto cluster = generate_cluster(request.nodes, request.tuning, request.timeouts);
  if (!cluster) return fail(std::move(cluster).error());
  outcome.cluster = std::move(*cluster);

  for (const std::filesystem::path& file :
       {outcome.paths.cluster_file(), outcome.paths.client_file()}) {
    auto present = io::path_exists(file);
    if (!present) return fail(environment_error(present.error()));
    if (*present && !request.force) {
      return fail(Error{ErrorKind::exists,
                        fmt::format("{} already exists; pass --force to replace the cluster "
                                    "(new cluster id and keys), or choose another --cluster-dir",
                                    file.string())});
    }
    outcome.replaced = outcome.replaced || *present;
  }
  auto node_data = io::path_exists(outcome.paths.nodes_dir());
  if (!node_data) return fail(environment_error(node_data.error()));
  outcome.node_data_present = *node_data;

  if (auto made = io::create_directories(cluster_dir, cluster_dir_mode); !made) {
    return fail(environment_error(made.error()));
  }
  // cluster.tnet last: it is what makes a directory hold a cluster, so on a fresh init it
  // appears only once its client.tnet is durable. (With --force, a crash between the two
  // writes leaves files of two cluster ids; nodes reject the mismatch and rerunning
  // init-cluster --force repairs it.)
  if (auto saved = save_client(outcome.paths.client_file(), client_config_of(outcome.cluster));
      !saved) {
    return fail(saved.error());
  }
  if (auto saved = save_cluster(outcome.paths.cluster_file(), outcome.cluster); !saved) {
    return fail(saved.error());
  }
  return outcome;
}

}  // namespace vsr::config
