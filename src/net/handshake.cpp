// The handshake and sealed frames (handshake.hpp; grammar and reasoning in
// docs/vsr/wire.md, "Handshake").

#include "vsr/net/handshake.hpp"

#include <sodium.h>

#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::net {
namespace {

static_assert(crypto_kx_PUBLICKEYBYTES == ephemeral_key_size);
static_assert(crypto_kx_SECRETKEYBYTES == ephemeral_key_size);
static_assert(crypto_kx_SESSIONKEYBYTES == key_size);
static_assert(crypto_kdf_KEYBYTES == key_size);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == key_size);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == seal_tag_size);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);

constexpr std::string_view kind_offer = "handshake";
constexpr std::string_view kind_answer = "handshake_answer";
constexpr std::string_view kind_refused = "refused";
// crypto_kdf's context: 8 bytes naming what the subkeys are for.
constexpr char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "vsr-link";
// Subkey ids under the session's master key.
constexpr std::uint64_t subkey_initiator_to_responder = 1;
constexpr std::uint64_t subkey_responder_to_initiator = 2;
constexpr std::uint64_t subkey_confirm = 3;

using Ephemeral = std::array<unsigned char, ephemeral_key_size>;

tnet::Limits message_limits() {
  tnet::Limits l;
  l.max_size = handshake_bytes_max;
  l.max_depth = 1;
  l.max_elements = 16;
  return l;
}

std::string encode_hello_message(HandshakeParams params, std::string_view kind,
                                 const Ephemeral& ephemeral) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("cluster");
  e.integer(static_cast<std::int64_t>(params.cluster_id));
  e.key("version");
  e.integer(params.version);
  e.key("kind");
  e.bytes(kind);
  e.key("ephemeral");
  e.bytes(std::string_view(reinterpret_cast<const char*>(ephemeral.data()), ephemeral.size()));
  e.end_dict();
  return out;
}

/// The ephemeral key of an offer or answer whose kind, version and cluster match.
Result<Ephemeral, HandshakeError> decode_hello_message(std::string_view message,
                                                       std::string_view kind,
                                                       HandshakeParams params) {
  auto value = tnet::decode(message, message_limits());
  if (!value || !value->is_dict()) {
    return fail(HandshakeError{HandshakeErrc::malformed, "the handshake is not a dict", {}});
  }
  // The version first: a peer of another version may send another shape altogether.
  if (auto version = value->find("version");
      version && version->is_integer() && version->integer() != params.version) {
    return fail(HandshakeError{HandshakeErrc::wrong_version,
                               fmt::format("protocol version {}, but this build speaks version {}",
                                           version->integer(), params.version),
                               {}});
  }
  tnet::FieldReader r(*value, "handshake");
  const std::int64_t cluster = r.integer("cluster");
  const std::string_view k = r.bytes("kind");
  const std::string_view ephemeral = r.bytes("ephemeral");
  if (!r.ok()) return fail(HandshakeError{HandshakeErrc::malformed, r.error(), {}});
  if (k != kind) {
    return fail(HandshakeError{
        HandshakeErrc::malformed, fmt::format("a '{}' where a '{}' belongs", k, kind), {}});
  }
  if (static_cast<std::uint64_t>(cluster) != params.cluster_id) {
    return fail(HandshakeError{HandshakeErrc::wrong_cluster, "another cluster's id", {}});
  }
  if (ephemeral.size() != ephemeral_key_size) {
    return fail(HandshakeError{HandshakeErrc::malformed, "an ephemeral key of the wrong size", {}});
  }
  Ephemeral out{};
  std::memcpy(out.data(), ephemeral.data(), out.size());
  return out;
}

/// The session's master key: keyed by the long-term key (so only its holders can compute
/// it), over the transcript and both crypto_kx outputs (so it is fresh for both sides and
/// secret from anyone who holds neither ephemeral secret key).
Key master_key(const Key& long_term, std::string_view offer, std::string_view answer_message,
               const Key& initiator_to_responder, const Key& responder_to_initiator) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, long_term.bytes.data(), long_term.bytes.size(), key_size);
  const auto absorb = [&](const void* data, std::size_t size) {
    crypto_generichash_update(&state, static_cast<const unsigned char*>(data), size);
  };
  const std::string_view label = "vsr handshake v3";
  absorb(label.data(), label.size());
  // Each part is preceded by its length, so no two transcripts concatenate alike.
  for (std::string_view part : {offer, answer_message}) {
    const std::uint64_t size = part.size();
    absorb(&size, sizeof size);
    absorb(part.data(), part.size());
  }
  absorb(initiator_to_responder.bytes.data(), key_size);
  absorb(responder_to_initiator.bytes.data(), key_size);
  Key master;
  crypto_generichash_final(&state, master.bytes.data(), key_size);
  return master;
}

Key subkey(const Key& master, std::uint64_t id) {
  Key out;
  crypto_kdf_derive_from_key(out.bytes.data(), key_size, id, kdf_context, master.bytes.data());
  return out;
}

void wipe(void* data, std::size_t size) {
  sodium_memzero(data, size);
}

std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce_of(
    std::uint64_t counter) {
  std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce{};
  for (std::size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<unsigned char>(counter >> (8 * i));
  return nonce;
}

std::string_view reason_name(HandshakeErrc code) {
  switch (code) {
    case HandshakeErrc::authentication:
      return "authentication";
    case HandshakeErrc::wrong_cluster:
      return "cluster";
    case HandshakeErrc::wrong_version:
      return "version";
    default:
      return "malformed";
  }
}

/// A refusal at the front of a buffer (a dict where an answer frame, a list, belongs).
Result<Established, HandshakeError> read_refusal(tnet::Value value, HandshakeParams params) {
  tnet::FieldReader r(value, "refusal");
  const std::int64_t version = r.integer("version");
  const std::string_view kind = r.bytes("kind");
  const std::string_view reason = r.bytes("reason");
  if (!r.ok() || kind != kind_refused) {
    return fail(HandshakeError{HandshakeErrc::malformed,
                               "the node sent something other than an "
                               "answer to the handshake",
                               {}});
  }
  HandshakeError error{HandshakeErrc::refused, {}, HandshakeErrc::malformed};
  if (reason == "authentication") {
    error.reason = HandshakeErrc::authentication;
    error.detail = "authentication failed: the node does not hold this key";
  } else if (reason == "cluster") {
    error.reason = HandshakeErrc::wrong_cluster;
    error.detail = "the node belongs to another cluster";
  } else if (reason == "version") {
    error.reason = HandshakeErrc::wrong_version;
    error.detail = fmt::format(
        "the node speaks protocol version {}, but this build speaks "
        "version {}",
        version, params.version);
  } else {
    error.detail = fmt::format("the node refused the handshake ({})", reason);
  }
  return fail(std::move(error));
}

}  // namespace

const char* describe(HandshakeErrc code) {
  switch (code) {
    case HandshakeErrc::incomplete:
      return "incomplete handshake";
    case HandshakeErrc::oversized:
      return "oversized handshake";
    case HandshakeErrc::malformed:
      return "malformed handshake";
    case HandshakeErrc::authentication:
      return "authentication failed";
    case HandshakeErrc::wrong_cluster:
      return "another cluster";
    case HandshakeErrc::wrong_version:
      return "another protocol version";
    case HandshakeErrc::refused:
      return "handshake refused";
  }
  return "handshake failed";
}

// --- Initiator ----------------------------------------------------------------------------

Initiator::Initiator(HandshakeParams params, KeyKind kind, const Key& key)
    : params_(params), kind_(kind), key_(key) {
  crypto_kx_keypair(public_.data(), secret_.data());
  append_frame(offer_, encode_hello_message(params_, kind_offer, public_), kind_, key_);
}

Initiator::~Initiator() {
  wipe(secret_.data(), secret_.size());
  wipe(key_.bytes.data(), key_.bytes.size());
}

Result<Established, HandshakeError> Initiator::finish(std::string_view buffer) {
  // A refusal is a dict, an answer a list: look at the first value's type.
  auto prefix = tnet::decode_prefix(buffer, message_limits());
  if (!prefix && prefix.error().code == tnet::Errc::truncated) {
    if (buffer.size() >= handshake_bytes_max) {
      return fail(HandshakeError{HandshakeErrc::oversized, "the answer is too large", {}});
    }
    return fail(HandshakeError{HandshakeErrc::incomplete, {}, {}});
  }
  if (prefix && prefix->value.is_dict()) return read_refusal(prefix->value, params_);

  auto split = split_frame(buffer, handshake_bytes_max);
  if (!split) {
    if (split.error() == FrameErrc::incomplete) {
      return fail(HandshakeError{HandshakeErrc::incomplete, {}, {}});
    }
    return fail(HandshakeError{
        split.error() == FrameErrc::oversized ? HandshakeErrc::oversized : HandshakeErrc::malformed,
        describe(split.error()),
        {}});
  }
  if (split->kind != kind_) {
    return fail(HandshakeError{HandshakeErrc::malformed, "the answer names another key", {}});
  }
  auto ephemeral = decode_hello_message(split->message, kind_answer, params_);
  if (!ephemeral) return fail(ephemeral.error());

  Key receive;
  Key send;
  if (crypto_kx_client_session_keys(receive.bytes.data(), send.bytes.data(), public_.data(),
                                    secret_.data(), ephemeral->data()) != 0) {
    return fail(HandshakeError{HandshakeErrc::malformed, "an unusable ephemeral key", {}});
  }
  const Key master = master_key(key_, offer_, split->message, send, receive);
  // The answer's MAC is under the confirm key: only a holder of the long-term key that
  // saw this offer can have made it.
  if (!mac_matches(split->message, split->mac, subkey(master, subkey_confirm))) {
    return fail(HandshakeError{
        HandshakeErrc::authentication, "the answer does not authenticate under this key", {}});
  }
  Established out;
  out.keys.send.key = subkey(master, subkey_initiator_to_responder);
  out.keys.receive.key = subkey(master, subkey_responder_to_initiator);
  out.consumed = split->consumed;
  wipe(secret_.data(), secret_.size());
  return out;
}

// --- Responder ----------------------------------------------------------------------------

Result<Accepted, HandshakeError> accept_offer(std::string_view buffer, const Keyring& keys,
                                              HandshakeParams params) {
  auto split = split_frame(buffer, handshake_bytes_max);
  if (!split) {
    switch (split.error()) {
      case FrameErrc::incomplete:
        if (buffer.size() >= handshake_bytes_max) break;
        return fail(HandshakeError{HandshakeErrc::incomplete, {}, {}});
      case FrameErrc::oversized:
        break;
      default:
        return fail(HandshakeError{HandshakeErrc::malformed, describe(split.error()), {}});
    }
    return fail(HandshakeError{HandshakeErrc::oversized, "a handshake over 4 KiB", {}});
  }
  if (split->kind == KeyKind::replica && !keys.has_replica) {
    return fail(HandshakeError{HandshakeErrc::malformed, "an offer under the replica key", {}});
  }
  const Key& key = split->kind == KeyKind::replica ? keys.replica : keys.client;
  if (!mac_matches(split->message, split->mac, key)) {
    return fail(HandshakeError{HandshakeErrc::authentication,
                               fmt::format("the offer does not authenticate under the {} key",
                                           split->kind == KeyKind::replica ? "replica" : "client"),
                               {}});
  }
  auto ephemeral = decode_hello_message(split->message, kind_offer, params);
  if (!ephemeral) return fail(ephemeral.error());

  Ephemeral public_key{};
  Ephemeral secret_key{};
  crypto_kx_keypair(public_key.data(), secret_key.data());
  Key receive;
  Key send;
  const int kx =
      crypto_kx_server_session_keys(receive.bytes.data(), send.bytes.data(), public_key.data(),
                                    secret_key.data(), ephemeral->data());
  wipe(secret_key.data(), secret_key.size());
  if (kx != 0) {
    return fail(HandshakeError{HandshakeErrc::malformed, "an unusable ephemeral key", {}});
  }
  const std::string answer_message = encode_hello_message(params, kind_answer, public_key);
  const std::string_view offer = buffer.substr(0, split->consumed);
  const Key master = master_key(key, offer, answer_message, receive, send);
  Accepted out;
  out.authority = split->kind;
  out.keys.receive.key = subkey(master, subkey_initiator_to_responder);
  out.keys.send.key = subkey(master, subkey_responder_to_initiator);
  append_frame(out.answer, answer_message, split->kind, subkey(master, subkey_confirm));
  out.consumed = split->consumed;
  return out;
}

std::string refusal(HandshakeParams params, HandshakeErrc code) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("version");
  e.integer(params.version);
  e.key("kind");
  e.bytes(kind_refused);
  e.key("reason");
  e.bytes(reason_name(code));
  e.end_dict();
  return out;
}

// --- sealed frames ------------------------------------------------------------------------

std::size_t sealed_frame_bytes(std::size_t message_bytes) {
  const std::size_t payload = message_bytes + seal_tag_size;
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, payload);
  VSR_ASSERT(ec == std::errc{});
  return static_cast<std::size_t>(end - digits) + 1 + payload + 1;
}

void seal_frame(std::string& out, std::string_view message, CipherState& send) {
  VSR_ASSERT_MSG(send.counter != std::numeric_limits<std::uint64_t>::max(),
                 "a connection sealed 2^64 frames");
  const std::size_t payload = message.size() + seal_tag_size;
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, payload);
  VSR_ASSERT(ec == std::errc{});
  out.append(digits, end);
  out.push_back(':');
  const std::size_t at = out.size();
  out.resize(at + payload);
  auto* cipher = reinterpret_cast<unsigned char*>(out.data() + at);
  const auto nonce = nonce_of(send.counter);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      cipher, cipher + message.size(), nullptr,
      reinterpret_cast<const unsigned char*>(message.data()), message.size(), nullptr, 0, nullptr,
      nonce.data(), send.key.bytes.data());
  out.push_back(',');
  send.counter += 1;
}

Result<Frame, FrameErrc> open_frame(std::span<char> buffer, CipherState& receive,
                                    std::size_t max_frame_bytes) {
  auto prefix = read_length_prefix(std::string_view(buffer.data(), buffer.size()), max_frame_bytes);
  if (!prefix) return fail(prefix.error());
  const std::size_t digits = prefix->digits;
  const std::size_t payload = prefix->payload;
  if (payload < seal_tag_size) return fail(FrameErrc::malformed);
  const std::size_t total = digits + 1 + payload + 1;
  if (buffer.size() < total) return fail(FrameErrc::incomplete);
  if (buffer[total - 1] != ',') return fail(FrameErrc::malformed);

  auto* cipher = reinterpret_cast<unsigned char*>(buffer.data() + digits + 1);
  const std::size_t message_size = payload - seal_tag_size;
  const auto nonce = nonce_of(receive.counter);
  // In place: libsodium checks the tag before it decrypts, and decrypts with a stream xor.
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          cipher, nullptr, cipher, message_size, cipher + message_size, nullptr, 0, nonce.data(),
          receive.key.bytes.data()) != 0) {
    return fail(FrameErrc::unopened);
  }
  receive.counter += 1;
  return Frame{std::string_view(buffer.data() + digits + 1, message_size), KeyKind::client, total};
}

}  // namespace vsr::net
