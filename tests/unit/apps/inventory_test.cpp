// Proves the inventory app's semantics (product.md §1): stock, reservations held per
// calling client id, release of at most the caller's own reservation, available =
// on hand - reserved, every refusal, and that a refusal changes nothing.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "app_test_util.hpp"
#include "inventory/inventory.hpp"
#include "vsr/app/limits.hpp"

namespace vsr::app::test {
namespace {

namespace inventory = apps::inventory;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

Json sku(std::string_view name, std::int64_t on_hand, std::int64_t reserved,
         std::int64_t by_caller) {
  return Json{{"ok", true},
              {"result",
               {{"sku", std::string(name)},
                {"on_hand", on_hand},
                {"reserved", reserved},
                {"available", on_hand - reserved},
                {"reserved_by_caller", by_caller}}}};
}

class InventoryTest : public AppTest {
 protected:
  InventoryTest() : AppTest("inventory") {}

  Json run_as(std::string_view client, std::string_view operation) {
    context_.client_id = client;
    return run(operation);
  }
};

TEST_F(InventoryTest, StockAddsToOnHand) {
  EXPECT_EQ(run(inventory::encode_stock("sku-1", 5)), sku("sku-1", 5, 0, 0));
  EXPECT_EQ(run(inventory::encode_stock("sku-1", 3)), sku("sku-1", 8, 0, 0));
  EXPECT_EQ(run(inventory::encode_available("sku-1")), sku("sku-1", 8, 0, 0));
}

TEST_F(InventoryTest, StockRefusesNonPositiveQuantitiesAndOverflow) {
  run(inventory::encode_stock("s", 1));
  expect_refused(inventory::encode_stock("s", 0), "invalid_amount");
  expect_refused(inventory::encode_stock("s", -1), "invalid_amount");
  expect_refused(inventory::encode_stock("s", kMin), "invalid_amount");
  expect_refused(inventory::encode_stock("s", kMax), "overflow");
  EXPECT_EQ(run(inventory::encode_stock("t", kMax)), sku("t", kMax, 0, 0));
}

TEST_F(InventoryTest, ReservationsBelongToTheCallingClient) {
  run(inventory::encode_stock("sku-1", 5));
  EXPECT_EQ(run_as("cart-1", inventory::encode_reserve("sku-1", 3)), sku("sku-1", 5, 3, 3));
  EXPECT_EQ(run_as("cart-2", inventory::encode_reserve("sku-1", 2)), sku("sku-1", 5, 5, 2));
  EXPECT_EQ(run_as("cart-3", inventory::encode_available("sku-1")), sku("sku-1", 5, 5, 0));
  EXPECT_EQ(run_as("cart-1", inventory::encode_available("sku-1")), sku("sku-1", 5, 5, 3));
  EXPECT_EQ(run_as("cart-1", inventory::encode_stock("sku-1", 1)), sku("sku-1", 6, 5, 3));
  EXPECT_EQ(run_as("cart-1", inventory::encode_reserve("sku-1", 1)), sku("sku-1", 6, 6, 4));
}

TEST_F(InventoryTest, ReserveMoreThanAvailableIsInsufficientStock) {
  run(inventory::encode_stock("sku-1", 5));
  context_.client_id = "cart-1";
  run(inventory::encode_reserve("sku-1", 4));
  expect_refused(inventory::encode_reserve("sku-1", 2), "insufficient_stock");
  context_.client_id = "cart-2";
  expect_refused(inventory::encode_reserve("sku-1", 2), "insufficient_stock");
  expect_refused(inventory::encode_reserve("unknown", 1), "insufficient_stock");
  EXPECT_EQ(run(inventory::encode_reserve("sku-1", 1)), sku("sku-1", 5, 5, 1));
  expect_refused(inventory::encode_reserve("sku-1", 1), "insufficient_stock");
  expect_refused(inventory::encode_reserve("sku-1", 0), "invalid_amount");
  expect_refused(inventory::encode_reserve("sku-1", -3), "invalid_amount");
}

TEST_F(InventoryTest, ReleaseReturnsAtMostTheCallersReservation) {
  run(inventory::encode_stock("sku-1", 10));
  run_as("cart-1", inventory::encode_reserve("sku-1", 4));
  run_as("cart-2", inventory::encode_reserve("sku-1", 3));
  EXPECT_EQ(run_as("cart-1", inventory::encode_release("sku-1", 1)), sku("sku-1", 10, 6, 3));
  // More than held: only what cart-1 holds comes back; cart-2's stays.
  EXPECT_EQ(run_as("cart-1", inventory::encode_release("sku-1", 100)), sku("sku-1", 10, 3, 0));
  EXPECT_EQ(run_as("cart-1", inventory::encode_release("sku-1", 1)), sku("sku-1", 10, 3, 0));
  EXPECT_EQ(run_as("cart-3", inventory::encode_release("sku-1", 3)), sku("sku-1", 10, 3, 0));
  EXPECT_EQ(run_as("cart-2", inventory::encode_release("sku-1", kMax)), sku("sku-1", 10, 0, 0));
}

TEST_F(InventoryTest, ReleaseOfAnUnknownSkuChangesNothing) {
  const std::string before = snapshot_of(*machine_);
  EXPECT_EQ(run(inventory::encode_release("nothing", 1)), sku("nothing", 0, 0, 0));
  EXPECT_EQ(run(inventory::encode_available("nothing")), sku("nothing", 0, 0, 0));
  EXPECT_EQ(snapshot_of(*machine_), before);
  expect_refused(inventory::encode_release("nothing", 0), "invalid_amount");
}

TEST_F(InventoryTest, AReleasedReservationLeavesNoTraceInTheState) {
  const std::string empty_sku = [&] {
    run(inventory::encode_stock("s", 2));
    return snapshot_of(*machine_);
  }();
  run(inventory::encode_reserve("s", 2));
  run(inventory::encode_release("s", 2));
  EXPECT_EQ(snapshot_of(*machine_), empty_sku);
}

TEST_F(InventoryTest, ClientOwnedOperationsNeedAClientId) {
  run(inventory::encode_stock("s", 2));
  context_.client_id = "";
  expect_refused(inventory::encode_reserve("s", 1), "invalid_request");
  expect_refused(inventory::encode_release("s", 1), "invalid_request");
  const std::string long_id(kKeyBytesMax + 1, 'c');
  context_.client_id = long_id;
  expect_refused(inventory::encode_reserve("s", 1), "invalid_request");
  context_.client_id = "";
  EXPECT_EQ(run(inventory::encode_available("s")), sku("s", 2, 0, 0));
}

TEST_F(InventoryTest, InvalidAndMalformedOperations) {
  run(inventory::encode_stock("s", 2));
  expect_refused(inventory::encode_stock("", 1), "invalid_request");
  expect_refused(inventory::encode_available(""), "invalid_request");
  expect_refused(inventory::encode_reserve(std::string(kKeyBytesMax + 1, 's'), 1),
                 "invalid_request");
  expect_refused(raw_op({{"op", "stock"}, {"sku", "s"}}), "invalid_request");
  expect_refused(raw_op({{"op", "stock"}, {"sku", "s"}, {"qty", "1"}}), "invalid_request");
  expect_refused(raw_op({{"op", "available"}, {"sku", "s"}, {"qty", std::int64_t{1}}}),
                 "invalid_request");
  expect_refused(raw_op({{"op", "ship"}, {"sku", "s"}, {"qty", std::int64_t{1}}}),
                 "invalid_request");
  expect_refused("3:abc]", "invalid_request");
}

}  // namespace
}  // namespace vsr::app::test
