// `vsr bench`: closed-loop load against the running cluster. N concurrent clients (each its
// own client id, one request outstanding) share one AsyncClient on one thread; each
// request's latency goes into a log-bucketed histogram (vsr/node/histogram.hpp). A progress
// bar goes to stderr; the summary (or --json) to stdout.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bank/bank.hpp"
#include "cli.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/node/client.hpp"
#include "vsr/node/histogram.hpp"

namespace vsr::cli {
namespace {

using node::Clock;

struct BenchOptions {
  std::size_t clients = 16;
  std::uint64_t requests = 20000;
  std::optional<double> duration_s;
  double timeout_s = 10.0;
  bool json = false;
};

struct BenchState {
  std::uint64_t issued = 0;
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;
  std::uint64_t unknown = 0;
  std::size_t running = 0;
  node::Histogram latency_ns;
  /// The run is timed from the first measured request to the last reply: the warm-up
  /// (registration, finding the primary) and the progress bar's last tick are not in it.
  std::optional<Clock::time_point> first_sent;
  Clock::time_point last_reply;
  Clock::time_point stop_at = Clock::time_point::max();
  bool stop = false;

  double seconds() const {
    if (!first_sent || last_reply <= *first_sent) return 0;
    return std::chrono::duration<double>(last_reply - *first_sent).count();
  }
};

net::awaitable<void> bench_client(node::AsyncClient& client, BenchState& state,
                                  const BenchOptions& options, std::size_t index,
                                  asio::steady_timer& finished) {
  node::ClientSession session{node::random_client_id(), false, core::Op{0}};
  const std::string account = fmt::format("bench-{}", index);
  const auto timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000));
  std::uint64_t request_no = 1;
  // Warm-up, not measured: registers the session and finds the primary.
  co_await client.call(session, core::RequestNo{request_no++},
                       app::encode_composite_operation("bank", apps::bank::encode_get(account)),
                       Clock::now() + timeout);
  const std::string operation =
      app::encode_composite_operation("bank", apps::bank::encode_add(account, 1));
  for (;;) {
    if (state.stop || Clock::now() >= state.stop_at) break;
    if (!options.duration_s && state.issued >= options.requests) break;
    state.issued += 1;
    const auto sent = Clock::now();
    if (!state.first_sent) {
      state.first_sent = sent;
      if (options.duration_s) {
        state.stop_at =
            sent + std::chrono::milliseconds(static_cast<long>(*options.duration_s * 1000.0));
      }
    }
    node::Outcome outcome =
        co_await client.call(session, core::RequestNo{request_no++}, operation, sent + timeout);
    const auto replied = Clock::now();
    const auto took = replied - sent;
    state.last_reply = std::max(state.last_reply, replied);
    if (!outcome.definite()) {
      state.unknown += 1;
      continue;
    }
    if (outcome.reply.status != core::ReplyStatus::ok) state.errors += 1;
    state.completed += 1;
    state.latency_ns.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
  }
  if (--state.running == 0) finished.cancel();
}

net::awaitable<void> progress(BenchState& state, const BenchOptions& options) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::uint64_t last_completed = 0;
  auto last = Clock::now();
  while (state.running > 0) {
    timer.expires_after(std::chrono::milliseconds(250));
    co_await timer.async_wait(net::use_nothrow);
    const auto now = Clock::now();
    double fraction = 0;
    if (options.duration_s) {
      fraction = state.first_sent ? std::chrono::duration<double>(now - *state.first_sent).count() /
                                        *options.duration_s
                                  : 0.0;
    } else if (options.requests > 0) {
      fraction = static_cast<double>(state.completed + state.unknown) /
                 static_cast<double>(options.requests);
    }
    fraction = std::clamp(fraction, 0.0, 1.0);
    const double rate = static_cast<double>(state.completed - last_completed) /
                        std::max(1e-9, std::chrono::duration<double>(now - last).count());
    last_completed = state.completed;
    last = now;
    const int width = 30;
    const int filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "%s[%s%s] %3d%% %8.0f ops/s%s", tty ? "\r" : "",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
                 static_cast<int>(fraction * 100), rate, tty ? "" : "\n");
    std::fflush(stderr);
  }
  if (tty) std::fprintf(stderr, "\n");
}

double ms(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

ExitCode run_bench(const GlobalOptions& globals, const BenchOptions& options) {
  for (const std::string& app_name : globals.apps) {
    if (app_name != "bank") {
      return report(ExitCode::usage,
                    fmt::format("bench drives the bank app only, not '{}'", app_name));
    }
  }
  auto client_config = config::load_client(globals.paths().client_file());
  if (!client_config) {
    return report(exit_code_for(client_config.error().kind), client_config.error().message);
  }
  asio::io_context io(1);
  node::AsyncClient client(io.get_executor(), std::move(*client_config));
  BenchState state;
  state.running = options.clients;
  asio::steady_timer finished(io, Clock::time_point::max());
  for (std::size_t i = 0; i < options.clients; ++i) {
    asio::co_spawn(io, bench_client(client, state, options, i, finished), asio::detached);
  }
  asio::co_spawn(io, progress(state, options), asio::detached);
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        co_await finished.async_wait(net::use_nothrow);
        client.close();
      },
      asio::detached);
  io.run();
  const double seconds = state.seconds();
  const double rate = seconds > 0 ? static_cast<double>(state.completed) / seconds : 0.0;
  const node::Histogram& h = state.latency_ns;
  if (options.json) {
    nlohmann::ordered_json j;
    j["app"] = "bank";
    j["clients"] = options.clients;
    j["requests"] = state.completed;
    j["seconds"] = seconds;
    j["ops_per_s"] = rate;
    j["latency_ms"] = {{"p50", ms(h.quantile(0.5))},
                       {"p90", ms(h.quantile(0.9))},
                       {"p99", ms(h.quantile(0.99))},
                       {"p99_9", ms(h.quantile(0.999))},
                       {"max", ms(h.max())}};
    j["errors"] = state.errors;
    j["unknown"] = state.unknown;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("bank: %zu clients, %llu requests in %.2f s: %.0f ops/s\n", options.clients,
                static_cast<unsigned long long>(state.completed), seconds, rate);
    std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
                ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
                ms(h.quantile(0.999)), ms(h.max()));
    std::printf("errors %llu, unknown outcome %llu\n",
                static_cast<unsigned long long>(state.errors),
                static_cast<unsigned long long>(state.unknown));
  }
  if (state.completed == 0) {
    return report(ExitCode::unknown_outcome, "no request completed; is the cluster running?");
  }
  return ExitCode::success;
}

}  // namespace

void add_bench(CLI::App& app, GlobalOptions& globals) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Closed-loop load on the bank app: throughput and latency percentiles");
  command->add_option("--clients", options->clients, "Concurrent clients")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}))
      ->capture_default_str();
  command->add_option("--requests", options->requests, "Total requests (without --duration)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  command->add_option("--duration", options->duration_s, "Run for S seconds instead")
      ->check(seconds_between(0.1, 86400.0));
  command->add_option("--timeout", options->timeout_s, "Seconds before a request is unknown")
      ->check(seconds_between(0.01, 3600.0))
      ->capture_default_str();
  command->add_flag("--json", options->json, "One JSON object on stdout");
  command->footer(fmt::format(
      "Each client has its own client id and one request outstanding at a time, like an\n"
      "application; client i repeats `bank add bench-<i> 1` (bench writes to the bank\n"
      "accounts bench-0, bench-1, ...). All clients share one connection per node. Latency\n"
      "is measured from send to reply; a request without a reply before --timeout counts\n"
      "as unknown. A progress bar goes to stderr, the summary to stdout.\n\n"
      "Examples:\n"
      "  vsr bench --clients 64 --duration 10\n"
      "  vsr bench --clients 1 --requests 5000 --json\n\n{}",
      command->get_footer()));
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_bench(globals, *options); };
  });
}

}  // namespace vsr::cli
