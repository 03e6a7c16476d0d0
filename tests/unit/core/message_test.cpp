// Proves that every message survives an encode/decode round trip and that malformed,
// foreign, truncated, oversized or tampered messages are rejected with a reason (never an
// assertion), as the wire contract in docs/vsr/protocol.md requires.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "vsr/codec/tnetstring.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/core/message.hpp"

namespace vsr::core {
namespace {

constexpr std::uint64_t kCluster = 77;

DecodeLimits limits() {
  DecodeLimits l;
  l.cluster_id = kCluster;
  l.replica_count = 3;
  l.max_headers = 16;
  l.max_batch = 8;
  l.max_operation_bytes = 1024;
  l.max_message_bytes = 1 << 20;
  return l;
}

Prepare sample_prepare() {
  Prepare p;
  p.replica = ReplicaIndex{1};
  p.header.view = View{4};
  p.header.op = Op{9};
  p.header.commit = Op{7};
  p.header.timestamp_ms = 123456;
  p.header.parent = Checksum{1, 2};
  p.batch = {BatchRequest{"alice", RequestNo{3}, "add k1 5", Op{2}},
             BatchRequest{"bob", RequestNo{1}, std::string("\0\1binary", 8), Op{7}}};
  seal_prepare(kCluster, p);
  return p;
}

PrepareHeader header_at(std::uint64_t op, const Checksum& parent) {
  Prepare p;
  p.header.view = View{2};
  p.header.op = Op{op};
  p.header.commit = Op{op - 1};
  p.header.parent = parent;
  seal_prepare(kCluster, p);
  return p.header;
}

Message round_trip(const Message& m) {
  std::string bytes = encode(kCluster, m);
  auto decoded = decode(bytes, limits());
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error());
  return decoded.ok() ? *decoded : Message{};
}

TEST(CoreMessage, PrepareRoundTripKeepsEveryField) {
  Prepare p = sample_prepare();
  Message m = round_trip(Message{p});
  ASSERT_TRUE(std::holds_alternative<Prepare>(m));
  const Prepare& q = std::get<Prepare>(m);
  EXPECT_EQ(q.header, p.header);
  EXPECT_EQ(q.replica, p.replica);
  EXPECT_EQ(q.batch, p.batch);
}

TEST(CoreMessage, EveryKindRoundTrips) {
  const PrepareHeader h1 = header_at(5, Checksum{9, 9});
  const PrepareHeader h2 = header_at(6, h1.checksum);
  std::vector<Message> all = {
      Request{View{1}, "client-1", RequestNo{4}, "get k", Op{3}},
      Request{View{1}, "client-1", RequestNo{0}, "", Op{0}},
      Reply{View{1}, ReplicaIndex{2}, "client-1", RequestNo{4}, Op{8}, ReplyStatus::evicted, "r"},
      sample_prepare(),
      PrepareOk{View{3}, ReplicaIndex{2}, Op{5}, Checksum{3, 4}},
      Commit{View{3}, ReplicaIndex{0}, Op{5}, Checksum{3, 4}},
      StartViewChange{View{3}, ReplicaIndex{1}, View{2}},
      DoViewChange{View{3},
                   ReplicaIndex{1},
                   View{2},
                   Op{6},
                   Op{4},
                   {DvcEntry{Op{4}, SlotState::corrupt, std::nullopt, std::nullopt},
                    DvcEntry{Op{5}, SlotState::intact, h1, h1.checksum},
                    DvcEntry{Op{6}, SlotState::missing, std::nullopt, h2.checksum}}},
      StartView{View{3}, ReplicaIndex{0}, Op{6}, Op{5}, {h1, h2}},
      StartView{View{3}, ReplicaIndex{0}, Op{6}, Op{5}, {h1, h2}, 77},
      RequestStartView{View{3}, ReplicaIndex{1}},
      RequestStartView{View{3}, ReplicaIndex{1}, (std::uint64_t{1} << 63) - 1},
      RequestHeaders{View{3}, ReplicaIndex{1}, Op{2}, Op{6}},
      Headers{View{3}, ReplicaIndex{2}, {h2, h1}},
      RequestPrepare{View{3}, ReplicaIndex{1}, Op{5}, h1.checksum},
      RequestCheckpoint{View{3}, ReplicaIndex{1}, Op{5}},
      SyncCheckpoint{View{3}, ReplicaIndex{2}, Op{64}, Checksum{5, 6}, "snapshot"},
      Recovery{View{0}, ReplicaIndex{2}, (std::uint64_t{1} << 63) - 1},
      RecoveryResponse{View{5}, ReplicaIndex{0}, View{4}, Op{9}, Op{7}, false, false, 42},
      RecoveryResponse{View{0}, ReplicaIndex{1}, View{0}, Op{0}, Op{0}, true, true, 0},
  };
  for (const Message& m : all) {
    Message back = round_trip(m);
    EXPECT_EQ(back.index(), m.index()) << message_name(m);
    EXPECT_EQ(encode(kCluster, back), encode(kCluster, m)) << message_name(m);
  }
}

TEST(CoreMessage, AnOversizedRequestIsRefusedButNamesItsClient) {
  const DecodeLimits l = limits();
  const Request big{View{0}, "big-client", RequestNo{9},
                    std::string(l.max_operation_bytes + 1, 'x'), Op{3}};
  const std::string bytes = encode(kCluster, Message{big});
  EXPECT_FALSE(decode(bytes, l).ok());
  const auto named = oversized_request(bytes, l);
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(named->first, "big-client");
  EXPECT_EQ(named->second, RequestNo{9});
  // Nothing for a request within the limit, for any other fault, or another message.
  const Request fits{View{0}, "c", RequestNo{9}, std::string(l.max_operation_bytes, 'x'), Op{3}};
  EXPECT_FALSE(oversized_request(encode(kCluster, Message{fits}), l).has_value());
  const Request unnamed{View{0}, "c", RequestNo{9}, std::string(l.max_operation_bytes + 1, 'x'),
                        Op{0}};
  EXPECT_FALSE(oversized_request(encode(kCluster, Message{unnamed}), l).has_value());
  EXPECT_FALSE(
      oversized_request(
          encode(kCluster, Message{Commit{View{0}, ReplicaIndex{0}, Op{0}, Checksum{}}}), l)
          .has_value());
  EXPECT_FALSE(oversized_request("garbage", l).has_value());
}

TEST(CoreMessage, EncodeReplyEqualsEncodingTheReply) {
  for (ReplyStatus status : {ReplyStatus::ok, ReplyStatus::stale_request, ReplyStatus::evicted,
                             ReplyStatus::request_no_reused, ReplyStatus::invalid_request}) {
    const Reply reply{View{7},
                      ReplicaIndex{1},
                      "client-9",
                      RequestNo{12},
                      Op{40},
                      status,
                      status == ReplyStatus::ok ? "2:ok,4:true!}" : ""};
    const std::string bytes =
        encode_reply(kCluster, ReplyFields{reply.view, reply.replica, reply.client_id,
                                           reply.request_no, reply.op, reply.status, reply.result});
    EXPECT_EQ(bytes, encode(kCluster, Message{reply}));
    const Message back = round_trip(Message{reply});
    EXPECT_EQ(encode(kCluster, back), bytes);
  }
}

TEST(CoreMessage, RejectsAnotherClusterAndVersion) {
  std::string bytes = encode(kCluster + 1, Message{RequestStartView{View{1}, ReplicaIndex{0}}});
  auto r = decode(bytes, limits());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("another cluster"), std::string::npos);

  // Another version (an older build's, say) is named with this build's.
  std::string v1;
  tnet::Encoder e(v1);
  e.begin_dict();
  e.key("cluster");
  e.integer(kCluster);
  e.key("version");
  e.integer(protocol_version - 1);
  e.key("kind");
  e.bytes("commit");
  e.end_dict();
  auto r1 = decode(v1, limits());
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error(), fmt::format("protocol version {}, but this build speaks version {}",
                                    protocol_version - 1, protocol_version));
}

TEST(CoreMessage, RejectsTamperedPrepare) {
  std::string bytes = encode(kCluster, Message{sample_prepare()});
  const auto at = bytes.find("add k1 5");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 7] = '6';  // the same length, another operation
  auto r = decode(bytes, limits());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("checksum"), std::string::npos);
}

TEST(CoreMessage, RejectsEveryTruncation) {
  std::string bytes = encode(kCluster, Message{sample_prepare()});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n), limits()).ok()) << n;
  }
}

TEST(CoreMessage, RejectsOutOfRangeFields) {
  // A replica index beyond the cluster, a client id over 64 bytes, a registration with an
  // operation, an unknown kind, a non-dict.
  EXPECT_FALSE(
      decode(encode(kCluster, Message{PrepareOk{View{1}, ReplicaIndex{3}, Op{1}, {}}}), limits())
          .ok());
  EXPECT_FALSE(decode(encode(kCluster, Message{Request{View{0}, std::string(65, 'x'), RequestNo{1},
                                                       "", Op{1}}}),
                      limits())
                   .ok());
  EXPECT_FALSE(
      decode(encode(kCluster, Message{Request{View{0}, "c", RequestNo{0}, "op", Op{0}}}), limits())
          .ok());
  // A registration names no session; every other request names one.
  EXPECT_FALSE(
      decode(encode(kCluster, Message{Request{View{0}, "c", RequestNo{0}, "", Op{1}}}), limits())
          .ok());
  EXPECT_FALSE(
      decode(encode(kCluster, Message{Request{View{0}, "c", RequestNo{1}, "op", Op{0}}}), limits())
          .ok());
  EXPECT_FALSE(decode("0:~", limits()).ok());
  std::string unknown;
  tnet::Encoder e(unknown);
  e.begin_dict();
  e.key("cluster");
  e.integer(kCluster);
  e.key("version");
  e.integer(protocol_version);
  e.key("kind");
  e.bytes("recover_everything");
  e.end_dict();
  auto r = decode(unknown, limits());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("unknown message kind"), std::string::npos);
}

TEST(CoreMessage, RejectsOversizedBatchAndHeaders) {
  Prepare p = sample_prepare();
  p.batch.assign(9, BatchRequest{"c", RequestNo{1}, "x", Op{1}});
  seal_prepare(kCluster, p);
  EXPECT_FALSE(decode(encode(kCluster, Message{p}), limits()).ok());

  Headers h{View{1}, ReplicaIndex{0}, {}};
  Checksum parent{1, 1};
  for (std::uint64_t op = 1; op <= 17; ++op) {
    h.headers.push_back(header_at(op, parent));
    parent = h.headers.back().checksum;
  }
  EXPECT_FALSE(decode(encode(kCluster, Message{h}), limits()).ok());
}

TEST(CoreMessage, RejectsUnchainedStartView) {
  const PrepareHeader h1 = header_at(5, Checksum{9, 9});
  const PrepareHeader h2 = header_at(6, Checksum{8, 8});  // does not name h1 as its parent
  auto r =
      decode(encode(kCluster, Message{StartView{View{3}, ReplicaIndex{0}, Op{6}, Op{5}, {h1, h2}}}),
             limits());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("chain"), std::string::npos);
}

TEST(CoreMessage, RejectsDoViewChangeEntryWithoutChecksum) {
  DoViewChange d{View{3}, ReplicaIndex{1},
                 View{2}, Op{6},
                 Op{4},   {DvcEntry{Op{6}, SlotState::missing, std::nullopt, std::nullopt}}};
  EXPECT_FALSE(decode(encode(kCluster, Message{d}), limits()).ok());
  DoViewChange above{View{3}, ReplicaIndex{1}, View{4}, Op{6}, Op{4}, {}};
  EXPECT_FALSE(decode(encode(kCluster, Message{above}), limits()).ok());
}

TEST(CoreMessage, RecoveryResponseRoundTripKeepsEveryField) {
  const RecoveryResponse r{View{5}, ReplicaIndex{2}, View{4}, Op{9}, Op{7}, false, false, 77};
  Message m = round_trip(Message{r});
  ASSERT_TRUE(std::holds_alternative<RecoveryResponse>(m));
  const auto& q = std::get<RecoveryResponse>(m);
  EXPECT_EQ(q.view, r.view);
  EXPECT_EQ(q.replica, r.replica);
  EXPECT_EQ(q.voted_view, r.voted_view);
  EXPECT_EQ(q.op, r.op);
  EXPECT_EQ(q.commit, r.commit);
  EXPECT_EQ(q.pristine, r.pristine);
  EXPECT_EQ(q.asking, r.asking);
  EXPECT_EQ(q.nonce, r.nonce);
}

/// A message dict of `kind` with every field set as given (absent when the value is empty;
/// "true"/"false" a boolean, "s..." bytes, else an integer).
std::string dict_bytes(const char* kind,
                       const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  e.key("cluster");
  e.integer(kCluster);
  e.key("version");
  e.integer(protocol_version);
  e.key("kind");
  e.bytes(kind);
  for (const auto& [key, value] : kv) {
    if (value.empty()) continue;
    e.key(key);
    if (value == "true" || value == "false") {
      e.boolean(value == "true");
    } else if (value[0] == 's') {
      e.bytes(value.substr(1));
    } else {
      e.integer(std::stoll(value));
    }
  }
  e.end_dict();
  return out;
}

TEST(CoreMessage, RejectsHostileRecoveryMessages) {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  const Fields good = {{"view", "3"},       {"replica", "1"}, {"voted_view", "2"},
                       {"op", "5"},         {"commit", "4"},  {"pristine", "false"},
                       {"asking", "false"}, {"nonce", "99"}};
  ASSERT_TRUE(decode(dict_bytes("recovery_response", good), limits()).ok());
  auto with = [&](const std::string& key, const std::string& value) {
    Fields f = good;
    for (auto& [k, v] : f) {
      if (k == key) v = value;
    }
    return decode(dict_bytes("recovery_response", f), limits());
  };
  // Every field missing, of the wrong type, or out of range.
  for (const auto& [key, value] : good) {
    EXPECT_FALSE(with(key, "").ok()) << "without " << key;
    EXPECT_FALSE(with(key, "sx").ok()) << key << " as bytes";
  }
  EXPECT_FALSE(with("nonce", "-1").ok());
  EXPECT_FALSE(with("replica", "3").ok());
  EXPECT_FALSE(with("pristine", "1").ok());
  EXPECT_FALSE(with("commit", "6").ok());       // above op
  EXPECT_FALSE(with("voted_view", "4").ok());   // above view
  EXPECT_FALSE(with("asking", "true").ok());    // asking but not pristine
  EXPECT_FALSE(with("pristine", "true").ok());  // pristine at op 5, voted in view 2
  EXPECT_TRUE(decode(dict_bytes("recovery_response", {{"view", "3"},
                                                      {"replica", "1"},
                                                      {"voted_view", "0"},
                                                      {"op", "0"},
                                                      {"commit", "0"},
                                                      {"pristine", "true"},
                                                      {"asking", "false"},
                                                      {"nonce", "0"}}),
                     limits())
                  .ok());  // its view moved on its own timeout: still pristine
  // Pristine is view 0 and op 0 (an asking replica is pristine).
  EXPECT_TRUE(decode(dict_bytes("recovery_response", {{"view", "0"},
                                                      {"replica", "1"},
                                                      {"voted_view", "0"},
                                                      {"op", "0"},
                                                      {"commit", "0"},
                                                      {"pristine", "true"},
                                                      {"asking", "true"},
                                                      {"nonce", "0"}}),
                     limits())
                  .ok());
  // Recovery: a nonce must be a non-negative integer, the sender a replica of the cluster.
  std::string bytes = encode(kCluster, Message{Recovery{View{0}, ReplicaIndex{1}, 5}});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n), limits()).ok()) << n;
  }
  ASSERT_TRUE(
      decode(dict_bytes("recovery", {{"view", "0"}, {"replica", "1"}, {"nonce", "5"}}), limits())
          .ok());
  EXPECT_FALSE(
      decode(dict_bytes("recovery", {{"view", "0"}, {"replica", "1"}, {"nonce", "-5"}}), limits())
          .ok());
  EXPECT_FALSE(decode(dict_bytes("recovery", {{"view", "0"}, {"replica", "1"}}), limits()).ok());
  EXPECT_FALSE(
      decode(encode(kCluster, Message{Recovery{View{0}, ReplicaIndex{3}, 5}}), limits()).ok());
}

TEST(CoreMessage, RootPrepareIsTheSameEverywhereAndPerCluster) {
  EXPECT_EQ(root_prepare(kCluster).header, root_prepare(kCluster).header);
  EXPECT_NE(root_prepare(kCluster).header.checksum, root_prepare(kCluster + 1).header.checksum);
}

TEST(CoreMessage, MetadataAndCheckpointRoundTrip) {
  Metadata md;
  md.view = View{7};
  md.log_view = View{5};
  md.commit = Op{40};
  md.checkpoint_op = Op{32};
  md.checkpoint_checksum = Checksum{11, 12};
  md.voted_view = View{6};
  md.view_headers = {header_at(41, Checksum{1, 2})};
  auto back = decode_metadata(encode_metadata(kCluster, md), kCluster);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, md);
  EXPECT_FALSE(decode_metadata(encode_metadata(kCluster, md), kCluster + 1).ok());
  EXPECT_FALSE(decode_metadata("3:abc,", kCluster).ok());

  // The rejoin floor is written only when set (older metadata has none: 0), and never above
  // the view.
  EXPECT_EQ(encode_metadata(kCluster, md).find("rejoin_floor"), std::string::npos);
  md.rejoin_floor = View{6};
  back = decode_metadata(encode_metadata(kCluster, md), kCluster);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->rejoin_floor, View{6});
  md.rejoin_floor = View{8};
  EXPECT_FALSE(decode_metadata(encode_metadata(kCluster, md), kCluster).ok());

  Checkpoint cp{Op{32}, Checksum{3, 4}, 1234, "app-state", "table"};
  auto cp_back = decode_checkpoint(encode_checkpoint(kCluster, cp), kCluster);
  ASSERT_TRUE(cp_back.ok()) << cp_back.error();
  EXPECT_EQ(cp_back->op, cp.op);
  EXPECT_EQ(cp_back->checksum, cp.checksum);
  EXPECT_EQ(cp_back->timestamp_ms, cp.timestamp_ms);
  EXPECT_EQ(cp_back->app_snapshot, cp.app_snapshot);
  EXPECT_EQ(cp_back->client_table, cp.client_table);
}

}  // namespace
}  // namespace vsr::core
