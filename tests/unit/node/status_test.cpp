// Proves the runtime's status, hello, ping and pong messages round-trip and reject another
// cluster's id and garbage.

#include <gtest/gtest.h>

#include "vsr/node/status.hpp"

namespace vsr::node {
namespace {

TEST(StatusMessages, RoundTrip) {
  NodeStatus s{"n1", 1, "backup", "normal", 3, 40, 39, 32, "abcd", 2, 5, ""};
  const std::string bytes = encode_status_reply(77, 9, s);
  EXPECT_EQ(runtime_kind(bytes), "status_reply");
  auto decoded = decode_status_reply(bytes, 77);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->nonce, 9u);
  EXPECT_EQ(decoded->status, s);
  // What a stalled replica waits for travels too (absent when empty).
  EXPECT_EQ(bytes.find("waiting_for"), std::string::npos);
  s.status = "view_change";
  s.waiting_for = "DoViewChange for view 4 from a quorum: 1 of 2";
  auto waiting = decode_status_reply(encode_status_reply(77, 9, s), 77);
  ASSERT_TRUE(waiting.ok()) << waiting.error();
  EXPECT_EQ(waiting->status, s);
  auto request = decode_status_request(encode_status_request(77, 4), 77);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(*request, 4u);
}

TEST(StatusMessages, RejectsAnotherClusterAndGarbage) {
  EXPECT_FALSE(decode_status_request(encode_status_request(77, 4), 78).ok());
  EXPECT_FALSE(decode_status_request("garbage", 77).ok());
  EXPECT_EQ(runtime_kind("garbage"), "");
  EXPECT_EQ(runtime_kind(encode_status_request(1, 1)), "status_request");
}

TEST(StatusMessages, HelloRoundTripsAndRejectsAnotherCluster) {
  const std::string bytes = encode_hello(77, Hello{2, "bank,locks"});
  EXPECT_EQ(runtime_kind(bytes), "hello");
  auto hello = decode_hello(bytes, 77);
  ASSERT_TRUE(hello.ok()) << hello.error();
  EXPECT_EQ(hello->replica, 2u);
  EXPECT_EQ(hello->apps, "bank,locks");
  EXPECT_FALSE(decode_hello(bytes, 78).ok());
  EXPECT_FALSE(decode_hello(encode_status_request(77, 2), 77).ok());
  EXPECT_FALSE(decode_hello("3:abc,", 77).ok());
}

TEST(StatusMessages, PingAndPongRoundTripAndAreNotEachOther) {
  const std::string ping = encode_ping(77, 5);
  const std::string pong = encode_pong(77, 5);
  EXPECT_LE(ping.size(), ping_bytes_max);
  EXPECT_LE(pong.size(), ping_bytes_max);
  EXPECT_EQ(runtime_kind(ping), "ping");
  EXPECT_EQ(runtime_kind(pong), "pong");
  // The runtime spots a ping among a peer's frames by this text before decoding it.
  EXPECT_NE(ping.find("4:kind,4:ping,"), std::string::npos);
  ASSERT_TRUE(decode_ping(ping, 77).ok());
  EXPECT_EQ(*decode_ping(ping, 77), 5u);
  ASSERT_TRUE(decode_pong(pong, 77).ok());
  EXPECT_EQ(*decode_pong(pong, 77), 5u);
  EXPECT_FALSE(decode_ping(pong, 77).ok());
  EXPECT_FALSE(decode_pong(ping, 77).ok());
  EXPECT_FALSE(decode_pong(pong, 78).ok());
  EXPECT_FALSE(decode_ping(encode_hello(77, Hello{2, "bank"}), 77).ok());
  EXPECT_FALSE(decode_pong("3:abc,", 77).ok());
}

}  // namespace
}  // namespace vsr::node
