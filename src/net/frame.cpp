// Wire frames (see frame.hpp and docs/vsr/wire.md). The outer list is parsed by hand:
// it has a fixed shape, and parsing it here means the message inside is validated once,
// by the protocol decoder, instead of twice.

#include "vsr/net/frame.hpp"

#include <sodium.h>

#include <charconv>
#include <cstring>

namespace vsr::net {
namespace {

constexpr std::string_view key_id_replica = "1:0#";
constexpr std::string_view key_id_client = "1:1#";
constexpr std::string_view mac_prefix = "32:";
constexpr std::size_t length_digits_max = 10;
// key-id + "32:" + mac + ","
constexpr std::size_t inner_header_size = 4 + 3 + mac_size + 1;

using Mac = std::array<unsigned char, mac_size>;

}  // namespace

Mac frame_mac(std::string_view message, const Key& key) {
  Mac mac{};
  crypto_generichash(mac.data(), mac.size(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), key.bytes.data(), key.bytes.size());
  return mac;
}

bool mac_matches(std::string_view message, std::string_view mac, const Key& key) {
  if (mac.size() != mac_size) return false;
  const Mac expected = frame_mac(message, key);
  return sodium_memcmp(expected.data(), mac.data(), mac_size) == 0;
}

const char* describe(FrameErrc code) {
  switch (code) {
    case FrameErrc::incomplete:
      return "incomplete frame";
    case FrameErrc::oversized:
      return "oversized frame";
    case FrameErrc::malformed:
      return "malformed frame";
    case FrameErrc::unknown_key:
      return "frame names a key this node does not hold";
    case FrameErrc::bad_mac:
      return "bad MAC";
    case FrameErrc::unopened:
      return "a frame that does not open under this connection's key (forged, replayed or out "
             "of order)";
  }
  return "unknown frame error";
}

FrameHeader make_frame_header(std::string_view message, KeyKind kind, const Key& key) {
  FrameHeader header;
  char* out = header.bytes.data();
  char* const end = out + header.bytes.size();
  const std::size_t payload = inner_header_size + message.size();
  const auto [length_end, ec] = std::to_chars(out, end, payload);
  VSR_ASSERT(ec == std::errc{});
  out = length_end;
  *out++ = ':';
  const std::string_view key_id = kind == KeyKind::replica ? key_id_replica : key_id_client;
  std::memcpy(out, key_id.data(), key_id.size());
  out += key_id.size();
  std::memcpy(out, mac_prefix.data(), mac_prefix.size());
  out += mac_prefix.size();
  const Mac mac = frame_mac(message, key);
  std::memcpy(out, mac.data(), mac.size());
  out += mac.size();
  *out++ = ',';
  header.size = static_cast<std::size_t>(out - header.bytes.data());
  return header;
}

void append_frame(std::string& out, std::string_view message, KeyKind kind, const Key& key) {
  const FrameHeader header = make_frame_header(message, kind, key);
  out.append(header.view());
  out.append(message);
  out.append(FrameHeader::trailer());
}

Result<LengthPrefix, FrameErrc> read_length_prefix(std::string_view buffer,
                                                   std::size_t max_payload) {
  LengthPrefix out;
  while (out.digits < buffer.size() && buffer[out.digits] != ':') {
    const char c = buffer[out.digits];
    if (c < '0' || c > '9' || out.digits == length_digits_max ||
        (out.digits == 1 && buffer[0] == '0')) {
      return fail(FrameErrc::malformed);
    }
    out.payload = out.payload * 10 + static_cast<std::size_t>(c - '0');
    ++out.digits;
    if (out.payload > max_payload) return fail(FrameErrc::oversized);
  }
  if (out.digits == buffer.size()) return fail(FrameErrc::incomplete);
  if (out.digits == 0) return fail(FrameErrc::malformed);
  return out;
}

Result<UncheckedFrame, FrameErrc> split_frame(std::string_view buffer, std::size_t max_frame_size) {
  auto prefix = read_length_prefix(buffer, max_frame_size);
  if (!prefix) return fail(prefix.error());
  const std::size_t digits = prefix->digits;
  const std::size_t payload_size = prefix->payload;
  if (payload_size < inner_header_size) return fail(FrameErrc::malformed);

  const std::size_t total = digits + 1 + payload_size + 1;
  if (buffer.size() < total) return fail(FrameErrc::incomplete);
  if (buffer[total - 1] != ']') return fail(FrameErrc::malformed);

  const std::string_view payload = buffer.substr(digits + 1, payload_size);
  const std::string_view key_id = payload.substr(0, key_id_replica.size());
  UncheckedFrame out;
  if (key_id == key_id_replica) {
    out.kind = KeyKind::replica;
  } else if (key_id == key_id_client) {
    out.kind = KeyKind::client;
  } else {
    return fail(FrameErrc::malformed);
  }
  std::string_view rest = payload.substr(key_id.size());
  if (rest.substr(0, mac_prefix.size()) != mac_prefix ||
      rest[mac_prefix.size() + mac_size] != ',') {
    return fail(FrameErrc::malformed);
  }
  out.mac = rest.substr(mac_prefix.size(), mac_size);
  out.message = rest.substr(mac_prefix.size() + mac_size + 1);
  out.consumed = total;
  return out;
}

Result<Frame, FrameErrc> decode_frame(std::string_view buffer, const Keyring& keys,
                                      std::size_t max_frame_size) {
  auto split = split_frame(buffer, max_frame_size);
  if (!split) return fail(split.error());
  if (split->kind == KeyKind::replica && !keys.has_replica) return fail(FrameErrc::unknown_key);
  const Key& key = split->kind == KeyKind::replica ? keys.replica : keys.client;
  if (!mac_matches(split->message, split->mac, key)) return fail(FrameErrc::bad_mac);
  return Frame{split->message, split->kind, split->consumed};
}

}  // namespace vsr::net
