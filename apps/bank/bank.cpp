// The bank state machine. Balances live in a std::map so that list and snapshot iterate
// in one order on every replica. Every handler reads and checks all of its arguments
// before it changes anything: a refused operation leaves the state as it was.

#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "bank/bank.hpp"
#include "vsr/app/limits.hpp"
#include "vsr/app/operation.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::apps::bank {
namespace {

using app::ErrorCode;

// Snapshot layout version (docs/vsr/apps.md).
constexpr std::int64_t kSnapshotFormat = 1;

void write_account(tnet::Encoder& encoder, std::string_view account, std::int64_t balance) {
  encoder.key("account");
  encoder.bytes(account);
  encoder.key("balance");
  encoder.integer(balance);
}

class Bank final : public app::StateMachine {
 public:
  std::string_view name() const override { return kAppName; }

  void execute(const app::Context& /*context*/, std::string_view operation,
               std::string& reply) override {
    auto op = app::OperationReader::parse(kAppName, operation);
    if (!op) return app::encode_error(reply, ErrorCode::invalid_request, op.error());
    const std::string_view verb = op->verb();
    if (verb == "add") return on_add(*op, reply);
    if (verb == "get") return on_get(*op, reply);
    if (verb == "transfer") return on_transfer(*op, reply);
    if (verb == "list") return on_list(*op, reply);
    app::encode_error(reply, ErrorCode::invalid_request,
                      fmt::format("bank: unknown operation '{}'", verb));
  }

  void snapshot(std::string& out) const override {
    tnet::Encoder encoder(out);
    encoder.begin_dict();
    encoder.key("format");
    encoder.integer(kSnapshotFormat);
    encoder.key("accounts");
    encoder.begin_dict();
    for (const auto& [account, balance] : balances_) {
      encoder.key(account);
      encoder.integer(balance);
    }
    encoder.end_dict();
    encoder.end_dict();
  }

  Result<void, std::string> restore(std::string_view snapshot) override {
    auto decoded = tnet::decode(snapshot, app::kSnapshotLimits);
    if (!decoded) return fail(fmt::format("bank snapshot: {}", decoded.error().message()));
    tnet::FieldReader fields(*decoded, "bank snapshot");
    const std::int64_t format = fields.integer("format");
    const tnet::Value accounts = fields.dict("accounts");
    if (!fields.ok()) return fail(fields.error());
    if (format != kSnapshotFormat || decoded->size() != 2) {
      return fail(fmt::format("bank snapshot: unsupported format {}", format));
    }
    std::map<std::string, std::int64_t, std::less<>> balances;
    for (const tnet::Entry entry : accounts.entries()) {
      if (auto valid = app::check_name("bank snapshot: account", entry.key); !valid) {
        return fail(valid.error());
      }
      if (!entry.value.is_integer() || entry.value.integer() < 0) {
        return fail(fmt::format("bank snapshot: account '{}' needs a balance >= 0", entry.key));
      }
      balances.emplace(entry.key, entry.value.integer());
    }
    balances_ = std::move(balances);
    return {};
  }

 private:
  std::int64_t balance_of(std::string_view account) const {
    const auto found = balances_.find(account);
    return found == balances_.end() ? 0 : found->second;
  }

  void set_balance(std::string_view account, std::int64_t balance) {
    VSR_ASSERT(balance >= 0);
    const auto found = balances_.find(account);
    if (found != balances_.end()) {
      found->second = balance;
    } else {
      balances_.emplace(std::string(account), balance);
    }
  }

  // The checks every handler starts with: well-formed fields, then valid account names.
  static Result<void, std::string> check_names(const app::OperationReader& op,
                                               std::initializer_list<std::string_view> names) {
    if (auto finished = op.finish(); !finished) return finished;
    for (const std::string_view name : names) {
      if (auto valid = app::check_name("account", name); !valid) return valid;
    }
    return {};
  }

  void on_add(app::OperationReader& op, std::string& reply) {
    const std::string_view account = op.bytes("account");
    const std::int64_t amount = op.integer("amount");
    if (auto valid = check_names(op, {account}); !valid) {
      return app::encode_error(reply, ErrorCode::invalid_request, valid.error());
    }
    const std::int64_t balance = balance_of(account);
    std::int64_t updated = 0;
    // balance >= 0, so the sum can only overflow upwards.
    if (__builtin_add_overflow(balance, amount, &updated)) {
      return app::encode_error(
          reply, ErrorCode::overflow,
          fmt::format("account '{}' holds {}; adding {} overflows", account, balance, amount));
    }
    if (updated < 0) {
      return app::encode_error(
          reply, ErrorCode::insufficient_funds,
          fmt::format("account '{}' holds {}; adding {} would make it negative", account, balance,
                      amount));
    }
    set_balance(account, updated);
    app::encode_ok(reply, [&](tnet::Encoder& e) { write_account(e, account, updated); });
  }

  void on_get(app::OperationReader& op, std::string& reply) {
    const std::string_view account = op.bytes("account");
    if (auto valid = check_names(op, {account}); !valid) {
      return app::encode_error(reply, ErrorCode::invalid_request, valid.error());
    }
    app::encode_ok(reply,
                   [&](tnet::Encoder& e) { write_account(e, account, balance_of(account)); });
  }

  void on_transfer(app::OperationReader& op, std::string& reply) {
    const std::string_view from = op.bytes("from");
    const std::string_view to = op.bytes("to");
    const std::int64_t amount = op.integer("amount");
    if (auto valid = check_names(op, {from, to}); !valid) {
      return app::encode_error(reply, ErrorCode::invalid_request, valid.error());
    }
    if (amount <= 0) {
      return app::encode_error(reply, ErrorCode::invalid_amount,
                               fmt::format("transfer amount must be > 0, got {}", amount));
    }
    const std::int64_t from_balance = balance_of(from);
    if (from_balance < amount) {
      return app::encode_error(
          reply, ErrorCode::insufficient_funds,
          fmt::format("account '{}' holds {}; cannot transfer {}", from, from_balance, amount));
    }
    // A transfer to the same account moves nothing (and cannot overflow).
    const std::int64_t to_balance = from == to ? from_balance - amount : balance_of(to);
    std::int64_t to_updated = 0;
    if (__builtin_add_overflow(to_balance, amount, &to_updated)) {
      return app::encode_error(
          reply, ErrorCode::overflow,
          fmt::format("account '{}' holds {}; adding {} overflows", to, to_balance, amount));
    }
    const std::int64_t from_updated = from == to ? to_updated : from_balance - amount;
    set_balance(from, from_updated);
    set_balance(to, to_updated);
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("from");
      e.begin_dict();
      write_account(e, from, from_updated);
      e.end_dict();
      e.key("to");
      e.begin_dict();
      write_account(e, to, to_updated);
      e.end_dict();
    });
  }

  void on_list(app::OperationReader& op, std::string& reply) {
    if (auto finished = op.finish(); !finished) {
      return app::encode_error(reply, ErrorCode::invalid_request, finished.error());
    }
    app::encode_ok(reply, [&](tnet::Encoder& e) {
      e.key("accounts");
      e.begin_list();
      std::size_t listed = 0;
      for (const auto& [account, balance] : balances_) {
        if (listed == app::kListEntriesMax) break;
        e.begin_dict();
        write_account(e, account, balance);
        e.end_dict();
        ++listed;
      }
      e.end_list();
      if (balances_.size() > listed) {
        e.key("truncated");
        e.boolean(true);
      }
    });
  }

  // account name -> balance (>= 0). Changed only by add and transfer, replaced by restore.
  std::map<std::string, std::int64_t, std::less<>> balances_;
};

const app::CommandInfo kCommands[] = {
    {"add", "ACCOUNT AMOUNT", "adds AMOUNT (signed) to ACCOUNT; prints the new balance"},
    {"get", "ACCOUNT", "prints ACCOUNT's balance (0 when unknown)"},
    {"transfer", "FROM TO AMOUNT", "moves AMOUNT (> 0) from FROM to TO; prints both balances"},
    {"list", "", "prints every account and balance, sorted"},
};

}  // namespace

app::AppDescriptor descriptor() {
  return app::AppDescriptor{
      .name = kAppName,
      .summary = "account balances: add, get, transfer, list",
      .factory = []() -> std::unique_ptr<app::StateMachine> { return std::make_unique<Bank>(); },
      .commands = kCommands,
  };
}

}  // namespace vsr::apps::bank
