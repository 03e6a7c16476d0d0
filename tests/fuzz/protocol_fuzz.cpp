// Fuzz targets for what arrives from the network:
//  - `frame`: net::decode_frame over a byte stream. It refuses or accepts without reading
//    past its input or its frame limit; an accepted frame is exactly the frame that
//    append_frame makes of its message under the key it names.
//  - `handshake`: net::accept_offer (the responder's side) and Initiator::finish (the
//    initiator's) over a connection's first bytes. Neither reads past its input or the
//    4 KiB bound; only an offer under a key the node holds is accepted.
//  - `sealed_frame`: net::open_frame over a stream of sealed frames under a fixed session
//    key. An opened frame seals again, under the same key and counter, to the very bytes
//    it came from; a refusal leaves the counter as it was.
//  - `message`: core::decode, every protocol message. A message that decodes encodes to
//    bytes that decode to the same encoding (a fixpoint); an oversized request names its
//    client only when decode() refused it.
//  - `runtime_message`: the runtime's own messages (status request and reply, hello,
//    ping, pong). A status reply or hello that decodes survives a re-encoding.

#include <span>
#include <string>
#include <string_view>

#include "targets.hpp"
#include "vsr/core/message.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/handshake.hpp"
#include "vsr/node/status.hpp"

namespace vsr::fuzz {
namespace {

core::DecodeLimits limits() {
  core::DecodeLimits l;
  l.cluster_id = kCluster;
  l.replica_count = 3;
  l.max_headers = 16;
  l.max_batch = 16;
  l.max_operation_bytes = 1024;
  l.max_message_bytes = 1 << 16;
  return l;
}

}  // namespace

int frame(const std::uint8_t* data, std::size_t size) {
  static const net::Keyring keys = fuzz_keyring();
  constexpr std::size_t frame_max = 1 << 16;
  std::string_view stream = as_text(data, size);
  while (!stream.empty()) {
    auto decoded = net::decode_frame(stream, keys, frame_max);
    if (!decoded) return 0;  // incomplete, or a refusal that closes the connection
    FUZZ_CHECK("frame", decoded->consumed > 0 && decoded->consumed <= stream.size());
    FUZZ_CHECK("frame", decoded->consumed <= frame_max + net::frame_header_max + 1);
    const net::Key& key = decoded->authority == net::KeyKind::replica ? keys.replica : keys.client;
    std::string again;
    net::append_frame(again, decoded->message, decoded->authority, key);
    FUZZ_CHECK("frame", again == stream.substr(0, decoded->consumed));
    stream.remove_prefix(decoded->consumed);
  }
  return 0;
}

int handshake(const std::uint8_t* data, std::size_t size) {
  static const net::Keyring keys = fuzz_keyring();
  constexpr net::HandshakeParams params{kCluster, 3};
  const std::string_view input = as_text(data, size);
  auto accepted = net::accept_offer(input, keys, params);
  if (accepted) {
    FUZZ_CHECK("handshake", accepted->consumed > 0 && accepted->consumed <= input.size());
    FUZZ_CHECK("handshake", accepted->consumed <= net::handshake_bytes_max + 16);
  } else if (accepted.error().code == net::HandshakeErrc::incomplete) {
    FUZZ_CHECK("handshake", input.size() < net::handshake_bytes_max);
  }
  net::Initiator initiator(params, net::KeyKind::client, keys.client);
  auto finished = initiator.finish(input);
  if (finished) {
    FUZZ_CHECK("handshake", finished->consumed > 0 && finished->consumed <= input.size());
  } else if (finished.error().code == net::HandshakeErrc::incomplete) {
    FUZZ_CHECK("handshake", input.size() < net::handshake_bytes_max);
  }
  return 0;
}

int sealed_frame(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t frame_max = 1 << 16;
  std::string stream(as_text(data, size));
  net::CipherState receive = fuzz_session_key();
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::string original = stream.substr(at);
    const std::uint64_t counter = receive.counter;
    auto opened = net::open_frame(std::span<char>(stream.data() + at, stream.size() - at), receive,
                                  frame_max);
    if (!opened) {
      FUZZ_CHECK("sealed_frame", receive.counter == counter);
      return 0;
    }
    FUZZ_CHECK("sealed_frame", opened->consumed > 0 && opened->consumed <= stream.size() - at);
    FUZZ_CHECK("sealed_frame", receive.counter == counter + 1);
    net::CipherState send = fuzz_session_key();
    send.counter = counter;
    std::string again;
    net::seal_frame(again, opened->message, send);
    FUZZ_CHECK("sealed_frame", again == original.substr(0, opened->consumed));
    at += opened->consumed;
  }
  return 0;
}

int message(const std::uint8_t* data, std::size_t size) {
  static const core::DecodeLimits l = limits();
  const std::string_view input = as_text(data, size);
  auto decoded = core::decode(input, l);
  const auto oversized = core::oversized_request(input, l);
  FUZZ_CHECK("message", !(decoded.ok() && oversized.has_value()));
  if (!decoded) return 0;
  const std::string first = core::encode(kCluster, *decoded);
  auto again = core::decode(first, l);
  FUZZ_CHECK("message", again.ok());
  FUZZ_CHECK("message", again->index() == decoded->index());
  FUZZ_CHECK("message", core::encode(kCluster, *again) == first);
  if (std::holds_alternative<core::Prepare>(*decoded)) {
    FUZZ_CHECK("message", core::decode_prepare(input, l).ok());
  }
  return 0;
}

int runtime_message(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = as_text(data, size);
  (void)node::runtime_kind(input);
  (void)node::decode_status_request(input, kCluster);
  (void)node::decode_ping(input, kCluster);
  (void)node::decode_pong(input, kCluster);
  if (auto reply = node::decode_status_reply(input, kCluster)) {
    const std::string again = node::encode_status_reply(kCluster, reply->nonce, reply->status);
    auto back = node::decode_status_reply(again, kCluster);
    FUZZ_CHECK("runtime_message",
               back.ok() && back->status == reply->status && back->nonce == reply->nonce);
  }
  if (auto hello = node::decode_hello(input, kCluster)) {
    auto back = node::decode_hello(node::encode_hello(kCluster, *hello), kCluster);
    FUZZ_CHECK("runtime_message",
               back.ok() && back->replica == hello->replica && back->apps == hello->apps);
  }
  return 0;
}

}  // namespace vsr::fuzz
