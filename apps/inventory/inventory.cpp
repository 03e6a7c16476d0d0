// The inventory state machine. Reservations are keyed by the client id the primary
// replicated with the request (Context::client_id), never by anything in the operation,
// so that one client cannot release another's reservation.
//
// Invariant, per SKU: reserved == sum of reservations <= on_hand, every reservation > 0.

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "inventory/inventory.hpp"
#include "vsr/app/limits.hpp"
#include "vsr/app/operation.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::apps::inventory {
namespace {

using app::ErrorCode;

constexpr std::int64_t kSnapshotFormat = 1;

struct Sku {
  std::int64_t on_hand = 0;   // grows by stock only
  std::int64_t reserved = 0;  // sum of reservations, kept so that available is O(1)
  std::map<std::string, std::int64_t, std::less<>> reservations;  // client id -> qty > 0
};

// The arguments every operation carries, checked.
struct Arguments {
  std::string_view sku;
  std::int64_t qty = 0;
};

class Inventory final : public app::StateMachine {
 public:
  std::string_view name() const override { return kAppName; }

  void execute(const app::Context& context, std::string_view operation,
               std::string& reply) override {
    auto op = app::OperationReader::parse(kAppName, operation);
    if (!op) return app::encode_error(reply, ErrorCode::invalid_request, op.error());
    const std::string_view verb = op->verb();
    const bool has_qty = verb == "stock" || verb == "reserve" || verb == "release";
    if (!has_qty && verb != "available") {
      return app::encode_error(reply, ErrorCode::invalid_request,
                               fmt::format("inventory: unknown operation '{}'", verb));
    }
    Arguments args;
    args.sku = op->bytes("sku");
    if (has_qty) args.qty = op->integer("qty");
    if (auto valid = check(*op, args, has_qty); !valid) {
      return app::encode_error(reply, valid.error().first, valid.error().second);
    }
    const bool owned = verb == "reserve" || verb == "release";
    if (auto valid = app::check_client_id(context.client_id); owned && !valid) {
      return app::encode_error(reply, ErrorCode::invalid_request, valid.error());
    }
    if (verb == "stock") return on_stock(context, args, reply);
    if (verb == "reserve") return on_reserve(context, args, reply);
    if (verb == "release") return on_release(context, args, reply);
    write_result(context, args.sku, reply);
  }

  void snapshot(std::string& out) const override {
    tnet::Encoder encoder(out);
    encoder.begin_dict();
    encoder.key("format");
    encoder.integer(kSnapshotFormat);
    encoder.key("skus");
    encoder.begin_dict();
    for (const auto& [sku, state] : skus_) {
      encoder.key(sku);
      encoder.begin_dict();
      encoder.key("on_hand");
      encoder.integer(state.on_hand);
      encoder.key("reservations");
      encoder.begin_dict();
      for (const auto& [client, qty] : state.reservations) {
        encoder.key(client);
        encoder.integer(qty);
      }
      encoder.end_dict();
      encoder.end_dict();
    }
    encoder.end_dict();
    encoder.end_dict();
  }

  Result<void, std::string> restore(std::string_view snapshot) override {
    auto decoded = tnet::decode(snapshot, app::kSnapshotLimits);
    if (!decoded) {
      return fail(fmt::format("inventory snapshot: {}", decoded.error().message()));
    }
    tnet::FieldReader fields(*decoded, "inventory snapshot");
    const std::int64_t format = fields.integer("format");
    const tnet::Value skus = fields.dict("skus");
    if (!fields.ok()) return fail(fields.error());
    if (format != kSnapshotFormat || decoded->size() != 2) {
      return fail(fmt::format("inventory snapshot: unsupported format {}", format));
    }
    std::map<std::string, Sku, std::less<>> restored;
    for (const tnet::Entry entry : skus.entries()) {
      auto sku = restore_sku(entry);
      if (!sku) return fail(sku.error());
      restored.emplace(entry.key, std::move(sku).value());
    }
    skus_ = std::move(restored);
    return {};
  }

 private:
  using Refusal = std::pair<ErrorCode, std::string>;

  static Result<void, Refusal> check(const app::OperationReader& op, const Arguments& args,
                                     bool has_qty) {
    if (auto finished = op.finish(); !finished) {
      return fail(Refusal{ErrorCode::invalid_request, finished.error()});
    }
    if (auto valid = app::check_name("sku", args.sku); !valid) {
      return fail(Refusal{ErrorCode::invalid_request, valid.error()});
    }
    if (has_qty && args.qty <= 0) {
      return fail(Refusal{ErrorCode::invalid_amount,
                          fmt::format("quantity must be > 0, got {}", args.qty)});
    }
    return {};
  }

  static Result<Sku, std::string> restore_sku(const tnet::Entry& entry) {
    if (auto valid = app::check_name("inventory snapshot: sku", entry.key); !valid) {
      return fail(valid.error());
    }
    tnet::FieldReader fields(entry.value, "inventory snapshot: sku");
    Sku sku;
    sku.on_hand = fields.integer("on_hand");
    const tnet::Value reservations = fields.dict("reservations");
    if (!fields.ok()) return fail(fields.error());
    if (entry.value.size() != 2 || sku.on_hand < 0) {
      return fail(fmt::format("inventory snapshot: sku '{}' is malformed", entry.key));
    }
    for (const tnet::Entry reservation : reservations.entries()) {
      const bool valid = app::check_client_id(reservation.key).ok() &&
                         reservation.value.is_integer() && reservation.value.integer() > 0 &&
                         reservation.value.integer() <= sku.on_hand - sku.reserved;
      if (!valid) {
        return fail(fmt::format("inventory snapshot: sku '{}' has a bad reservation", entry.key));
      }
      sku.reserved += reservation.value.integer();
      sku.reservations.emplace(reservation.key, reservation.value.integer());
    }
    return sku;
  }

  void on_stock(const app::Context& context, const Arguments& args, std::string& reply) {
    const auto found = skus_.find(args.sku);
    const std::int64_t on_hand = found == skus_.end() ? 0 : found->second.on_hand;
    std::int64_t updated = 0;
    if (__builtin_add_overflow(on_hand, args.qty, &updated)) {
      return app::encode_error(
          reply, ErrorCode::overflow,
          fmt::format("sku '{}' has {} on hand; adding {} overflows", args.sku, on_hand, args.qty));
    }
    if (found == skus_.end()) {
      skus_[std::string(args.sku)].on_hand = updated;
    } else {
      found->second.on_hand = updated;
    }
    write_result(context, args.sku, reply);
  }

  void on_reserve(const app::Context& context, const Arguments& args, std::string& reply) {
    const auto found = skus_.find(args.sku);
    const std::int64_t available =
        found == skus_.end() ? 0 : found->second.on_hand - found->second.reserved;
    if (available < args.qty) {
      return app::encode_error(reply, ErrorCode::insufficient_stock,
                               fmt::format("sku '{}' has {} available; cannot reserve {}", args.sku,
                                           available, args.qty));
    }
    Sku& sku = found->second;  // available >= qty > 0, so the SKU exists
    sku.reserved += args.qty;
    sku.reservations[std::string(context.client_id)] += args.qty;
    VSR_ASSERT(sku.reserved <= sku.on_hand);
    write_result(context, args.sku, reply);
  }

  void on_release(const app::Context& context, const Arguments& args, std::string& reply) {
    const auto found = skus_.find(args.sku);
    if (found != skus_.end()) {
      Sku& sku = found->second;
      const auto held = sku.reservations.find(context.client_id);
      if (held != sku.reservations.end()) {
        const std::int64_t released = std::min(held->second, args.qty);
        held->second -= released;
        sku.reserved -= released;
        if (held->second == 0) sku.reservations.erase(held);
        VSR_ASSERT(sku.reserved >= 0);
      }
    }
    write_result(context, args.sku, reply);
  }

  void write_result(const app::Context& context, std::string_view sku_name,
                    std::string& reply) const {
    static const Sku kEmpty;
    const auto found = skus_.find(sku_name);
    const Sku& sku = found == skus_.end() ? kEmpty : found->second;
    const auto caller = sku.reservations.find(context.client_id);
    const std::int64_t by_caller = caller == sku.reservations.end() ? 0 : caller->second;
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("sku");
      e.bytes(sku_name);
      e.key("on_hand");
      e.integer(sku.on_hand);
      e.key("reserved");
      e.integer(sku.reserved);
      e.key("available");
      e.integer(sku.on_hand - sku.reserved);
      e.key("reserved_by_caller");
      e.integer(by_caller);
    });
  }

  // SKU -> its stock and reservations. An entry appears on the first stock and stays.
  std::map<std::string, Sku, std::less<>> skus_;
};

const app::CommandInfo kCommands[] = {
    {"stock", "SKU QTY", "adds QTY (> 0) on hand; prints the new on-hand count"},
    {"reserve", "SKU QTY", "reserves QTY for this client id; prints its reservation"},
    {"release", "SKU QTY", "returns up to QTY of this client's reservation; prints the rest"},
    {"available", "SKU", "prints on hand minus reserved"},
};

}  // namespace

app::AppDescriptor descriptor() {
  return app::AppDescriptor{
      .name = kAppName,
      .summary = "stock and per-client reservations: stock, reserve, release, available",
      .factory = []() -> std::unique_ptr<app::StateMachine> {
        return std::make_unique<Inventory>();
      },
      .commands = kCommands,
  };
}

}  // namespace vsr::apps::inventory
