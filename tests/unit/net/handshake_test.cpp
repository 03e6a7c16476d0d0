// Proves the handshake and sealed frames (handshake.hpp), without sockets: both sides
// derive the same directional keys; a wrong key, cluster or version is refused and the
// initiator learns which; a truncated handshake asks for more and an oversized one is
// refused; a replayed offer opens no usable session; a frame replayed on another
// connection, or replayed, reordered, dropped or altered within one, does not open.

#include "vsr/net/handshake.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_keys.hpp"

namespace vsr::net {
namespace {

constexpr HandshakeParams params{77, 3};

struct Session {
  SessionKeys initiator;
  SessionKeys responder;
};

/// Runs a whole handshake under `kind`; fails the test if it does not complete.
Session open_session(KeyKind kind = KeyKind::client) {
  const Keyring keys = test_keys();
  Initiator initiator(params, kind, kind == KeyKind::replica ? keys.replica : keys.client);
  auto accepted = accept_offer(initiator.offer(), keys, params);
  EXPECT_TRUE(accepted.ok());
  if (!accepted) return {};
  EXPECT_EQ(accepted->authority, kind);
  EXPECT_EQ(accepted->consumed, initiator.offer().size());
  auto established = initiator.finish(accepted->answer);
  EXPECT_TRUE(established.ok());
  if (!established) return {};
  EXPECT_EQ(established->consumed, accepted->answer.size());
  return Session{established->keys, accepted->keys};
}

std::string seal(std::string_view message, CipherState& send) {
  std::string out;
  seal_frame(out, message, send);
  return out;
}

Result<std::string, FrameErrc> open(std::string frame, CipherState& receive) {
  auto opened = open_frame(std::span<char>(frame.data(), frame.size()), receive, 1 << 20);
  if (!opened) return fail(opened.error());
  EXPECT_EQ(opened->consumed, frame.size());
  return std::string(opened->message);
}

TEST(NetHandshake, BothSidesDeriveTheSameKeysInEachDirection) {
  for (KeyKind kind : {KeyKind::replica, KeyKind::client}) {
    Session s = open_session(kind);
    EXPECT_EQ(s.initiator.send.key.bytes, s.responder.receive.key.bytes);
    EXPECT_EQ(s.initiator.receive.key.bytes, s.responder.send.key.bytes);
    EXPECT_NE(s.initiator.send.key.bytes, s.initiator.receive.key.bytes);
    for (int i = 0; i < 3; ++i) {
      const std::string there = "5:there," + std::to_string(i);
      auto got = open(seal(there, s.initiator.send), s.responder.receive);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(*got, there);
      auto back = open(seal("4:back,", s.responder.send), s.initiator.receive);
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, "4:back,");
    }
  }
}

TEST(NetHandshake, EverySessionHasFreshKeys) {
  const Session a = open_session();
  const Session b = open_session();
  EXPECT_NE(a.initiator.send.key.bytes, b.initiator.send.key.bytes);
  EXPECT_NE(a.responder.send.key.bytes, b.responder.send.key.bytes);
}

TEST(NetHandshake, ASealedFrameHidesItsMessage) {
  Session s = open_session();
  const std::string message = "26:the quick brown fox jumps,";
  const std::string frame = seal(message, s.initiator.send);
  EXPECT_EQ(frame.find("quick"), std::string::npos);
  EXPECT_EQ(frame.size(), sealed_frame_bytes(message.size()));
}

TEST(NetHandshake, AnOfferUnderAnotherKeyIsRefusedAsAuthentication) {
  Keyring wrong = test_keys();
  wrong.client.bytes[31] ^= 0x80;
  Initiator initiator(params, KeyKind::client, wrong.client);
  auto accepted = accept_offer(initiator.offer(), test_keys(), params);
  ASSERT_FALSE(accepted.ok());
  EXPECT_EQ(accepted.error().code, HandshakeErrc::authentication);
  auto finished = initiator.finish(refusal(params, accepted.error().code));
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code, HandshakeErrc::refused);
  EXPECT_EQ(finished.error().reason, HandshakeErrc::authentication);
  EXPECT_NE(finished.error().detail.find("authentication failed"), std::string::npos);
}

TEST(NetHandshake, AClientCannotOfferUnderTheReplicaKeyItDoesNotHold) {
  // A holder of client.tnet tries the client key in the replica key's place.
  const Keyring keys = test_keys();
  Initiator initiator(params, KeyKind::replica, keys.client);
  auto accepted = accept_offer(initiator.offer(), keys, params);
  ASSERT_FALSE(accepted.ok());
  EXPECT_EQ(accepted.error().code, HandshakeErrc::authentication);
}

TEST(NetHandshake, AnotherVersionOrClusterIsRefusedNamingIt) {
  const Keyring keys = test_keys();
  {
    Initiator newer(HandshakeParams{params.cluster_id, 4}, KeyKind::client, keys.client);
    auto accepted = accept_offer(newer.offer(), keys, params);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().code, HandshakeErrc::wrong_version);
    EXPECT_NE(accepted.error().detail.find("protocol version 4, but this build speaks version 3"),
              std::string::npos)
        << accepted.error().detail;
    auto finished = newer.finish(refusal(params, accepted.error().code));
    ASSERT_FALSE(finished.ok());
    EXPECT_EQ(finished.error().reason, HandshakeErrc::wrong_version);
    EXPECT_NE(finished.error().detail.find("protocol version 3, but this build speaks version 4"),
              std::string::npos)
        << finished.error().detail;
  }
  {
    Initiator other(HandshakeParams{params.cluster_id + 1, params.version}, KeyKind::client,
                    keys.client);
    auto accepted = accept_offer(other.offer(), keys, params);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().code, HandshakeErrc::wrong_cluster);
  }
}

TEST(NetHandshake, AFrameOfAnOlderVersionIsNamedByItsVersion) {
  // Before version 3 a connection began with a request in a MAC frame: a node says which
  // version it was.
  const Keyring keys = test_keys();
  const std::string fields = "7:version,1:2#4:kind,7:request,7:cluster,2:77#";
  const std::string request = std::to_string(fields.size()) + ":" + fields + "}";
  std::string old;
  append_frame(old, request, KeyKind::client, keys.client);
  auto accepted = accept_offer(old, keys, params);
  ASSERT_FALSE(accepted.ok());
  EXPECT_EQ(accepted.error().code, HandshakeErrc::wrong_version);
  EXPECT_NE(accepted.error().detail.find("protocol version 2"), std::string::npos);
}

TEST(NetHandshake, ATruncatedHandshakeAsksForMoreAndAnOversizedOneIsRefused) {
  const Keyring keys = test_keys();
  Initiator initiator(params, KeyKind::client, keys.client);
  const std::string offer(initiator.offer());
  for (std::size_t n = 0; n < offer.size(); ++n) {
    auto partial = accept_offer(std::string_view(offer).substr(0, n), keys, params);
    ASSERT_FALSE(partial.ok());
    EXPECT_EQ(partial.error().code, HandshakeErrc::incomplete) << n;
  }
  auto accepted = accept_offer(offer, keys, params);
  ASSERT_TRUE(accepted.ok());
  for (std::size_t n = 0; n < accepted->answer.size(); ++n) {
    auto partial = initiator.finish(std::string_view(accepted->answer).substr(0, n));
    ASSERT_FALSE(partial.ok());
    EXPECT_EQ(partial.error().code, HandshakeErrc::incomplete) << n;
  }
  // A length prefix over the bound is refused at once, before its bytes arrive.
  auto oversized = accept_offer("5000:", keys, params);
  ASSERT_FALSE(oversized.ok());
  EXPECT_EQ(oversized.error().code, HandshakeErrc::oversized);
  auto garbage = accept_offer("GET / HTTP/1.1\r\n", keys, params);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, HandshakeErrc::malformed);
}

TEST(NetHandshake, AnAlteredAnswerDoesNotAuthenticate) {
  const Keyring keys = test_keys();
  Initiator initiator(params, KeyKind::client, keys.client);
  auto accepted = accept_offer(initiator.offer(), keys, params);
  ASSERT_TRUE(accepted.ok());
  // Every byte of the answer flipped in turn: never a session.
  for (std::size_t i = 0; i < accepted->answer.size(); ++i) {
    Initiator fresh(params, KeyKind::client, keys.client);
    auto answer = accept_offer(fresh.offer(), keys, params);
    ASSERT_TRUE(answer.ok());
    std::string altered = answer->answer;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    EXPECT_FALSE(fresh.finish(altered).ok()) << "byte " << i;
  }
}

TEST(NetHandshake, AnAnswerToAnotherOfferDoesNotAuthenticate) {
  // An attacker replays a node's answer from an earlier connection to a new initiator.
  const Keyring keys = test_keys();
  Initiator first(params, KeyKind::client, keys.client);
  auto accepted = accept_offer(first.offer(), keys, params);
  ASSERT_TRUE(accepted.ok());
  Initiator second(params, KeyKind::client, keys.client);
  auto finished = second.finish(accepted->answer);
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code, HandshakeErrc::authentication);
}

TEST(NetHandshake, AReplayedOfferOpensNoSessionTheOriginalFramesOpenIn) {
  // Capture a whole connection: the offer and the first frames. Replaying the offer gets a
  // fresh answer; the captured frames do not open under the new session's keys.
  const Keyring keys = test_keys();
  Initiator initiator(params, KeyKind::client, keys.client);
  const std::string offer(initiator.offer());
  auto accepted = accept_offer(offer, keys, params);
  ASSERT_TRUE(accepted.ok());
  auto established = initiator.finish(accepted->answer);
  ASSERT_TRUE(established.ok());
  const std::string captured = seal("8:transfer,", established->keys.send);

  auto replayed = accept_offer(offer, keys, params);
  ASSERT_TRUE(replayed.ok());  // the offer itself carries no freshness of the responder's
  EXPECT_NE(replayed->answer, accepted->answer);
  auto opened = open(captured, replayed->keys.receive);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error(), FrameErrc::unopened);
}

TEST(NetHandshake, AFrameReplayedReorderedOrDroppedWithinAConnectionDoesNotOpen) {
  Session s = open_session();
  const std::string f0 = seal("1:a,", s.initiator.send);
  const std::string f1 = seal("1:b,", s.initiator.send);
  const std::string f2 = seal("1:c,", s.initiator.send);
  {
    CipherState receive = s.responder.receive;
    ASSERT_TRUE(open(f0, receive).ok());
    auto again = open(f0, receive);  // replayed
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), FrameErrc::unopened);
  }
  {
    CipherState receive = s.responder.receive;
    auto reordered = open(f1, receive);
    ASSERT_FALSE(reordered.ok());
    EXPECT_EQ(reordered.error(), FrameErrc::unopened);
  }
  {
    CipherState receive = s.responder.receive;
    ASSERT_TRUE(open(f0, receive).ok());
    auto dropped = open(f2, receive);  // f1 never arrived
    ASSERT_FALSE(dropped.ok());
  }
  {
    // The frame opens only in its own direction.
    CipherState back = s.initiator.receive;
    EXPECT_FALSE(open(f0, back).ok());
  }
}

TEST(NetHandshake, AnAlteredSealedFrameDoesNotOpenAndChangesNothing) {
  Session s = open_session();
  const std::string frame = seal("11:hello world,", s.initiator.send);
  for (std::size_t i = 0; i < frame.size(); ++i) {
    std::string altered = frame;
    altered[i] = static_cast<char>(altered[i] ^ 0x20);
    CipherState receive = s.responder.receive;
    auto opened = open(altered, receive);
    EXPECT_FALSE(opened.ok() && *opened == "11:hello world,") << "byte " << i;
    if (!opened.ok()) {
      EXPECT_EQ(receive.counter, 0u) << "byte " << i;
    }
  }
  CipherState receive = s.responder.receive;
  EXPECT_TRUE(open(frame, receive).ok());
}

TEST(NetHandshake, ASealedFrameAsksForMoreUntilItIsWholeAndRespectsTheLimit) {
  Session s = open_session();
  const std::string frame = seal("5:12345,", s.initiator.send);
  for (std::size_t n = 0; n < frame.size(); ++n) {
    std::string part = frame.substr(0, n);
    CipherState receive = s.responder.receive;
    auto opened = open_frame(std::span<char>(part.data(), part.size()), receive, 1 << 20);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error(), FrameErrc::incomplete) << n;
  }
  std::string big = seal(std::string(5000, 'x'), s.initiator.send);
  CipherState receive = s.responder.receive;
  auto opened = open_frame(std::span<char>(big.data(), big.size()), receive, 4096);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error(), FrameErrc::oversized);
}

}  // namespace
}  // namespace vsr::net
