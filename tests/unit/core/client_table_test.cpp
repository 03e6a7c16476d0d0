// Proves the client table's at-most-once rules: a session is created by registration, a
// request executes once, the latest request's retry is a cached reply, older numbers are
// stale, a full table evicts the least recently committed session and says whom, and the
// checkpoint encoding round-trips deterministically.

#include <gtest/gtest.h>

#include "vsr/core/client_table.hpp"

namespace vsr::core {
namespace {

using Kind = ExecuteOutcome::Kind;

TEST(CoreClientTable, RegistrationThenAtMostOnce) {
  ClientTable t(4);
  EXPECT_EQ(t.classify("a", RequestNo{1}), RequestClass::no_session);
  EXPECT_EQ(t.classify("a", RequestNo{0}), RequestClass::fresh);
  EXPECT_EQ(t.begin_execute("a", RequestNo{1}, Op{1}).kind, Kind::no_session);
  EXPECT_EQ(t.begin_execute("a", RequestNo{0}, Op{2}).kind, Kind::registered);
  EXPECT_EQ(t.begin_execute("a", RequestNo{0}, Op{3}).kind, Kind::duplicate);
  EXPECT_EQ(t.begin_execute("a", RequestNo{1}, Op{4}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{1}, Op{4}, "reply-1");
  EXPECT_EQ(t.begin_execute("a", RequestNo{1}, Op{5}).kind, Kind::duplicate);
  EXPECT_EQ(t.classify("a", RequestNo{1}), RequestClass::retry_latest);
  EXPECT_EQ(t.find("a")->result, "reply-1");
  EXPECT_EQ(t.find("a")->op, Op{4});
  EXPECT_EQ(t.classify("a", RequestNo{2}), RequestClass::fresh);
  EXPECT_EQ(t.begin_execute("a", RequestNo{3}, Op{6}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{3}, Op{6}, "reply-3");
  EXPECT_EQ(t.classify("a", RequestNo{2}), RequestClass::stale);
  EXPECT_EQ(t.begin_execute("a", RequestNo{2}, Op{7}).kind, Kind::duplicate);
}

TEST(CoreClientTable, EvictsLeastRecentlyCommittedAndNamesIt) {
  ClientTable t(2);
  EXPECT_EQ(t.begin_execute("a", RequestNo{0}, Op{1}).kind, Kind::registered);
  EXPECT_EQ(t.begin_execute("b", RequestNo{0}, Op{2}).kind, Kind::registered);
  ASSERT_EQ(t.begin_execute("a", RequestNo{1}, Op{3}).kind, Kind::execute);
  t.finish_execute("a", RequestNo{1}, Op{3}, "x");  // a is now more recent than b
  ExecuteOutcome c = t.begin_execute("c", RequestNo{0}, Op{4});
  EXPECT_EQ(c.kind, Kind::registered);
  ASSERT_TRUE(c.evicted_client.has_value());
  EXPECT_EQ(*c.evicted_client, "b");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find("b"), nullptr);
  EXPECT_EQ(t.classify("b", RequestNo{1}), RequestClass::no_session);
}

TEST(CoreClientTable, EncodeDecodeRoundTrip) {
  ClientTable t(3);
  (void)t.begin_execute("z", RequestNo{0}, Op{1});
  (void)t.begin_execute("a", RequestNo{0}, Op{2});
  (void)t.begin_execute("a", RequestNo{5}, Op{3});
  t.finish_execute("a", RequestNo{5}, Op{3}, std::string("\0r", 2));
  std::string bytes;
  t.encode(bytes);
  ClientTable u(3);
  ASSERT_TRUE(u.decode(bytes).ok());
  EXPECT_TRUE(u == t);
  std::string again;
  u.encode(again);
  EXPECT_EQ(again, bytes);
}

TEST(CoreClientTable, DecodeRejectsMalformedAndLeavesTableAlone) {
  ClientTable t(1);
  (void)t.begin_execute("keep", RequestNo{0}, Op{1});
  ClientTable big(2);
  (void)big.begin_execute("x", RequestNo{0}, Op{1});
  (void)big.begin_execute("y", RequestNo{0}, Op{2});
  std::string two;
  big.encode(two);
  EXPECT_FALSE(t.decode(two).ok());  // more sessions than capacity
  EXPECT_FALSE(t.decode("garbage").ok());
  EXPECT_FALSE(t.decode("4:1:x,]").ok());
  EXPECT_NE(t.find("keep"), nullptr);
}

}  // namespace
}  // namespace vsr::core
