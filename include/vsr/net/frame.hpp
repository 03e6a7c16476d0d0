#pragma once
// Handshake frames: the two messages that open a connection, authenticated with a MAC
// (the frames after them are sealed: handshake.hpp).
//
// A handshake frame is one tnetstring list of three items (grammar in docs/vsr/wire.md):
//
//   frame   = LENGTH ":" key-id mac message "]"
//   key-id  = "1:0#" (replica key) / "1:1#" (client key)
//   mac     = "32:" 32OCTET ","      keyed BLAKE2b-256 of `message` under the named key
//                                    (the offer) or under the session's confirm key (the
//                                    answer)
//   message = one tnetstring
//
// The receiver checks the length against its limit before reading the payload, then the
// MAC, before anything else looks at the message. This is also the frame shape of
// protocol versions before 3, so a node can name the version of an older peer or client.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"

namespace vsr::net {

/// Which of the cluster's two keys authenticates a frame. The replica key grants every
/// message; the client key grants client requests only (the receiver enforces that).
enum class KeyKind : std::uint8_t { replica = 0, client = 1 };

inline constexpr std::size_t key_size = 32;
inline constexpr std::size_t mac_size = 32;

/// A 32-byte secret key for keyed BLAKE2b.
struct Key {
  std::array<unsigned char, key_size> bytes{};
};

/// The keys a process holds. A client process holds no replica key.
struct Keyring {
  Key replica;
  Key client;
  bool has_replica = false;
};

/// The largest frame header: length prefix (≤ 10 digits) + ':' + key-id + mac.
inline constexpr std::size_t frame_header_max = 11 + 4 + 3 + mac_size + 1;

/// The bytes that go before and after a message on the wire.
struct FrameHeader {
  std::array<char, frame_header_max> bytes{};
  std::size_t size = 0;

  std::string_view view() const { return {bytes.data(), size}; }
  static constexpr std::string_view trailer() { return "]"; }
};

/// Builds the header of the frame that carries `message` authenticated with `key`.
FrameHeader make_frame_header(std::string_view message, KeyKind kind, const Key& key);

/// Appends a whole frame (header, message, trailer) to `out`.
void append_frame(std::string& out, std::string_view message, KeyKind kind, const Key& key);

/// Why a frame was refused.
enum class FrameErrc : std::uint8_t {
  incomplete,   ///< not all of the frame has arrived yet (not an error on a stream)
  oversized,    ///< its length exceeds the receiver's frame limit
  malformed,    ///< not a 3-item list of key-id, mac and one tnetstring
  unknown_key,  ///< a key-id this process holds no key for (or an unknown id)
  bad_mac,      ///< the MAC does not match the message under the named key
  unopened,     ///< a sealed frame that does not open under the connection's key and
                ///< counter: forged, replayed, dropped or reordered (handshake.hpp)
};

/// "bad MAC", "oversized frame", ...
const char* describe(FrameErrc code);

/// A frame that passed its checks: `message` views into the caller's buffer.
struct Frame {
  std::string_view message;
  KeyKind authority = KeyKind::client;
  std::size_t consumed = 0;  ///< bytes of the buffer this frame used
};

/// The length prefix at the front of a frame: canonical decimal of at most 10 digits and ":",
/// checked against `max_payload` digit by digit (before the payload it announces is awaited
/// or buffered).
struct LengthPrefix {
  std::size_t digits = 0;   ///< digits of the prefix (the ':' follows them)
  std::size_t payload = 0;  ///< bytes it announces
};
/// FrameErrc::incomplete when the ':' has not arrived; malformed or oversized otherwise.
Result<LengthPrefix, FrameErrc> read_length_prefix(std::string_view buffer,
                                                   std::size_t max_payload);

/// A frame whose shape was checked but whose MAC was not: views into the buffer.
struct UncheckedFrame {
  KeyKind kind = KeyKind::client;  ///< the key its key-id names
  std::string_view mac;
  std::string_view message;
  std::size_t consumed = 0;
};

/// Checks the shape of the frame at the front of `buffer` (length, key-id, mac field) and
/// splits it. FrameErrc::incomplete means "read more".
Result<UncheckedFrame, FrameErrc> split_frame(std::string_view buffer, std::size_t max_frame_size);

/// The MAC of `message` under `key` (keyed BLAKE2b-256).
std::array<unsigned char, mac_size> frame_mac(std::string_view message, const Key& key);

/// True iff `mac` is the MAC of `message` under `key` (constant-time compare).
bool mac_matches(std::string_view message, std::string_view mac, const Key& key);

/// Decodes and authenticates the frame at the front of `buffer`. FrameErrc::incomplete
/// means "read more"; every other error means the connection must be closed.
Result<Frame, FrameErrc> decode_frame(std::string_view buffer, const Keyring& keys,
                                      std::size_t max_frame_size);

}  // namespace vsr::net
