// Proves the reply format and the client-side formatters: encode/parse round trips,
// malformed replies are rejected, each app's human line and product.md JSON object for
// every command, refusals rendered as "code: message" and {"ok":false,...}, formatters
// refuse a reply of the wrong shape, and JSON output survives non-UTF-8 bytes. Also the
// argument checks (UTF-8, names) shared by the apps.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <type_traits>

#include "app_test_util.hpp"
#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "inventory/inventory.hpp"
#include "locks/locks.hpp"
#include "vsr/app/limits.hpp"

namespace vsr::app::test {
namespace {

// Executes `operation` on `machine` and keeps the reply bytes alive for the views.
class Replied {
 public:
  Replied(StateMachine& machine, std::string_view operation, const Context& context) {
    machine.execute(context, operation, bytes_);
  }
  Reply reply() const {
    auto parsed = parse_reply(bytes_);
    EXPECT_TRUE(parsed.ok()) << bytes_;
    return parsed.ok() ? *parsed : Reply{};
  }

 private:
  std::string bytes_;
};

TEST(Reply, ErrorCodesRoundTripByName) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::invalid_request); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(parse_error_code(error_code_name(code)), code);
  }
  EXPECT_EQ(error_code_name(ErrorCode::insufficient_funds), "insufficient_funds");
  EXPECT_EQ(error_code_name(ErrorCode::unknown_app), "unknown_app");
  EXPECT_EQ(error_code_name(ErrorCode::invalid_request), "invalid_request");
  EXPECT_FALSE(parse_error_code("no_such_code").has_value());
}

TEST(Reply, EncodedRepliesParseBack) {
  std::string ok;
  encode_ok(ok, [](tnet::Encoder& e) {
    e.key("n");
    e.integer(3);
  });
  auto parsed = parse_reply(ok);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->ok);
  EXPECT_EQ(parsed->result.find("n")->integer(), 3);

  std::string refusal;
  encode_error(refusal, ErrorCode::held, "lock 'L' is held by 'x'");
  parsed = parse_reply(refusal);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->ok);
  EXPECT_EQ(parsed->error, "held");
  EXPECT_EQ(parsed->message, "lock 'L' is held by 'x'");
  EXPECT_EQ(dump_json(error_json(*parsed)),
            R"({"ok":false,"error":"held","message":"lock 'L' is held by 'x'"})");
  EXPECT_EQ(error_text(*parsed), "held: lock 'L' is held by 'x'");
}

TEST(Reply, MalformedRepliesAreErrorsNotCrashes) {
  const std::string not_replies[] = {
      "",
      "garbage",
      "0:}",
      "0:]",
      "4:true!",
      "13:2:ok,5:false!}",                          // refusal without error and message
      "12:2:ok,4:true!}",                           // success without result
      "27:2:ok,4:true!6:result,3:abc,}",            // result not a dict
      "25:2:ok,5:maybe,6:result,0:}}",              // ok not a boolean
      "37:2:ok,5:false!5:error,0:,7:message,0:,}",  // empty error code
  };
  for (const std::string& bytes : not_replies) {
    EXPECT_FALSE(parse_reply(bytes).ok()) << bytes;
  }
  std::string extra;
  tnet::Encoder encoder(extra);
  encoder.begin_dict();
  encoder.key("ok");
  encoder.boolean(false);
  encoder.key("error");
  encoder.bytes("held");
  encoder.key("message");
  encoder.bytes("m");
  encoder.key("more");
  encoder.bytes("x");
  encoder.end_dict();
  EXPECT_FALSE(parse_reply(extra).ok());
}

TEST(Reply, JsonOutputSurvivesBytesThatAreNotUtf8) {
  const Json value = {{"value", std::string("a\xff"
                                            "b")}};
  EXPECT_EQ(dump_json(value),
            "{\"value\":\"a\xef\xbf\xbd"
            "b\"}");
}

TEST(Limits, Utf8Validation) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain"));
  EXPECT_TRUE(is_utf8("\xc3\xa9"));           // é
  EXPECT_TRUE(is_utf8("\xe2\x82\xac"));       // €
  EXPECT_TRUE(is_utf8("\xf0\x9f\x98\x80"));   // 😀
  EXPECT_TRUE(is_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(is_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(
      is_utf8("\xe2\x82"
              "a"));  // bad continuation
}

TEST(Limits, NameChecks) {
  EXPECT_TRUE(check_name("key", "a").ok());
  EXPECT_TRUE(check_name("key", "with space/and:punctuation").ok());
  EXPECT_TRUE(check_name("key", std::string(kKeyBytesMax, 'k')).ok());
  EXPECT_FALSE(check_name("key", "").ok());
  EXPECT_FALSE(check_name("key", std::string(kKeyBytesMax + 1, 'k')).ok());
  EXPECT_FALSE(check_name("key", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(check_name("key", "del\x7f").ok());
  EXPECT_FALSE(check_name("key", "\xff").ok());
  EXPECT_NE(check_name("account", "").error().find("account"), std::string::npos);
  EXPECT_TRUE(check_client_id("c").ok());
  EXPECT_FALSE(check_client_id("").ok());
}

class FormatTest : public ::testing::Test {
 protected:
  // Human and JSON output of `operation` run on app `name`, as "human|json".
  template <class Command>
  std::string output(std::string_view name, Command command, std::string_view operation) {
    auto& machine = machines_[std::string(name)];
    if (!machine) machine = make_app(name);
    const Replied replied(*machine, operation, context_);
    const Reply reply = replied.reply();
    auto human = format(command, reply, false);
    auto json = format(command, reply, true);
    return human + "|" + json;
  }

  template <class Command>
  static std::string format(Command command, const Reply& reply, bool as_json) {
    if constexpr (std::is_same_v<Command, apps::bank::Command>) {
      return as_json ? value_of(apps::bank::format_json(command, reply))
                     : value_of(apps::bank::format_human(command, reply));
    } else if constexpr (std::is_same_v<Command, apps::inventory::Command>) {
      return as_json ? value_of(apps::inventory::format_json(command, reply))
                     : value_of(apps::inventory::format_human(command, reply));
    } else if constexpr (std::is_same_v<Command, apps::catalog::Command>) {
      return as_json ? value_of(apps::catalog::format_json(command, reply))
                     : value_of(apps::catalog::format_human(command, reply));
    } else {
      return as_json ? value_of(apps::locks::format_json(command, reply))
                     : value_of(apps::locks::format_human(command, reply));
    }
  }

  static std::string value_of(const Result<std::string, std::string>& text) {
    return text.ok() ? *text : "ERROR " + text.error();
  }
  static std::string value_of(const Result<Json, std::string>& json) {
    return json.ok() ? dump_json(*json) : "ERROR " + json.error();
  }

  std::map<std::string, std::unique_ptr<StateMachine>> machines_;
  Context context_{.op = 1, .timestamp_ms = 1000, .client_id = "cart-1"};
};

TEST_F(FormatTest, Bank) {
  using apps::bank::Command;
  namespace bank = apps::bank;
  EXPECT_EQ(output("bank", Command::add, bank::encode_add("alice", 10)),
            R"(10|{"ok":true,"result":{"account":"alice","balance":10}})");
  EXPECT_EQ(output("bank", Command::get, bank::encode_get("bob")),
            R"(0|{"ok":true,"result":{"account":"bob","balance":0}})");
  EXPECT_EQ(
      output("bank", Command::transfer, bank::encode_transfer("alice", "bob", 3)),
      R"(7 3|{"ok":true,"result":{"from":{"account":"alice","balance":7},"to":{"account":"bob","balance":3}}})");
  EXPECT_EQ(
      output("bank", Command::list, bank::encode_list()),
      "alice 7\nbob 3|"
      R"({"ok":true,"result":{"accounts":[{"account":"alice","balance":7},{"account":"bob","balance":3}]}})");
  EXPECT_EQ(
      output("bank", Command::transfer, bank::encode_transfer("alice", "bob", 8)),
      "insufficient_funds: account 'alice' holds 7; cannot transfer 8|"
      R"({"ok":false,"error":"insufficient_funds","message":"account 'alice' holds 7; cannot transfer 8"})");
}

TEST_F(FormatTest, Inventory) {
  using apps::inventory::Command;
  namespace inventory = apps::inventory;
  const std::string result =
      R"({"sku":"s","on_hand":5,"reserved":2,"available":3,"reserved_by_caller":2})";
  output("inventory", Command::stock, inventory::encode_stock("s", 3));
  EXPECT_EQ(
      output("inventory", Command::stock, inventory::encode_stock("s", 2)),
      R"(5|{"ok":true,"result":{"sku":"s","on_hand":5,"reserved":0,"available":5,"reserved_by_caller":0}})");
  EXPECT_EQ(output("inventory", Command::reserve, inventory::encode_reserve("s", 2)),
            "2|{\"ok\":true,\"result\":" + result + "}");
  EXPECT_EQ(output("inventory", Command::available, inventory::encode_available("s")),
            "3|{\"ok\":true,\"result\":" + result + "}");
  EXPECT_EQ(
      output("inventory", Command::release, inventory::encode_release("s", 1)),
      R"(1|{"ok":true,"result":{"sku":"s","on_hand":5,"reserved":1,"available":4,"reserved_by_caller":1}})");
  EXPECT_EQ(output("inventory", Command::reserve, inventory::encode_reserve("s", 0)).substr(0, 16),
            "invalid_amount: ");
}

TEST_F(FormatTest, Catalog) {
  using apps::catalog::Command;
  namespace catalog = apps::catalog;
  EXPECT_EQ(output("catalog", Command::put, catalog::encode_put("color", "deep red")),
            R"(1|{"ok":true,"result":{"key":"color","version":1}})");
  EXPECT_EQ(output("catalog", Command::get, catalog::encode_get("color")),
            R"(deep red|{"ok":true,"result":{"key":"color","value":"deep red","version":1}})");
  output("catalog", Command::put, catalog::encode_put("size", "L"));
  EXPECT_EQ(
      output("catalog", Command::list, catalog::encode_list()),
      "color 1\nsize 1|"
      R"({"ok":true,"result":{"entries":[{"key":"color","version":1},{"key":"size","version":1}]}})");
  EXPECT_EQ(output("catalog", Command::list, catalog::encode_list("", 1)),
            "color 1|"
            R"({"ok":true,"result":{"entries":[{"key":"color","version":1}],"truncated":true}})");
  EXPECT_EQ(output("catalog", Command::remove, catalog::encode_delete("size")),
            R"(1|{"ok":true,"result":{"key":"size","version":1}})");
  EXPECT_EQ(output("catalog", Command::get, catalog::encode_get("size")),
            "not_found: key 'size' does not exist|"
            R"({"ok":false,"error":"not_found","message":"key 'size' does not exist"})");
}

TEST_F(FormatTest, Locks) {
  using apps::locks::Command;
  namespace locks = apps::locks;
  EXPECT_EQ(
      output("locks", Command::holder, locks::encode_holder("L")),
      R"(none|{"ok":true,"result":{"name":"L","owner":null,"token":null,"expires_at_ms":null}})");
  EXPECT_EQ(
      output("locks", Command::acquire, locks::encode_acquire("L", 500)),
      R"(1|{"ok":true,"result":{"name":"L","owner":"cart-1","token":1,"expires_at_ms":1500}})");
  EXPECT_EQ(
      output("locks", Command::holder, locks::encode_holder("L")),
      R"(cart-1 1 1500|{"ok":true,"result":{"name":"L","owner":"cart-1","token":1,"expires_at_ms":1500}})");
  context_.client_id = "cart-2";
  EXPECT_EQ(output("locks", Command::release, locks::encode_release("L")).substr(0, 11),
            "not_owner: ");
  context_.client_id = "cart-1";
  EXPECT_EQ(output("locks", Command::release, locks::encode_release("L")),
            R"(released|{"ok":true,"result":{"name":"L","released":true}})");
}

TEST_F(FormatTest, AReplyOfTheWrongShapeIsAnErrorNotACrash) {
  std::string bytes;
  encode_ok(bytes, [](tnet::Encoder& e) {
    e.key("surprise");
    e.integer(1);
  });
  const Reply reply = *parse_reply(bytes);
  EXPECT_FALSE(apps::bank::format_human(apps::bank::Command::get, reply).ok());
  EXPECT_FALSE(apps::bank::format_json(apps::bank::Command::transfer, reply).ok());
  EXPECT_FALSE(apps::bank::format_json(apps::bank::Command::list, reply).ok());
  EXPECT_FALSE(apps::inventory::format_json(apps::inventory::Command::stock, reply).ok());
  EXPECT_FALSE(apps::catalog::format_human(apps::catalog::Command::get, reply).ok());
  EXPECT_FALSE(apps::catalog::format_json(apps::catalog::Command::list, reply).ok());
  EXPECT_FALSE(apps::locks::format_human(apps::locks::Command::holder, reply).ok());
  EXPECT_FALSE(apps::locks::format_json(apps::locks::Command::acquire, reply).ok());
  EXPECT_FALSE(apps::locks::format_json(apps::locks::Command::release, reply).ok());
}

}  // namespace
}  // namespace vsr::app::test
