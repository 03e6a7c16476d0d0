// Proves the registry and the composite state machine: the registry lists every bundled
// app once, sorted, with working factories; the composite dispatches by app name, answers
// unknown or unserved apps with unknown_app and malformed operations with
// invalid_request, snapshots every served app sorted by name, restores all or nothing,
// refuses a snapshot of another set of apps, and digests its state with XXH3-128.

#include <gtest/gtest.h>
#include <xxhash.h>

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "app_test_util.hpp"
#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "locks/locks.hpp"
#include "vsr/app/composite.hpp"

namespace vsr::app::test {
namespace {

namespace bank = apps::bank;
namespace catalog = apps::catalog;

std::unique_ptr<Composite> make_composite(std::vector<std::string> names) {
  auto made = Composite::make(names);
  EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.error());
  return made.ok() ? std::move(made).value() : nullptr;
}

const Context kContext{.op = 1, .timestamp_ms = 1000, .client_id = "client-a"};

TEST(Registry, ListsEveryBundledAppOnceSortedByName) {
  std::vector<std::string_view> names;
  for (const AppDescriptor& app : registry()) {
    names.push_back(app.name);
    EXPECT_FALSE(app.summary.empty());
    EXPECT_FALSE(app.commands.empty());
    ASSERT_NE(app.factory, nullptr);
    auto machine = app.factory();
    ASSERT_NE(machine, nullptr);
    EXPECT_EQ(machine->name(), app.name);
    EXPECT_EQ(find_app(app.name), &app);
  }
  EXPECT_EQ(names, (std::vector<std::string_view>{"bank", "catalog", "inventory", "locks"}));
  EXPECT_EQ(find_app("nope"), nullptr);
  EXPECT_EQ(find_app(""), nullptr);
}

TEST(Composite, ServesEveryAppByDefaultAndTheSubsetAskedFor) {
  EXPECT_EQ(make_composite({})->served_apps(),
            (std::vector<std::string_view>{"bank", "catalog", "inventory", "locks"}));
  EXPECT_EQ(make_composite({"locks", "bank", "locks"})->served_apps(),
            (std::vector<std::string_view>{"bank", "locks"}));
  const std::array<std::string, 2> unknown = {"bank", "nope"};
  auto refused = Composite::make(unknown);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("nope"), std::string::npos);
  EXPECT_NE(refused.error().find("catalog"), std::string::npos) << "lists the known apps";
}

TEST(Composite, DispatchesByAppName) {
  auto composite = make_composite({});
  EXPECT_EQ(run(*composite, encode_composite_operation("bank", bank::encode_add("a", 5)), kContext),
            (Json{{"ok", true}, {"result", {{"account", "a"}, {"balance", 5}}}}));
  EXPECT_EQ(run(*composite, encode_composite_operation("catalog", catalog::encode_put("a", "x")),
                kContext),
            (Json{{"ok", true}, {"result", {{"key", "a"}, {"version", 1}}}}));
  // The same name in two apps is two things.
  EXPECT_EQ(run(*composite, encode_composite_operation("bank", bank::encode_get("a")),
                kContext)["result"]["balance"],
            5);
}

TEST(Composite, AnUnknownOrUnservedAppIsUnknownApp) {
  auto composite = make_composite({"bank"});
  const std::string before = snapshot_of(*composite);
  const Json unknown =
      run(*composite, encode_composite_operation("nope", bank::encode_get("a")), kContext);
  EXPECT_EQ(error_of(unknown), "unknown_app");
  EXPECT_NE(unknown["message"].get<std::string>().find("nope"), std::string::npos);
  EXPECT_EQ(
      error_of(run(*composite, encode_composite_operation("catalog", catalog::encode_get("a")),
                   kContext)),
      "unknown_app");
  EXPECT_EQ(snapshot_of(*composite), before);
}

TEST(Composite, MalformedOperationsAreInvalidRequest) {
  auto composite = make_composite({});
  const std::string before = snapshot_of(*composite);
  const std::string op = bank::encode_add("a", 1);
  // A list of the given items: strings, or integers for the wrongly typed ones.
  const auto list_of = [](std::vector<std::variant<std::string, std::int64_t>> items) {
    std::string out;
    tnet::Encoder encoder(out);
    encoder.begin_list();
    for (const auto& item : items) {
      if (const auto* text = std::get_if<std::string>(&item)) {
        encoder.bytes(*text);
      } else {
        encoder.integer(std::get<std::int64_t>(item));
      }
    }
    encoder.end_list();
    return out;
  };
  std::vector<std::string> malformed = {
      "",
      "x",
      op,  // not wrapped
      "0:]",
      "0:}",
      list_of({"bank"}),
      list_of({"bank", op, "x"}),
      list_of({"bank", std::int64_t{12}}),
      list_of({std::int64_t{1}, op}),
      encode_composite_operation("", op),
      encode_composite_operation(std::string(65, 'b'), op),
      encode_composite_operation("ba\nnk", op),
  };
  const std::string valid = encode_composite_operation("bank", op);
  malformed.push_back(valid.substr(0, valid.size() - 1));
  malformed.push_back(valid + "]");
  for (const std::string& operation : malformed) {
    EXPECT_EQ(error_of(run(*composite, operation, kContext)), "invalid_request") << operation;
  }
  EXPECT_EQ(snapshot_of(*composite), before);
  // The app's own refusal passes through unchanged.
  EXPECT_EQ(error_of(run(*composite, encode_composite_operation("bank", "junk"), kContext)),
            "invalid_request");
}

TEST(Composite, DecodeSplitsWhatEncodeJoins) {
  const std::string op = encode_composite_operation("bank", "some bytes");
  auto split = decode_composite_operation(op);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->app_name, "bank");
  EXPECT_EQ(split->operation, "some bytes");
}

TEST(Composite, SnapshotHoldsEveryServedAppSortedAndRoundTrips) {
  auto composite = make_composite({"locks", "bank"});
  run(*composite, encode_composite_operation("bank", bank::encode_add("a", 5)), kContext);
  run(*composite, encode_composite_operation("locks", apps::locks::encode_acquire("L", 100)),
      kContext);
  const std::string bytes = snapshot_of(*composite);
  auto decoded = tnet::decode(bytes);
  ASSERT_TRUE(decoded.ok());
  const auto parts = decoded->find("apps");
  ASSERT_TRUE(parts.has_value());
  std::vector<std::string_view> keys;
  for (const tnet::Entry entry : parts->entries()) keys.push_back(entry.key);
  EXPECT_EQ(keys, (std::vector<std::string_view>{"bank", "locks"}));

  auto other = make_composite({"bank", "locks"});
  ASSERT_TRUE(other->restore(bytes).ok());
  EXPECT_EQ(snapshot_of(*other), bytes);
  EXPECT_EQ(other->state_digest(), composite->state_digest());
  EXPECT_EQ(run(*other, encode_composite_operation("bank", bank::encode_get("a")),
                kContext)["result"]["balance"],
            5);
}

TEST(Composite, RestoreRefusesASnapshotOfAnotherSetOfApps) {
  auto bank_only = make_composite({"bank"});
  auto bank_and_locks = make_composite({"bank", "locks"});
  run(*bank_and_locks, encode_composite_operation("bank", bank::encode_add("a", 5)), kContext);
  const std::string before = snapshot_of(*bank_and_locks);
  const auto refused = bank_and_locks->restore(snapshot_of(*bank_only));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("locks"), std::string::npos) << refused.error();
  EXPECT_FALSE(bank_only->restore(before).ok());
  EXPECT_EQ(snapshot_of(*bank_and_locks), before);
}

TEST(Composite, RestoreIsAllOrNothing) {
  auto composite = make_composite({"bank", "catalog"});
  run(*composite, encode_composite_operation("bank", bank::encode_add("a", 5)), kContext);
  const std::string before = snapshot_of(*composite);

  // A snapshot whose bank part is valid (and different) but whose catalog part is not.
  auto bank_part = make_app("bank");
  run(*bank_part, bank::encode_add("b", 9), kContext);
  std::string bad;
  tnet::Encoder encoder(bad);
  encoder.begin_dict();
  encoder.key("format");
  encoder.integer(1);
  encoder.key("apps");
  encoder.begin_dict();
  encoder.key("bank");
  encoder.bytes(snapshot_of(*bank_part));
  encoder.key("catalog");
  encoder.bytes("not a catalog snapshot");
  encoder.end_dict();
  encoder.end_dict();
  const auto refused = composite->restore(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("catalog"), std::string::npos) << refused.error();
  EXPECT_EQ(snapshot_of(*composite), before);

  for (std::size_t length = 0; length < before.size(); ++length) {
    EXPECT_FALSE(composite->restore(before.substr(0, length)).ok());
  }
  EXPECT_FALSE(composite->restore("7:garbage").ok());
  EXPECT_EQ(snapshot_of(*composite), before);
}

TEST(Composite, StateDigestIsXxh3OfTheSnapshot) {
  auto first = make_composite({});
  auto second = make_composite({});
  const std::string digest = first->state_digest();
  ASSERT_EQ(digest.size(), 32u);
  EXPECT_EQ(digest.find_first_not_of("0123456789abcdef"), std::string::npos);
  const std::string bytes = snapshot_of(*first);
  const XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
  EXPECT_EQ(digest, fmt::format("{:016x}{:016x}", hash.high64, hash.low64));

  EXPECT_EQ(second->state_digest(), digest);
  const std::string op = encode_composite_operation("bank", bank::encode_add("a", 1));
  run(*first, op, kContext);
  EXPECT_NE(first->state_digest(), digest);
  run(*second, op, kContext);
  EXPECT_EQ(second->state_digest(), first->state_digest());
  // A refused operation leaves the digest alone.
  const std::string after = first->state_digest();
  run(*first, encode_composite_operation("bank", bank::encode_add("a", -5)), kContext);
  EXPECT_EQ(first->state_digest(), after);
}

}  // namespace
}  // namespace vsr::app::test
