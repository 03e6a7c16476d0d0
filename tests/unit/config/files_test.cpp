// Proves that cluster.tnet and client.tnet round-trip, that client.tnet carries no replica
// key and no replica tuning, and that every damaged file is refused with a message naming
// the file and what is wrong: missing, empty, oversized, truncated at every length,
// any single bit flipped, not a dict, each field missing or of the wrong type, unknown
// fields, the wrong kind of file, an unsupported version and a bad checksum. Also proves
// init_cluster's contract (refuse without --force, change nothing, replace with --force).

#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/io/file.hpp"

namespace vsr::config {
namespace {

using test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

ClusterConfig sample_cluster() {
  Tuning tuning;
  tuning.max_batch_size = 100;
  tuning.max_batch_delay_ms = 0;
  tuning.max_pipeline_depth = 3;
  tuning.checkpoint_interval = 77;
  Timeouts timeouts;
  timeouts.heartbeat_ms = 50;
  timeouts.view_change_timeout_ms = 300;
  timeouts.request_timeout_ms = 700;
  auto nodes = parse_node_list("a=127.0.0.1:9000,b=[::1]:9001,c=db.example.com:9002");
  auto cluster = generate_cluster(std::move(*nodes), tuning, timeouts);
  VSR_ASSERT(cluster.ok());
  return std::move(*cluster);
}

std::string hex_of(const unsigned char* bytes, std::size_t size) {
  std::string out(size * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, size);
  out.pop_back();
  return out;
}

// The checksum as docs/vsr/config.md defines it, computed independently of the library.
std::string checksum_hex(std::string_view body) {
  unsigned char digest[16];
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(body.data()),
                     body.size(), nullptr, 0);
  return hex_of(digest, sizeof(digest));
}

std::string seal(std::string_view format, std::string_view body, std::int64_t version = 1) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("format");
  e.bytes(format);
  e.key("format_version");
  e.integer(version);
  e.key("body");
  e.raw(body);
  e.key("checksum");
  e.bytes(checksum_hex(body));
  e.end_dict();
  return out;
}

enum class Op { replace, remove, add_sibling };

// Copies the dict or list `value` into `e`, changing the element at `path` (dict keys, or
// list indexes as decimal strings): replace it with `encoded`, remove it, or (in a dict)
// keep it and add a field "extra" holding `encoded` next to it.
void copy_changed(tnet::Encoder& e, const tnet::Value& value, std::span<const std::string> path,
                  Op op, std::string_view encoded) {
  const bool last = path.size() == 1;
  auto emit = [&](const tnet::Value& child, std::string_view key, bool in_dict, bool target) {
    if (target && last && op == Op::remove) return;
    if (in_dict) e.key(key);
    if (!target) {
      e.raw(child.encoded());
    } else if (!last) {
      copy_changed(e, child, path.subspan(1), op, encoded);
    } else if (op == Op::replace) {
      e.raw(encoded);
    } else {
      e.raw(child.encoded());
      e.key("extra");
      e.raw(encoded);
    }
  };
  if (value.is_dict()) {
    e.begin_dict();
    for (const tnet::Entry& entry : value.entries()) {
      emit(entry.value, entry.key, true, entry.key == path[0]);
    }
    e.end_dict();
    return;
  }
  VSR_ASSERT(value.is_list() && !(last && op == Op::add_sibling));
  e.begin_list();
  std::size_t index = 0;
  for (const tnet::Value& item : value.items()) {
    emit(item, "", false, std::to_string(index++) == path[0]);
  }
  e.end_list();
}

// `encoded_value` (a dict) with the element at `path` changed as copy_changed() does.
std::string changed(std::string_view encoded_value, const std::vector<std::string>& path, Op op,
                    std::string_view replacement = {}) {
  auto value = tnet::decode(encoded_value);
  VSR_ASSERT(value.ok() && !path.empty());
  std::string out;
  tnet::Encoder e(out);
  copy_changed(e, *value, path, op, replacement);
  return out;
}

// The body of a sealed file, and the file rebuilt with a changed body and a valid checksum,
// so that decoding reaches the body's own checks.
std::string body_of(const std::string& file) {
  return std::string(tnet::decode(file)->find("body")->encoded());
}

std::string reseal_changed_body(const std::string& file, std::string_view format,
                                const std::vector<std::string>& path, Op op,
                                std::string_view replacement = {}) {
  return seal(format, changed(body_of(file), path, op, replacement));
}

void write_raw(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---------------------------------------------------------------------------------------
// Round trips.

TEST(ConfigFiles, ClusterRoundTrip) {
  const ClusterConfig cluster = sample_cluster();
  const std::string encoded = encode_cluster(cluster);
  auto decoded = decode_cluster(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(*decoded, cluster);
  EXPECT_EQ(encode_cluster(*decoded), encoded);  // one config, one encoding
}

TEST(ConfigFiles, TheConnectionLimitsRoundTripAndDefaultWhenTheDictIsAbsent) {
  ClusterConfig cluster = sample_cluster();
  cluster.connections.handshake_timeout_ms = 1'500;
  cluster.connections.client_connections_max = 77;
  cluster.connections.unauthenticated_buffer_mib = 3;
  auto decoded = decode_cluster(encode_cluster(cluster));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->connections, cluster.connections);
  // A file written before the limits were fields has no "connections" dict: the defaults.
  auto older = decode_cluster(
      reseal_changed_body(encode_cluster(cluster), "vsr-cluster", {"connections"}, Op::remove));
  ASSERT_TRUE(older.ok()) << older.error();
  EXPECT_EQ(older->connections, Connections{});
}

TEST(ConfigFiles, ClientRoundTrip) {
  const ClientConfig client = client_config_of(sample_cluster());
  auto decoded = decode_client(encode_client(client));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(*decoded, client);
  EXPECT_EQ(decoded->request_timeout_ms, 700u);
}

TEST(ConfigFiles, ClientTnetHoldsNoReplicaKeyAndNoReplicaTuning) {
  const ClusterConfig cluster = sample_cluster();
  const std::string file = encode_client(client_config_of(cluster));
  EXPECT_THAT(file, Not(HasSubstr("replica_key")));
  EXPECT_THAT(file, Not(HasSubstr(hex_of(cluster.replica_key.bytes.data(), 32))));
  for (const char* replica_only : {"tuning", "max_batch_size", "max_pipeline_depth",
                                   "checkpoint_interval", "heartbeat_ms", "view_change"}) {
    EXPECT_THAT(file, Not(HasSubstr(replica_only)));
  }
  EXPECT_THAT(file, HasSubstr(hex_of(cluster.client_key.bytes.data(), 32)));
  // And the cluster file does hold both keys, in the documented form.
  const std::string cluster_file = encode_cluster(cluster);
  EXPECT_THAT(cluster_file, HasSubstr("64:" + hex_of(cluster.replica_key.bytes.data(), 32) + ","));
  EXPECT_THAT(cluster_file, HasSubstr("32:" + cluster.cluster_id.hex() + ","));
}

TEST(ConfigFiles, ClientFileCannotCarryAReplicaKey) {
  const ClusterConfig cluster = sample_cluster();
  const std::string file =
      reseal_changed_body(encode_client(client_config_of(cluster)), "vsr-client", {"client_key"},
                          Op::add_sibling, "64:" + std::string(64, 'a') + ",");
  auto decoded = decode_client(file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error(), HasSubstr("unknown field 'extra'"));
}

TEST(ConfigFiles, ChecksumIsBlake2bOfBodyAsDocumented) {
  const std::string file = encode_cluster(sample_cluster());
  auto top = tnet::decode(file);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->find("checksum")->bytes(), checksum_hex(top->find("body")->encoded()));
  EXPECT_EQ(top->find("format")->bytes(), "vsr-cluster");
  EXPECT_EQ(top->find("format_version")->integer(), 1);
}

TEST(ConfigFiles, SaveAndLoadBothWithMode0600) {
  TempDir dir;
  const ClusterConfig cluster = sample_cluster();
  ASSERT_TRUE(save_cluster(dir / "cluster.tnet", cluster).ok());
  ASSERT_TRUE(save_client(dir / "client.tnet", client_config_of(cluster)).ok());
  for (const char* name : {"cluster.tnet", "client.tnet"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir / name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  auto loaded = load_cluster(dir / "cluster.tnet");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(*loaded, cluster);
  auto client = load_client(dir / "client.tnet");
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ(*client, client_config_of(cluster));
}

// ---------------------------------------------------------------------------------------
// Damaged files: whole-file problems, through load (the message names the path).

struct Damaged {
  std::string what;
  std::string bytes;
  std::string expected;  // fragment of the message after the path
};

std::vector<Damaged> damaged_files(const std::string& good) {
  return {
      {"empty", "", "the file is empty"},
      {"bytes, not a dict", "4:abcd,", "holds a byte string, not a dict"},
      {"integer, not a dict", "1:7#", "holds an integer, not a dict"},
      {"list, not a dict", "0:]", "holds a list, not a dict"},
      {"garbage", "hello world", "not a valid tnetstring"},
      {"truncated half", good.substr(0, good.size() / 2), "not a valid tnetstring"},
      {"trailing bytes", good + "x", "not a valid tnetstring"},
      {"client file as cluster", "", ""},  // filled in by the caller
  };
}

TEST(ConfigFiles, LoadMissingFileIsMissingAndNamesPath) {
  TempDir dir;
  auto loaded = load_cluster(dir / "cluster.tnet");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().kind, ErrorKind::missing);
  EXPECT_THAT(loaded.error().message, HasSubstr((dir / "cluster.tnet").string()));
  EXPECT_THAT(loaded.error().message, HasSubstr("No such file or directory"));
  auto client = load_client(dir / "client.tnet");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind, ErrorKind::missing);
}

TEST(ConfigFiles, LoadDamagedFilesNamesPathAndProblem) {
  TempDir dir;
  const ClusterConfig cluster = sample_cluster();
  const std::string good = encode_cluster(cluster);
  const std::filesystem::path path = dir / "cluster.tnet";
  for (Damaged d : damaged_files(good)) {
    if (d.what == "client file as cluster") {
      d.bytes = encode_client(client_config_of(cluster));
      d.expected = "this is a 'vsr-client' file, not a 'vsr-cluster' file";
    }
    write_raw(path, d.bytes);
    auto loaded = load_cluster(path);
    ASSERT_FALSE(loaded.ok()) << d.what;
    EXPECT_EQ(loaded.error().kind, ErrorKind::invalid) << d.what;
    EXPECT_THAT(loaded.error().message, HasSubstr(path.string() + ": ")) << d.what;
    EXPECT_THAT(loaded.error().message, HasSubstr(d.expected)) << d.what;
    EXPECT_EQ(loaded.error().message.find('\n'), std::string::npos) << d.what;
  }
}

TEST(ConfigFiles, LoadDamagedClientFileNamesPath) {
  TempDir dir;
  const std::filesystem::path path = dir / "client.tnet";
  write_raw(path, encode_cluster(sample_cluster()));
  auto loaded = load_client(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message,
              HasSubstr(path.string() + ": this is a 'vsr-cluster' file, not a 'vsr-client'"));
  write_raw(path, "");
  EXPECT_THAT(load_client(path).error().message, HasSubstr(path.string() + ": the file is empty"));
}

TEST(ConfigFiles, LoadOversizedFileIsRefusedBeforeReading) {
  TempDir dir;
  const std::filesystem::path path = dir / "cluster.tnet";
  write_raw(path, std::string(limits::config_file_size_max + 1, ' '));
  auto loaded = load_cluster(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().kind, ErrorKind::invalid);
  EXPECT_THAT(loaded.error().message, HasSubstr(path.string()));
  EXPECT_THAT(loaded.error().message, HasSubstr("more than the limit"));
}

TEST(ConfigFiles, LoadDirectoryIsAnEnvironmentError) {
  TempDir dir;
  std::filesystem::create_directory(dir / "cluster.tnet");
  auto loaded = load_cluster(dir / "cluster.tnet");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().kind, ErrorKind::environment);
  EXPECT_THAT(loaded.error().message, HasSubstr((dir / "cluster.tnet").string()));
}

TEST(ConfigFiles, LoadTruncatedAndBitFlippedFilesNamesPath) {
  TempDir dir;
  const std::string good = encode_cluster(sample_cluster());
  const std::filesystem::path path = dir / "cluster.tnet";
  // A few representative points through the real file path; every point is covered below.
  for (std::size_t length : {std::size_t{1}, std::size_t{5}, good.size() / 3, good.size() - 1}) {
    write_raw(path, good.substr(0, length));
    auto loaded = load_cluster(path);
    ASSERT_FALSE(loaded.ok()) << length;
    EXPECT_THAT(loaded.error().message, HasSubstr(path.string() + ": ")) << length;
  }
  for (std::size_t offset : {std::size_t{0}, good.size() / 2, good.size() - 40}) {
    std::string flipped = good;
    flipped[offset] = static_cast<char>(flipped[offset] ^ 0x01);
    write_raw(path, flipped);
    auto loaded = load_cluster(path);
    ASSERT_FALSE(loaded.ok()) << offset;
    EXPECT_THAT(loaded.error().message, HasSubstr(path.string() + ": ")) << offset;
  }
}

// ---------------------------------------------------------------------------------------
// Damaged contents, exhaustively, through decode.

TEST(ConfigFiles, EveryTruncationIsRefused) {
  const std::string cluster = encode_cluster(sample_cluster());
  for (std::size_t length = 0; length < cluster.size(); length++) {
    EXPECT_FALSE(decode_cluster(cluster.substr(0, length)).ok()) << length;
  }
  const std::string client = encode_client(client_config_of(sample_cluster()));
  for (std::size_t length = 0; length < client.size(); length++) {
    EXPECT_FALSE(decode_client(client.substr(0, length)).ok()) << length;
  }
}

TEST(ConfigFiles, EverySingleBitFlipIsRefused) {
  // The checksum is what catches flips that leave a well-formed file (a hex digit in a key,
  // a digit of a port); the others fail to decode or name a missing field.
  const std::string cluster = encode_cluster(sample_cluster());
  const std::string client = encode_client(client_config_of(sample_cluster()));
  for (const auto& [file, is_cluster] : {std::pair{cluster, true}, std::pair{client, false}}) {
    for (std::size_t offset = 0; offset < file.size(); offset++) {
      for (int bit = 0; bit < 8; bit++) {
        std::string flipped = file;
        flipped[offset] = static_cast<char>(flipped[offset] ^ (1 << bit));
        const bool ok = is_cluster ? decode_cluster(flipped).ok() : decode_client(flipped).ok();
        EXPECT_FALSE(ok) << (is_cluster ? "cluster" : "client") << " byte " << offset << " bit "
                         << bit;
      }
    }
  }
}

TEST(ConfigFiles, ChecksumMismatchSaysCorrupted) {
  std::string file = encode_cluster(sample_cluster());
  const std::size_t key = file.find("replica_key,64:") + 15;
  file[key] = file[key] == 'a' ? 'b' : 'a';
  auto decoded = decode_cluster(file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error(), HasSubstr("checksum mismatch: the file is corrupted"));
}

TEST(ConfigFiles, UnsupportedFormatVersionIsNamed) {
  const std::string good = encode_cluster(sample_cluster());
  auto decoded = decode_cluster(seal("vsr-cluster", body_of(good), 2));
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error(), HasSubstr("format_version 2 is not supported"));
}

struct FieldCase {
  std::vector<std::string> path;
  std::string wrong_type;  // an encoded value of another type
  std::string expected;    // fragment of the message
};

std::vector<FieldCase> cluster_body_fields() {
  return {
      {{"cluster_id"}, "1:1#", "cluster config: field 'cluster_id' must be bytes"},
      {{"config_version"}, "1:1,", "cluster config: field 'config_version' must be an integer"},
      {{"nodes"}, "0:}", "cluster config: field 'nodes' must be a list"},
      {{"replica_key"}, "0:]", "cluster config: field 'replica_key' must be bytes"},
      {{"client_key"}, "4:true!", "cluster config: field 'client_key' must be bytes"},
      {{"tuning"}, "0:]", "cluster config: field 'tuning' must be a dict"},
      {{"timeouts"}, "0:~", "cluster config: field 'timeouts' must be a dict"},
      {{"tuning", "max_batch_size"}, "2:64,", "tuning: field 'max_batch_size' must be an integer"},
      {{"tuning", "max_batch_delay_ms"}, "3:1.5^", "tuning: field 'max_batch_delay_ms' must be"},
      {{"tuning", "max_pipeline_depth"}, "0:]", "tuning: field 'max_pipeline_depth' must be"},
      {{"tuning", "checkpoint_interval"}, "0:~", "tuning: field 'checkpoint_interval' must be"},
      {{"timeouts", "heartbeat_ms"}, "1:1,", "timeouts: field 'heartbeat_ms' must be"},
      {{"timeouts", "view_change_timeout_ms"}, "1:1,", "field 'view_change_timeout_ms' must be"},
      {{"timeouts", "request_timeout_ms"}, "0:}", "timeouts: field 'request_timeout_ms' must be"},
      {{"connections", "handshake_timeout_ms"}, "1:1,", "connections: field 'handshake_timeout"},
      {{"connections", "descriptor_reserve"}, "0:]", "connections: field 'descriptor_reserve'"},
      {{"nodes", "1"}, "2:n1,", "nodes[1] is a byte string, not a dict"},
      {{"nodes", "0", "name"}, "1:1#", "nodes[0]: field 'name' must be bytes"},
      {{"nodes", "1", "host"}, "0:]", "nodes[1]: field 'host' must be bytes"},
      {{"nodes", "2", "port"}, "4:9002,", "nodes[2]: field 'port' must be an integer"},
  };
}

TEST(ConfigFiles, EveryClusterFieldOfTheWrongTypeIsNamed) {
  const std::string good = encode_cluster(sample_cluster());
  for (const FieldCase& c : cluster_body_fields()) {
    auto decoded =
        decode_cluster(reseal_changed_body(good, "vsr-cluster", c.path, Op::replace, c.wrong_type));
    ASSERT_FALSE(decoded.ok()) << c.path.back();
    EXPECT_THAT(decoded.error(), HasSubstr(c.expected));
  }
}

TEST(ConfigFiles, EveryMissingClusterFieldIsNamed) {
  const std::string good = encode_cluster(sample_cluster());
  for (const FieldCase& c : cluster_body_fields()) {
    if (c.path.size() == 2 && c.path[0] == "nodes") continue;  // removing an item is valid
    auto decoded = decode_cluster(reseal_changed_body(good, "vsr-cluster", c.path, Op::remove));
    ASSERT_FALSE(decoded.ok()) << c.path.back();
    EXPECT_THAT(decoded.error(), HasSubstr("field '" + c.path.back() + "' is missing"));
  }
}

TEST(ConfigFiles, UnknownFieldsAreRefusedAtEveryLevel) {
  const std::string good = encode_cluster(sample_cluster());
  for (const auto& [path, what] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"cluster_id"}, "cluster config: unknown field 'extra'"},
           {{"tuning", "max_batch_size"}, "tuning: unknown field 'extra'"},
           {{"timeouts", "heartbeat_ms"}, "timeouts: unknown field 'extra'"},
           {{"connections", "handshake_timeout_ms"}, "connections: unknown field 'extra'"},
           {{"nodes", "0", "port"}, "nodes[0]: unknown field 'extra'"}}) {
    auto decoded =
        decode_cluster(reseal_changed_body(good, "vsr-cluster", path, Op::add_sibling, "1:1#"));
    ASSERT_FALSE(decoded.ok()) << path.back();
    EXPECT_THAT(decoded.error(), HasSubstr(what));
  }
  auto top = decode_cluster(changed(good, {"format"}, Op::add_sibling, "1:1#"));
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(top.error(), HasSubstr("top level: unknown field 'extra'"));
}

TEST(ConfigFiles, EnvelopeFieldsOfTheWrongTypeOrMissingAreNamed) {
  const std::string good = encode_cluster(sample_cluster());
  for (const auto& [field, wrong] : std::vector<std::pair<std::string, std::string>>{
           {"format", "1:1#"}, {"format_version", "1:1,"}, {"body", "0:]"}, {"checksum", "0:~"}}) {
    auto wrong_type = decode_cluster(changed(good, {field}, Op::replace, wrong));
    ASSERT_FALSE(wrong_type.ok()) << field;
    EXPECT_THAT(wrong_type.error(), HasSubstr("top level: field '" + field + "' must be"));
    auto missing = decode_cluster(changed(good, {field}, Op::remove));
    ASSERT_FALSE(missing.ok()) << field;
    EXPECT_THAT(missing.error(), HasSubstr("top level: field '" + field + "' is missing"));
  }
}

TEST(ConfigFiles, ClientFieldsOfTheWrongTypeOrMissingAreNamed) {
  const std::string good = encode_client(client_config_of(sample_cluster()));
  for (const auto& [field, wrong] :
       std::vector<std::pair<std::string, std::string>>{{"cluster_id", "1:1#"},
                                                        {"config_version", "1:1,"},
                                                        {"nodes", "0:}"},
                                                        {"client_key", "0:]"},
                                                        {"request_timeout_ms", "1:1,"}}) {
    auto wrong_type =
        decode_client(reseal_changed_body(good, "vsr-client", {field}, Op::replace, wrong));
    ASSERT_FALSE(wrong_type.ok()) << field;
    EXPECT_THAT(wrong_type.error(), HasSubstr("client config: field '" + field + "' must be"));
    auto missing = decode_client(reseal_changed_body(good, "vsr-client", {field}, Op::remove));
    ASSERT_FALSE(missing.ok()) << field;
    EXPECT_THAT(missing.error(), HasSubstr("client config: field '" + field + "' is missing"));
  }
}

std::string node_dict(std::string_view name, std::string_view host, std::int64_t port) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("name");
  e.bytes(name);
  e.key("host");
  e.bytes(host);
  e.key("port");
  e.integer(port);
  e.end_dict();
  return out;
}

TEST(ConfigFiles, ValuesOutOfRangeInAFileAreNamed) {
  const std::string good = encode_cluster(sample_cluster());
  const std::vector<FieldCase> cases = {
      {{"cluster_id"}, "4:abcd,", "field 'cluster_id' must be 32 lowercase hex digits"},
      {{"cluster_id"}, "32:" + std::string(32, 'A') + ",", "'cluster_id' must be 32 lowercase"},
      {{"replica_key"}, "64:" + std::string(64, 'g') + ",", "'replica_key' must be 64 lowercase"},
      {{"client_key"}, "2:00,", "'client_key' must be 64 lowercase hex digits"},
      {{"config_version"}, "1:0#", "field 'config_version' must be in [1, "},
      {{"tuning", "max_batch_size"}, "1:0#", "max_batch_size is 0: it must be 1..1024"},
      {{"tuning", "max_pipeline_depth"}, "4:1000#", "max_pipeline_depth is 1000"},
      {{"tuning", "checkpoint_interval"}, "2:-1#", "field 'checkpoint_interval' must be in [0, "},
      {{"tuning", "max_batch_size"},
       "10:4294967296#",
       "'max_batch_size' must be in [0, 4294967295]"},
      {{"timeouts", "view_change_timeout_ms"}, "2:60#", "at least 2 x heartbeat_ms"},
      {{"connections", "handshake_timeout_ms"}, "2:99#", "handshake_timeout_ms is 99"},
      {{"connections", "unauthenticated_connections_max"}, "1:0#", "is 0: it must be 1..65536"},
      {{"connections", "unauthenticated_buffer_mib"}, "4:4097#", "unauthenticated_buffer_mib"},
      {{"connections", "client_connections_max"}, "1:0#", "client_connections_max is 0"},
      {{"connections", "descriptor_reserve"}, "1:8#", "descriptor_reserve is 8"},
      {{"connections", "rejection_log_lines_per_10s"}, "1:0#", "rejection_log_lines_per_10s"},
      {{"connections", "client_idle_timeout_ms"}, "3:999#", "client_idle_timeout_ms is 999"},
      {{"connections"}, "1:1#", "field 'connections' must be a dict"},
      {{"nodes"}, "0:]", "no nodes: a cluster needs at least 1"},
      {{"nodes", "0", "port"}, "1:0#", "nodes[0]: field 'port' must be in [1, 65535], got 0"},
      {{"nodes", "0", "port"}, "5:65536#", "nodes[0]: field 'port' must be in [1, 65535]"},
      {{"nodes", "1", "name"}, "1:a,", "node name 'a' appears more than once"},
      {{"nodes", "1", "name"}, "3:a b,", "node name 'a b' is invalid"},
      {{"nodes", "1", "host"}, "3:a b,", "node 'b': host 'a b' is not a valid hostname"},
      {{"nodes", "1"},
       node_dict("b", "127.0.0.1", 9000),
       "nodes 'a' and 'b' have the same address"},
  };
  for (const FieldCase& c : cases) {
    auto decoded =
        decode_cluster(reseal_changed_body(good, "vsr-cluster", c.path, Op::replace, c.wrong_type));
    ASSERT_FALSE(decoded.ok()) << c.expected;
    EXPECT_THAT(decoded.error(), HasSubstr(c.expected));
  }
}

// An encoded nodes list of `count` nodes on distinct ports.
std::string node_list(std::size_t count) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_list();
  for (std::size_t i = 0; i < count; i++) {
    e.raw(node_dict(fmt::format("n{}", i), "127.0.0.1", static_cast<std::int64_t>(9000 + i)));
  }
  e.end_list();
  return out;
}

// Issue 12, finding 1: a hand-edited file (valid checksum) with more nodes than the replicas
// run is refused with the limit in the message, never handed to a replica that would abort;
// 64 nodes (the limit of earlier versions) is refused the same way, not as a decoder error.
TEST(ConfigFiles, MoreNodesThanTheReplicasRunAreRefusedByName) {
  const std::string cluster = encode_cluster(sample_cluster());
  for (std::size_t count : {std::size_t{17}, std::size_t{64}}) {
    auto decoded = decode_cluster(
        reseal_changed_body(cluster, "vsr-cluster", {"nodes"}, Op::replace, node_list(count)));
    ASSERT_FALSE(decoded.ok()) << count;
    EXPECT_THAT(decoded.error(),
                HasSubstr(std::to_string(count) + " nodes is too many: a cluster has at most 16"));
  }
  auto sixteen = decode_cluster(
      reseal_changed_body(cluster, "vsr-cluster", {"nodes"}, Op::replace, node_list(16)));
  ASSERT_TRUE(sixteen.ok()) << sixteen.error();
  EXPECT_EQ(sixteen->nodes.size(), 16u);

  const std::string client = encode_client(client_config_of(sample_cluster()));
  auto decoded = decode_client(
      reseal_changed_body(client, "vsr-client", {"nodes"}, Op::replace, node_list(17)));
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error(), HasSubstr("17 nodes is too many: a cluster has at most 16"));
}

// ---------------------------------------------------------------------------------------
// init_cluster.

std::string read_bytes(const std::filesystem::path& path) {
  return *io::read_file(path, limits::config_file_size_max);
}

InitRequest default_request() {
  InitRequest request;
  request.nodes = *parse_node_list(default_node_list);
  return request;
}

TEST(ConfigInit, WritesBothFilesThatLoad) {
  TempDir dir;
  auto outcome = init_cluster(dir / "new" / ".vsr", default_request());
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_FALSE(outcome->replaced);
  auto cluster = load_cluster(outcome->paths.cluster_file());
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  EXPECT_EQ(*cluster, outcome->cluster);
  auto client = load_client(outcome->paths.client_file());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(*client, client_config_of(*cluster));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "new" / ".vsr").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(ConfigInit, RefusesToOverwriteWithoutForceAndChangesNothing) {
  TempDir dir;
  ASSERT_TRUE(init_cluster(dir.path(), default_request()).ok());
  const ClusterPaths paths{dir.path()};
  const std::string cluster_before = read_bytes(paths.cluster_file());
  const std::string client_before = read_bytes(paths.client_file());
  auto again = init_cluster(dir.path(), default_request());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::exists);
  EXPECT_THAT(again.error().message, HasSubstr(paths.cluster_file().string() + " already exists"));
  EXPECT_THAT(again.error().message, HasSubstr("--force"));
  EXPECT_EQ(read_bytes(paths.cluster_file()), cluster_before);
  EXPECT_EQ(read_bytes(paths.client_file()), client_before);
}

TEST(ConfigInit, ClientFileAloneAlsoBlocks) {
  TempDir dir;
  write_raw(dir / "client.tnet", "x");
  auto outcome = init_cluster(dir.path(), default_request());
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().kind, ErrorKind::exists);
  EXPECT_FALSE(std::filesystem::exists(dir / "cluster.tnet"));
}

TEST(ConfigInit, ForceReplacesWithNewIdAndKeys) {
  TempDir dir;
  auto first = init_cluster(dir.path(), default_request());
  ASSERT_TRUE(first.ok());
  InitRequest request = default_request();
  request.force = true;
  auto second = init_cluster(dir.path(), request);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->replaced);
  EXPECT_NE(second->cluster.cluster_id, first->cluster.cluster_id);
  EXPECT_NE(second->cluster.replica_key, first->cluster.replica_key);
  EXPECT_NE(second->cluster.client_key, first->cluster.client_key);
  EXPECT_EQ(*load_cluster(dir / "cluster.tnet"), second->cluster);
}

TEST(ConfigInit, InvalidRequestWritesNothing) {
  TempDir dir;
  InitRequest request = default_request();
  request.tuning.max_batch_size = 0;
  auto outcome = init_cluster(dir / "c", request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().kind, ErrorKind::invalid);
  EXPECT_FALSE(std::filesystem::exists(dir / "c"));
}

TEST(ConfigInit, UnusableDirectoryIsAnEnvironmentError) {
  TempDir dir;
  write_raw(dir / "file", "x");
  auto outcome = init_cluster(dir / "file" / ".vsr", default_request());
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().kind, ErrorKind::environment);
  EXPECT_THAT(outcome.error().message, HasSubstr((dir / "file").string()));
}

TEST(ConfigInit, ReportsLeftoverNodeData) {
  TempDir dir;
  std::filesystem::create_directories(dir / "nodes" / "n0");
  auto outcome = init_cluster(dir.path(), default_request());
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->node_data_present);
  EXPECT_TRUE(std::filesystem::exists(dir / "nodes" / "n0"));  // never touched
}

}  // namespace
}  // namespace vsr::config
