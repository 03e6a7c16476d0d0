// Proves, for every registered app, what replication relies on: the same operations give
// byte-identical snapshots; restore(snapshot) then snapshot() gives the same bytes and
// the same future replies; a corrupt, truncated or semantically invalid snapshot is
// refused and leaves the state unchanged; malformed operations never change the state.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "app_test_util.hpp"
#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "inventory/inventory.hpp"
#include "locks/locks.hpp"

namespace vsr::app::test {
namespace {

struct Step {
  std::string client;
  std::uint64_t now_ms = 0;
  std::string operation;
};

// A script that leaves non-trivial state in app `name` (several keys, refusals too).
std::vector<Step> script(std::string_view name) {
  namespace bank = apps::bank;
  namespace inventory = apps::inventory;
  namespace catalog = apps::catalog;
  namespace locks = apps::locks;
  if (name == "bank") {
    return {{"c1", 1, bank::encode_add("zed", 50)},
            {"c1", 2, bank::encode_add("amy", 7)},
            {"c2", 3, bank::encode_transfer("zed", "bob", 20)},
            {"c2", 4, bank::encode_add("amy", -100)},
            {"c1", 5, bank::encode_add("amy", 1)},
            {"c1", 6, bank::encode_get("nobody")}};
  }
  if (name == "inventory") {
    return {{"c1", 1, inventory::encode_stock("sku-b", 10)},
            {"c1", 2, inventory::encode_stock("sku-a", 3)},
            {"c2", 3, inventory::encode_reserve("sku-b", 4)},
            {"c1", 4, inventory::encode_reserve("sku-b", 2)},
            {"c3", 5, inventory::encode_reserve("sku-a", 3)},
            {"c2", 6, inventory::encode_release("sku-b", 1)}};
  }
  if (name == "catalog") {
    return {{"c1", 1, catalog::encode_put("k2", "two")},
            {"c1", 2, catalog::encode_put("k1", "one")},
            {"c2", 3, catalog::encode_put("k2", "two again", 1)},
            {"c2", 4, catalog::encode_put("gone", "x")},
            {"c2", 5, catalog::encode_delete("gone")},
            {"c1", 6, catalog::encode_put("bin", std::string("\0\x01", 2))}};
  }
  return {{"c1", 1000, locks::encode_acquire("b", 10'000)},
          {"c2", 1001, locks::encode_acquire("a", 20'000)},
          {"c3", 1002, locks::encode_acquire("short", 5)},
          {"c1", 1003, locks::encode_acquire("gone", 100)},
          {"c1", 1004, locks::encode_release("gone")},
          {"c2", 1010, locks::encode_holder("short")}};
}

void play(StateMachine& machine, const std::vector<Step>& steps, std::size_t count) {
  for (std::size_t i = 0; i < count && i < steps.size(); ++i) {
    std::string reply;
    machine.execute(
        Context{.op = i + 1, .timestamp_ms = steps[i].now_ms, .client_id = steps[i].client},
        steps[i].operation, reply);
  }
}

// Tiny tnetstring builders for hand-made (invalid) snapshots.
std::string tn_bytes(std::string_view s) {
  return fmt::format("{}:{},", s.size(), s);
}
std::string tn_int(std::int64_t n) {
  const std::string digits = std::to_string(n);
  return fmt::format("{}:{}#", digits.size(), digits);
}
std::string tn_dict(std::initializer_list<std::pair<std::string_view, std::string>> entries) {
  std::string payload;
  for (const auto& [key, value] : entries) payload += tn_bytes(key) + value;
  return fmt::format("{}:{}}}", payload.size(), payload);
}

// Snapshots of app `name` that are well-formed tnetstrings but break a rule of its state.
std::vector<std::string> invalid_snapshots(std::string_view name) {
  const std::string one = tn_int(1);
  std::vector<std::string> out = {
      "", "0:}", "garbage", tn_dict({{"format", tn_int(2)}}), tn_int(1),
  };
  if (name == "bank") {
    out.push_back(tn_dict({{"format", tn_int(2)}, {"accounts", tn_dict({})}}));
    out.push_back(tn_dict({{"format", one}, {"accounts", tn_dict({{"a", tn_int(-1)}})}}));
    out.push_back(tn_dict({{"format", one}, {"accounts", tn_dict({{"", tn_int(1)}})}}));
    out.push_back(tn_dict({{"format", one}, {"accounts", tn_dict({{"a", tn_bytes("1")}})}}));
    out.push_back(tn_dict({{"format", one}, {"accounts", tn_dict({})}, {"x", one}}));
  } else if (name == "inventory") {
    const auto sku = [](std::int64_t on_hand, std::string reservations) {
      return tn_dict({{"on_hand", tn_int(on_hand)}, {"reservations", std::move(reservations)}});
    };
    const auto snapshot = [&](std::string sku_value) {
      return tn_dict({{"format", tn_int(1)}, {"skus", tn_dict({{"s", std::move(sku_value)}})}});
    };
    out.push_back(snapshot(sku(-1, tn_dict({}))));
    out.push_back(snapshot(sku(5, tn_dict({{"c", tn_int(6)}}))));
    out.push_back(snapshot(sku(5, tn_dict({{"c", tn_int(3)}, {"d", tn_int(3)}}))));
    out.push_back(snapshot(sku(5, tn_dict({{"c", tn_int(0)}}))));
    out.push_back(snapshot(sku(5, tn_dict({{"", tn_int(1)}}))));
    out.push_back(snapshot(tn_dict({{"on_hand", tn_int(1)}})));
  } else if (name == "catalog") {
    const auto snapshot = [](std::string value, std::int64_t version) {
      return tn_dict({{"format", tn_int(1)},
                      {"entries", tn_dict({{"k", tn_dict({{"value", std::move(value)},
                                                          {"version", tn_int(version)}})}})}});
    };
    out.push_back(snapshot(tn_bytes("v"), 0));
    out.push_back(snapshot(tn_bytes("v"), -3));
    out.push_back(snapshot(tn_int(5), 1));
    out.push_back(snapshot(tn_bytes(std::string(kValueBytesMax + 1, 'v')), 1));
  } else {
    const auto snapshot = [](std::int64_t last_token, std::string owner, std::int64_t token) {
      return tn_dict({{"format", tn_int(1)},
                      {"last_token", tn_int(last_token)},
                      {"locks", tn_dict({{"L", tn_dict({{"owner", tn_bytes(owner)},
                                                        {"token", tn_int(token)},
                                                        {"expires_at_ms", tn_int(100)}})}})}});
    };
    out.push_back(snapshot(3, "c", 4));  // a token the counter has not issued yet
    out.push_back(snapshot(3, "c", 0));
    out.push_back(snapshot(3, "", 1));
    out.push_back(snapshot(-1, "c", 1));
  }
  return out;
}

class SnapshotTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SnapshotTest, TheSameOperationsGiveIdenticalSnapshots) {
  auto first = make_app(GetParam());
  auto second = make_app(GetParam());
  const std::string empty = snapshot_of(*first);
  const auto steps = script(GetParam());
  play(*first, steps, steps.size());
  play(*second, steps, steps.size());
  EXPECT_NE(snapshot_of(*first), empty);
  EXPECT_EQ(snapshot_of(*first), snapshot_of(*second));
  std::string appended = "keep";
  first->snapshot(appended);
  EXPECT_EQ(appended, "keep" + snapshot_of(*first)) << "snapshot() must append";
}

TEST_P(SnapshotTest, RestoreThenSnapshotGivesTheSameBytesAndTheSameFuture) {
  auto original = make_app(GetParam());
  const auto steps = script(GetParam());
  play(*original, steps, steps.size() - 2);
  const std::string bytes = snapshot_of(*original);
  auto restored = make_app(GetParam());
  play(*restored, steps, 1);  // restore replaces whatever was there
  ASSERT_TRUE(restored->restore(bytes).ok());
  EXPECT_EQ(snapshot_of(*restored), bytes);
  // The last two steps give the same replies and the same state on both.
  for (std::size_t i = steps.size() - 2; i < steps.size(); ++i) {
    const Context context{
        .op = i + 1, .timestamp_ms = steps[i].now_ms, .client_id = steps[i].client};
    EXPECT_EQ(run(*original, steps[i].operation, context),
              run(*restored, steps[i].operation, context));
  }
  EXPECT_EQ(snapshot_of(*restored), snapshot_of(*original));
}

TEST_P(SnapshotTest, AnEmptyStateRoundTrips) {
  auto machine = make_app(GetParam());
  const std::string empty = snapshot_of(*machine);
  const auto steps = script(GetParam());
  play(*machine, steps, steps.size());
  ASSERT_TRUE(machine->restore(empty).ok());
  EXPECT_EQ(snapshot_of(*machine), empty);
}

TEST_P(SnapshotTest, TruncatedOrExtendedSnapshotsAreRefusedAndChangeNothing) {
  auto source = make_app(GetParam());
  const auto steps = script(GetParam());
  play(*source, steps, steps.size());
  const std::string good = snapshot_of(*source);
  auto target = make_app(GetParam());
  play(*target, steps, 2);
  const std::string before = snapshot_of(*target);
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(target->restore(good.substr(0, length)).ok()) << "prefix " << length;
  }
  EXPECT_FALSE(target->restore(good + "x").ok());
  EXPECT_FALSE(target->restore(good + good).ok());
  EXPECT_EQ(snapshot_of(*target), before);
}

TEST_P(SnapshotTest, SnapshotsThatBreakTheStateRulesAreRefusedAndChangeNothing) {
  auto target = make_app(GetParam());
  const auto steps = script(GetParam());
  play(*target, steps, 3);
  const std::string before = snapshot_of(*target);
  for (const std::string& bad : invalid_snapshots(GetParam())) {
    const auto restored = target->restore(bad);
    EXPECT_FALSE(restored.ok()) << bad;
    if (!restored.ok()) {
      EXPECT_FALSE(restored.error().empty());
    }
    EXPECT_EQ(snapshot_of(*target), before) << bad;
  }
}

TEST_P(SnapshotTest, FlippedBytesNeverCrashAndAnAcceptedSnapshotIsCanonical) {
  auto source = make_app(GetParam());
  const auto steps = script(GetParam());
  play(*source, steps, steps.size());
  const std::string good = snapshot_of(*source);
  auto target = make_app(GetParam());
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const char replacement : {'\0', '9', ':', '}', ']', 'x'}) {
      std::string bad = good;
      bad[i] = replacement;
      const std::string before = snapshot_of(*target);
      if (target->restore(bad).ok()) {
        // A flip inside a payload can give another valid state; it must then be a
        // state the app itself could have snapshotted.
        auto again = make_app(GetParam());
        EXPECT_TRUE(again->restore(snapshot_of(*target)).ok());
      } else {
        EXPECT_EQ(snapshot_of(*target), before);
      }
    }
  }
}

TEST_P(SnapshotTest, MalformedOperationsAreRefusedAndChangeNothing) {
  auto machine = make_app(GetParam());
  const auto steps = script(GetParam());
  play(*machine, steps, steps.size());
  const std::string before = snapshot_of(*machine);
  std::vector<std::string> operations = {"", "x", "0:~", "0:]", "0:}", "5:12345#"};
  for (const char* other : {"bank", "inventory", "catalog", "locks"}) {
    if (other == GetParam()) continue;
    for (const Step& step : script(other)) operations.push_back(step.operation);
  }
  std::mt19937_64 random(7);
  for (int i = 0; i < 300; ++i) {
    std::string noise(random() % 64, '\0');
    for (char& c : noise) c = static_cast<char>(random() % 256);
    operations.push_back(std::move(noise));
  }
  // Valid operations cut short.
  for (const Step& step : steps) operations.push_back(step.operation.substr(0, 7));
  const Context context{.op = 99, .timestamp_ms = 1005, .client_id = "c9"};
  for (const std::string& operation : operations) {
    const Json reply = run(*machine, operation, context);
    EXPECT_EQ(error_of(reply), "invalid_request") << dump_json(reply);
  }
  EXPECT_EQ(snapshot_of(*machine), before);
}

INSTANTIATE_TEST_SUITE_P(EveryApp, SnapshotTest,
                         ::testing::Values("bank", "catalog", "inventory", "locks"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
}  // namespace vsr::app::test
