// The bundled apps' client commands: `vsr bank|inventory|catalog|locks ...`. Each command
// encodes its operation with the app's client helpers (apps/<name>/), sends it through the
// client library (vsr/node/client.hpp) and prints the reply with the app's formatters.
//
// Client options on every command: --client-id (default: a fresh random id), --request-no
// (default: node::default_request_no(), from the wall clock, so successive commands of one
// client id use increasing numbers), --timeout SECONDS (default 10), --json. Exit codes: 0
// success, 1 the app refused, 2 usage (and a request number reused with another
// operation), 3 outcome unknown (no reply, a stale request, an evicted session), 4
// environment.

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "cli.hpp"
#include "inventory/inventory.hpp"
#include "locks/locks.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/app/limits.hpp"
#include "vsr/app/reply.hpp"
#include "vsr/node/client.hpp"

namespace vsr::cli {
namespace {

struct ClientOptions {
  std::string client_id;
  std::optional<std::uint64_t> request_no;
  double timeout_s = 10.0;
  bool json = false;
};

using JsonFormatter = std::function<Result<app::Json, std::string>(const app::Reply&)>;
using HumanFormatter = std::function<Result<std::string, std::string>(const app::Reply&)>;

void add_client_options(CLI::App* command, ClientOptions& o) {
  command->add_option("--client-id", o.client_id, "Client id (default: a fresh random id)");
  command
      ->add_option("--request-no", o.request_no,
                   "Request number, > every earlier one of this client id (default: the "
                   "wall clock in microseconds)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{INT64_MAX}));
  command->add_option("--timeout", o.timeout_s, "Seconds to wait for a definite reply")
      ->check(seconds_between(0.01, 3600.0))
      ->capture_default_str();
  command->add_flag("--json", o.json, "One JSON object on stdout");
}

/// Accepts only a whole decimal int64 (CLI11 alone would clamp an out-of-range number to
/// INT64_MAX and run the command with it).
CLI::Validator int64_arg() {
  return CLI::Validator(
      [](const std::string& text) {
        std::int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::result_out_of_range) {
          return "'" + text + "' is outside the signed 64-bit range";
        }
        if (ec != std::errc() || ptr != end) return "'" + text + "' is not an integer";
        return std::string();
      },
      "INT");
}

/// An int64 argument within [min, max]: a value the app would refuse is a usage error, and
/// never reaches the cluster.
CLI::Validator int64_in(std::int64_t min, std::int64_t max) {
  return CLI::Validator(
      [min, max](const std::string& text) {
        if (std::string whole = int64_arg()(text); !whole.empty()) return whole;
        std::int64_t value = 0;
        std::from_chars(text.data(), text.data() + text.size(), value);
        if (value < min || value > max) {
          return fmt::format("{} is outside {}..{}", value, min, max);
        }
        return std::string();
      },
      "INT");
}

/// A name argument (account, SKU, key, lock) the apps accept: 1..256 bytes of UTF-8 without
/// control characters (app::check_name).
CLI::Validator name_arg(std::string what) {
  return CLI::Validator(
      [what](const std::string& text) {
        auto checked = app::check_name(what, text);
        return checked ? std::string() : checked.error();
      },
      "");
}

/// A prefix: empty (everything), or a name's bytes.
CLI::Validator prefix_arg() {
  const CLI::Validator name = name_arg("PREFIX");
  return CLI::Validator(
      [name](const std::string& text) { return text.empty() ? std::string() : name(text); }, "");
}

void print_error_json(std::string_view code, std::string_view message) {
  app::Json j;
  j["ok"] = false;
  j["error"] = code;
  j["message"] = message;
  std::printf("%s\n", app::dump_json(j).c_str());
}

ExitCode run_operation(const GlobalOptions& globals, const ClientOptions& o,
                       std::string_view app_name, const std::string& operation,
                       const JsonFormatter& to_json, const HumanFormatter& to_human) {
  auto client_config = config::load_client(globals.paths().client_file());
  if (!client_config) {
    return report(exit_code_for(client_config.error().kind), client_config.error().message);
  }
  node::ClientSession session{o.client_id.empty() ? node::random_client_id() : o.client_id, false,
                              core::Op{0}};
  if (session.client_id.size() > core::Options::max_client_id_bytes) {
    return report(ExitCode::usage, fmt::format("--client-id is longer than {} bytes",
                                               core::Options::max_client_id_bytes));
  }
  const core::RequestNo request_no =
      o.request_no ? core::RequestNo{*o.request_no} : node::default_request_no();
  const auto timeout = std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000.0));
  std::string encoded = app::encode_composite_operation(app_name, operation);
  if (encoded.size() > core::Options{}.max_operation_bytes) {
    // Refused here, before anything is sent: a node would refuse it too, and the client
    // would only learn "outcome unknown" from a closed connection.
    const std::string message =
        fmt::format("the operation is {} bytes encoded, more than the limit of {} bytes",
                    encoded.size(), core::Options{}.max_operation_bytes);
    if (o.json) print_error_json("operation_too_large", message);
    return report(ExitCode::usage, message);
  }
  node::Client client(std::move(*client_config));
  const node::Outcome outcome = client.call(session, request_no, std::move(encoded), timeout);
  if (outcome.kind == node::Outcome::Kind::refused) {
    // Nothing was sent: a definite "not run", and a problem of this machine's files.
    if (o.json) print_error_json("authentication_failed", outcome.detail);
    return report(ExitCode::usage, outcome.detail);
  }
  if (!outcome.definite()) {
    const std::string message = fmt::format(
        "no reply within {} s: the operation may or may not have been committed; run the "
        "same command with --client-id {} --request-no {} to learn its outcome",
        o.timeout_s, session.client_id, request_no.value);
    if (o.json) print_error_json("timeout", message);
    return report(ExitCode::unknown_outcome, message);
  }
  const core::Reply& reply = outcome.reply;
  if (reply.status != core::ReplyStatus::ok) {
    const std::string code = core::to_string(reply.status);
    std::string message;
    ExitCode exit = ExitCode::unknown_outcome;
    switch (reply.status) {
      case core::ReplyStatus::invalid_request:
        message = reply.result;  // the node's reason: its operation is over the limit
        exit = ExitCode::usage;
        break;
      case core::ReplyStatus::request_no_reused:
        // Definite: this operation did not run under that number.
        message = fmt::format(
            "request {} of client id {} already ran another operation; this one was not run. "
            "Use a new --request-no (or none) for a new operation",
            request_no.value, session.client_id);
        exit = ExitCode::usage;
        break;
      case core::ReplyStatus::stale_request:
        message = fmt::format(
            "a newer request of client id {} was seen, so the outcome of request {} can no "
            "longer be learned: it may or may not have run. A client id belongs to one "
            "process at a time",
            session.client_id, request_no.value);
        break;
      case core::ReplyStatus::evicted:
        message = fmt::format(
            "the session of client id {} is gone (evicted from the client table, or another "
            "session of the id): request {} was not run now, but an earlier try may have run",
            session.client_id, request_no.value);
        break;
      case core::ReplyStatus::ok:
        break;
    }
    if (o.json) print_error_json(code, message);
    return report(exit, code + ": " + message);
  }
  auto parsed = app::parse_reply(reply.result);
  if (!parsed) {
    return report(ExitCode::environment, "the cluster sent a malformed reply: " + parsed.error());
  }
  if (o.json) {
    auto j = to_json(*parsed);
    if (!j) return report(ExitCode::environment, "unexpected reply: " + j.error());
    if (parsed->ok) {
      (*j)["op"] = reply.op.value;
      (*j)["view"] = reply.view.value;
    }
    std::printf("%s\n", app::dump_json(*j).c_str());
    return parsed->ok ? ExitCode::success : ExitCode::refused;
  }
  auto text = to_human(*parsed);
  if (!text) return report(ExitCode::environment, "unexpected reply: " + text.error());
  if (!parsed->ok) return report(ExitCode::refused, *text);
  std::printf("%s\n", text->c_str());
  return ExitCode::success;
}

/// Registers one app subcommand. `make` builds the operation bytes after parsing.
template <class Command, class JsonFn, class HumanFn>
CLI::App* add_operation(CLI::App* parent, GlobalOptions& globals, std::string_view app_name,
                        const char* name, const char* help, Command command, JsonFn json_fn,
                        HumanFn human_fn, std::function<void(CLI::App*)> add_args,
                        std::function<std::string()> make) {
  auto options = std::make_shared<ClientOptions>();
  CLI::App* sub = parent->add_subcommand(name, help);
  add_args(sub);
  add_client_options(sub, *options);
  sub->callback([&globals, options, app_name, command, json_fn, human_fn, make] {
    globals.run = [&globals, options, app_name, command, json_fn, human_fn, make] {
      return run_operation(
          globals, *options, app_name, make(),
          [&](const app::Reply& r) { return json_fn(command, r); },
          [&](const app::Reply& r) { return human_fn(command, r); });
    };
  });
  return sub;
}

/// Puts examples above the inherited footer of an app's command group; its operations,
/// added afterwards, inherit the footer too.
void add_examples(CLI::App* group, std::string_view examples) {
  group->footer(fmt::format("Examples:\n{}\n\n{}", examples, group->get_footer()));
}

struct Args {
  std::string a;
  std::string b;
  std::string c;
  std::int64_t n = 0;
  std::optional<std::int64_t> opt;
};

}  // namespace

void add_bank(CLI::App& app, GlobalOptions& globals) {
  namespace bank = apps::bank;
  CLI::App* top = app.add_subcommand("bank", "Bank accounts: add, get, transfer, list");
  top->require_subcommand(1);
  add_examples(top,
               "  vsr bank add alice 100\n"
               "  vsr bank transfer alice bob 30\n"
               "  vsr bank get bob --json\n"
               "  vsr bank add alice 5 --client-id app-1 --request-no 7   # a retry with the "
               "same id and number executes once");
  auto args = std::make_shared<Args>();
  auto json = [](bank::Command c, const app::Reply& r) { return bank::format_json(c, r); };
  auto human = [](bank::Command c, const app::Reply& r) { return bank::format_human(c, r); };
  add_operation(
      top, globals, bank::kAppName, "add", "Add AMOUNT (signed) to ACCOUNT; prints the balance",
      bank::Command::add, json, human,
      [args](CLI::App* s) {
        s->add_option("ACCOUNT", args->a)->required()->check(name_arg("ACCOUNT"));
        s->add_option("AMOUNT", args->n)->required()->check(int64_arg());
      },
      [args] { return bank::encode_add(args->a, args->n); });
  add_operation(
      top, globals, bank::kAppName, "get", "Print ACCOUNT's balance", bank::Command::get, json,
      human,
      [args](CLI::App* s) {
        s->add_option("ACCOUNT", args->a)->required()->check(name_arg("ACCOUNT"));
      },
      [args] { return bank::encode_get(args->a); });
  add_operation(
      top, globals, bank::kAppName, "transfer", "Move AMOUNT from FROM to TO, atomically",
      bank::Command::transfer, json, human,
      [args](CLI::App* s) {
        s->add_option("FROM", args->a)->required()->check(name_arg("FROM"));
        s->add_option("TO", args->b)->required()->check(name_arg("TO"));
        s->add_option("AMOUNT", args->n)->required()->check(int64_arg());
      },
      [args] { return bank::encode_transfer(args->a, args->b, args->n); });
  add_operation(
      top, globals, bank::kAppName, "list", "List every account and balance", bank::Command::list,
      json, human, [](CLI::App*) {}, [] { return bank::encode_list(); });
}

void add_inventory(CLI::App& app, GlobalOptions& globals) {
  namespace inv = apps::inventory;
  CLI::App* top =
      app.add_subcommand("inventory", "Stock and reservations: stock, reserve, release, available");
  top->require_subcommand(1);
  add_examples(top,
               "  vsr inventory stock widget 10\n"
               "  vsr inventory reserve widget 3 --client-id cart-1\n"
               "  vsr inventory release widget 3 --client-id cart-1\n"
               "  vsr inventory available widget");
  auto args = std::make_shared<Args>();
  auto json = [](inv::Command c, const app::Reply& r) { return inv::format_json(c, r); };
  auto human = [](inv::Command c, const app::Reply& r) { return inv::format_human(c, r); };
  auto sku_qty = [args](CLI::App* s) {
    s->add_option("SKU", args->a)->required()->check(name_arg("SKU"));
    s->add_option("QTY", args->n)->required()->check(int64_arg());
  };
  add_operation(top, globals, inv::kAppName, "stock", "Add QTY on hand", inv::Command::stock, json,
                human, sku_qty, [args] { return inv::encode_stock(args->a, args->n); });
  add_operation(top, globals, inv::kAppName, "reserve", "Reserve QTY for this client id",
                inv::Command::reserve, json, human, sku_qty,
                [args] { return inv::encode_reserve(args->a, args->n); });
  add_operation(top, globals, inv::kAppName, "release",
                "Release up to QTY of this client's "
                "reservation",
                inv::Command::release, json, human, sku_qty,
                [args] { return inv::encode_release(args->a, args->n); });
  add_operation(
      top, globals, inv::kAppName, "available", "On hand minus reserved", inv::Command::available,
      json, human,
      [args](CLI::App* s) { s->add_option("SKU", args->a)->required()->check(name_arg("SKU")); },
      [args] { return inv::encode_available(args->a); });
}

void add_catalog(CLI::App& app, GlobalOptions& globals) {
  namespace cat = apps::catalog;
  CLI::App* top = app.add_subcommand("catalog",
                                     "Versioned key-value entries: put, get, "
                                     "delete, list");
  top->require_subcommand(1);
  add_examples(top,
               "  vsr catalog put color blue --if-version 0   # only if absent\n"
               "  vsr catalog get color\n"
               "  vsr catalog put color red --if-version 1    # compare-and-set\n"
               "  vsr catalog list col --limit 10");
  auto args = std::make_shared<Args>();
  auto json = [](cat::Command c, const app::Reply& r) { return cat::format_json(c, r); };
  auto human = [](cat::Command c, const app::Reply& r) { return cat::format_human(c, r); };
  add_operation(
      top, globals, cat::kAppName, "put", "Store VALUE under KEY", cat::Command::put, json, human,
      [args](CLI::App* s) {
        s->add_option("KEY", args->a)->required()->check(name_arg("KEY"));
        s->add_option("VALUE", args->b)->required();
        s->add_option("--if-version", args->opt, "Only if the current version is V (0: absent)")
            ->check(int64_in(0, INT64_MAX));
      },
      [args] { return cat::encode_put(args->a, args->b, args->opt); });
  add_operation(
      top, globals, cat::kAppName, "get", "Print KEY's value", cat::Command::get, json, human,
      [args](CLI::App* s) { s->add_option("KEY", args->a)->required()->check(name_arg("KEY")); },
      [args] { return cat::encode_get(args->a); });
  add_operation(
      top, globals, cat::kAppName, "delete", "Delete KEY", cat::Command::remove, json, human,
      [args](CLI::App* s) {
        s->add_option("KEY", args->a)->required()->check(name_arg("KEY"));
        s->add_option("--if-version", args->opt, "Only if the current version is V")
            ->check(int64_in(0, INT64_MAX));
      },
      [args] { return cat::encode_delete(args->a, args->opt); });
  add_operation(
      top, globals, cat::kAppName, "list", "List keys (with PREFIX) and versions",
      cat::Command::list, json, human,
      [args](CLI::App* s) {
        s->add_option("PREFIX", args->a)->check(prefix_arg());
        s->add_option("--limit", args->opt, "At most N entries")
            ->check(int64_in(1, static_cast<std::int64_t>(app::kListEntriesMax)));
      },
      [args] { return cat::encode_list(args->a, args->opt); });
}

void add_locks(CLI::App& app, GlobalOptions& globals) {
  namespace locks = apps::locks;
  CLI::App* top = app.add_subcommand("locks",
                                     "Leased locks with fencing tokens: acquire, "
                                     "release, holder");
  top->require_subcommand(1);
  add_examples(top,
               "  vsr locks acquire leader --ttl 5000 --client-id worker-1\n"
               "  vsr locks holder leader\n"
               "  vsr locks release leader --client-id worker-1");
  auto args = std::make_shared<Args>();
  args->opt = app::kLockTtlMsDefault;
  auto json = [](locks::Command c, const app::Reply& r) { return locks::format_json(c, r); };
  auto human = [](locks::Command c, const app::Reply& r) { return locks::format_human(c, r); };
  add_operation(
      top, globals, locks::kAppName, "acquire", "Acquire (or renew) lock NAME",
      locks::Command::acquire, json, human,
      [args](CLI::App* s) {
        s->add_option("NAME", args->a)->required()->check(name_arg("NAME"));
        s->add_option("--ttl", args->opt, "Lease in milliseconds")
            ->check(int64_in(app::kLockTtlMsMin, app::kLockTtlMsMax))
            ->capture_default_str();
      },
      [args] {
        return locks::encode_acquire(args->a, args->opt.value_or(app::kLockTtlMsDefault));
      });
  add_operation(
      top, globals, locks::kAppName, "release", "Release lock NAME (owner only)",
      locks::Command::release, json, human,
      [args](CLI::App* s) { s->add_option("NAME", args->a)->required()->check(name_arg("NAME")); },
      [args] { return locks::encode_release(args->a); });
  add_operation(
      top, globals, locks::kAppName, "holder", "Print lock NAME's holder", locks::Command::holder,
      json, human,
      [args](CLI::App* s) { s->add_option("NAME", args->a)->required()->check(name_arg("NAME")); },
      [args] { return locks::encode_holder(args->a); });
}

}  // namespace vsr::cli
