#pragma once
// A reference model of the bank app for checkers (the simulator's, and the unit tests'):
// feed it every committed bank operation in commit order together with the reply the
// system gave, and it says whether that reply is the one product.md requires.
//
// It is written independently of apps/bank: plain 128-bit arithmetic instead of overflow
// builtins, its own decoding of the operation, a map it copies to list. Two
// implementations that agree on every reply are unlikely to share a bug. Header-only;
// link vsr::app_interface.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "vsr/app/limits.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app::testing {

// Wide enough that no sum or difference of two int64 values overflows (GCC and Clang).
__extension__ typedef __int128 BankModelWide;

class BankModel {
 public:
  /// Applies `operation` (bank operation bytes) to the model and compares the outcome with
  /// `reply`. Returns the first difference, or nullopt when `reply` is right. The model
  /// changes exactly when the bank must (a refused operation changes nothing).
  std::optional<std::string> check(std::string_view operation, std::string_view reply) {
    auto parsed = parse_reply(reply);
    if (!parsed) return fmt::format("reply is malformed: {}", parsed.error());
    const Expected expected = apply(operation);
    if (!expected.ok) {
      if (parsed->ok) return fmt::format("expected error {}, got success", expected.error);
      if (parsed->error != expected.error) {
        return fmt::format("expected error {}, got {}", expected.error, parsed->error);
      }
      return std::nullopt;
    }
    if (!parsed->ok) return fmt::format("expected success, got error {}", parsed->error);
    const Json actual = to_json(parsed->result);
    if (actual != expected.result) {
      return fmt::format("expected result {}, got {}", dump_json(expected.result),
                         dump_json(actual));
    }
    return std::nullopt;
  }

  /// The model's balances (accounts ever added to or transferred to).
  const std::map<std::string, std::int64_t>& balances() const { return balances_; }

 private:
  struct Expected {
    bool ok = false;
    std::string error;  // when !ok
    Json result;        // when ok
  };

  static Expected refuse(std::string code) { return Expected{false, std::move(code), {}}; }

  static Expected accept(Json result) { return Expected{true, {}, std::move(result)}; }

  static Json account_json(std::string_view account, std::int64_t balance) {
    Json out = Json::object();
    out["account"] = std::string(account);
    out["balance"] = balance;
    return out;
  }

  std::int64_t balance_of(std::string_view account) const {
    const auto found = balances_.find(std::string(account));
    return found == balances_.end() ? 0 : found->second;
  }

  // The op's fields by name, if it is a dict of exactly the given keys with string
  // ("account", ...) and integer ("amount") values.
  static std::optional<std::map<std::string, tnet::Value>> fields(
      const tnet::Value& op, const std::vector<std::string>& keys) {
    if (!op.is_dict() || op.size() != keys.size() + 1) return std::nullopt;
    std::map<std::string, tnet::Value> out;
    for (const std::string& key : keys) {
      const auto value = op.find(key);
      const bool want_integer = key == "amount";
      if (!value || (want_integer ? !value->is_integer() : !value->is_bytes())) {
        return std::nullopt;
      }
      if (!want_integer && !check_name("account", value->bytes())) return std::nullopt;
      out.emplace(key, *value);
    }
    return out;
  }

  Expected apply(std::string_view operation) {
    const auto decoded = tnet::decode(operation, kOperationLimits);
    if (!decoded || !decoded->is_dict()) return refuse("invalid_request");
    const auto verb = decoded->find("op");
    if (!verb || !verb->is_bytes()) return refuse("invalid_request");
    if (verb->bytes() == "add") return add(*decoded);
    if (verb->bytes() == "get") return get(*decoded);
    if (verb->bytes() == "transfer") return transfer(*decoded);
    if (verb->bytes() == "list") return list(*decoded);
    return refuse("invalid_request");
  }

  Expected add(const tnet::Value& op) {
    const auto f = fields(op, {"account", "amount"});
    if (!f) return refuse("invalid_request");
    const std::string account(f->at("account").bytes());
    const BankModelWide sum =
        static_cast<BankModelWide>(balance_of(account)) + f->at("amount").integer();
    if (sum > INT64_MAX) return refuse("overflow");
    if (sum < 0) return refuse("insufficient_funds");
    balances_[account] = static_cast<std::int64_t>(sum);
    return accept(account_json(account, balances_[account]));
  }

  Expected get(const tnet::Value& op) const {
    const auto f = fields(op, {"account"});
    if (!f) return refuse("invalid_request");
    const std::string_view account = f->at("account").bytes();
    return accept(account_json(account, balance_of(account)));
  }

  Expected transfer(const tnet::Value& op) {
    const auto f = fields(op, {"from", "to", "amount"});
    if (!f) return refuse("invalid_request");
    const std::string from(f->at("from").bytes());
    const std::string to(f->at("to").bytes());
    const BankModelWide amount = f->at("amount").integer();
    if (amount <= 0) return refuse("invalid_amount");
    if (balance_of(from) < amount) return refuse("insufficient_funds");
    // Same account: a no-op that still must have the funds.
    const BankModelWide to_after = from == to ? balance_of(to) : balance_of(to) + amount;
    if (to_after > INT64_MAX) return refuse("overflow");
    const BankModelWide from_after = from == to ? balance_of(from) : balance_of(from) - amount;
    balances_[from] = static_cast<std::int64_t>(from_after);
    balances_[to] = static_cast<std::int64_t>(to_after);
    Json result = Json::object();
    result["from"] = account_json(from, balances_[from]);
    result["to"] = account_json(to, balances_[to]);
    return accept(std::move(result));
  }

  Expected list(const tnet::Value& op) const {
    if (!op.is_dict() || op.size() != 1) return refuse("invalid_request");
    Json accounts = Json::array();
    for (const auto& [account, balance] : balances_) {
      if (accounts.size() == kListEntriesMax) break;
      accounts.push_back(account_json(account, balance));
    }
    Json result = Json::object();
    result["accounts"] = std::move(accounts);
    if (balances_.size() > kListEntriesMax) result["truncated"] = true;
    return accept(std::move(result));
  }

  std::map<std::string, std::int64_t> balances_;
};

}  // namespace vsr::app::testing
