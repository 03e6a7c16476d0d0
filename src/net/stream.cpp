// Frame reading and gathered writing over asio sockets (stream.hpp).

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
constexpr std::size_t max_frames_per_write = 256;
// What a FrameWriter's copy buffer may keep between writes (it grows to at most
// max_frames_per_write small frames, ~256 KiB, during one).
constexpr std::size_t scratch_keep_bytes = 64 * 1024;

}  // namespace

OutFrame make_out_frame(SharedBytes message, KeyKind kind, const Key& key) {
  OutFrame out;
  out.header = make_frame_header(*message, kind, key);
  out.message = std::move(message);
  return out;
}

awaitable<ReadOutcome> FrameReader::next(tcp::socket& socket) {
  ReadOutcome out;
  if (buffer_.empty()) buffer_.resize(std::min(initial_buffer_bytes, max_frame_bytes_));
  for (;;) {
    if (end_ > begin_) {
      const std::string_view pending(buffer_.data() + begin_, end_ - begin_);
      auto decoded = decode_frame(pending, *keys_, max_frame_bytes_);
      if (decoded) {
        out.frame = *decoded;
        begin_ += decoded->consumed;
        co_return out;
      }
      if (decoded.error() != FrameErrc::incomplete) {
        out.frame_error = true;
        out.frame_errc = decoded.error();
        co_return out;
      }
    }
    // Need more bytes: compact, grow (bounded by the frame limit), read.
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) {
      if (buffer_.size() >= max_frame_bytes_) {
        // decode_frame keeps asking for more of a frame that cannot fit the limit.
        out.frame_error = true;
        out.frame_errc = FrameErrc::oversized;
        co_return out;
      }
      buffer_.resize(std::min(buffer_.size() * 2, max_frame_bytes_));
    }
    const std::size_t room = buffer_.size() - end_;
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(buffer_.data() + end_, room), use_nothrow);
    if (ec) {
      out.error = ec;
      co_return out;
    }
    end_ += n;
    const std::size_t busy = std::min(busy_buffer_bytes, max_frame_bytes_);
    if (n == room && buffer_.size() < busy) buffer_.resize(std::min(buffer_.size() * 2, busy));
  }
}

awaitable<asio::error_code> FrameWriter::write(tcp::socket& socket,
                                               std::span<const OutFrame> frames) {
  std::size_t i = 0;
  while (i < frames.size()) {
    // Lay out up to max_frames_per_write frames: runs of small frames become one piece
    // of scratch_; a large message is a piece of its own, between its header and trailer.
    scratch_.clear();
    pieces_.clear();
    const auto copy = [&](std::string_view bytes) {
      if (pieces_.empty() || pieces_.back().data != nullptr) {
        pieces_.push_back(Piece{nullptr, scratch_.size(), 0});
      }
      scratch_.append(bytes);
      pieces_.back().size += bytes.size();
    };
    for (std::size_t k = 0; k < max_frames_per_write && i < frames.size(); ++k, ++i) {
      const OutFrame& f = frames[i];
      copy(f.header.view());
      if (f.message->size() <= copy_max_bytes) {
        copy(*f.message);
      } else {
        pieces_.push_back(Piece{f.message->data(), 0, f.message->size()});
      }
      copy(FrameHeader::trailer());
    }
    // scratch_ no longer grows: its pieces can be pointed at.
    buffers_.clear();
    for (const Piece& p : pieces_) {
      buffers_.push_back(p.data != nullptr ? asio::buffer(p.data, p.size)
                                           : asio::buffer(scratch_.data() + p.offset, p.size));
    }
    auto [ec, n] = co_await asio::async_write(socket, buffers_, use_nothrow);
    (void)n;
    if (ec) co_return ec;
  }
  // A burst of many frames may have grown the buffer; an idle connection keeps little.
  if (scratch_.capacity() > scratch_keep_bytes) {
    scratch_.clear();
    scratch_.shrink_to_fit();
  }
  co_return asio::error_code{};
}

awaitable<asio::error_code> write_frames(tcp::socket& socket, std::span<const OutFrame> frames) {
  FrameWriter writer;
  co_return co_await writer.write(socket, frames);
}

}  // namespace vsr::net
