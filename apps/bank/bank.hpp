#pragma once
// bank: signed 64-bit account balances that never go below zero (product.md §1).
//
//   add ACCOUNT AMOUNT         new balance; refused insufficient_funds if it would be < 0,
//                              overflow if it would exceed INT64_MAX
//   get ACCOUNT                balance, 0 for an unknown account
//   transfer FROM TO AMOUNT    both new balances; AMOUNT > 0 (invalid_amount), FROM must
//                              hold AMOUNT (insufficient_funds); all or nothing
//   list                       accounts and balances sorted by name, at most
//                              app::kListEntriesMax (then "truncated": true)
//
// The state machine is reached through descriptor().factory; the rest of this header is
// the client side: operation encoders and reply formatters (docs/vsr/apps.md).

#include <cstdint>
#include <string>
#include <string_view>

#include "vsr/app/registry.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/base/result.hpp"

namespace vsr::apps::bank {

inline constexpr std::string_view kAppName = "bank";

/// The registry entry of the bank app.
app::AppDescriptor descriptor();

/// The bank's client commands.
enum class Command : std::uint8_t { add, get, transfer, list };

/// Operation bytes of each command: {"op": "add", "account": A, "amount": N}, ...
std::string encode_add(std::string_view account, std::int64_t amount);
std::string encode_get(std::string_view account);
std::string encode_transfer(std::string_view from, std::string_view to, std::int64_t amount);
std::string encode_list();

/// The product.md JSON object of a reply to `command` (op/view are the caller's to add).
/// Err: the reply's result does not have the shape `command` produces.
Result<app::Json, std::string> format_json(Command command, const app::Reply& reply);

/// The human output: when reply.ok, the essential value for stdout (add/get: the balance;
/// transfer: "FROM_BALANCE TO_BALANCE"; list: one "ACCOUNT BALANCE" line per account);
/// otherwise "code: message" for stderr. Err: as format_json().
Result<std::string, std::string> format_human(Command command, const app::Reply& reply);

}  // namespace vsr::apps::bank
