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

Mac compute_mac(std::string_view message, const Key& key) {
  Mac mac{};
  crypto_generichash(mac.data(), mac.size(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), key.bytes.data(), key.bytes.size());
  return mac;
}

}  // namespace

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
  const Mac mac = compute_mac(message, key);
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

Result<Frame, FrameErrc> decode_frame(std::string_view buffer, const Keyring& keys,
                                      std::size_t max_frame_size) {
  // Length prefix: canonical decimal, checked against the limit before waiting for (or
  // allocating room for) the payload it announces.
  std::size_t digits = 0;
  std::size_t payload_size = 0;
  while (digits < buffer.size() && buffer[digits] != ':') {
    const char c = buffer[digits];
    if (c < '0' || c > '9' || digits == length_digits_max || (digits == 1 && buffer[0] == '0')) {
      return fail(FrameErrc::malformed);
    }
    payload_size = payload_size * 10 + static_cast<std::size_t>(c - '0');
    ++digits;
    if (payload_size > max_frame_size) return fail(FrameErrc::oversized);
  }
  if (digits == buffer.size()) return fail(FrameErrc::incomplete);
  if (digits == 0) return fail(FrameErrc::malformed);
  if (payload_size < inner_header_size) return fail(FrameErrc::malformed);

  const std::size_t total = digits + 1 + payload_size + 1;
  if (buffer.size() < total) return fail(FrameErrc::incomplete);
  if (buffer[total - 1] != ']') return fail(FrameErrc::malformed);

  const std::string_view payload = buffer.substr(digits + 1, payload_size);
  const std::string_view key_id = payload.substr(0, key_id_replica.size());
  KeyKind kind;
  if (key_id == key_id_replica) {
    if (!keys.has_replica) return fail(FrameErrc::unknown_key);
    kind = KeyKind::replica;
  } else if (key_id == key_id_client) {
    kind = KeyKind::client;
  } else {
    return fail(FrameErrc::malformed);
  }
  std::string_view rest = payload.substr(key_id.size());
  if (rest.substr(0, mac_prefix.size()) != mac_prefix ||
      rest[mac_prefix.size() + mac_size] != ',') {
    return fail(FrameErrc::malformed);
  }
  const std::string_view mac = rest.substr(mac_prefix.size(), mac_size);
  const std::string_view message = rest.substr(mac_prefix.size() + mac_size + 1);

  const Mac expected = compute_mac(message, kind == KeyKind::replica ? keys.replica : keys.client);
  if (sodium_memcmp(expected.data(), mac.data(), mac_size) != 0) return fail(FrameErrc::bad_mac);
  return Frame{message, kind, total};
}

}  // namespace vsr::net
