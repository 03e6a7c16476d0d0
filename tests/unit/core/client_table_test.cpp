// Proves the client table's at-most-once rules: a session is created by registration and
// numbered by its op, a request executes once, the latest request's retry is a cached
// reply, older numbers are stale, the latest number with another operation is refused as
// reused (never answered with the other operation's reply), a request of an earlier
// session of the same client id is refused as evicted (a retry from before an eviction, or
// a replay), a full table evicts the least recently committed session and says whom, and
// the checkpoint encoding round-trips deterministically.

#include <gtest/gtest.h>

#include "vsr/codec/tnetstring.hpp"
#include "vsr/core/client_table.hpp"

namespace vsr::core {
namespace {

using Kind = ExecuteOutcome::Kind;

/// Registers `client` at `op` (its session number).
void register_at(ClientTable& t, std::string_view client, Op op) {
  ASSERT_EQ(t.begin_execute(client, Op{0}, RequestNo{0}, "", op).kind, Kind::registered);
}

TEST(CoreClientTable, RegistrationThenAtMostOnce) {
  ClientTable t(4);
  EXPECT_EQ(t.classify("a", Op{2}, RequestNo{1}, "x"), RequestClass::no_session);
  EXPECT_EQ(t.classify("a", Op{0}, RequestNo{0}, ""), RequestClass::fresh);
  EXPECT_EQ(t.begin_execute("a", Op{2}, RequestNo{1}, "x", Op{1}).kind, Kind::no_session);
  register_at(t, "a", Op{2});
  EXPECT_EQ(t.find("a")->session, Op{2});
  // A second registration of the id is told the same session.
  EXPECT_EQ(t.classify("a", Op{0}, RequestNo{0}, ""), RequestClass::registered);
  EXPECT_EQ(t.begin_execute("a", Op{0}, RequestNo{0}, "", Op{3}).kind, Kind::duplicate);
  EXPECT_EQ(t.find("a")->session, Op{2});
  EXPECT_EQ(t.begin_execute("a", Op{2}, RequestNo{1}, "x", Op{4}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{1}, "x", Op{4}, "reply-1");
  EXPECT_EQ(t.begin_execute("a", Op{2}, RequestNo{1}, "x", Op{5}).kind, Kind::duplicate);
  EXPECT_EQ(t.classify("a", Op{2}, RequestNo{1}, "x"), RequestClass::retry_latest);
  EXPECT_EQ(t.find("a")->result, "reply-1");
  EXPECT_EQ(t.find("a")->op, Op{4});
  EXPECT_EQ(t.classify("a", Op{2}, RequestNo{2}, "y"), RequestClass::fresh);
  EXPECT_EQ(t.begin_execute("a", Op{2}, RequestNo{3}, "z", Op{6}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{3}, "z", Op{6}, "reply-3");
  EXPECT_EQ(t.classify("a", Op{2}, RequestNo{2}, "y"), RequestClass::stale);
  EXPECT_EQ(t.begin_execute("a", Op{2}, RequestNo{2}, "y", Op{7}).kind, Kind::duplicate);
}

TEST(CoreClientTable, TheLatestNumberWithAnotherOperationIsReusedNeverTheCachedReply) {
  ClientTable t(4);
  register_at(t, "dup", Op{1});
  ASSERT_EQ(t.begin_execute("dup", Op{1}, RequestNo{100}, "add r 5", Op{2}).kind, Kind::execute);
  t.finish_execute("dup", RequestNo{100}, "add r 5", Op{2}, "5");
  EXPECT_EQ(t.classify("dup", Op{1}, RequestNo{100}, "add r 5"), RequestClass::retry_latest);
  EXPECT_EQ(t.classify("dup", Op{1}, RequestNo{100}, "add other 7"), RequestClass::reused);
  // Both in one batch (classified fresh on arrival): the second is refused when executed.
  EXPECT_EQ(t.begin_execute("dup", Op{1}, RequestNo{100}, "add other 7", Op{3}).kind, Kind::reused);
  EXPECT_EQ(t.find("dup")->result, "5");
  // Older numbers stay stale whatever their operation (the table keeps only the latest).
  EXPECT_EQ(t.classify("dup", Op{1}, RequestNo{99}, "add other 7"), RequestClass::stale);
}

TEST(CoreClientTable, ARequestOfAnEarlierSessionOfTheSameIdIsNeverExecuted) {
  ClientTable t(1);
  register_at(t, "victim", Op{1});
  ASSERT_EQ(t.begin_execute("victim", Op{1}, RequestNo{7}, "transfer", Op{2}).kind, Kind::execute);
  t.finish_execute("victim", RequestNo{7}, "transfer", Op{2}, "ok");
  // Evicted by another client, then registered again (a replayed registration, or the
  // client itself): a new session, numbered by the op that registered it.
  register_at(t, "other", Op{3});
  EXPECT_EQ(t.find("victim"), nullptr);
  register_at(t, "victim", Op{4});
  // The replayed request names the old session: refused, however fresh its number looks.
  EXPECT_EQ(t.classify("victim", Op{1}, RequestNo{7}, "transfer"), RequestClass::no_session);
  EXPECT_EQ(t.begin_execute("victim", Op{1}, RequestNo{7}, "transfer", Op{5}).kind,
            Kind::no_session);
  EXPECT_EQ(t.begin_execute("victim", Op{1}, RequestNo{8}, "transfer", Op{6}).kind,
            Kind::no_session);
  // A session number the table never gave is refused too.
  EXPECT_EQ(t.begin_execute("victim", Op{9}, RequestNo{8}, "transfer", Op{7}).kind,
            Kind::no_session);
  EXPECT_EQ(t.begin_execute("victim", Op{4}, RequestNo{1}, "transfer", Op{8}).kind, Kind::execute);
}

TEST(CoreClientTable, EvictsLeastRecentlyCommittedAndNamesIt) {
  ClientTable t(2);
  register_at(t, "a", Op{1});
  register_at(t, "b", Op{2});
  ASSERT_EQ(t.begin_execute("a", Op{1}, RequestNo{1}, "x", Op{3}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{1}, "x", Op{3}, "x");  // a is now more recent than b
  ExecuteOutcome c = t.begin_execute("c", Op{0}, RequestNo{0}, "", Op{4});
  EXPECT_EQ(c.kind, Kind::registered);
  ASSERT_TRUE(c.evicted_client.has_value());
  EXPECT_EQ(*c.evicted_client, "b");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find("b"), nullptr);
  EXPECT_EQ(t.classify("b", Op{2}, RequestNo{1}, "x"), RequestClass::no_session);
}

TEST(CoreClientTable, EncodeDecodeRoundTrip) {
  ClientTable t(3);
  register_at(t, "z", Op{1});
  register_at(t, "a", Op{2});
  ASSERT_EQ(t.begin_execute("a", Op{2}, RequestNo{5}, "op", Op{3}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{5}, "op", Op{3}, std::string("\0r", 2));
  std::string bytes;
  t.encode(bytes);
  ClientTable u(3);
  ASSERT_TRUE(u.decode(bytes).ok());
  EXPECT_TRUE(u == t);
  EXPECT_EQ(u.classify("a", Op{2}, RequestNo{5}, "op"), RequestClass::retry_latest);
  EXPECT_EQ(u.classify("a", Op{2}, RequestNo{5}, "other"), RequestClass::reused);
  std::string again;
  u.encode(again);
  EXPECT_EQ(again, bytes);
}

TEST(CoreClientTable, DecodeRejectsMalformedAndLeavesTableAlone) {
  ClientTable t(1);
  register_at(t, "keep", Op{1});
  ClientTable big(2);
  register_at(big, "x", Op{1});
  register_at(big, "y", Op{2});
  std::string two;
  big.encode(two);
  EXPECT_FALSE(t.decode(two).ok());  // more sessions than capacity
  EXPECT_FALSE(t.decode("garbage").ok());
  EXPECT_FALSE(t.decode("4:1:x,]").ok());
  // A session numbered 0 (no registration has op 0), and a checksum of the wrong length.
  const auto one_session = [](std::int64_t session, std::string_view checksum) {
    std::string out;
    tnet::Encoder e(out);
    e.begin_list();
    e.begin_list();
    e.bytes("x");
    e.integer(session);
    e.integer(0);
    e.integer(1);
    e.bytes(checksum);
    e.bytes("");
    e.end_list();
    e.end_list();
    return out;
  };
  const std::string sound = checksum_of("").bytes();
  EXPECT_TRUE(ClientTable(1).decode(one_session(1, sound)).ok());
  EXPECT_FALSE(t.decode(one_session(0, sound)).ok());
  EXPECT_FALSE(t.decode(one_session(1, "short")).ok());
  EXPECT_NE(t.find("keep"), nullptr);
}

}  // namespace
}  // namespace vsr::core
