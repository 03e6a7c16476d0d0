// Proves the wire frame: a frame round-trips; every prefix of a frame is "incomplete";
// an oversized length is refused before its payload arrives; a wrong MAC, a key the
// receiver lacks, a flipped bit anywhere and malformed shapes are each refused.

#include "vsr/net/frame.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_keys.hpp"

namespace vsr::net {
namespace {

constexpr std::size_t limit = 1 << 20;

TEST(NetFrame, RoundTripsWithEitherKey) {
  const Keyring keys = test_keys();
  for (KeyKind kind : {KeyKind::replica, KeyKind::client}) {
    std::string wire;
    const Key& key = kind == KeyKind::replica ? keys.replica : keys.client;
    append_frame(wire, "5:hello,", kind, key);
    const auto frame = decode_frame(wire, keys, limit);
    ASSERT_TRUE(frame.ok());
    EXPECT_EQ(frame->message, "5:hello,");
    EXPECT_EQ(frame->authority, kind);
    EXPECT_EQ(frame->consumed, wire.size());
  }
}

TEST(NetFrame, GatheredHeaderEqualsAppendedFrame) {
  const Keyring keys = test_keys();
  const std::string message = "3:abc,";
  std::string whole;
  append_frame(whole, message, KeyKind::replica, keys.replica);
  const FrameHeader header = make_frame_header(message, KeyKind::replica, keys.replica);
  EXPECT_EQ(std::string(header.view()) + message + std::string(FrameHeader::trailer()), whole);
}

TEST(NetFrame, TwoFramesInOneBufferDecodeInOrder) {
  const Keyring keys = test_keys();
  std::string wire;
  append_frame(wire, "1:a,", KeyKind::replica, keys.replica);
  append_frame(wire, "1:b,", KeyKind::client, keys.client);
  const auto first = decode_frame(wire, keys, limit);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->message, "1:a,");
  const auto second = decode_frame(std::string_view(wire).substr(first->consumed), keys, limit);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->message, "1:b,");
}

TEST(NetFrame, EveryPrefixIsIncomplete) {
  const Keyring keys = test_keys();
  std::string wire;
  append_frame(wire, "11:hello world,", KeyKind::replica, keys.replica);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    const auto frame = decode_frame(std::string_view(wire).substr(0, n), keys, limit);
    ASSERT_FALSE(frame.ok()) << n;
    EXPECT_EQ(frame.error(), FrameErrc::incomplete) << n;
  }
}

TEST(NetFrame, HugeLengthIsOversizedBeforeThePayloadArrives) {
  const Keyring keys = test_keys();
  const auto frame = decode_frame("99999999:", keys, 4096);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error(), FrameErrc::oversized);
  const auto twenty_digits = decode_frame("12345678901234567890:", keys, limit);
  ASSERT_FALSE(twenty_digits.ok());
  EXPECT_EQ(twenty_digits.error(), FrameErrc::oversized);
}

TEST(NetFrame, WrongMacIsRefused) {
  Keyring keys = test_keys();
  std::string wire;
  Key other = keys.replica;
  other.bytes[0] ^= 1;
  append_frame(wire, "1:x,", KeyKind::replica, other);
  const auto frame = decode_frame(wire, keys, limit);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error(), FrameErrc::bad_mac);
}

TEST(NetFrame, ClientCannotClaimTheReplicaKey) {
  // A client holds only the client key: a frame that names the replica key, signed with
  // the client key, must fail the MAC check under the replica key.
  const Keyring keys = test_keys();
  std::string wire;
  append_frame(wire, "1:x,", KeyKind::replica, keys.client);
  const auto frame = decode_frame(wire, keys, limit);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error(), FrameErrc::bad_mac);
}

TEST(NetFrame, ReceiverWithoutReplicaKeyRefusesReplicaFrames) {
  Keyring keys = test_keys();
  std::string wire;
  append_frame(wire, "1:x,", KeyKind::replica, keys.replica);
  keys.has_replica = false;
  const auto frame = decode_frame(wire, keys, limit);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error(), FrameErrc::unknown_key);
}

TEST(NetFrame, EveryFlippedBitIsRefused) {
  const Keyring keys = test_keys();
  std::string wire;
  append_frame(wire, "7:payload,", KeyKind::replica, keys.replica);
  for (std::size_t i = 0; i < wire.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = wire;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      const auto frame = decode_frame(bad, keys, limit);
      EXPECT_FALSE(frame.ok() && frame->consumed == wire.size() && frame->message == "7:payload,")
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(NetFrame, MalformedShapesAreRefused) {
  const Keyring keys = test_keys();
  for (const char* bad :
       {":", "x:", "01:", "-1:", "3:abc]", "43:1:2#32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,0:,]"}) {
    const auto frame = decode_frame(bad, keys, limit);
    ASSERT_FALSE(frame.ok()) << bad;
    EXPECT_NE(frame.error(), FrameErrc::incomplete) << bad;
  }
}

}  // namespace
}  // namespace vsr::net
