// Encoding of the runtime's status messages (grammar in status.hpp).

#include "vsr/node/status.hpp"

#include <limits>

#include <fmt/format.h>

#include "vsr/codec/tnetstring.hpp"
#include "vsr/core/message.hpp"

namespace vsr::node {
namespace {

constexpr std::size_t status_bytes_max = 4096;

std::int64_t wire(std::uint64_t v) {
  return static_cast<std::int64_t>(v);
}

std::uint64_t unwire(std::int64_t v) {
  return static_cast<std::uint64_t>(v);
}

void begin(tnet::Encoder& e, std::uint64_t cluster_id, std::string_view kind, std::uint64_t nonce) {
  e.begin_dict();
  e.key("cluster");
  e.integer(wire(cluster_id));
  e.key("version");
  e.integer(core::protocol_version);
  e.key("kind");
  e.bytes(kind);
  e.key("nonce");
  e.integer(wire(nonce));
}

// Checks the common fields; returns the nonce.
Result<std::uint64_t, std::string> check_common(tnet::FieldReader& r, std::string_view kind,
                                                std::uint64_t cluster_id) {
  const std::int64_t cluster = r.integer("cluster");
  const std::int64_t version = r.integer("version");
  const std::string_view k = r.bytes("kind");
  const std::int64_t nonce = r.integer("nonce");
  if (!r.ok()) return fail(r.error());
  if (k != kind) return fail(std::string(kind) + ": wrong kind");
  if (unwire(cluster) != cluster_id) return fail(std::string(kind) + ": another cluster's id");
  if (version != core::protocol_version) {
    return fail(fmt::format("{}: protocol version {}, but this build speaks version {}", kind,
                            version, core::protocol_version));
  }
  return unwire(nonce);
}

tnet::Limits limits() {
  tnet::Limits l;
  l.max_size = status_bytes_max;
  l.max_depth = 2;
  l.max_elements = 64;
  return l;
}

}  // namespace

std::string_view runtime_kind(std::string_view message) {
  if (message.size() > status_bytes_max) return {};
  auto value = tnet::decode(message, limits());
  if (!value || !value->is_dict()) return {};
  auto kind = value->find("kind");
  if (!kind || !kind->is_bytes()) return {};
  const std::string_view k = kind->bytes();
  if (k == "status_request" || k == "status_reply" || k == "hello" || k == "ping" || k == "pong") {
    return k;
  }
  return {};
}

std::string encode_status_request(std::uint64_t cluster_id, std::uint64_t nonce) {
  std::string out;
  tnet::Encoder e(out);
  begin(e, cluster_id, "status_request", nonce);
  e.end_dict();
  return out;
}

Result<std::uint64_t, std::string> decode_status_request(std::string_view message,
                                                         std::uint64_t cluster_id) {
  auto value = tnet::decode(message, limits());
  if (!value) return fail("status_request: " + value.error().message());
  tnet::FieldReader r(*value, "status_request");
  return check_common(r, "status_request", cluster_id);
}

std::string encode_status_reply(std::uint64_t cluster_id, std::uint64_t nonce,
                                const NodeStatus& s) {
  std::string out;
  tnet::Encoder e(out);
  begin(e, cluster_id, "status_reply", nonce);
  e.key("node");
  e.bytes(s.node);
  e.key("replica");
  e.integer(s.replica);
  e.key("role");
  e.bytes(s.role);
  e.key("status");
  e.bytes(s.status);
  e.key("view");
  e.integer(wire(s.view));
  e.key("op");
  e.integer(wire(s.op));
  e.key("commit");
  e.integer(wire(s.commit));
  e.key("checkpoint_op");
  e.integer(wire(s.checkpoint_op));
  e.key("state_digest");
  e.bytes(s.state_digest);
  e.key("peers_connected");
  e.integer(s.peers_connected);
  e.key("rejected_messages");
  e.integer(wire(s.rejected_messages));
  if (!s.waiting_for.empty()) {
    e.key("waiting_for");
    e.bytes(s.waiting_for);
  }
  e.end_dict();
  return out;
}

Result<StatusReply, std::string> decode_status_reply(std::string_view message,
                                                     std::uint64_t cluster_id) {
  auto value = tnet::decode(message, limits());
  if (!value) return fail("status_reply: " + value.error().message());
  tnet::FieldReader r(*value, "status_reply");
  auto nonce = check_common(r, "status_reply", cluster_id);
  if (!nonce) return fail(nonce.error());
  StatusReply out;
  out.nonce = *nonce;
  NodeStatus& s = out.status;
  constexpr std::int64_t u32_max = std::numeric_limits<std::uint32_t>::max();
  constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
  s.node = std::string(r.bytes("node"));
  s.replica = static_cast<std::uint32_t>(r.integer_in("replica", 0, u32_max));
  s.role = std::string(r.bytes("role"));
  s.status = std::string(r.bytes("status"));
  s.view = unwire(r.integer_in("view", 0, i64_max));
  s.op = unwire(r.integer_in("op", 0, i64_max));
  s.commit = unwire(r.integer_in("commit", 0, i64_max));
  s.checkpoint_op = unwire(r.integer_in("checkpoint_op", 0, i64_max));
  s.state_digest = std::string(r.bytes("state_digest"));
  s.peers_connected = static_cast<std::uint32_t>(r.integer_in("peers_connected", 0, u32_max));
  s.rejected_messages = unwire(r.integer_in("rejected_messages", 0, i64_max));
  if (r.optional("waiting_for")) s.waiting_for = std::string(r.bytes("waiting_for"));
  if (!r.ok()) return fail(r.error());
  return out;
}

std::string encode_hello(std::uint64_t cluster_id, const Hello& hello) {
  std::string out;
  tnet::Encoder e(out);
  begin(e, cluster_id, "hello", hello.replica);
  e.key("apps");
  e.bytes(hello.apps);
  e.end_dict();
  return out;
}

Result<Hello, std::string> decode_hello(std::string_view message, std::uint64_t cluster_id) {
  auto value = tnet::decode(message, limits());
  if (!value) return fail("hello: " + value.error().message());
  tnet::FieldReader r(*value, "hello");
  auto replica = check_common(r, "hello", cluster_id);
  if (!replica) return fail(replica.error());
  Hello out;
  out.apps = std::string(r.bytes("apps"));
  if (!r.ok()) return fail(r.error());
  if (*replica > std::numeric_limits<std::uint32_t>::max()) return fail("hello: bad replica");
  out.replica = static_cast<std::uint32_t>(*replica);
  return out;
}

namespace {

std::string encode_bare(std::uint64_t cluster_id, std::string_view kind, std::uint64_t nonce) {
  std::string out;
  tnet::Encoder e(out);
  begin(e, cluster_id, kind, nonce);
  e.end_dict();
  return out;
}

Result<std::uint64_t, std::string> decode_bare(std::string_view message, std::string_view kind,
                                               std::uint64_t cluster_id) {
  if (message.size() > ping_bytes_max) return fail(std::string(kind) + ": too long");
  auto value = tnet::decode(message, limits());
  if (!value) return fail(std::string(kind) + ": " + value.error().message());
  tnet::FieldReader r(*value, kind);
  return check_common(r, kind, cluster_id);
}

}  // namespace

std::string encode_ping(std::uint64_t cluster_id, std::uint64_t nonce) {
  return encode_bare(cluster_id, "ping", nonce);
}

std::string encode_pong(std::uint64_t cluster_id, std::uint64_t nonce) {
  return encode_bare(cluster_id, "pong", nonce);
}

Result<std::uint64_t, std::string> decode_ping(std::string_view message, std::uint64_t cluster_id) {
  return decode_bare(message, "ping", cluster_id);
}

Result<std::uint64_t, std::string> decode_pong(std::string_view message, std::uint64_t cluster_id) {
  return decode_bare(message, "pong", cluster_id);
}

}  // namespace vsr::node
