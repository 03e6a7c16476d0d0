// Proves FrameWriter and FrameReader over a loopback TCP connection: after the handshake,
// batches that mix small and large frames, and batches longer than one write, arrive
// whole, in order, under the authority of the key the handshake used; an empty batch
// writes nothing; a wrong key is refused and the initiator learns why.

#include "vsr/net/stream.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
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
  std::optional<HandshakeError> initiator_failed;
  std::optional<HandshakeError> responder_failed;
};

constexpr HandshakeParams params{77, 3};

// Opens a loopback connection with a handshake under `kind` (the initiator holding
// `initiator_keys`), sends `batches` through one FrameWriter, and reads frames until
// `expected` arrived (or a 10 s deadline passed).
Received round_trip(const std::vector<std::vector<OutFrame>>& batches, std::size_t expected,
                    KeyKind kind = KeyKind::client, const Keyring& initiator_keys = test_keys()) {
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
        FrameReader answers(1 << 20);
        const Key& key = kind == KeyKind::replica ? initiator_keys.replica : initiator_keys.client;
        HandshakeOutcome h = co_await answers.initiate(client, params, kind, key);
        if (!h.ok()) {
          out.initiator_failed = h.failed;
          co_return;
        }
        FrameWriter writer(h.send);
        for (const auto& batch : batches) {
          if (co_await writer.write(client, batch)) out.failed = true;
        }
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        FrameReader reader(1 << 20);
        HandshakeOutcome h = co_await reader.accept(server, keys, params);
        if (!h.ok()) {
          out.responder_failed = h.failed;
          co_return;
        }
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

OutFrame out_frame(std::string message) {
  return OutFrame{std::make_shared<const std::string>(std::move(message))};
}

TEST(NetStream, MixedBatchesArriveWholeAndInOrder) {
  // Sizes from empty to larger than one write's buffer, and a batch of 700 frames.
  const std::vector<std::size_t> sizes = {0, 10, 1016, 1025, 5000, 3, 70000, 300000};
  std::vector<std::vector<OutFrame>> batches(3);
  std::vector<std::string> sent;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const std::size_t count = b == 1 ? 700 : 9;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string message = message_of(sizes[(i + b) % sizes.size()], i);
      batches[b].push_back(out_frame(message));
      sent.push_back(message);
    }
  }
  for (KeyKind kind : {KeyKind::replica, KeyKind::client}) {
    const Received got = round_trip(batches, sent.size(), kind);
    ASSERT_FALSE(got.failed);
    ASSERT_EQ(got.messages.size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(got.messages[i], sent[i]) << "frame " << i;
      EXPECT_EQ(got.authorities[i], kind) << "frame " << i;
    }
  }
}

TEST(NetStream, EmptyBatchWritesNothing) {
  std::vector<std::vector<OutFrame>> batches(2);
  batches[1].push_back(out_frame("2:ok,"));
  const Received got = round_trip(batches, 1);
  ASSERT_FALSE(got.failed);
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "2:ok,");
}

TEST(NetStream, AWrongKeyIsRefusedAndTheInitiatorLearnsWhy) {
  Keyring wrong = test_keys();
  wrong.client.bytes[0] ^= 1;
  std::vector<std::vector<OutFrame>> batches(1);
  batches[0].push_back(out_frame("2:ok,"));
  const Received got = round_trip(batches, 1, KeyKind::client, wrong);
  EXPECT_TRUE(got.messages.empty());
  ASSERT_TRUE(got.responder_failed.has_value());
  EXPECT_EQ(got.responder_failed->code, HandshakeErrc::authentication);
  ASSERT_TRUE(got.initiator_failed.has_value());
  EXPECT_EQ(got.initiator_failed->code, HandshakeErrc::refused);
  EXPECT_EQ(got.initiator_failed->reason, HandshakeErrc::authentication);
}

}  // namespace
}  // namespace vsr::net
