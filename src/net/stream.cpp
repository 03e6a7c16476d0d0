// The handshake, then sealed frames, over asio sockets (stream.hpp).

#include "vsr/net/stream.hpp"

#include <algorithm>
#include <cstring>

namespace vsr::net {
namespace {

// A connection's buffer starts small (a node may hold many idle or hostile connections)
// and doubles as frames need it, up to the frame limit.
constexpr std::size_t initial_buffer_bytes = 4 * 1024;
/// A read that fills the buffer means more is waiting: the buffer doubles up to this (or
/// the frame limit), so that a busy connection takes many small frames per read.
constexpr std::size_t busy_buffer_bytes = 64 * 1024;
/// A writer seals frames into its buffer until it holds this much, then writes it (one
/// large frame may take it past this).
constexpr std::size_t write_bytes_max = 256 * 1024;
// What a FrameWriter's buffer may keep between writes.
constexpr std::size_t scratch_keep_bytes = 64 * 1024;

}  // namespace

awaitable<asio::error_code> FrameReader::read_more(tcp::socket& socket, std::size_t cap) {
  if (buffer_.empty()) buffer_.resize(std::min(initial_buffer_bytes, cap));
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) {
    if (buffer_.size() >= cap) co_return asio::error::message_size;
    buffer_.resize(std::min(buffer_.size() * 2, cap));
  }
  const std::size_t room = buffer_.size() - end_;
  auto [ec, n] =
      co_await socket.async_read_some(asio::buffer(buffer_.data() + end_, room), use_nothrow);
  if (ec) co_return ec;
  end_ += n;
  const std::size_t busy = std::min(busy_buffer_bytes, cap);
  if (n == room && buffer_.size() < busy) buffer_.resize(std::min(buffer_.size() * 2, busy));
  co_return asio::error_code{};
}

awaitable<bool> FrameReader::read_handshake(tcp::socket& socket, const char* oversized,
                                            HandshakeOutcome& out) {
  const asio::error_code ec = co_await read_more(socket, handshake_bytes_max);
  if (ec == asio::error::message_size) {
    out.failed = HandshakeError{HandshakeErrc::oversized, oversized, {}};
  } else {
    out.error = ec;
  }
  co_return !ec;
}

void FrameReader::open_session(const SessionKeys& keys, KeyKind authority, HandshakeOutcome& out) {
  receive_ = keys.receive;
  authority_ = authority;
  open_ = true;
  out.send = keys.send;
  out.authority = authority;
}

awaitable<HandshakeOutcome> FrameReader::accept(tcp::socket& socket, const Keyring& keys,
                                                HandshakeParams params) {
  VSR_ASSERT(!open_);
  HandshakeOutcome out;
  for (;;) {
    auto accepted =
        accept_offer(std::string_view(buffer_.data() + begin_, end_ - begin_), keys, params);
    if (accepted) {
      begin_ += accepted->consumed;
      open_session(accepted->keys, accepted->authority, out);
      auto [ec, n] =
          co_await asio::async_write(socket, asio::buffer(accepted->answer), use_nothrow);
      (void)n;
      out.error = ec;
      co_return out;
    }
    const HandshakeErrc code = accepted.error().code;
    if (code != HandshakeErrc::incomplete) {
      if (code == HandshakeErrc::authentication || code == HandshakeErrc::wrong_cluster ||
          code == HandshakeErrc::wrong_version) {
        // Say why before closing: the initiator can then tell a wrong key from an outage.
        const std::string refused = refusal(params, code);
        co_await asio::async_write(socket, asio::buffer(refused), use_nothrow);
      }
      out.failed = accepted.error();
      co_return out;
    }
    if (!co_await read_handshake(socket, "a handshake over 4 KiB", out)) co_return out;
  }
}

awaitable<HandshakeOutcome> FrameReader::initiate(tcp::socket& socket, HandshakeParams params,
                                                  KeyKind kind, const Key& key) {
  VSR_ASSERT(!open_);
  HandshakeOutcome out;
  Initiator initiator(params, kind, key);
  {
    auto [ec, n] = co_await asio::async_write(
        socket, asio::buffer(initiator.offer().data(), initiator.offer().size()), use_nothrow);
    (void)n;
    if (ec) {
      out.error = ec;
      co_return out;
    }
  }
  for (;;) {
    auto established = initiator.finish(std::string_view(buffer_.data() + begin_, end_ - begin_));
    if (established) {
      begin_ += established->consumed;
      open_session(established->keys, kind, out);
      co_return out;
    }
    if (established.error().code != HandshakeErrc::incomplete) {
      out.failed = established.error();
      co_return out;
    }
    if (!co_await read_handshake(socket, "an answer over 4 KiB", out)) co_return out;
  }
}

awaitable<ReadOutcome> FrameReader::next(tcp::socket& socket) {
  VSR_ASSERT(open_);
  ReadOutcome out;
  for (;;) {
    if (end_ > begin_) {
      auto opened = open_frame(std::span<char>(buffer_.data() + begin_, end_ - begin_), receive_,
                               max_frame_bytes_);
      if (opened) {
        out.frame = *opened;
        out.frame.authority = authority_;
        begin_ += opened->consumed;
        co_return out;
      }
      if (opened.error() != FrameErrc::incomplete) {
        out.frame_error = true;
        out.frame_errc = opened.error();
        co_return out;
      }
    }
    // A sealed frame is its message, the tag and at most 12 bytes of framing.
    if (auto ec = co_await read_more(socket, max_frame_bytes_ + 32)) {
      if (ec == asio::error::message_size) {
        // open_frame keeps asking for more of a frame that cannot fit the limit.
        out.frame_error = true;
        out.frame_errc = FrameErrc::oversized;
      } else {
        out.error = ec;
      }
      co_return out;
    }
  }
}

awaitable<asio::error_code> FrameWriter::write(tcp::socket& socket,
                                               std::span<const OutFrame> frames) {
  std::size_t i = 0;
  while (i < frames.size()) {
    // Seal frames into the buffer until it holds a write's worth; send it in one write.
    scratch_.clear();
    while (i < frames.size() && scratch_.size() < write_bytes_max) {
      seal_frame(scratch_, *frames[i].message, send_);
      ++i;
    }
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(scratch_), use_nothrow);
    (void)n;
    if (ec) co_return ec;
  }
  // A burst of large frames may have grown the buffer; an idle connection keeps little.
  if (scratch_.capacity() > scratch_keep_bytes) {
    scratch_.clear();
    scratch_.shrink_to_fit();
  }
  co_return asio::error_code{};
}

}  // namespace vsr::net
