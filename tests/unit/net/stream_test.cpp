// Proves FrameWriter and FrameReader over a loopback TCP connection: batches that mix
// small frames (copied together) and large ones (gathered in place), longer than one
// write's frame limit and past asio's 64-buffer gather limit, arrive whole, in order and
// authenticated; an empty batch writes nothing.

#include "vsr/net/stream.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_keys.hpp"

namespace vsr::net {
namespace {

// A tnetstring byte string of `size` payload bytes, its content derived from `seed`.
std::string message_of(std::size_t size, std::size_t seed) {
  std::string payload(size, 'a');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (seed + i) % 26);
  return std::to_string(size) + ":" + payload + ",";
}

struct Received {
  std::vector<std::string> messages;
  std::vector<KeyKind> authorities;
  bool failed = false;
};

// Sends `batches` through one FrameWriter on a loopback connection and reads frames until
// `expected` arrived (or a 10 s deadline passed).
Received round_trip(const std::vector<std::vector<OutFrame>>& batches, std::size_t expected) {
  const Keyring keys = test_keys();
  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io);
  tcp::socket server(io);
  client.connect(acceptor.local_endpoint());
  acceptor.accept(server);
  Received out;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        FrameWriter writer;
        for (const auto& batch : batches) {
          if (co_await writer.write(client, batch)) out.failed = true;
        }
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        FrameReader reader(keys, 1 << 20);
        while (out.messages.size() < expected) {
          ReadOutcome r = co_await reader.next(server);
          if (!r.ok()) {
            out.failed = true;
            co_return;
          }
          out.messages.emplace_back(r.frame.message);
          out.authorities.push_back(r.frame.authority);
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  return out;
}

TEST(NetStream, MixedBatchesArriveWholeAndInOrder) {
  const Keyring keys = test_keys();
  // Sizes on both sides of the copy limit, and a batch longer than one write's 256 frames:
  // its small frames alone need more than 64 gathered buffers.
  const std::vector<std::size_t> sizes = {
      0, 10, FrameWriter::copy_max_bytes - 8, FrameWriter::copy_max_bytes + 1, 5000, 3, 70000};
  std::vector<std::vector<OutFrame>> batches(3);
  std::vector<std::string> sent;
  std::vector<KeyKind> kinds;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const std::size_t count = b == 1 ? 700 : 9;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string message = message_of(sizes[(i + b) % sizes.size()], i);
      const KeyKind kind = i % 3 == 0 ? KeyKind::replica : KeyKind::client;
      const Key& key = kind == KeyKind::replica ? keys.replica : keys.client;
      batches[b].push_back(make_out_frame(std::make_shared<const std::string>(message), kind, key));
      sent.push_back(message);
      kinds.push_back(kind);
    }
  }
  const Received got = round_trip(batches, sent.size());
  ASSERT_FALSE(got.failed);
  ASSERT_EQ(got.messages.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got.messages[i], sent[i]) << "frame " << i;
    EXPECT_EQ(got.authorities[i], kinds[i]) << "frame " << i;
  }
}

TEST(NetStream, EmptyBatchWritesNothing) {
  const Keyring keys = test_keys();
  std::vector<std::vector<OutFrame>> batches(2);
  batches[1].push_back(
      make_out_frame(std::make_shared<const std::string>("2:ok,"), KeyKind::client, keys.client));
  const Received got = round_trip(batches, 1);
  ASSERT_FALSE(got.failed);
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "2:ok,");
}

}  // namespace
}  // namespace vsr::net
