// Encodings of the durable metadata and checkpoints (tnetstring dicts). The file storage
// adds its own framing, checksums and redundant copies around these bytes
// (docs/vsr/protocol.md, "Durable state").

#include "vsr/core/effects.hpp"

#include <fmt/format.h>

#include <limits>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::core {

namespace {

constexpr std::int64_t max_number = std::numeric_limits<std::int64_t>::max();

std::int64_t wire(std::uint64_t v) {
  VSR_ASSERT(v <= static_cast<std::uint64_t>(max_number));
  return static_cast<std::int64_t>(v);
}

std::uint64_t number(tnet::FieldReader& r, std::string_view key) {
  return static_cast<std::uint64_t>(r.integer_in(key, 0, max_number));
}

}  // namespace

std::string encode_metadata(std::uint64_t cluster_id, const Metadata& m) {
  // The view headers are encoded as a StartView message body so one header codec serves
  // both; only the "headers" list of it is read back.
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("cluster");
  e.integer(wire(cluster_id));
  e.key("view");
  e.integer(wire(m.view.value));
  e.key("log_view");
  e.integer(wire(m.log_view.value));
  e.key("commit");
  e.integer(wire(m.commit.value));
  e.key("checkpoint_op");
  e.integer(wire(m.checkpoint_op.value));
  e.key("checkpoint_checksum");
  e.bytes(m.checkpoint_checksum.bytes());
  e.key("voted_view");
  e.integer(wire(m.voted_view.value));
  if (m.rejoin_floor.value != 0) {
    e.key("rejoin_floor");
    e.integer(wire(m.rejoin_floor.value));
  }
  e.key("view_headers");
  Headers carrier{View{0}, ReplicaIndex{0}, m.view_headers};
  std::string headers = encode(cluster_id, Message{carrier});
  e.raw(headers);
  e.end_dict();
  return out;
}

Result<Metadata, std::string> decode_metadata(std::string_view bytes, std::uint64_t cluster_id) {
  auto value = tnet::decode(bytes);
  if (!value) return fail("metadata: " + value.error().message());
  tnet::FieldReader r(*value, "metadata");
  Metadata m;
  std::uint64_t cluster = number(r, "cluster");
  m.view = View{number(r, "view")};
  m.log_view = View{number(r, "log_view")};
  m.commit = Op{number(r, "commit")};
  m.checkpoint_op = Op{number(r, "checkpoint_op")};
  std::string_view checksum = r.bytes("checkpoint_checksum");
  m.voted_view = View{number(r, "voted_view")};
  // Absent in metadata written by a replica that never rejoined with a floor.
  if (r.optional("rejoin_floor")) m.rejoin_floor = View{number(r, "rejoin_floor")};
  tnet::Value headers = r.dict("view_headers");
  if (!r.ok()) return fail(r.error());
  if (cluster != cluster_id) return fail(std::string("metadata: another cluster"));
  if (m.log_view > m.view) return fail(std::string("metadata: log_view above view"));
  if (m.rejoin_floor > m.view) return fail(std::string("metadata: rejoin_floor above view"));
  if (!Checksum::from_bytes(checksum, m.checkpoint_checksum)) {
    return fail(std::string("metadata: bad checkpoint checksum"));
  }
  DecodeLimits limits;
  limits.cluster_id = cluster_id;
  limits.max_headers = 1024;
  auto carrier = decode(headers.encoded(), limits);
  if (!carrier || !std::holds_alternative<Headers>(*carrier)) {
    return fail("metadata: bad view headers: " + (carrier ? std::string("kind") : carrier.error()));
  }
  m.view_headers = std::get<Headers>(*carrier).headers;
  return m;
}

std::string encode_checkpoint(std::uint64_t cluster_id, const Checkpoint& c) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("cluster");
  e.integer(wire(cluster_id));
  e.key("op");
  e.integer(wire(c.op.value));
  e.key("checksum");
  e.bytes(c.checksum.bytes());
  e.key("timestamp_ms");
  e.integer(wire(c.timestamp_ms));
  e.key("app");
  e.bytes(c.app_snapshot);
  e.key("client_table");
  e.bytes(c.client_table);
  e.end_dict();
  return out;
}

Result<Checkpoint, std::string> decode_checkpoint(std::string_view bytes,
                                                  std::uint64_t cluster_id) {
  tnet::Limits limits;
  limits.max_size = std::size_t{1} << 31;
  auto value = tnet::decode(bytes, limits);
  if (!value) return fail("checkpoint: " + value.error().message());
  tnet::FieldReader r(*value, "checkpoint");
  Checkpoint c;
  std::uint64_t cluster = number(r, "cluster");
  c.op = Op{number(r, "op")};
  std::string_view checksum = r.bytes("checksum");
  // Absent in checkpoints written before it was recorded: 0, no floor.
  if (r.optional("timestamp_ms")) c.timestamp_ms = number(r, "timestamp_ms");
  c.app_snapshot = std::string(r.bytes("app"));
  c.client_table = std::string(r.bytes("client_table"));
  if (!r.ok()) return fail(r.error());
  if (cluster != cluster_id) return fail(std::string("checkpoint: another cluster"));
  if (!Checksum::from_bytes(checksum, c.checksum)) {
    return fail(std::string("checkpoint: bad checksum"));
  }
  return c;
}

std::optional<std::uint64_t> write_id_of(const Effect& effect) {
  return std::visit(
      [](const auto& e) -> std::optional<std::uint64_t> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, SendToReplica> || std::is_same_v<T, SendToClient>) {
          return std::nullopt;
        } else {
          return e.write_id;
        }
      },
      effect);
}

}  // namespace vsr::core
