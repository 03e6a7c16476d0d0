// The bank's client side: operation encoders and reply formatters. They run in the CLI,
// not in a replica, and check every reply they read: a reply of the wrong shape is an
// error for the caller to report, never a crash.

#include <fmt/format.h>

#include "bank/bank.hpp"
#include "vsr/app/operation.hpp"

namespace vsr::apps::bank {
namespace {

struct AccountBalance {
  std::string_view account;
  std::int64_t balance = 0;
};

Result<AccountBalance, std::string> read_account(const tnet::Value& value) {
  tnet::FieldReader fields(value, "bank result");
  AccountBalance out;
  out.account = fields.bytes("account");
  out.balance = fields.integer("balance");
  if (!fields.ok()) return fail(fields.error());
  if (value.size() != 2) return fail(std::string("bank result: unexpected fields"));
  return out;
}

// Checks that `result` has the shape `command` produces; returns its human text.
Result<std::string, std::string> human_result(Command command, const tnet::Value& result) {
  tnet::FieldReader fields(result, "bank result");
  switch (command) {
    case Command::add:
    case Command::get: {
      auto account = read_account(result);
      if (!account) return fail(account.error());
      return fmt::format("{}", account->balance);
    }
    case Command::transfer: {
      const tnet::Value from = fields.dict("from");
      const tnet::Value to = fields.dict("to");
      if (!fields.ok()) return fail(fields.error());
      auto from_account = read_account(from);
      if (!from_account) return fail(from_account.error());
      auto to_account = read_account(to);
      if (!to_account) return fail(to_account.error());
      return fmt::format("{} {}", from_account->balance, to_account->balance);
    }
    case Command::list: {
      const tnet::Value accounts = fields.list("accounts");
      const auto truncated = fields.optional("truncated");
      if (!fields.ok()) return fail(fields.error());
      if (truncated && !truncated->is_boolean()) {
        return fail(std::string("bank result: field 'truncated' must be a boolean"));
      }
      std::string text;
      for (const tnet::Value item : accounts.items()) {
        auto account = read_account(item);
        if (!account) return fail(account.error());
        if (!text.empty()) text += '\n';
        fmt::format_to(std::back_inserter(text), "{} {}", account->account, account->balance);
      }
      return text;
    }
  }
  return fail(std::string("bank: unknown command"));
}

}  // namespace

std::string encode_add(std::string_view account, std::int64_t amount) {
  app::OperationWriter writer("add");
  writer.encoder().key("account");
  writer.encoder().bytes(account);
  writer.encoder().key("amount");
  writer.encoder().integer(amount);
  return std::move(writer).finish();
}

std::string encode_get(std::string_view account) {
  app::OperationWriter writer("get");
  writer.encoder().key("account");
  writer.encoder().bytes(account);
  return std::move(writer).finish();
}

std::string encode_transfer(std::string_view from, std::string_view to, std::int64_t amount) {
  app::OperationWriter writer("transfer");
  writer.encoder().key("from");
  writer.encoder().bytes(from);
  writer.encoder().key("to");
  writer.encoder().bytes(to);
  writer.encoder().key("amount");
  writer.encoder().integer(amount);
  return std::move(writer).finish();
}

std::string encode_list() {
  return app::OperationWriter("list").finish();
}

Result<app::Json, std::string> format_json(Command command, const app::Reply& reply) {
  return app::format_json_with(reply,
                               [&](const tnet::Value& r) { return human_result(command, r); });
}

Result<std::string, std::string> format_human(Command command, const app::Reply& reply) {
  return app::format_human_with(reply,
                                [&](const tnet::Value& r) { return human_result(command, r); });
}

}  // namespace vsr::apps::bank
