// The inventory's client side: operation encoders and reply formatters (they run in the
// CLI and check the shape of every reply they read).

#include <fmt/format.h>

#include "inventory/inventory.hpp"
#include "vsr/app/operation.hpp"

namespace vsr::apps::inventory {
namespace {

struct SkuResult {
  std::int64_t on_hand = 0;
  std::int64_t reserved = 0;
  std::int64_t available = 0;
  std::int64_t reserved_by_caller = 0;
};

Result<SkuResult, std::string> read_result(const tnet::Value& result) {
  tnet::FieldReader fields(result, "inventory result");
  fields.bytes("sku");
  SkuResult out;
  out.on_hand = fields.integer("on_hand");
  out.reserved = fields.integer("reserved");
  out.available = fields.integer("available");
  out.reserved_by_caller = fields.integer("reserved_by_caller");
  if (!fields.ok()) return fail(fields.error());
  if (result.size() != 5) return fail(std::string("inventory result: unexpected fields"));
  return out;
}

Result<std::string, std::string> human_result(Command command, const tnet::Value& result) {
  auto sku = read_result(result);
  if (!sku) return fail(sku.error());
  switch (command) {
    case Command::stock:
      return fmt::format("{}", sku->on_hand);
    case Command::reserve:
    case Command::release:
      return fmt::format("{}", sku->reserved_by_caller);
    case Command::available:
      return fmt::format("{}", sku->available);
  }
  return fail(std::string("inventory: unknown command"));
}

std::string encode_sku_qty(std::string_view verb, std::string_view sku, std::int64_t qty) {
  app::OperationWriter writer(verb);
  writer.encoder().key("sku");
  writer.encoder().bytes(sku);
  writer.encoder().key("qty");
  writer.encoder().integer(qty);
  return std::move(writer).finish();
}

}  // namespace

std::string encode_stock(std::string_view sku, std::int64_t qty) {
  return encode_sku_qty("stock", sku, qty);
}

std::string encode_reserve(std::string_view sku, std::int64_t qty) {
  return encode_sku_qty("reserve", sku, qty);
}

std::string encode_release(std::string_view sku, std::int64_t qty) {
  return encode_sku_qty("release", sku, qty);
}

std::string encode_available(std::string_view sku) {
  app::OperationWriter writer("available");
  writer.encoder().key("sku");
  writer.encoder().bytes(sku);
  return std::move(writer).finish();
}

Result<app::Json, std::string> format_json(Command command, const app::Reply& reply) {
  return app::format_json_with(reply,
                               [&](const tnet::Value& r) { return human_result(command, r); });
}

Result<std::string, std::string> format_human(Command command, const app::Reply& reply) {
  return app::format_human_with(reply,
                                [&](const tnet::Value& r) { return human_result(command, r); });
}

}  // namespace vsr::apps::inventory
