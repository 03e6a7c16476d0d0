#pragma once
// Frames over a TCP stream: a reader that runs a connection's handshake and then pulls
// whole sealed frames out of the socket into one reusable buffer (bounded by the frame
// limit), and a writer that seals a batch of frames into one buffer and sends it in one
// write. The daemon, the client library and sync-node share them.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/net/asio.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/handshake.hpp"

namespace vsr::net {

/// Encoded message bytes shared by every frame that carries them (SharedBytes).
using SharedBytes = std::shared_ptr<const std::string>;

/// One outgoing frame: the message it carries, encoded once and shared by every connection
/// it goes to (each seals it under its own key when it writes it).
struct OutFrame {
  SharedBytes message;
};

/// What FrameReader::next() produced.
struct ReadOutcome {
  asio::error_code error;    ///< the socket failed or closed (frame_error unset)
  bool frame_error = false;  ///< the peer sent a frame that must close the connection
  FrameErrc frame_errc = FrameErrc::malformed;
  Frame frame;  ///< when neither error: message views into the buffer
  bool ok() const { return !error && !frame_error; }
};

/// How a handshake over a socket ended.
struct HandshakeOutcome {
  asio::error_code error;                ///< the socket failed or closed
  std::optional<HandshakeError> failed;  ///< the handshake itself failed
  CipherState send;                      ///< for the connection's FrameWriter
  KeyKind authority = KeyKind::client;   ///< the long-term key the session was opened under
  bool ok() const { return !error && !failed; }
};

/// Reads one connection: first its handshake (at most handshake_bytes_max buffered), then
/// sealed frames, each opened in place in one reusable buffer bounded by the frame limit.
/// The message of a frame stays valid until the next call.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  /// The responder's side: reads an offer, and writes the answer (or, when the offer
  /// deserves one, a refusal). On success the reader keeps the receiving half.
  awaitable<HandshakeOutcome> accept(tcp::socket& socket, const Keyring& keys,
                                     HandshakeParams params);
  /// The initiator's side: writes the offer and reads the answer.
  awaitable<HandshakeOutcome> initiate(tcp::socket& socket, HandshakeParams params, KeyKind kind,
                                       const Key& key);

  /// The next sealed frame. REQUIRES: a handshake completed.
  awaitable<ReadOutcome> next(tcp::socket& socket);
  /// Changes the frame limit (a connection that authenticated as a peer may send more).
  void set_max_frame_bytes(std::size_t bytes) { max_frame_bytes_ = bytes; }
  /// The authority of every frame after the handshake.
  KeyKind authority() const { return authority_; }

 private:
  /// Reads more into the buffer, growing it up to `cap`. Error: the socket's, or
  /// message_size when the buffer is full at `cap`.
  awaitable<asio::error_code> read_more(tcp::socket& socket, std::size_t cap);
  /// read_more() during a handshake; false when `out` now says why it ended.
  awaitable<bool> read_handshake(tcp::socket& socket, const char* oversized, HandshakeOutcome& out);
  /// The handshake succeeded: keep the receiving half, hand out the sending one.
  void open_session(const SessionKeys& keys, KeyKind authority, HandshakeOutcome& out);

  std::size_t max_frame_bytes_;
  CipherState receive_;
  bool open_ = false;
  KeyKind authority_ = KeyKind::client;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last byte read
};

/// Writes batches of frames to one connection, each sealed under its sending key, in as
/// few writes as it can: a burst of replies or a batch of prepares leaves in one sendmsg.
class FrameWriter {
 public:
  FrameWriter() = default;
  explicit FrameWriter(CipherState send) : send_(send) {}

  /// Writes `frames` in order. Returns the error, if any.
  awaitable<asio::error_code> write(tcp::socket& socket, std::span<const OutFrame> frames);

 private:
  CipherState send_;
  std::string scratch_;
};

/// Bytes a frame of `message_bytes` takes at most (header and trailer included).
constexpr std::size_t frame_bytes_max(std::size_t message_bytes) {
  return message_bytes + frame_header_max + 1;
}

}  // namespace vsr::net
