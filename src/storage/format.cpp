// Storage byte formats. The encoders write exactly what docs/vsr/storage.md's grammars
// say, and the tests decode their output with the codec's strict decoder; the decoders are
// the codec's, with limits sized to one record or one file, so a hostile length prefix
// costs nothing.

#include "format.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "vsr/base/assert.hpp"
#include "vsr/codec/tnetstring.hpp"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

namespace vsr::storage::format {
namespace {

constexpr std::string_view segment_prefix = "wal-";
constexpr std::string_view segment_suffix = ".log";
constexpr std::size_t segment_digits = 20;
constexpr std::string_view key_op = "op";
constexpr std::string_view key_parent = "parent";
constexpr std::string_view key_checksum = "checksum";
constexpr std::string_view key_body = "body";
constexpr std::size_t checksum_bytes = 16;
// Fields of a record besides the body, at their largest (a 19-digit op): what a record
// may exceed its body by.
constexpr std::size_t record_overhead_max = 128;
// The longest length prefix the codec accepts has 10 digits.
constexpr std::size_t length_digits_max = 10;

std::size_t digits(std::uint64_t n) {
  std::size_t count = 1;
  while (n >= 10) {
    n /= 10;
    ++count;
  }
  return count;
}

// Bytes of the tnetstring of a payload of `n` bytes: "n:" payload tag.
std::size_t tnet_size(std::size_t n) {
  return digits(n) + 1 + n + 1;
}

void append_length(std::string& out, std::size_t length) {
  char text[24];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, length);
  VSR_ASSERT(ec == std::errc{});
  out.append(text, static_cast<std::size_t>(end - text));
  out.push_back(':');
}

void store_le64(char* p, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

}  // namespace

Checksum record_checksum(std::uint64_t op, std::string_view body) {
  char header[8];
  store_le64(header, op);
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, header, sizeof header);
  XXH3_128bits_update(&state, body.data(), body.size());
  const XXH128_hash_t hash = XXH3_128bits_digest(&state);
  return Checksum{hash.low64, hash.high64};
}

std::size_t record_size(std::uint64_t op, std::size_t body_bytes) {
  const std::size_t payload = tnet_size(key_op.size()) + tnet_size(digits(op)) +
                              tnet_size(key_parent.size()) + tnet_size(checksum_bytes) +
                              tnet_size(key_checksum.size()) + tnet_size(checksum_bytes) +
                              tnet_size(key_body.size()) + tnet_size(body_bytes);
  return tnet_size(payload);
}

void append_dict(std::string& out, std::string_view fields, std::string_view last_key,
                 std::string_view last_value) {
  const std::size_t payload =
      fields.size() + tnet_size(last_key.size()) + tnet_size(last_value.size());
  append_length(out, payload);
  out.append(fields);
  tnet::Encoder encoder(out);
  encoder.bytes(last_key);
  encoder.bytes(last_value);
  out.push_back(static_cast<char>(tnet::Tag::dict));
}

Checksum append_record(std::string& out, std::uint64_t op, const Checksum& parent,
                       std::string_view body) {
  VSR_ASSERT_MSG(op >= 1 && op <= static_cast<std::uint64_t>(INT64_MAX), "WAL op out of range");
  const Checksum checksum = record_checksum(op, body);
  std::string small;  // the small fields, encoded: at most 96 bytes
  small.reserve(96);
  tnet::Encoder encoder(small);
  encoder.bytes(key_op);
  encoder.integer(static_cast<std::int64_t>(op));
  encoder.bytes(key_parent);
  encoder.bytes(parent.bytes());
  encoder.bytes(key_checksum);
  encoder.bytes(checksum.bytes());
  const std::size_t before = out.size();
  append_dict(out, small, key_body, body);
  VSR_ASSERT(out.size() - before == record_size(op, body.size()));
  return checksum;
}

Parsed parse_record(std::string_view data, std::size_t body_bytes_max) {
  tnet::Limits limits;
  limits.max_size = body_bytes_max + record_overhead_max;
  limits.max_elements = 8;
  limits.max_depth = 1;
  auto prefix = tnet::decode_prefix(data, limits);
  if (!prefix) return Parsed{};
  Parsed parsed{Parse::damaged, prefix->consumed, {}};
  const tnet::Value value = prefix->value;
  if (!value.is_dict() || value.size() != 4) return parsed;
  tnet::FieldReader reader(value, "record");
  const std::int64_t op = reader.integer_in(key_op, 1, INT64_MAX);
  const std::string_view parent = reader.bytes(key_parent);
  const std::string_view checksum = reader.bytes(key_checksum);
  const std::string_view body = reader.bytes(key_body);
  if (!reader.ok() || body.size() > body_bytes_max) return parsed;
  const auto parent_sum = Checksum::from_bytes(parent);
  const auto stored_sum = Checksum::from_bytes(checksum);
  if (!parent_sum || !stored_sum) return parsed;
  const auto record_op = static_cast<std::uint64_t>(op);
  if (record_checksum(record_op, body) != *stored_sum) return parsed;
  parsed.kind = Parse::valid;
  parsed.record = RecordView{record_op, *parent_sum, *stored_sum, body};
  return parsed;
}

namespace {

// Reads the bytes of a record as far as they go, checking each one against what the encoder
// writes. `ended` means the bytes ran out inside the piece being read (consistent so far);
// `mismatch` means a byte the encoder would never have written there.
class PrefixReader {
 public:
  enum class Step : std::uint8_t { ok, ended, mismatch };

  explicit PrefixReader(std::string_view data) : data_(data) {}

  std::size_t pos() const { return pos_; }

  Step literal(std::string_view text) {
    for (const char c : text) {
      if (pos_ == data_.size()) return Step::ended;
      if (data_[pos_] != c) return Step::mismatch;
      ++pos_;
    }
    return Step::ok;
  }

  // A length prefix "<n>:" as the encoder writes it: decimal, no leading zero, n <= max.
  Step length(std::uint64_t max, std::uint64_t& out) {
    out = 0;
    std::size_t digits = 0;
    while (true) {
      if (pos_ == data_.size()) return Step::ended;
      const char c = data_[pos_];
      if (c == ':' && digits > 0) break;
      if (c < '0' || c > '9' || digits == length_digits_max || (digits == 1 && out == 0)) {
        return Step::mismatch;
      }
      out = out * 10 + static_cast<std::uint64_t>(c - '0');
      if (out > max) return Step::mismatch;
      ++digits;
      ++pos_;
    }
    ++pos_;
    return Step::ok;
  }

  // `n` opaque bytes (a checksum, a body).
  Step skip(std::uint64_t n) {
    if (data_.size() - pos_ < n) {
      pos_ = data_.size();
      return Step::ended;
    }
    pos_ += static_cast<std::size_t>(n);
    return Step::ok;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

// The encoding of a checksum field's value: "16:" and 16 opaque bytes, then ",".
PrefixReader::Step checksum_value(PrefixReader& reader) {
  using Step = PrefixReader::Step;
  if (const Step s = reader.literal("16:"); s != Step::ok) return s;
  if (const Step s = reader.skip(checksum_bytes); s != Step::ok) return s;
  return reader.literal(",");
}

}  // namespace

bool is_cut_short_record(std::string_view data, std::uint64_t op, std::size_t body_bytes_max) {
  using Step = PrefixReader::Step;
  PrefixReader reader(data);
  // Each piece in the order append_record writes it. Running out of bytes anywhere before
  // the terminator is a cut; any byte the encoder would not have written is not.
  auto cut = [](Step s) { return s == Step::ended; };
  std::uint64_t payload = 0;
  if (const Step s = reader.length(body_bytes_max + record_overhead_max, payload); s != Step::ok) {
    return cut(s);
  }
  const std::size_t payload_start = reader.pos();
  if (const Step s = reader.literal("2:op,"); s != Step::ok) return cut(s);
  const std::string op_text = std::to_string(op);
  if (const Step s = reader.literal(fmt::format("{}:{}#", op_text.size(), op_text));
      s != Step::ok) {
    return cut(s);
  }
  if (const Step s = reader.literal("6:parent,"); s != Step::ok) return cut(s);
  if (const Step s = checksum_value(reader); s != Step::ok) return cut(s);
  if (const Step s = reader.literal("8:checksum,"); s != Step::ok) return cut(s);
  if (const Step s = checksum_value(reader); s != Step::ok) return cut(s);
  if (const Step s = reader.literal("4:body,"); s != Step::ok) return cut(s);
  std::uint64_t body = 0;
  if (const Step s = reader.length(body_bytes_max, body); s != Step::ok) return cut(s);
  // The op and the body length fix the record's size: a flipped digit in either length
  // prefix shows here, before the body is skipped (a longer body would run off the end).
  if (record_size(op, static_cast<std::size_t>(body)) != payload_start + payload + 1) {
    return false;
  }
  if (const Step s = reader.skip(body); s != Step::ok) return cut(s);
  if (const Step s = reader.literal(","); s != Step::ok) return cut(s);
  // Everything but the terminator is there. Missing, the write was cut; present (or any
  // other byte there), the record was written whole.
  return reader.pos() == data.size();
}

std::optional<std::size_t> find_record(std::string_view data, std::size_t from, std::uint64_t lo,
                                       std::uint64_t hi, std::size_t body_bytes_max) {
  for (std::size_t at = from; at < data.size(); ++at) {
    // Cheap filter before a full parse: a length prefix without a leading zero, a colon,
    // and a dict tag exactly where that length says the payload ends.
    if (data[at] < '1' || data[at] > '9') continue;
    std::size_t length = 0;
    std::size_t i = at;
    while (i < data.size() && i - at < length_digits_max && data[i] >= '0' && data[i] <= '9') {
      length = length * 10 + static_cast<std::size_t>(data[i] - '0');
      ++i;
    }
    if (i >= data.size() || data[i] != ':') continue;
    const std::size_t end = i + 1 + length;
    if (end >= data.size() || data[end] != static_cast<char>(tnet::Tag::dict)) continue;
    const Parsed parsed = parse_record(data.substr(at), body_bytes_max);
    if (parsed.kind == Parse::valid && parsed.record.op >= lo && parsed.record.op <= hi) {
      return at;
    }
  }
  return std::nullopt;
}

std::string seal(std::string_view body) {
  std::string fields;
  tnet::Encoder encoder(fields);
  encoder.bytes(key_checksum);
  encoder.bytes(checksum_of(body).bytes());
  std::string out;
  out.reserve(body.size() + 64);
  append_dict(out, fields, key_body, body);
  return out;
}

Unsealed unseal(std::string_view file, std::size_t body_bytes_max) {
  tnet::Limits limits;
  limits.max_size = body_bytes_max + record_overhead_max;
  limits.max_elements = 4;
  limits.max_depth = 1;
  auto value = tnet::decode(file, limits);
  if (!value) return Unsealed{{}, "not a sealed tnetstring: " + value.error().message()};
  tnet::FieldReader reader(*value, "sealed file");
  const std::string_view checksum = reader.bytes(key_checksum);
  const std::string_view body = reader.bytes(key_body);
  if (!reader.ok()) return Unsealed{{}, reader.error()};
  const auto stored = Checksum::from_bytes(checksum);
  if (!stored) return Unsealed{{}, "sealed file: checksum is not 16 bytes"};
  if (checksum_of(body) != *stored) return Unsealed{{}, "checksum mismatch"};
  return Unsealed{body, {}};
}

bool is_temp_name(std::string_view name) {
  constexpr std::string_view suffix = ".tmp";
  return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
}

std::string segment_name(std::uint64_t first_op) {
  return fmt::format("{}{:0{}}{}", segment_prefix, first_op, segment_digits, segment_suffix);
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != segment_prefix.size() + segment_digits + segment_suffix.size()) {
    return std::nullopt;
  }
  if (!name.starts_with(segment_prefix) || !name.ends_with(segment_suffix)) return std::nullopt;
  const std::string_view digits = name.substr(segment_prefix.size(), segment_digits);
  std::uint64_t first_op = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), first_op);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  constexpr auto op_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (first_op == 0 || first_op > op_max) return std::nullopt;
  return first_op;
}

}  // namespace vsr::storage::format
