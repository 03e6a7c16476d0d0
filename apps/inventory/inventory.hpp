#pragma once
// inventory: stock on hand per SKU and reservations held by clients (product.md §1).
//
//   stock SKU QTY      adds QTY (> 0, else invalid_amount) to the SKU's on-hand count
//   reserve SKU QTY    reserves QTY (> 0) for the calling client id when available >= QTY,
//                      else insufficient_stock
//   release SKU QTY    returns min(QTY, the caller's reservation) (QTY > 0)
//   available SKU      on hand - reserved
//
// Every reply's result is {sku, on_hand, reserved, available, reserved_by_caller}, where
// reserved_by_caller is the reservation of the client id that sent the request.

#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/app/registry.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/base/result.hpp"

namespace vsr::apps::inventory {

inline constexpr std::string_view kAppName = "inventory";

/// The registry entry of the inventory app.
app::AppDescriptor descriptor();

/// The inventory's client commands.
enum class Command : std::uint8_t { stock, reserve, release, available };

/// Operation bytes of each command: {"op": "stock", "sku": S, "qty": N}, ...
std::string encode_stock(std::string_view sku, std::int64_t qty);
std::string encode_reserve(std::string_view sku, std::int64_t qty);
std::string encode_release(std::string_view sku, std::int64_t qty);
std::string encode_available(std::string_view sku);

/// The product.md JSON object of a reply to `command` (op/view are the caller's to add).
/// Err: the reply's result does not have the shape `command` produces.
Result<app::Json, std::string> format_json(Command command, const app::Reply& reply);

/// The human output: when reply.ok, stock prints the new on-hand count, reserve and
/// release the caller's reservation, available the available count; otherwise
/// "code: message" for stderr. Err: as format_json().
Result<std::string, std::string> format_human(Command command, const app::Reply& reply);

}  // namespace vsr::apps::inventory
