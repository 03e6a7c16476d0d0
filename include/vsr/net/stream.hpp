#pragma once
// Frames over a TCP stream: a reader that pulls whole frames out of a socket into one
// reusable buffer (bounded by the frame limit), and a gathered writer that sends a batch
// of frames (each a header, a shared message and a trailer) in one write without copying
// the messages. The daemon and the client library share them.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/net/asio.hpp"
#include "vsr/net/frame.hpp"

namespace vsr::net {

/// Encoded message bytes shared by every frame that carries them (SharedBytes).
using SharedBytes = std::shared_ptr<const std::string>;

/// One outgoing frame: its header (MAC included) and the message bytes it carries.
struct OutFrame {
  FrameHeader header;
  SharedBytes message;
};

/// Builds an OutFrame for `message` under `key`.
OutFrame make_out_frame(SharedBytes message, KeyKind kind, const Key& key);

/// What FrameReader::next() produced.
struct ReadOutcome {
  asio::error_code error;    ///< the socket failed or closed (frame_error unset)
  bool frame_error = false;  ///< the peer sent a frame that must close the connection
  FrameErrc frame_errc = FrameErrc::malformed;
  Frame frame;  ///< when neither error: message views into the buffer
  bool ok() const { return !error && !frame_error; }
};

/// Reads frames from one socket. The message of a frame stays valid until the next call.
class FrameReader {
 public:
  FrameReader(const Keyring& keys, std::size_t max_frame_bytes)
      : keys_(&keys), max_frame_bytes_(max_frame_bytes) {}

  awaitable<ReadOutcome> next(tcp::socket& socket);
  /// Changes the frame limit (a connection that authenticated as a peer may send more).
  void set_max_frame_bytes(std::size_t bytes) { max_frame_bytes_ = bytes; }

 private:
  const Keyring* keys_;
  std::size_t max_frame_bytes_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last byte read
};

/// Writes batches of frames to one socket, each batch in as few writes as it can: small
/// frames (replies, requests, acknowledgements) are copied together into one reusable
/// buffer, since a copy of a few hundred bytes costs far less than the extra system call a
/// gathered write needs once it passes asio's 64 buffers; large frames (prepares) are
/// gathered in place, never copied.
class FrameWriter {
 public:
  /// Messages up to this size are copied into the buffer; larger ones are gathered.
  static constexpr std::size_t copy_max_bytes = 1024;

  /// Writes `frames` in order. Returns the error, if any.
  awaitable<asio::error_code> write(tcp::socket& socket, std::span<const OutFrame> frames);

 private:
  struct Piece {
    const char* data;  // null: `size` bytes of scratch_ from `offset`
    std::size_t offset;
    std::size_t size;
  };
  std::string scratch_;
  std::vector<Piece> pieces_;
  std::vector<asio::const_buffer> buffers_;
};

/// Writes `frames` with a FrameWriter of its own (for one-off frames such as a hello).
awaitable<asio::error_code> write_frames(tcp::socket& socket, std::span<const OutFrame> frames);

/// Bytes a frame of `message_bytes` takes at most (header and trailer included).
constexpr std::size_t frame_bytes_max(std::size_t message_bytes) {
  return message_bytes + frame_header_max + 1;
}

}  // namespace vsr::net
