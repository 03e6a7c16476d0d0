// Proves the locks app's semantics (product.md §1): leases owned by the calling client id,
// renewal by the owner, `held` naming the holder, release only by the owner, expiry by
// the replicated timestamp alone, and fencing tokens that strictly increase per lock
// across release, expiry and snapshot/restore.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "app_test_util.hpp"
#include "locks/locks.hpp"
#include "vsr/app/limits.hpp"

namespace vsr::app::test {
namespace {

namespace locks = apps::locks;

Json holder(std::string_view name, std::string_view owner, std::int64_t token,
            std::int64_t expires_at_ms) {
  return Json{{"ok", true},
              {"result",
               {{"name", std::string(name)},
                {"owner", std::string(owner)},
                {"token", token},
                {"expires_at_ms", expires_at_ms}}}};
}

Json free_lock(std::string_view name) {
  return Json{{"ok", true},
              {"result",
               {{"name", std::string(name)},
                {"owner", nullptr},
                {"token", nullptr},
                {"expires_at_ms", nullptr}}}};
}

class LocksTest : public AppTest {
 protected:
  LocksTest() : AppTest("locks") {}

  // Runs `operation` as `client` at time `now_ms`.
  Json at(std::uint64_t now_ms, std::string_view client, std::string_view operation) {
    context_.timestamp_ms = now_ms;
    context_.client_id = client;
    return run(operation);
  }
};

TEST_F(LocksTest, AcquireGrantsATokenAndALease) {
  EXPECT_EQ(at(1000, "a", locks::encode_acquire("L", 500)), holder("L", "a", 1, 1500));
  EXPECT_EQ(at(1100, "b", locks::encode_holder("L")), holder("L", "a", 1, 1500));
  EXPECT_EQ(at(1100, "b", locks::encode_holder("other")), free_lock("other"));
}

TEST_F(LocksTest, AcquireOfAHeldLockNamesTheHolder) {
  at(1000, "alice", locks::encode_acquire("L", 500));
  context_.timestamp_ms = 1499;
  context_.client_id = "bob";
  const Json reply = run(locks::encode_acquire("L", 500));
  EXPECT_EQ(error_of(reply), "held");
  EXPECT_NE(reply["message"].get<std::string>().find("alice"), std::string::npos);
  expect_refused(locks::encode_acquire("L", 500), "held");
}

TEST_F(LocksTest, TheOwnerReacquiringRenewsAndKeepsTheToken) {
  at(1000, "a", locks::encode_acquire("L", 500));
  EXPECT_EQ(at(1400, "a", locks::encode_acquire("L", 500)), holder("L", "a", 1, 1900));
  EXPECT_EQ(at(1800, "b", locks::encode_holder("L")), holder("L", "a", 1, 1900));
  EXPECT_EQ(error_of(at(1899, "b", locks::encode_acquire("L", 10))), "held");
}

TEST_F(LocksTest, ALeaseExpiresAtItsExpiryTimestamp) {
  at(1000, "a", locks::encode_acquire("L", 500));
  EXPECT_EQ(at(1499, "b", locks::encode_holder("L")), holder("L", "a", 1, 1500));
  EXPECT_EQ(at(1500, "b", locks::encode_holder("L")), free_lock("L"));
  EXPECT_EQ(at(1500, "b", locks::encode_acquire("L", 100)), holder("L", "b", 2, 1600));
}

TEST_F(LocksTest, AnExpiredOwnerGetsANewTokenWhenItComesBack) {
  at(1000, "a", locks::encode_acquire("L", 500));
  EXPECT_EQ(at(2000, "a", locks::encode_acquire("L", 500)), holder("L", "a", 2, 2500));
}

TEST_F(LocksTest, ReleaseOnlyByTheOwner) {
  at(1000, "a", locks::encode_acquire("L", 500));
  context_.client_id = "b";
  expect_refused(locks::encode_release("L"), "not_owner");
  expect_refused(locks::encode_release("never-held"), "not_owner");
  EXPECT_EQ(at(1001, "a", locks::encode_release("L")),
            (Json{{"ok", true}, {"result", {{"name", "L"}, {"released", true}}}}));
  EXPECT_EQ(at(1002, "b", locks::encode_holder("L")), free_lock("L"));
  context_.client_id = "a";
  expect_refused(locks::encode_release("L"), "not_owner");
}

TEST_F(LocksTest, AnOwnerWhoseLeaseExpiredCannotRelease) {
  at(1000, "a", locks::encode_acquire("L", 500));
  at(1500, "a", locks::encode_holder("L"));  // the expired lease is dropped here
  expect_refused(locks::encode_release("L"), "not_owner");
}

TEST_F(LocksTest, TokensStrictlyIncreaseAcrossReleaseAndExpiry) {
  EXPECT_EQ(at(1000, "a", locks::encode_acquire("L", 100))["result"]["token"], 1);
  at(1001, "a", locks::encode_release("L"));
  EXPECT_EQ(at(1002, "a", locks::encode_acquire("L", 100))["result"]["token"], 2);
  EXPECT_EQ(at(1003, "b", locks::encode_acquire("M", 100))["result"]["token"], 3);
  EXPECT_EQ(at(5000, "b", locks::encode_acquire("L", 100))["result"]["token"], 4);
}

TEST_F(LocksTest, TokensStrictlyIncreaseAcrossSnapshotAndRestore) {
  at(1000, "a", locks::encode_acquire("L", 100));
  at(1001, "a", locks::encode_release("L"));
  at(1002, "a", locks::encode_acquire("M", 100));
  at(9000, "a", locks::encode_holder("M"));  // M expired and is swept: no lease left
  auto restored = make_app("locks");
  ASSERT_TRUE(restored->restore(snapshot_of(*machine_)).ok());
  const Json reply = test::run(*restored, locks::encode_acquire("L", 100),
                               Context{.op = 9, .timestamp_ms = 9001, .client_id = "z"});
  EXPECT_EQ(reply, holder("L", "z", 3, 9101));
}

TEST_F(LocksTest, TtlBounds) {
  context_.timestamp_ms = 1000;
  expect_refused(locks::encode_acquire("L", 0), "invalid_request");
  expect_refused(locks::encode_acquire("L", -1), "invalid_request");
  expect_refused(locks::encode_acquire("L", kLockTtlMsMax + 1), "invalid_request");
  expect_refused(locks::encode_acquire("L", std::numeric_limits<std::int64_t>::min()),
                 "invalid_request");
  EXPECT_EQ(run(locks::encode_acquire("L", kLockTtlMsMax)),
            holder("L", "client-a", 1, 1000 + kLockTtlMsMax));
  EXPECT_EQ(run(locks::encode_acquire("M", kLockTtlMsMin)), holder("M", "client-a", 2, 1001));
  EXPECT_EQ(run(locks::encode_acquire("N")), holder("N", "client-a", 3, 1000 + kLockTtlMsDefault));
}

TEST_F(LocksTest, ATimestampNearTheInt64EdgeIsRefusedNotWrapped) {
  context_.timestamp_ms = std::numeric_limits<std::uint64_t>::max();
  expect_refused(locks::encode_acquire("L", 1), "overflow");
}

TEST_F(LocksTest, AcquireNeedsAClientIdAndAName) {
  context_.client_id = "";
  expect_refused(locks::encode_acquire("L", 100), "invalid_request");
  context_.client_id = "a";
  expect_refused(locks::encode_acquire("", 100), "invalid_request");
  expect_refused(locks::encode_release(""), "invalid_request");
  expect_refused(locks::encode_holder(std::string(kKeyBytesMax + 1, 'n')), "invalid_request");
  expect_refused(raw_op({{"op", "acquire"}, {"name", "L"}}), "invalid_request");
  expect_refused(raw_op({{"op", "acquire"}, {"name", "L"}, {"ttl_ms", "100"}}), "invalid_request");
  expect_refused(raw_op({{"op", "steal"}, {"name", "L"}}), "invalid_request");
}

}  // namespace
}  // namespace vsr::app::test
