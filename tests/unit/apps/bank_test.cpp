// Proves the bank app's semantics (product.md §1): every operation, every refusal, the
// int64 edges, argument validation, and that a refusal changes nothing; plus that the bank
// agrees with the reference model (vsr/app/testing/bank_model.hpp) on random operations.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "app_test_util.hpp"
#include "bank/bank.hpp"
#include "vsr/app/limits.hpp"
#include "vsr/app/testing/bank_model.hpp"

namespace vsr::app::test {
namespace {

namespace bank = apps::bank;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

Json account(std::string_view name, std::int64_t balance) {
  return Json{{"account", std::string(name)}, {"balance", balance}};
}

Json ok(Json result) {
  return Json{{"ok", true}, {"result", std::move(result)}};
}

class BankTest : public AppTest {
 protected:
  BankTest() : AppTest("bank") {}
};

TEST_F(BankTest, AddCreditsAndDebitsAndReturnsTheNewBalance) {
  EXPECT_EQ(run(bank::encode_add("balance", 10)), ok(account("balance", 10)));
  EXPECT_EQ(run(bank::encode_add("balance", 32)), ok(account("balance", 42)));
  EXPECT_EQ(run(bank::encode_add("balance", -2)), ok(account("balance", 40)));
  EXPECT_EQ(run(bank::encode_add("balance", -40)), ok(account("balance", 0)));
  EXPECT_EQ(run(bank::encode_get("balance")), ok(account("balance", 0)));
}

TEST_F(BankTest, AddBelowZeroIsInsufficientFunds) {
  run(bank::encode_add("a", 5));
  expect_refused(bank::encode_add("a", -6), "insufficient_funds");
  expect_refused(bank::encode_add("unknown", -1), "insufficient_funds");
  expect_refused(bank::encode_add("a", kMin), "insufficient_funds");
  EXPECT_EQ(run(bank::encode_get("a")), ok(account("a", 5)));
}

TEST_F(BankTest, AddAtTheInt64Edges) {
  EXPECT_EQ(run(bank::encode_add("a", kMax)), ok(account("a", kMax)));
  expect_refused(bank::encode_add("a", 1), "overflow");
  expect_refused(bank::encode_add("a", kMax), "overflow");
  EXPECT_EQ(run(bank::encode_add("a", kMin + 1)), ok(account("a", 0)));
  EXPECT_EQ(run(bank::encode_add("a", kMax)), ok(account("a", kMax)));
  expect_refused(bank::encode_add("a", kMin), "insufficient_funds");  // kMax + kMin = -1
  EXPECT_EQ(run(bank::encode_add("a", -kMax)), ok(account("a", 0)));
}

TEST_F(BankTest, AddZeroCreatesTheAccount) {
  EXPECT_EQ(run(bank::encode_add("zero", 0)), ok(account("zero", 0)));
  EXPECT_EQ(run(bank::encode_list()), ok(Json{{"accounts", Json::array({account("zero", 0)})}}));
}

TEST_F(BankTest, GetOfAnUnknownAccountIsZeroAndCreatesNothing) {
  const std::string before = snapshot_of(*machine_);
  EXPECT_EQ(run(bank::encode_get("nobody")), ok(account("nobody", 0)));
  EXPECT_EQ(snapshot_of(*machine_), before);
}

TEST_F(BankTest, TransferMovesTheAmountAndReturnsBothBalances) {
  run(bank::encode_add("alice", 100));
  EXPECT_EQ(run(bank::encode_transfer("alice", "bob", 30)),
            ok(Json{{"from", account("alice", 70)}, {"to", account("bob", 30)}}));
  EXPECT_EQ(run(bank::encode_transfer("bob", "alice", 30)),
            ok(Json{{"from", account("bob", 0)}, {"to", account("alice", 100)}}));
  EXPECT_EQ(run(bank::encode_transfer("alice", "bob", 100)),
            ok(Json{{"from", account("alice", 0)}, {"to", account("bob", 100)}}));
}

TEST_F(BankTest, TransferRefusals) {
  run(bank::encode_add("alice", 100));
  run(bank::encode_add("rich", kMax));
  expect_refused(bank::encode_transfer("alice", "bob", 0), "invalid_amount");
  expect_refused(bank::encode_transfer("alice", "bob", -1), "invalid_amount");
  expect_refused(bank::encode_transfer("alice", "bob", kMin), "invalid_amount");
  expect_refused(bank::encode_transfer("alice", "bob", 101), "insufficient_funds");
  expect_refused(bank::encode_transfer("alice", "bob", kMax), "insufficient_funds");
  expect_refused(bank::encode_transfer("nobody", "bob", 1), "insufficient_funds");
  // Atomic: the debit is not applied when the credit would overflow.
  expect_refused(bank::encode_transfer("alice", "rich", 1), "overflow");
  EXPECT_EQ(run(bank::encode_get("alice")), ok(account("alice", 100)));
}

TEST_F(BankTest, TransferToTheSameAccountChangesNothingButNeedsTheFunds) {
  run(bank::encode_add("a", kMax));
  EXPECT_EQ(run(bank::encode_transfer("a", "a", kMax)),
            ok(Json{{"from", account("a", kMax)}, {"to", account("a", kMax)}}));
  expect_refused(bank::encode_transfer("b", "b", 1), "insufficient_funds");
}

TEST_F(BankTest, ListIsSortedByName) {
  EXPECT_EQ(run(bank::encode_list()), ok(Json{{"accounts", Json::array()}}));
  run(bank::encode_add("carol", 3));
  run(bank::encode_add("alice", 1));
  run(bank::encode_add("bob", 2));
  EXPECT_EQ(run(bank::encode_list()),
            ok(Json{{"accounts",
                     Json::array({account("alice", 1), account("bob", 2), account("carol", 3)})}}));
}

TEST_F(BankTest, ListIsBoundedAndSaysWhenItIsTruncated) {
  for (std::size_t i = 0; i <= kListEntriesMax; ++i) {
    run(bank::encode_add(fmt::format("acct-{:05}", i), 1));
  }
  const Json reply = run(bank::encode_list());
  ASSERT_EQ(reply["result"]["accounts"].size(), kListEntriesMax);
  EXPECT_EQ(reply["result"]["accounts"][0]["account"], "acct-00000");
  EXPECT_EQ(reply["result"]["truncated"], true);
}

TEST_F(BankTest, InvalidArgumentsAreRefusedAsInvalidRequest) {
  run(bank::encode_add("a", 1));
  expect_refused(bank::encode_add("", 1), "invalid_request");
  expect_refused(bank::encode_get(""), "invalid_request");
  expect_refused(bank::encode_transfer("a", "", 1), "invalid_request");
  expect_refused(bank::encode_transfer("", "a", 1), "invalid_request");
  expect_refused(bank::encode_add(std::string(kKeyBytesMax + 1, 'x'), 1), "invalid_request");
  EXPECT_EQ(error_of(run(bank::encode_add(std::string(kKeyBytesMax, 'x'), 1))), "");
  expect_refused(bank::encode_add("new\nline", 1), "invalid_request");
  expect_refused(bank::encode_add("tab\t", 1), "invalid_request");
  expect_refused(bank::encode_add("\xff\xfe", 1), "invalid_request");
  EXPECT_EQ(error_of(run(bank::encode_add("\xc3\xa9t\xc3\xa9", 1))), "");  // "été"
}

TEST_F(BankTest, MalformedOperationsAreRefusedAsInvalidRequest) {
  run(bank::encode_add("a", 1));
  expect_refused("", "invalid_request");
  expect_refused("garbage", "invalid_request");
  expect_refused("5:hello,", "invalid_request");
  expect_refused("0:]", "invalid_request");
  expect_refused(raw_op({}), "invalid_request");
  expect_refused(raw_op({{"op", "steal"}}), "invalid_request");
  expect_refused(raw_op({{"op", std::int64_t{1}}}), "invalid_request");
  expect_refused(raw_op({{"op", "add"}, {"account", "a"}}), "invalid_request");
  expect_refused(raw_op({{"op", "add"}, {"account", "a"}, {"amount", "5"}}), "invalid_request");
  expect_refused(raw_op({{"op", "add"}, {"account", std::int64_t{7}}, {"amount", std::int64_t{5}}}),
                 "invalid_request");
  expect_refused(
      raw_op({{"op", "add"}, {"account", "a"}, {"amount", std::int64_t{5}}, {"extra", "x"}}),
      "invalid_request");
  expect_refused(raw_op({{"op", "list"}, {"extra", "x"}}), "invalid_request");
  const std::string valid = bank::encode_add("a", 5);
  expect_refused(valid.substr(0, valid.size() - 1), "invalid_request");
  expect_refused(valid + "x", "invalid_request");
}

TEST(BankModel, AgreesWithTheBankOnRandomOperations) {
  auto machine = make_app("bank");
  testing::BankModel model;
  std::mt19937_64 random(20240611);
  const std::int64_t amounts[] = {0, 1, -1, 7, -7, 1000, -1000, kMax, kMin, kMax - 1, kMin + 1};
  const char* const accounts[] = {"a", "b", "c", ""};
  const auto pick_amount = [&] {
    return random() % 2 == 0 ? amounts[random() % std::size(amounts)]
                             : static_cast<std::int64_t>(random() % 2001) - 1000;
  };
  for (int i = 0; i < 5000; ++i) {
    const char* from = accounts[random() % std::size(accounts)];
    const char* to = accounts[random() % std::size(accounts)];
    std::string op;
    switch (random() % 5) {
      case 0:
        op = bank::encode_add(from, pick_amount());
        break;
      case 1:
        op = bank::encode_get(from);
        break;
      case 2:
        op = bank::encode_transfer(from, to, pick_amount());
        break;
      case 3:
        op = bank::encode_list();
        break;
      default:
        op = raw_op({{"op", "add"}, {"account", from}});
        break;
    }
    std::string reply;
    machine->execute(Context{}, op, reply);
    const auto mismatch = model.check(op, reply);
    ASSERT_FALSE(mismatch.has_value()) << "step " << i << ": " << *mismatch;
  }
  EXPECT_FALSE(model.balances().empty());
}

TEST(BankModel, CatchesAWrongReply) {
  testing::BankModel model;
  std::string wrong;
  encode_ok(wrong, [](tnet::Encoder& e) {
    e.key("account");
    e.bytes("a");
    e.key("balance");
    e.integer(6);  // the bank must say 5
  });
  EXPECT_TRUE(model.check(bank::encode_add("a", 5), wrong).has_value());
  std::string refusal;
  encode_error(refusal, ErrorCode::overflow, "no");
  EXPECT_TRUE(model.check(bank::encode_add("a", -10), refusal).has_value());
  EXPECT_TRUE(model.check(bank::encode_get("a"), "not a reply").has_value());
}

}  // namespace
}  // namespace vsr::app::test
