#pragma once
// The handshake that opens every connection, and the sealed frames that follow it
// (grammar and reasoning in docs/vsr/wire.md, "Handshake").
//
// The pattern is Noise's NNpsk0 built from libsodium's primitives: each side contributes a
// fresh X25519 key pair (crypto_kx), the long-term key the initiator names (the replica
// key or the client key) authenticates both messages and is mixed into the session keys,
// and crypto_kdf derives one key per direction. After it, every frame is sealed with
// ChaCha20-Poly1305 (IETF) under its direction's key, with the frame's number in that
// direction as the nonce, so a frame replayed on another connection, or replayed, dropped
// or reordered within one, does not open.
//
//   initiator -> responder   offer   = frame under the named long-term key (frame.hpp):
//                                      {"cluster", "version", "kind": "handshake",
//                                       "ephemeral": 32 bytes}
//   responder -> initiator   answer  = frame whose MAC is under the session's confirm key:
//                                      {"cluster", "version", "kind": "handshake_answer",
//                                       "ephemeral": 32 bytes}
//                       or   refusal = {"version", "kind": "refused", "reason", "detail"}
//
// Everything here is pure (no sockets); stream.hpp drives it over a connection.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"
#include "vsr/net/frame.hpp"

namespace vsr::net {

/// At most this many bytes are buffered from a connection before its handshake completes;
/// an offer or answer is about 200 bytes.
inline constexpr std::size_t handshake_bytes_max = 4096;
/// ChaCha20-Poly1305 tag on every sealed frame.
inline constexpr std::size_t seal_tag_size = 16;
inline constexpr std::size_t ephemeral_key_size = 32;

/// One direction of an open session: its key, and the number of the next frame.
struct CipherState {
  Key key;
  std::uint64_t counter = 0;
};

/// The keys of one open connection, as seen by one side.
struct SessionKeys {
  CipherState send;
  CipherState receive;
};

/// What both sides must agree on: the cluster, and the protocol version each speaks.
struct HandshakeParams {
  std::uint64_t cluster_id = 0;
  std::int64_t version = 0;
};

/// Why a handshake failed.
enum class HandshakeErrc : std::uint8_t {
  incomplete,      ///< not all of the message has arrived (read more)
  oversized,       ///< over handshake_bytes_max
  malformed,       ///< not an offer, answer or refusal
  authentication,  ///< the MAC does not verify: the sides hold different keys
  wrong_cluster,   ///< the other side belongs to another cluster
  wrong_version,   ///< the other side speaks another protocol version
  refused,         ///< (initiator) the responder refused the offer; see the detail
};

struct HandshakeError {
  HandshakeErrc code = HandshakeErrc::malformed;
  std::string detail;  ///< for logs and users
  /// refused: the responder's reason (authentication, wrong_cluster or wrong_version).
  HandshakeErrc reason = HandshakeErrc::malformed;
};

/// The responder accepted an offer.
struct Accepted {
  SessionKeys keys;
  KeyKind authority = KeyKind::client;  ///< the long-term key the offer was made under
  std::string answer;                   ///< bytes to write back
  std::size_t consumed = 0;             ///< bytes of the buffer the offer used
};

/// The initiator's view of an established session.
struct Established {
  SessionKeys keys;
  std::size_t consumed = 0;  ///< bytes of the buffer the answer used
};

/// The initiator's side: make an offer under one long-term key, then check the answer.
class Initiator {
 public:
  Initiator(HandshakeParams params, KeyKind kind, const Key& key);
  ~Initiator();
  Initiator(const Initiator&) = delete;
  Initiator& operator=(const Initiator&) = delete;

  /// The offer, to be written first.
  std::string_view offer() const { return offer_; }
  /// Checks the answer (or refusal) at the front of `buffer`. HandshakeErrc::incomplete
  /// means "read more"; any other error ends the connection.
  Result<Established, HandshakeError> finish(std::string_view buffer);

 private:
  HandshakeParams params_;
  KeyKind kind_;
  Key key_;
  std::array<unsigned char, ephemeral_key_size> public_{};
  std::array<unsigned char, ephemeral_key_size> secret_{};
  std::string offer_;
};

/// The responder's side: checks the offer at the front of `buffer` under the key it names
/// and answers it with a fresh key pair. HandshakeErrc::incomplete means "read more".
/// authentication, wrong_cluster and wrong_version deserve a refusal (refusal()); any other
/// error only closes the connection.
Result<Accepted, HandshakeError> accept_offer(std::string_view buffer, const Keyring& keys,
                                              HandshakeParams params);

/// The refusal a responder writes before closing, for `code` (authentication,
/// wrong_cluster or wrong_version). It is not authenticated (the two sides may share no
/// key), so it tells the initiator only what a failed offer already shows: that this node
/// did not accept it, and why.
std::string refusal(HandshakeParams params, HandshakeErrc code);

/// "authentication failed", "another cluster", ...
const char* describe(HandshakeErrc code);

/// Appends the sealed frame of `message` to `out`, and advances `send`.
void seal_frame(std::string& out, std::string_view message, CipherState& send);

/// Bytes of the sealed frame of a message of `message_bytes`.
std::size_t sealed_frame_bytes(std::size_t message_bytes);

/// Opens the sealed frame at the front of `buffer` in place (the message replaces its
/// ciphertext) and advances `receive`. FrameErrc::incomplete means "read more" and changes
/// nothing; every other error means the connection must be closed.
Result<Frame, FrameErrc> open_frame(std::span<char> buffer, CipherState& receive,
                                    std::size_t max_frame_bytes);

}  // namespace vsr::net
