// Message encoding and validation. Each message is one tnetstring dict; the common fields
// (cluster, version, kind, view, replica) come first. Decoding reads every field through
// FieldReader and then checks ranges and checksums, so a malformed message is a reason
// string and never an assertion (style.md: bad input is a validation result).

#include "vsr/core/message.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <array>
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::core {

namespace {

constexpr std::int64_t max_number = std::numeric_limits<std::int64_t>::max();

std::int64_t as_wire(std::uint64_t value) {
  VSR_ASSERT_MSG(value <= static_cast<std::uint64_t>(max_number), "number exceeds int64 range");
  return static_cast<std::int64_t>(value);
}

void put_u64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint64_t get_u64(const char* in) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) {
    value = (value << 8) | static_cast<std::uint8_t>(in[i]);
  }
  return value;
}

// --- encoding helpers -------------------------------------------------------------------

void common(tnet::Encoder& e, std::uint64_t cluster_id, const char* kind) {
  e.key("cluster");
  e.integer(as_wire(cluster_id));
  e.key("version");
  e.integer(protocol_version);
  e.key("kind");
  e.bytes(kind);
}

void field(tnet::Encoder& e, const char* key, std::uint64_t value) {
  e.key(key);
  e.integer(as_wire(value));
}

void field(tnet::Encoder& e, const char* key, const Checksum& value) {
  e.key(key);
  e.bytes(value.bytes());
}

void field(tnet::Encoder& e, const char* key, std::string_view value) {
  e.key(key);
  e.bytes(value);
}

void header_list(tnet::Encoder& e, const PrepareHeader& h) {
  e.begin_list();
  e.integer(as_wire(h.view.value));
  e.integer(as_wire(h.op.value));
  e.integer(as_wire(h.commit.value));
  e.integer(as_wire(h.timestamp_ms));
  e.bytes(h.parent.bytes());
  e.bytes(h.body_checksum.bytes());
  e.bytes(h.checksum.bytes());
  e.end_list();
}

void batch_list(tnet::Encoder& e, const std::vector<BatchRequest>& batch) {
  e.begin_list();
  for (const BatchRequest& r : batch) {
    e.begin_list();
    e.bytes(r.client_id);
    e.integer(as_wire(r.request_no.value));
    e.bytes(r.operation);
    e.integer(as_wire(r.session.value));
    e.end_list();
  }
  e.end_list();
}

struct EncodeVisitor {
  tnet::Encoder& e;
  std::uint64_t cluster;

  void operator()(const Request& m) {
    common(e, cluster, "request");
    field(e, "view", m.view.value);
    field(e, "client", m.client_id);
    field(e, "request_no", m.request_no.value);
    field(e, "operation", m.operation);
    field(e, "session", m.session.value);
  }
  void operator()(const Reply& m) {
    (*this)(ReplyFields{m.view, m.replica, m.client_id, m.request_no, m.op, m.status, m.result});
  }
  void operator()(const ReplyFields& m) {
    common(e, cluster, "reply");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "client", m.client_id);
    field(e, "request_no", m.request_no.value);
    field(e, "op", m.op.value);
    field(e, "status", std::string_view(to_string(m.status)));
    field(e, "result", m.result);
  }
  void operator()(const Prepare& m) {
    common(e, cluster, "prepare");
    field(e, "view", m.header.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.header.op.value);
    field(e, "commit", m.header.commit.value);
    field(e, "timestamp", m.header.timestamp_ms);
    field(e, "parent", m.header.parent);
    field(e, "body_checksum", m.header.body_checksum);
    field(e, "checksum", m.header.checksum);
    e.key("batch");
    batch_list(e, m.batch);
  }
  void operator()(const PrepareOk& m) {
    common(e, cluster, "prepare_ok");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.op.value);
    field(e, "checksum", m.checksum);
  }
  void operator()(const Commit& m) {
    common(e, cluster, "commit");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "commit", m.commit.value);
    field(e, "checksum", m.checksum);
  }
  void operator()(const StartViewChange& m) {
    common(e, cluster, "start_view_change");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "voted_view", m.voted_view.value);
  }
  void operator()(const DoViewChange& m) {
    common(e, cluster, "do_view_change");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "log_view", m.log_view.value);
    field(e, "op", m.op.value);
    field(e, "commit", m.commit.value);
    e.key("entries");
    e.begin_list();
    for (const DvcEntry& entry : m.entries) {
      e.begin_list();
      e.integer(as_wire(entry.op.value));
      e.bytes(to_string(entry.state));
      if (entry.header) {
        header_list(e, *entry.header);
      } else {
        e.null();
      }
      if (entry.checksum) {
        e.bytes(entry.checksum->bytes());
      } else {
        e.null();
      }
      e.end_list();
    }
    e.end_list();
  }
  void operator()(const StartView& m) {
    common(e, cluster, "start_view");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.op.value);
    field(e, "commit", m.commit.value);
    e.key("headers");
    e.begin_list();
    for (const PrepareHeader& h : m.headers) header_list(e, h);
    e.end_list();
    field(e, "nonce", m.nonce);
  }
  void operator()(const RequestStartView& m) {
    common(e, cluster, "request_start_view");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "nonce", m.nonce);
  }
  void operator()(const RequestHeaders& m) {
    common(e, cluster, "request_headers");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op_min", m.op_min.value);
    field(e, "op_max", m.op_max.value);
  }
  void operator()(const Headers& m) {
    common(e, cluster, "headers");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    e.key("headers");
    e.begin_list();
    for (const PrepareHeader& h : m.headers) header_list(e, h);
    e.end_list();
  }
  void operator()(const RequestCheckpoint& m) {
    common(e, cluster, "request_checkpoint");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.op.value);
  }
  void operator()(const SyncCheckpoint& m) {
    common(e, cluster, "sync_checkpoint");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.op.value);
    field(e, "checksum", m.checksum);
    field(e, "checkpoint", m.checkpoint);
  }
  void operator()(const RequestPrepare& m) {
    common(e, cluster, "request_prepare");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "op", m.op.value);
    field(e, "checksum", m.checksum);
  }
  void operator()(const Recovery& m) {
    common(e, cluster, "recovery");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "nonce", m.nonce);
  }
  void operator()(const RecoveryResponse& m) {
    common(e, cluster, "recovery_response");
    field(e, "view", m.view.value);
    field(e, "replica", m.replica.value);
    field(e, "voted_view", m.voted_view.value);
    field(e, "op", m.op.value);
    field(e, "commit", m.commit.value);
    e.key("pristine");
    e.boolean(m.pristine);
    e.key("asking");
    e.boolean(m.asking);
    field(e, "nonce", m.nonce);
  }
};

// --- decoding helpers -------------------------------------------------------------------

/// Collects the first validation problem while fields are read.
class Reader {
 public:
  Reader(tnet::Value value, std::string_view what, const DecodeLimits& limits)
      : fields_(value, what), what_(what), limits_(limits) {}

  std::uint64_t number(std::string_view key) {
    return static_cast<std::uint64_t>(fields_.integer_in(key, 0, max_number));
  }
  View view() { return View{number("view")}; }
  ReplicaIndex replica() {
    std::int64_t r = fields_.integer_in("replica", 0, limits_.replica_count - 1);
    return ReplicaIndex{static_cast<std::uint32_t>(r)};
  }
  Op op(std::string_view key) { return Op{number(key)}; }
  std::string_view bytes(std::string_view key) { return fields_.bytes(key); }
  Checksum checksum(std::string_view key) {
    Checksum c;
    std::string_view raw = fields_.bytes(key);
    if (fields_.ok() && !Checksum::from_bytes(raw, c))
      problem(fmt::format("field '{}' must be 16 bytes", key));
    return c;
  }
  tnet::Value list(std::string_view key) { return fields_.list(key); }
  bool boolean(std::string_view key) { return fields_.boolean(key); }

  void problem(std::string why) {
    if (error_.empty()) error_ = fmt::format("{}: {}", what_, why);
  }
  bool ok() const { return fields_.ok() && error_.empty(); }
  std::string error() const { return fields_.ok() ? error_ : fields_.error(); }

 private:
  tnet::FieldReader fields_;
  std::string what_;
  const DecodeLimits& limits_;
  std::string error_;
};

bool read_u64(const tnet::Value& v, std::uint64_t& out) {
  if (!v.is_integer() || v.integer() < 0) return false;
  out = static_cast<std::uint64_t>(v.integer());
  return true;
}

bool read_checksum(const tnet::Value& v, Checksum& out) {
  return v.is_bytes() && Checksum::from_bytes(v.bytes(), out);
}

/// Parses a header list [view, op, commit, timestamp, parent, body_checksum, checksum] and
/// verifies its checksum.
bool read_header(const tnet::Value& v, std::uint64_t cluster, PrepareHeader& h, std::string& why) {
  if (!v.is_list() || v.size() != 7) {
    why = "header must be a list of 7";
    return false;
  }
  std::array<tnet::Value, 7> f;
  std::size_t i = 0;
  for (tnet::Value item : v.items()) f[i++] = item;
  if (!read_u64(f[0], h.view.value) || !read_u64(f[1], h.op.value) ||
      !read_u64(f[2], h.commit.value) || !read_u64(f[3], h.timestamp_ms) ||
      !read_checksum(f[4], h.parent) || !read_checksum(f[5], h.body_checksum) ||
      !read_checksum(f[6], h.checksum)) {
    why = "header has a malformed field";
    return false;
  }
  if (h.checksum != h.compute_checksum(cluster)) {
    why = "header checksum mismatch";
    return false;
  }
  if (h.op.value > 0 && h.commit >= h.op) {
    why = "header commit must be below its op";
    return false;
  }
  return true;
}

bool read_headers(const tnet::Value& list, const DecodeLimits& limits,
                  std::vector<PrepareHeader>& out, std::string& why) {
  if (list.size() > limits.max_headers) {
    why = "too many headers";
    return false;
  }
  for (tnet::Value item : list.items()) {
    PrepareHeader h;
    if (!read_header(item, limits.cluster_id, h, why)) return false;
    out.push_back(h);
  }
  return true;
}

bool valid_client_id(std::string_view id) {
  return !id.empty() && id.size() <= Options::max_client_id_bytes;
}

Result<Message, std::string> decode_request(Reader& r, const DecodeLimits& limits) {
  Request m;
  m.view = r.view();
  m.client_id = std::string(r.bytes("client"));
  m.request_no = RequestNo{r.number("request_no")};
  m.operation = std::string(r.bytes("operation"));
  m.session = r.op("session");
  if (r.ok() && !valid_client_id(m.client_id)) r.problem("client id must be 1..64 bytes");
  if (r.ok() && m.operation.size() > limits.max_operation_bytes) r.problem("operation too large");
  if (r.ok() && m.request_no.value == 0 && !m.operation.empty()) {
    r.problem("a registration (request_no 0) carries no operation");
  }
  if (r.ok() && (m.request_no.value == 0) != (m.session.value == 0)) {
    r.problem("a registration names no session, and every other request names one");
  }
  if (!r.ok()) return fail(r.error());
  return Message{std::move(m)};
}

Result<Message, std::string> decode_reply(Reader& r) {
  Reply m;
  m.view = r.view();
  m.replica = r.replica();
  m.client_id = std::string(r.bytes("client"));
  m.request_no = RequestNo{r.number("request_no")};
  m.op = r.op("op");
  std::string_view status = r.bytes("status");
  m.result = std::string(r.bytes("result"));
  if (!r.ok()) return fail(r.error());
  if (status == "ok") {
    m.status = ReplyStatus::ok;
  } else if (status == "stale_request") {
    m.status = ReplyStatus::stale_request;
  } else if (status == "evicted") {
    m.status = ReplyStatus::evicted;
  } else if (status == "request_no_reused") {
    m.status = ReplyStatus::request_no_reused;
  } else if (status == "invalid_request") {
    m.status = ReplyStatus::invalid_request;
  } else {
    return fail(std::string("reply: unknown status"));
  }
  if (!valid_client_id(m.client_id)) return fail(std::string("reply: bad client id"));
  return Message{std::move(m)};
}

Result<Prepare, std::string> decode_prepare_fields(Reader& r, const DecodeLimits& limits) {
  Prepare m;
  m.header.view = r.view();
  m.replica = r.replica();
  m.header.op = r.op("op");
  m.header.commit = r.op("commit");
  m.header.timestamp_ms = r.number("timestamp");
  m.header.parent = r.checksum("parent");
  m.header.body_checksum = r.checksum("body_checksum");
  m.header.checksum = r.checksum("checksum");
  tnet::Value batch = r.list("batch");
  if (!r.ok()) return fail(r.error());
  if (m.header.op.value == 0) return fail(std::string("prepare: op 0 is the root, never sent"));
  if (m.header.commit >= m.header.op) return fail(std::string("prepare: commit must be below op"));
  if (batch.size() > limits.max_batch) return fail(std::string("prepare: batch too large"));
  if (checksum_of(batch.encoded()) != m.header.body_checksum) {
    return fail(std::string("prepare: body checksum mismatch"));
  }
  if (m.header.compute_checksum(limits.cluster_id) != m.header.checksum) {
    return fail(std::string("prepare: checksum mismatch"));
  }
  m.batch.reserve(batch.size());
  for (tnet::Value item : batch.items()) {
    if (!item.is_list() || item.size() != 4) return fail(std::string("prepare: bad request"));
    std::array<tnet::Value, 4> f;
    std::size_t i = 0;
    for (tnet::Value x : item.items()) f[i++] = x;
    BatchRequest req;
    if (!f[0].is_bytes() || !valid_client_id(f[0].bytes()) ||
        !read_u64(f[1], req.request_no.value) || !f[2].is_bytes() ||
        f[2].bytes().size() > limits.max_operation_bytes || !read_u64(f[3], req.session.value) ||
        (req.request_no.value == 0) != (req.session.value == 0)) {
      return fail(std::string("prepare: bad request"));
    }
    req.client_id = std::string(f[0].bytes());
    req.operation = std::string(f[2].bytes());
    m.batch.push_back(std::move(req));
  }
  return m;
}

Result<Message, std::string> decode_dvc(Reader& r, const DecodeLimits& limits) {
  DoViewChange m;
  m.view = r.view();
  m.replica = r.replica();
  m.log_view = View{r.number("log_view")};
  m.op = r.op("op");
  m.commit = r.op("commit");
  tnet::Value entries = r.list("entries");
  if (!r.ok()) return fail(r.error());
  if (m.log_view > m.view) return fail(std::string("do_view_change: log_view above view"));
  if (m.commit > m.op) return fail(std::string("do_view_change: commit above op"));
  if (entries.size() > limits.max_headers)
    return fail(std::string("do_view_change: too many entries"));
  std::uint64_t last = 0;
  bool first = true;
  for (tnet::Value item : entries.items()) {
    if (!item.is_list() || item.size() != 4) return fail(std::string("do_view_change: bad entry"));
    std::array<tnet::Value, 4> f;
    std::size_t i = 0;
    for (tnet::Value x : item.items()) f[i++] = x;
    DvcEntry entry;
    if (!read_u64(f[0], entry.op.value) || !f[1].is_bytes()) {
      return fail(std::string("do_view_change: bad entry"));
    }
    std::string_view state = f[1].bytes();
    if (state == "intact") {
      entry.state = SlotState::intact;
    } else if (state == "missing") {
      entry.state = SlotState::missing;
    } else if (state == "corrupt") {
      entry.state = SlotState::corrupt;
    } else {
      return fail(std::string("do_view_change: bad entry state"));
    }
    if (!f[2].is_null()) {
      PrepareHeader h;
      std::string why;
      if (!read_header(f[2], limits.cluster_id, h, why)) return fail("do_view_change: " + why);
      if (h.op != entry.op) return fail(std::string("do_view_change: header op mismatch"));
      entry.header = h;
    }
    if (!f[3].is_null()) {
      Checksum c;
      if (!read_checksum(f[3], c)) return fail(std::string("do_view_change: bad checksum"));
      entry.checksum = c;
    }
    if (entry.header && entry.checksum && entry.header->checksum != *entry.checksum) {
      return fail(std::string("do_view_change: checksum disagrees with header"));
    }
    if (entry.header && !entry.checksum) entry.checksum = entry.header->checksum;
    if (!entry.checksum && entry.state != SlotState::corrupt) {
      return fail(std::string("do_view_change: only a corrupt entry may lack its checksum"));
    }
    if (entry.state == SlotState::intact && !entry.header) {
      return fail(std::string("do_view_change: an intact entry carries its header"));
    }
    if (entry.op > m.op || (!first && entry.op.value <= last)) {
      return fail(std::string("do_view_change: entries out of order"));
    }
    first = false;
    last = entry.op.value;
    m.entries.push_back(std::move(entry));
  }
  return Message{std::move(m)};
}

Result<Message, std::string> decode_start_view(Reader& r, const DecodeLimits& limits) {
  StartView m;
  m.view = r.view();
  m.replica = r.replica();
  m.op = r.op("op");
  m.commit = r.op("commit");
  tnet::Value list = r.list("headers");
  m.nonce = r.number("nonce");
  if (!r.ok()) return fail(r.error());
  std::string why;
  if (!read_headers(list, limits, m.headers, why)) return fail("start_view: " + why);
  if (m.headers.empty() || m.headers.back().op != m.op) {
    return fail(std::string("start_view: headers must end at op"));
  }
  if (m.commit > m.op) return fail(std::string("start_view: commit above op"));
  for (std::size_t i = 1; i < m.headers.size(); ++i) {
    if (m.headers[i].op != next(m.headers[i - 1].op) ||
        m.headers[i].parent != m.headers[i - 1].checksum) {
      return fail(std::string("start_view: headers do not chain"));
    }
  }
  return Message{std::move(m)};
}

}  // namespace

// --- public -----------------------------------------------------------------------------

std::string Checksum::hex() const {
  return fmt::format("{:016x}{:016x}", high, low);
}

std::string Checksum::bytes() const {
  std::string out(16, '\0');
  std::uint8_t raw[16];
  put_u64(raw, low);
  put_u64(raw + 8, high);
  std::memcpy(out.data(), raw, 16);
  return out;
}

bool Checksum::from_bytes(std::string_view raw, Checksum& out) {
  if (raw.size() != 16) return false;
  out.low = get_u64(raw.data());
  out.high = get_u64(raw.data() + 8);
  return true;
}

Checksum checksum_of(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Checksum{h.low64, h.high64};
}

Prng::Prng(std::uint64_t seed) {
  // splitmix64 expands the seed so that nearby seeds give unrelated streams.
  for (auto& word : s_) {
    seed += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    word = z ^ (z >> 31);
  }
}

std::uint64_t Prng::next() {
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Prng::below(std::uint64_t bound) {
  VSR_ASSERT(bound > 0);
  return next() % bound;
}

bool Prng::chance(std::uint64_t numerator, std::uint64_t denominator) {
  if (numerator == 0) return false;
  return below(denominator) < numerator;
}

Checksum PrepareHeader::compute_checksum(std::uint64_t cluster_id) const {
  std::uint8_t raw[8 * 5 + 16 * 2];
  put_u64(raw, cluster_id);
  put_u64(raw + 8, view.value);
  put_u64(raw + 16, op.value);
  put_u64(raw + 24, commit.value);
  put_u64(raw + 32, timestamp_ms);
  put_u64(raw + 40, parent.low);
  put_u64(raw + 48, parent.high);
  put_u64(raw + 56, body_checksum.low);
  put_u64(raw + 64, body_checksum.high);
  XXH128_hash_t h = XXH3_128bits(raw, sizeof raw);
  return Checksum{h.low64, h.high64};
}

const char* to_string(ReplyStatus status) {
  switch (status) {
    case ReplyStatus::ok:
      return "ok";
    case ReplyStatus::stale_request:
      return "stale_request";
    case ReplyStatus::evicted:
      return "evicted";
    case ReplyStatus::request_no_reused:
      return "request_no_reused";
    case ReplyStatus::invalid_request:
      return "invalid_request";
  }
  return "?";
}

const char* to_string(SlotState state) {
  switch (state) {
    case SlotState::intact:
      return "intact";
    case SlotState::missing:
      return "missing";
    case SlotState::corrupt:
      return "corrupt";
  }
  return "?";
}

const char* message_name(const Message& message) {
  static constexpr const char* names[] = {"request",
                                          "reply",
                                          "prepare",
                                          "prepare_ok",
                                          "commit",
                                          "start_view_change",
                                          "do_view_change",
                                          "start_view",
                                          "request_start_view",
                                          "request_headers",
                                          "headers",
                                          "request_prepare",
                                          "request_checkpoint",
                                          "sync_checkpoint",
                                          "recovery",
                                          "recovery_response"};
  static_assert(std::size(names) == std::variant_size_v<Message>);
  return names[message.index()];
}

void seal_prepare(std::uint64_t cluster_id, Prepare& prepare) {
  std::string body;
  tnet::Encoder e(body);
  batch_list(e, prepare.batch);
  prepare.header.body_checksum = checksum_of(body);
  prepare.header.checksum = prepare.header.compute_checksum(cluster_id);
}

void encode(std::uint64_t cluster_id, const Message& message, std::string& out) {
  tnet::Encoder e(out);
  e.begin_dict();
  std::visit(EncodeVisitor{e, cluster_id}, message);
  e.end_dict();
  VSR_ASSERT(e.complete());
}

std::string encode_reply(std::uint64_t cluster_id, const ReplyFields& reply) {
  std::string out;
  out.reserve(256 + reply.client_id.size() + reply.result.size());
  tnet::Encoder e(out);
  e.begin_dict();
  EncodeVisitor{e, cluster_id}(reply);
  e.end_dict();
  return out;
}

std::string encode(std::uint64_t cluster_id, const Message& message) {
  // Room for the whole message up front: growing the string as fields are appended
  // would reallocate it several times per reply and per prepare.
  std::size_t hint = 256;
  if (const auto* prepare = std::get_if<Prepare>(&message)) {
    for (const BatchRequest& r : prepare->batch)
      hint += 48 + r.client_id.size() + r.operation.size();
  } else if (const auto* reply = std::get_if<Reply>(&message)) {
    hint += reply->client_id.size() + reply->result.size();
  } else if (const auto* request = std::get_if<Request>(&message)) {
    hint += request->client_id.size() + request->operation.size();
  }
  std::string out;
  out.reserve(hint);
  encode(cluster_id, message, out);
  return out;
}

DecodeLimits decode_limits(const Options& options) {
  DecodeLimits limits;
  limits.cluster_id = options.cluster_id;
  limits.replica_count = options.replica_count;
  limits.max_headers = std::max(options.max_headers_per_message, options.max_pipeline_depth + 2);
  limits.max_batch = options.max_batch_size;
  limits.max_operation_bytes = options.max_operation_bytes;
  limits.max_message_bytes = options.max_message_bytes;
  return limits;
}

namespace {

Result<tnet::Value, std::string> open_message(std::string_view bytes, const DecodeLimits& limits,
                                              std::string_view& kind) {
  if (bytes.size() > limits.max_message_bytes) return fail(std::string("message too large"));
  tnet::Limits tl;
  tl.max_size = limits.max_message_bytes;
  tl.max_depth = 8;
  auto value = tnet::decode(bytes, tl);
  if (!value) return fail("malformed: " + value.error().message());
  if (!value->is_dict()) return fail(std::string("message is not a dict"));
  tnet::FieldReader head(*value, "message");
  std::int64_t cluster = head.integer("cluster");
  std::int64_t version = head.integer("version");
  kind = head.bytes("kind");
  if (!head.ok()) return fail(head.error());
  if (cluster < 0 || static_cast<std::uint64_t>(cluster) != limits.cluster_id) {
    return fail(std::string("message for another cluster"));
  }
  if (version != protocol_version) {
    return fail(fmt::format("protocol version {}, but this build speaks version {}", version,
                            protocol_version));
  }
  return *value;
}

}  // namespace

Result<Prepare, std::string> decode_prepare(std::string_view bytes, const DecodeLimits& limits) {
  std::string_view kind;
  auto value = open_message(bytes, limits, kind);
  if (!value) return fail(value.error());
  if (kind != "prepare") return fail(std::string("not a prepare"));
  Reader r(*value, "prepare", limits);
  return decode_prepare_fields(r, limits);
}

std::optional<std::pair<std::string, RequestNo>> oversized_request(std::string_view bytes,
                                                                   const DecodeLimits& limits) {
  DecodeLimits any_size = limits;
  any_size.max_operation_bytes = limits.max_message_bytes;
  auto decoded = decode(bytes, any_size);
  const auto* request = decoded ? std::get_if<Request>(&*decoded) : nullptr;
  if (request == nullptr || request->operation.size() <= limits.max_operation_bytes) {
    return std::nullopt;
  }
  return std::make_pair(request->client_id, request->request_no);
}

Result<Message, std::string> decode(std::string_view bytes, const DecodeLimits& limits) {
  std::string_view kind;
  auto value = open_message(bytes, limits, kind);
  if (!value) return fail(value.error());
  Reader r(*value, kind, limits);
  if (kind == "request") return decode_request(r, limits);
  if (kind == "reply") return decode_reply(r);
  if (kind == "prepare") {
    auto p = decode_prepare_fields(r, limits);
    if (!p) return fail(p.error());
    return Message{std::move(*p)};
  }
  if (kind == "prepare_ok") {
    PrepareOk m{r.view(), r.replica(), r.op("op"), r.checksum("checksum")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "commit") {
    Commit m{r.view(), r.replica(), r.op("commit"), r.checksum("checksum")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "start_view_change") {
    StartViewChange m{r.view(), r.replica(), View{r.number("voted_view")}};
    if (!r.ok()) return fail(r.error());
    if (m.voted_view > m.view) return fail(std::string("start_view_change: voted above view"));
    return Message{m};
  }
  if (kind == "do_view_change") return decode_dvc(r, limits);
  if (kind == "start_view") return decode_start_view(r, limits);
  if (kind == "request_start_view") {
    RequestStartView m{r.view(), r.replica(), r.number("nonce")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "request_headers") {
    RequestHeaders m{r.view(), r.replica(), r.op("op_min"), r.op("op_max")};
    if (!r.ok()) return fail(r.error());
    if (m.op_min > m.op_max) return fail(std::string("request_headers: empty range"));
    return Message{m};
  }
  if (kind == "headers") {
    Headers m{r.view(), r.replica(), {}};
    tnet::Value list = r.list("headers");
    if (!r.ok()) return fail(r.error());
    std::string why;
    if (!read_headers(list, limits, m.headers, why)) return fail("headers: " + why);
    return Message{std::move(m)};
  }
  if (kind == "request_prepare") {
    RequestPrepare m{r.view(), r.replica(), r.op("op"), r.checksum("checksum")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "request_checkpoint") {
    RequestCheckpoint m{r.view(), r.replica(), r.op("op")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "sync_checkpoint") {
    SyncCheckpoint m{r.view(), r.replica(), r.op("op"), r.checksum("checksum"),
                     std::string(r.bytes("checkpoint"))};
    if (!r.ok()) return fail(r.error());
    if (m.op.value == 0) return fail(std::string("sync_checkpoint: op 0 is the root"));
    return Message{std::move(m)};
  }
  if (kind == "recovery") {
    Recovery m{r.view(), r.replica(), r.number("nonce")};
    if (!r.ok()) return fail(r.error());
    return Message{m};
  }
  if (kind == "recovery_response") {
    RecoveryResponse m;
    m.view = r.view();
    m.replica = r.replica();
    m.voted_view = View{r.number("voted_view")};
    m.op = r.op("op");
    m.commit = r.op("commit");
    m.pristine = r.boolean("pristine");
    m.asking = r.boolean("asking");
    m.nonce = r.number("nonce");
    if (!r.ok()) return fail(r.error());
    if (m.commit > m.op) return fail(std::string("recovery_response: commit above op"));
    if (m.voted_view > m.view) return fail(std::string("recovery_response: voted above view"));
    if (m.pristine && (m.voted_view.value != 0 || m.op.value != 0)) {
      return fail(std::string("recovery_response: a pristine replica is at op 0, voted 0"));
    }
    if (m.asking && !m.pristine) {
      return fail(std::string("recovery_response: an asking replica is pristine"));
    }
    return Message{m};
  }
  return fail(fmt::format("unknown message kind '{}'", kind));
}

Prepare root_prepare(std::uint64_t cluster_id) {
  Prepare root;
  root.replica = ReplicaIndex{0};
  root.header.view = View{0};
  root.header.op = Op{0};
  root.header.commit = Op{0};
  root.header.timestamp_ms = 0;
  root.header.parent = Checksum{};
  seal_prepare(cluster_id, root);
  return root;
}

}  // namespace vsr::core
