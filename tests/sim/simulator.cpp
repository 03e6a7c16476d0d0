// The deterministic simulator (see simulator.hpp). One thread, one seed, no clocks: every
// random choice comes from prng_, and every container iterated for output is ordered.

#include "simulator.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "vsr/storage/metadata.hpp"
#include "vsr/storage/restore.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::sim {

namespace {

const char* bug_name(core::InjectedBug bug) {
  switch (bug) {
    case core::InjectedBug::none:
      return "none";
    case core::InjectedBug::prepare_ok_before_durable:
      return "prepare_ok_before_durable";
    case core::InjectedBug::quorum_too_small:
      return "quorum_too_small";
    case core::InjectedBug::shortest_log_wins:
      return "shortest_log_wins";
    case core::InjectedBug::ignore_log_view:
      return "ignore_log_view";
    case core::InjectedBug::execute_before_commit:
      return "execute_before_commit";
    case core::InjectedBug::forget_client_table:
      return "forget_client_table";
    case core::InjectedBug::wiped_replica_votes_as_new:
      return "wiped_replica_votes_as_new";
    case core::InjectedBug::recovery_trusts_asking:
      return "recovery_trusts_asking";
    case core::InjectedBug::rejoin_stale_start_view:
      return "rejoin_stale_start_view";
    case core::InjectedBug::rejoined_replica_nacks:
      return "rejoined_replica_nacks";
    case core::InjectedBug::recovering_takes_stale_start_view:
      return "recovering_takes_stale_start_view";
    case core::InjectedBug::recovering_never_pushes_floor:
      return "recovering_never_pushes_floor";
    case core::InjectedBug::primary_never_abdicates:
      return "primary_never_abdicates";
    case core::InjectedBug::minority_quorum_for_even_sizes:
      return "minority_quorum_for_even_sizes";
    case core::InjectedBug::corrupt_tail_is_torn:
      return "corrupt_tail_is_torn";
    case core::InjectedBug::ignore_client_session:
      return "ignore_client_session";
  }
  return "?";
}

/// Thrown by the assertion handler the simulator installs: a replica's own invariant broke.
struct InvariantBroken {
  std::string message;
};

[[noreturn]] void throw_invariant_broken(const char* message) {
  throw InvariantBroken{message};
}
/// Every wall clock starts near this (2023-11-14), so that clocks can run behind.
constexpr std::uint64_t kEpochMs = 1'700'000'000'000;

/// The coverage fields that come from each replica's counters.
constexpr std::pair<std::uint64_t Coverage::*, std::uint64_t core::Counters::*> kFromCounters[] = {
    {&Coverage::view_changes, &core::Counters::view_changes_started},
    {&Coverage::truncated_ops, &core::Counters::truncated_ops},
    {&Coverage::state_transfers, &core::Counters::state_transfers},
    {&Coverage::prepares_repaired, &core::Counters::prepares_repaired},
    {&Coverage::vc_restart, &core::Counters::view_changes_on_restart},
    {&Coverage::vc_primary_timeout, &core::Counters::view_changes_primary_timeout},
    {&Coverage::vc_abdication, &core::Counters::view_changes_abdication},
    {&Coverage::vc_next_view, &core::Counters::view_changes_next_view},
    {&Coverage::vc_svc_quorum, &core::Counters::view_changes_svc_quorum},
    {&Coverage::vc_followed, &core::Counters::view_changes_followed},
    {&Coverage::vc_voted_above, &core::Counters::view_changes_voted_above},
    {&Coverage::vc_do_view_change, &core::Counters::view_changes_do_view_change},
    {&Coverage::start_views_refused, &core::Counters::start_views_refused},
    {&Coverage::rejoins, &core::Counters::rejoins},
    {&Coverage::rejoin_floors_cleared, &core::Counters::rejoin_floors_cleared},
    {&Coverage::phantom_slots_dropped, &core::Counters::phantom_slots_dropped},
};

std::uint64_t digest_of(const app::StateMachine& app, const core::ClientTable& table) {
  std::string bytes;
  app.snapshot(bytes);
  table.encode(bytes);
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace

const char* injected_bug_name(core::InjectedBug bug) {
  return bug_name(bug);
}

std::optional<core::InjectedBug> parse_injected_bug(std::string_view name) {
  // The enum's values are consecutive from none; bug_name() knows every one of them.
  for (std::uint8_t v = 0;; ++v) {
    const auto bug = static_cast<core::InjectedBug>(v);
    const std::string_view known = bug_name(bug);
    if (known == "?") return std::nullopt;
    if (known == name) return bug;
  }
}

const char* to_string(SteadyFault fault) {
  switch (fault) {
    case SteadyFault::none:
      return "none";
    case SteadyFault::deaf_primary:
      return "deaf_primary";
    case SteadyFault::mute_primary:
      return "mute_primary";
    case SteadyFault::isolated_primary:
      return "isolated_primary";
    case SteadyFault::partial_primary:
      return "partial_primary";
    case SteadyFault::deaf_minority:
      return "deaf_minority";
    case SteadyFault::mute_minority:
      return "mute_minority";
    case SteadyFault::paused_minority:
      return "paused_minority";
    case SteadyFault::slow_minority:
      return "slow_minority";
    case SteadyFault::crashing_minority:
      return "crashing_minority";
  }
  return "?";
}

const std::vector<std::pair<const char*, std::uint64_t Coverage::*>>& Coverage::fields() {
  static const std::vector<std::pair<const char*, std::uint64_t Coverage::*>> all = {
      {"crashes", &Coverage::crashes},
      {"torn_writes", &Coverage::torn_writes},
      {"corrupt_entries", &Coverage::corrupt_entries},
      {"corrupt_tails", &Coverage::corrupt_tails},
      {"wipes", &Coverage::wipes},
      {"restores", &Coverage::restores},
      {"partitions", &Coverage::partitions},
      {"client_partitions", &Coverage::client_partitions},
      {"client_crashes", &Coverage::client_crashes},
      {"same_id_sessions", &Coverage::same_id_sessions},
      {"session_replays", &Coverage::session_replays},
      {"pauses", &Coverage::pauses},
      {"paused_messages_lost", &Coverage::paused_messages_lost},
      {"slow_disks", &Coverage::slow_disks},
      {"clock_jumps", &Coverage::clock_jumps},
      {"io_errors", &Coverage::io_errors},
      {"sector_errors", &Coverage::sector_errors},
      {"misdirected_writes", &Coverage::misdirected_writes},
      {"copies_flipped", &Coverage::copies_flipped},
      {"metadata_distrusted", &Coverage::metadata_distrusted},
      {"media_restores", &Coverage::media_restores},
      {"long_delayed_deliveries", &Coverage::long_delayed_deliveries},
      {"earlier_incarnation_deliveries", &Coverage::earlier_incarnation_deliveries},
      {"view_changes", &Coverage::view_changes},
      {"truncated_ops", &Coverage::truncated_ops},
      {"state_transfers", &Coverage::state_transfers},
      {"prepares_repaired", &Coverage::prepares_repaired},
      {"vc_restart", &Coverage::vc_restart},
      {"vc_primary_timeout", &Coverage::vc_primary_timeout},
      {"vc_abdication", &Coverage::vc_abdication},
      {"vc_next_view", &Coverage::vc_next_view},
      {"vc_svc_quorum", &Coverage::vc_svc_quorum},
      {"vc_followed", &Coverage::vc_followed},
      {"vc_voted_above", &Coverage::vc_voted_above},
      {"vc_do_view_change", &Coverage::vc_do_view_change},
      {"start_views_refused", &Coverage::start_views_refused},
      {"rejoins", &Coverage::rejoins},
      {"rejoin_floors_cleared", &Coverage::rejoin_floors_cleared},
      {"phantom_slots_dropped", &Coverage::phantom_slots_dropped},
      {"nack_entries", &Coverage::nack_entries},
      {"corrupt_entries_not_nacked", &Coverage::corrupt_entries_not_nacked},
      {"commits_around_faults", &Coverage::commits_around_faults},
  };
  return all;
}

Coverage& Coverage::operator+=(const Coverage& other) {
  for (const auto& [name, field] : fields()) this->*field += other.*field;
  return *this;
}

SimOptions random_options(std::uint64_t seed, std::uint32_t replicas, core::InjectedBug bug) {
  SimOptions o;
  o.seed = seed;
  o.replicas = replicas;
  o.randomize = true;
  core::Prng p(seed ^ 0x5eed5eed5eedULL);
  o.clients = 2 + static_cast<std::uint32_t>(p.below(4));
  o.requests_per_client = 10 + static_cast<std::uint32_t>(p.below(20));
  o.network.drop_percent = p.chance(1, 4) ? 0 : static_cast<std::uint32_t>(p.below(25));
  o.network.duplicate_percent = static_cast<std::uint32_t>(p.below(30));
  o.network.delay_min_ticks = 1;
  o.network.delay_max_ticks = 1 + static_cast<std::uint32_t>(p.below(12));
  o.network.partition_percent = p.chance(1, 3) ? 0 : static_cast<std::uint32_t>(p.below(30));
  o.crash_percent = p.chance(1, 3) ? 0 : static_cast<std::uint32_t>(1 + p.below(6));
  o.corrupt_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(p.below(15));
  o.torn_percent = static_cast<std::uint32_t>(p.below(100));
  o.storage_latency_max_ticks = 1 + static_cast<std::uint32_t>(p.below(5));
  o.core.max_batch_size = 1 + static_cast<std::uint32_t>(p.below(8));
  o.core.max_batch_delay_ticks = static_cast<std::uint32_t>(p.below(3));
  o.core.max_pipeline_depth = 1 + static_cast<std::uint32_t>(p.below(6));
  // From the seed itself, not the generator, so the other draws of a seed stay as they were.
  o.core.eager_partial_batches = seed % 2 == 1;
  o.core.checkpoint_interval = p.chance(1, 2) ? 1000000 : 8 + p.below(40);
  // A table smaller than the number of active clients thrashes (each registration evicts
  // another client) and can livelock; eviction itself is covered by a scenario.
  o.core.client_table_size = o.clients + static_cast<std::uint32_t>(p.below(3));
  o.core.bug = bug;
  o.fault_ticks = 1500;
  o.liveness_ticks = 5000;
  o.wal_segment_bytes = std::uint64_t{2048} << p.below(5);  // 2 KiB .. 32 KiB
  o.wipe_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(20 + p.below(60));
  // From the seed itself, not the generator, so the other draws of a seed stay as they were.
  o.restore_percent = (seed / 2) % 3 == 0 ? 30 : 0;
  o.corrupt_tail_percent = o.corrupt_percent > 0 ? 40 : 0;
  // The wider fault model, drawn after everything above so that those draws stay as they
  // were. Each fault is off in about half the seeds, so that every mix occurs.
  o.network.long_delay_per_10000 = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(30));
  o.network.client_partition_percent =
      p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(20));
  o.client_crash_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(6));
  o.pause_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(6));
  o.pause_max_ticks = 50 + static_cast<std::uint32_t>(p.below(600));
  o.slow_disk_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(6));
  o.slow_disk_latency_max_ticks = 20 + static_cast<std::uint32_t>(p.below(150));
  if (p.chance(1, 2)) {
    o.clock.skew_max_ms = 1 + p.below(3600 * 1000);
    o.clock.drift_max_permille = static_cast<std::uint32_t>(p.below(300));
    o.clock.jump_percent = static_cast<std::uint32_t>(p.below(10));
    o.clock.jump_max_ms = 1 + p.below(600 * 1000);
  }
  // Checkpoints in two thirds of the seeds (a third of the rest too), often enough that a
  // replica back from a long outage finds the WAL it lacks released: state transfer.
  if (o.core.checkpoint_interval > 1000 && p.chance(1, 3)) {
    o.core.checkpoint_interval = 8 + p.below(24);
  }
  if (replicas >= 3 && p.chance(1, 16)) {
    // A steady fault on a minority for longer than checker (e)'s bound (the clients spread
    // their requests over the whole fault phase): the rest must keep committing.
    o.steady_fault = static_cast<SteadyFault>(1 + p.below(9));
    o.steady_fault_at = 100 + p.below(300);
    const std::uint64_t disk = std::max(o.storage_latency_max_ticks, o.slow_disk_latency_max_ticks);
    o.fault_ticks = o.steady_fault_at + 500 +
                    Simulator::liveness_bound_ticks(o, disk, o.clients * o.requests_per_client);
    // Clients think in proportion to the fault phase: what they have left when the faults
    // heal may take as long again (checker (d) would blame the cluster for their thinking).
    o.liveness_ticks = std::max(o.liveness_ticks, o.fault_ticks);
  }
  // Storage faults, drawn last so that the draws above stay as they were.
  o.io_error_percent = p.chance(1, 2) ? 0 : static_cast<std::uint32_t>(1 + p.below(4));
  o.media_percent =
      o.corrupt_percent > 0 && p.chance(2, 3) ? static_cast<std::uint32_t>(1 + p.below(10)) : 0;
  return o;
}

Simulator::Simulator(SimOptions options)
    : options_(std::move(options)),
      prng_(options_.seed),
      model_clients_(std::max<std::uint32_t>(1, options_.core.client_table_size)) {
  options_.core.replica_count = options_.replicas;
  options_.core.cluster_id = 0x5157 + options_.seed % 1000;
  const core::InjectedBug bug = options_.core.bug;
  if (bug == core::InjectedBug::corrupt_tail_is_torn) {
    // A decision of the storage layer: the core runs exactly as in production.
    storage_options_.wal.bug_corrupt_tail_is_torn = true;
    options_.core.bug = core::InjectedBug::none;
  }
  model_app_ = make_app();
  storage_options_.wal.segment_bytes_max = options_.wal_segment_bytes;
  // Preallocated WAL space in small steps: the zeros after the last record are exercised
  // (scans, torn writes into them) without copying megabytes per simulated fdatasync.
  storage_options_.wal.preallocate_bytes = 512;
  nodes_.resize(options_.replicas);
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    nodes_[r].env = std::make_unique<storage::MemoryEnv>();
    VSR_ASSERT(nodes_[r].env->create_dir(dir_of(r)).ok());
  }
  blocked_.assign(options_.replicas, std::vector<bool>(options_.replicas, false));
  // Wall clocks: from a plausible epoch (far enough from 0 to go behind), 10 ms a tick;
  // without clock faults replica r is 7r ms ahead (distinct but ordered), with them an
  // offset either way and a drift of its own.
  const ClockFaults& clock = options_.clock;
  const bool clock_faults = clock.skew_max_ms != 0 || clock.jump_percent != 0;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    std::uint64_t start_ms = kEpochMs + r * 7;
    if (clock_faults) {
      start_ms = kEpochMs - clock.skew_max_ms + prng_.below(2 * clock.skew_max_ms + 1);
      nodes_[r].drift_permille =
          static_cast<std::int32_t>(prng_.below(2 * std::uint64_t{clock.drift_max_permille} + 1)) -
          static_cast<std::int32_t>(clock.drift_max_permille);
    }
    nodes_[r].clock_us = start_ms * 1000;
  }
  // At most f replicas ever have disk corruption, so every committed op stays intact on at
  // least one replica of every quorum (else no protocol could survive it).
  std::vector<std::uint32_t> order(options_.replicas);
  for (std::uint32_t r = 0; r < options_.replicas; ++r) order[r] = r;
  for (std::uint32_t i = 0; i < options_.core.faults_tolerated(); ++i) {
    std::uint32_t pick = i + static_cast<std::uint32_t>(prng_.below(options_.replicas - i));
    std::swap(order[i], order[pick]);
    faulty_.insert(order[i]);
  }
  for (std::uint32_t r = 0; r < options_.replicas; ++r) restart(r);
  clients_.resize(options_.clients);
  for (std::uint32_t i = 0; i < options_.clients; ++i) {
    clients_[i].id = fmt::format("client-{}", i);
    clients_[i].next_at = prng_.below(20);
  }
  result_.replay = fmt::format("vsr_sim --seed {} --replicas {}", options_.seed, options_.replicas);
  if (bug != core::InjectedBug::none) result_.replay += fmt::format(" --bug {}", bug_name(bug));
}

Simulator::~Simulator() {
  vsr::detail::assertion_handler = nullptr;
}

std::uint64_t Simulator::realtime_ms(std::uint32_t r) const {
  return nodes_[r].clock_us / 1000;
}

void Simulator::set_clock(std::uint32_t r, std::int64_t offset_ms, std::int32_t drift_permille) {
  // Relative to a correct clock: the epoch plus 10 ms a tick.
  const auto base_ms = static_cast<std::int64_t>(kEpochMs + now_ * 10);
  nodes_[r].clock_us = static_cast<std::uint64_t>(base_ms + offset_ms) * 1000;
  nodes_[r].drift_permille = drift_permille;
}

void Simulator::jump_clock(std::uint32_t r, std::int64_t delta_ms) {
  Node& node = nodes_[r];
  const std::int64_t delta_us = delta_ms * 1000;
  if (delta_us < 0 && node.clock_us < static_cast<std::uint64_t>(-delta_us)) {
    node.clock_us = 0;
  } else {
    node.clock_us = static_cast<std::uint64_t>(static_cast<std::int64_t>(node.clock_us) + delta_us);
  }
  result_.coverage.clock_jumps += 1;
}

std::unique_ptr<app::StateMachine> Simulator::make_app() const {
  if (options_.app_factory != nullptr) return options_.app_factory();
  return std::make_unique<KvApp>();
}

std::optional<std::uint32_t> Simulator::primary() const {
  std::optional<std::uint32_t> best;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r) || !replica(r).is_primary()) continue;
    if (!best || replica(r).view() > replica(*best).view()) best = r;
  }
  return best;
}

bool Simulator::converged() const {
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r)) return false;
    const core::Replica& x = replica(r);
    const core::Replica& first = replica(0);
    if (x.status() != core::Status::normal || x.view() != first.view() ||
        x.commit_min() != x.op() || x.op() != first.op()) {
      return false;
    }
  }
  return true;
}

bool Simulator::all_done() const {
  for (const Client& c : clients_) {
    if (c.outstanding || c.completed < options_.requests_per_client) return false;
  }
  return true;
}

void Simulator::fail(std::string why) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = fmt::format("tick {}: {}", now_, why);
}

// --- running ----------------------------------------------------------------------------

SimResult Simulator::run() {
  const std::uint64_t end = options_.fault_ticks + options_.liveness_ticks;
  while (result_.ok && now_ < end) {
    step();
    if (liveness_phase_ && all_done()) break;
  }
  if (result_.ok && !all_done()) {
    std::uint32_t open = 0;
    for (const Client& c : clients_) {
      open += options_.requests_per_client - std::min(c.completed, options_.requests_per_client);
    }
    std::string states = replica_states();
    for (const Client& c : clients_) {
      if (c.outstanding || c.completed < options_.requests_per_client) {
        states +=
            fmt::format(" [{} request {}{}{} done {} of {}{}]", c.id, c.request_no,
                        c.registered ? "" : " unregistered", c.outstanding ? " outstanding" : "",
                        c.completed, options_.requests_per_client,
                        c.outstanding ? "" : fmt::format(", next at {}", c.next_at));
      }
    }
    fail(fmt::format("(d) liveness: {} requests unfinished {} ticks after faults healed;{}", open,
                     options_.liveness_ticks, states));
  }
  if (result_.ok) {
    // Liveness also means every replica catches up: a replica left behind (in a stale view,
    // or unable to repair) would be one fault away from losing the quorum.
    const std::uint64_t converge_end = now_ + options_.liveness_ticks;
    while (result_.ok && now_ < converge_end && !converged()) step();
    if (result_.ok && !converged()) {
      fail(fmt::format("(d) liveness: replicas did not converge after the clients finished;{}",
                       replica_states()));
      if (options_.verbose) {
        for (std::uint32_t r = 0; r < options_.replicas; ++r) {
          if (is_up(r)) fmt::print("{}", replica(r).debug_log(12));
        }
      }
    }
  }
  if (result_.ok && !pending_replies_.empty()) {
    fail(fmt::format("(c) {} client replies never appeared in the committed history",
                     pending_replies_.size()));
  }
  return summarize();
}

const SimResult& Simulator::summarize() {
  result_.ticks = now_;
  result_.ops_committed = canonical_commit();
  result_.max_view = 0;
  result_.requests_completed = 0;
  Coverage& coverage = result_.coverage;
  for (const auto& [field, counter] : kFromCounters) coverage.*field = 0;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    for (const auto& [field, counter] : kFromCounters) {
      coverage.*field +=
          nodes_[r].retired.*counter + (is_up(r) ? replica(r).counters().*counter : 0);
    }
    if (is_up(r)) result_.max_view = std::max(result_.max_view, replica(r).view().value);
  }
  for (const Client& c : clients_) result_.requests_completed += c.completed;
  return result_;
}

void Simulator::retire_counters(std::uint32_t r) {
  // The counters summarize() reports: a crash must not hide what an incarnation did.
  for (const auto& [field, counter] : kFromCounters) {
    nodes_[r].retired.*counter += replica(r).counters().*counter;
  }
}

bool Simulator::run_until(std::uint64_t until) {
  while (result_.ok && now_ < until) step();
  return result_.ok;
}

bool Simulator::run_until_done(std::uint64_t max_ticks) {
  const std::uint64_t end = now_ + max_ticks;
  while (result_.ok && now_ < end && !all_done()) step();
  return result_.ok && all_done();
}

void Simulator::step() {
  // A replica's failed assertion ends the run as a failure (i), with its replay command,
  // instead of the test process: the invariants are always on, injected bugs included.
  vsr::detail::assertion_handler = throw_invariant_broken;
  try {
    advance();
  } catch (const InvariantBroken& broken) {
    fail("(i) a replica's invariant broke: " + broken.message);
  }
}

void Simulator::advance() {
  now_ += 1;
  if (options_.randomize && !liveness_phase_ && now_ >= options_.fault_ticks) {
    start_liveness_phase();
  }
  for (Node& node : nodes_) {
    // Wall clocks run on whatever the process does (down and paused included).
    node.clock_us += static_cast<std::uint64_t>(10'000 + 10 * std::int64_t{node.drift_permille});
  }
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (is_paused(r) && now_ >= nodes_[r].paused_until) resume(r);
  }
  while (!network_.empty() && network_.begin()->first.first <= now_) {
    Packet packet = std::move(network_.begin()->second);
    network_.erase(network_.begin());
    deliver(std::move(packet));
  }
  for (std::uint32_t r = 0; r < options_.replicas; ++r) complete_storage(r);
  check();
  if (options_.randomize && !liveness_phase_) random_faults();
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (is_up(r) && !is_paused(r)) tick_replica(r);
  }
  for (std::uint32_t i = 0; i < clients_.size(); ++i) client_tick(clients_[i], i);
  check();
  check_liveness_under_faults();
  if (options_.verbose) trace();
}

void Simulator::tick_replica(std::uint32_t r) {
  nodes_[r].replica->tick(realtime_ms(r));
  drain(r);
}

void Simulator::trace() {
  // One line whenever a replica's protocol state changes: enough to follow a failing seed.
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    std::string line = "down";
    if (is_up(r)) {
      const core::Replica& x = replica(r);
      line =
          fmt::format("{} v{} lv{} op{} commit {}-{}", core::to_string(x.status()), x.view().value,
                      x.log_view().value, x.op().value, x.commit_min().value, x.commit_max().value);
      if (is_paused(r)) line += " (paused)";
    }
    if (nodes_[r].traced != line) {
      fmt::print("tick {} r{}: {}\n", now_, r, line);
      nodes_[r].traced = line;
    }
  }
}

// --- network ----------------------------------------------------------------------------

std::uint64_t Simulator::long_delay_ticks() const {
  const core::Options& o = options_.core;
  const std::uint64_t view_change =
      (std::uint64_t{o.view_change_timeout_ticks} << core::Options::view_change_backoff_max) +
      o.timeout_jitter_ticks;
  const std::uint64_t primary = std::uint64_t{o.primary_timeout_ticks} + o.timeout_jitter_ticks;
  return std::max({view_change, primary, std::uint64_t{o.repair_retry_ticks}}) + 1;
}

void Simulator::send_packet(std::uint32_t from, std::uint32_t to, core::Bytes bytes) {
  const NetworkFaults& f = options_.network;
  const bool faults = !liveness_phase_;
  if (faults && prng_.chance(f.drop_percent, 100)) return;
  std::uint64_t extra = 0;
  if (!link_delay_.empty()) {
    if (auto it = link_delay_.find({from, to}); it != link_delay_.end()) extra = it->second;
  }
  const std::uint32_t incarnation = from < options_.replicas ? nodes_[from].incarnation : 0;
  auto send = [&](core::Bytes b) {
    std::uint64_t span =
        f.delay_max_ticks >= f.delay_min_ticks ? f.delay_max_ticks - f.delay_min_ticks + 1 : 1;
    std::uint64_t delay = f.delay_min_ticks + prng_.below(span) + extra;
    const bool held_randomly = faults && prng_.chance(f.long_delay_per_10000, 10000);
    const bool held = held_randomly || extra >= long_delay_ticks();
    if (held_randomly) {
      // Held past every timeout: the sender and the receiver may have changed views,
      // crashed and restarted by the time it arrives (between one and three times the
      // longest timeout).
      delay += long_delay_ticks() + prng_.below(2 * long_delay_ticks());
    }
    network_.emplace(std::make_pair(now_ + delay, seq_++),
                     Packet{from, to, std::move(b), incarnation, held});
  };
  if (faults && prng_.chance(f.duplicate_percent, 100)) send(bytes);
  send(std::move(bytes));
}

void Simulator::delay_link(std::uint32_t from, std::uint32_t to, std::uint64_t ticks) {
  if (ticks == 0) {
    link_delay_.erase({from, to});
  } else {
    link_delay_[{from, to}] = ticks;
  }
}

void Simulator::block_client(std::uint32_t client, std::uint32_t replica, bool requests,
                             bool replies) {
  const std::uint32_t endpoint = client_endpoint(client);
  if (requests) client_blocked_.insert({endpoint, replica});
  if (replies) client_blocked_.insert({replica, endpoint});
}

void Simulator::deliver(Packet packet) {
  const std::uint32_t replicas = options_.replicas;
  if (!client_blocked_.empty() && client_blocked_.count({packet.from, packet.to}) != 0) return;
  if (packet.to >= replicas) {
    // A client that crashed lost its connections; its new life has another client id.
    if (clients_[packet.to - replicas].down_until > now_) return;
    if (packet.long_delayed) result_.coverage.long_delayed_deliveries += 1;
    if (packet.from < replicas && packet.incarnation != nodes_[packet.from].incarnation) {
      result_.coverage.earlier_incarnation_deliveries += 1;
    }
    on_client_message(packet.to - replicas, packet.bytes);
    return;
  }
  if (!is_up(packet.to)) return;
  if (packet.from < replicas && blocked_[packet.from][packet.to]) return;
  Node& node = nodes_[packet.to];
  if (is_paused(packet.to)) {
    // It waits in the socket buffers of the frozen process, while they have room.
    if (node.inbox.size() < options_.paused_inbox_max) {
      node.inbox.push_back(std::move(packet));
    } else {
      result_.coverage.paused_messages_lost += 1;
    }
    return;
  }
  hand(packet.to, packet);
}

namespace {

/// The kind of an encoded message ("prepare_ok", ...), read without decoding it: core::encode
/// writes the keys cluster, version and kind first.
std::string_view message_kind(std::string_view bytes) {
  constexpr std::string_view key = "4:kind,";
  const std::size_t at = bytes.substr(0, 96).find(key);
  if (at == std::string_view::npos) return {};
  std::size_t pos = at + key.size();
  std::size_t length = 0;
  while (pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '9' && length < 100) {
    length = length * 10 + static_cast<std::size_t>(bytes[pos] - '0');
    pos += 1;
  }
  if (pos >= bytes.size() || bytes[pos] != ':' || pos + 1 + length > bytes.size()) return {};
  return bytes.substr(pos + 1, length);
}

}  // namespace

// Delivers a packet to a running replica, counting late deliveries and, from the
// DoViewChanges a new primary gets, nacks (the core has no counter for them).
void Simulator::hand(std::uint32_t r, const Packet& packet) {
  core::Replica& x = *nodes_[r].replica;
  Coverage& coverage = result_.coverage;
  const std::string_view bytes = *packet.bytes;
  const std::string_view kind = message_kind(bytes);
  const core::Status status = x.status();
  const core::View view = x.view();
  if (packet.long_delayed) coverage.long_delayed_deliveries += 1;
  if (packet.from < options_.replicas && packet.incarnation != nodes_[packet.from].incarnation) {
    coverage.earlier_incarnation_deliveries += 1;
  }
  if (kind == "do_view_change" && status == core::Status::view_change) {
    auto decoded = core::decode(bytes, core::decode_limits(options_.core));
    const auto* dvc = decoded ? std::get_if<core::DoViewChange>(&*decoded) : nullptr;
    if (dvc != nullptr && dvc->view == view && x.primary_of(view).value == r) {
      for (const core::DvcEntry& entry : dvc->entries) {
        if (entry.state == core::SlotState::missing) coverage.nack_entries += 1;
        if (entry.state == core::SlotState::corrupt) coverage.corrupt_entries_not_nacked += 1;
      }
    }
  }
  x.on_message(bytes);
  drain(r);
}

void Simulator::drain(std::uint32_t r) {
  Node& node = nodes_[r];
  if (node.disk->restored_reason() && node.replica->is_durably_normal()) {
    // As the daemon does: the marker goes once the replica is durably normal again.
    if (auto cleared = node.disk->clear_restored_marker(); !cleared) {
      fail(fmt::format("storage: replica {} cannot remove its RESTORED marker: {}", r,
                       cleared.error()));
    }
  }
  if (node.wiped && node.replica->is_durably_normal() &&
      node.replica->commit_min().value >= *node.wiped) {
    node.wiped.reset();
  }
  for (core::Effect& effect : node.replica->take_effects()) {
    if (auto* send = std::get_if<core::SendToReplica>(&effect)) {
      send_packet(r, send->to.value, std::move(send->message));
    } else if (auto* reply = std::get_if<core::SendToClient>(&effect)) {
      for (std::uint32_t i = 0; i < clients_.size(); ++i) {
        if (clients_[i].id == reply->client_id) {
          send_packet(r, options_.replicas + i, std::move(reply->message));
        }
      }
    } else {
      // Storage completes in issue order, each write a little later than the last.
      if (auto* metadata = std::get_if<core::WriteMetadata>(&effect)) {
        node.rejoin_floor = metadata->metadata.rejoin_floor.value;
      }
      std::uint64_t latency = 0;
      if (node.latency_override != 0) {
        latency = node.latency_override;
      } else if (now_ < node.slow_until) {
        latency = node.slow_latency;
      } else {
        latency = 1 + prng_.below(options_.storage_latency_max_ticks);
      }
      std::uint64_t at = now_ + latency;
      if (!node.queue.empty()) at = std::max(at, node.queue.back().complete_at);
      if (latency > healthy_disk_latency_ticks) node.slow_done_at = std::max(node.slow_done_at, at);
      node.queue.push_back(PendingWrite{at, std::move(effect)});
    }
  }
}

void Simulator::isolate(std::uint32_t replica) {
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (r == replica) continue;
    blocked_[r][replica] = true;
    blocked_[replica][r] = true;
  }
}

void Simulator::block(std::uint32_t from, std::uint32_t to) {
  blocked_[from][to] = true;
}

void Simulator::heal() {
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  client_blocked_.clear();
}

// --- storage ----------------------------------------------------------------------------

std::string Simulator::dir_of(std::uint32_t replica) {
  return fmt::format("/replica-{}", replica);
}

bool Simulator::is_restored(std::uint32_t replica) const {
  return storage::was_restored(*nodes_[replica].env, dir_of(replica));
}

// Runs storage effects on the replica's directory, as the daemon's disk thread does with a
// batch, and reports what became durable. A failure is fatal for a node; here the effects
// never fail (no fault strikes while the replica runs), so one is a bug.
void Simulator::execute_storage(std::uint32_t r, const std::vector<core::Effect>& effects) {
  Node& node = nodes_[r];
  const std::uint64_t before = node.disk->durable_id();
  const storage::DiskStats stats = node.disk->stats();
  auto done = node.disk->execute(effects);
  if (!done) {
    if (node.storage_faults) {
      die_of_storage_error(r, done.error());
    } else {
      fail(fmt::format("storage: replica {} cannot write: {}", r, done.error()));
    }
    return;
  }
  // The core writes the WAL in op order (docs/vsr/protocol.md): an append at the head + 1
  // or a rewrite of a damaged op, anything else after a TruncateWal. ReplicaDisk copes with
  // more (it holds a prepare above a gap, replaces an intact op with its suffix); the core
  // must never need it.
  if (node.disk->stats().held_prepares != stats.held_prepares) {
    fail(fmt::format("storage contract: replica {} wrote a prepare above its WAL head + 1", r));
  } else if (node.disk->stats().replaced_prepares != stats.replaced_prepares) {
    fail(fmt::format("storage contract: replica {} rewrote an intact WAL entry", r));
  }
  node.wal_head = node.disk->wal_head();
  if (*done > before) {
    node.replica->on_storage_done(*done);
    drain(r);
  }
}

void Simulator::complete_storage(std::uint32_t r) {
  Node& node = nodes_[r];
  if (!is_up(r) || is_paused(r)) return;  // a frozen process hears of no completion
  std::vector<core::Effect> due;
  while (!node.queue.empty() && node.queue.front().complete_at <= now_) {
    due.push_back(std::move(node.queue.front().effect));
    node.queue.pop_front();
  }
  if (!due.empty()) execute_storage(r, due);
}

void Simulator::open_disk(std::uint32_t r, bool refusal_expected) {
  Node& node = nodes_[r];
  storage::DiskIdentity identity;
  identity.cluster_id = options_.core.cluster_id;
  identity.cluster_id_text = fmt::format("{:016x}", options_.core.cluster_id);
  identity.replica = r;
  auto opened = storage::ReplicaDisk::open(*node.env, dir_of(r), identity, storage_options_);
  if (!opened) {
    // The node would exit (code 4) and wait for `vsr sync-node`: the replica stays down.
    node.refusal = opened.error().message;
    if (!refusal_expected && !node.storage_faults) {
      fail(fmt::format("storage: replica {} cannot start: {}", r, opened.error().message));
    }
    return;
  }
  node.refusal.reset();
  node.disk = std::move(*opened);
  node.wal_head = node.disk->wal_head();
  node.incarnation += 1;
  node.app = make_app();
  node.replica =
      std::make_unique<core::Replica>(options_.core, core::ReplicaIndex{r}, *node.app,
                                      options_.seed * 1000003 + r * 101 + node.incarnation);
  core::DurableState state = node.disk->take_durable_state();
  node.corrupt_through = 0;
  for (const core::WalEntry& entry : state.wal) {
    if (entry.state == core::WalEntryState::corrupt) {
      result_.coverage.corrupt_entries += 1;
      node.corrupt_through = std::max(node.corrupt_through, entry.op.value);
    }
  }
  node.rejoin_floor = state.metadata ? state.metadata->rejoin_floor.value : 0;
  if (node.disk->restored_reason() && !is_restored(r)) result_.coverage.metadata_distrusted += 1;
  // Re-executed ops are checked again: start from what the checkpoint restored.
  node.polled_commit = state.checkpoint ? state.checkpoint->op.value : 0;
  node.replica->open(state);
  drain(r);
}

// Flips one bit, anywhere, in the WAL record of each op (from the checkpoint on) for which
// pick(op, whether it is the last record) says so: media corruption of bytes that were synced. The
// recovery scan then reports the op corrupt, the last record's included: a record written whole is
// never taken for a torn write (docs/vsr/storage.md, "Scanning"), and the core must neither forget
// nor nack it.
template <class Pick>
void Simulator::corrupt_wal(std::uint32_t r, Pick pick) {
  storage::MemoryEnv& env = *nodes_[r].env;
  const std::string dir = dir_of(r);
  auto recovered = storage::recover(env, dir, storage_options_);
  if (!recovered || recovered->state.fresh) return;
  const storage::Wal& wal = recovered->storage.wal();
  const std::uint64_t head = recovered->state.wal.head_op;
  struct Flip {
    std::string path;
    std::uint64_t offset;
    int bit;
  };
  std::vector<Flip> flips;
  for (const storage::WalEntry& entry : recovered->state.wal.entries) {
    if (entry.status != storage::RecordStatus::ok || !pick(entry.op, entry.op == head)) continue;
    const std::optional<storage::RecordLocation> where = wal.locate(entry.op);
    if (!where || where->length == 0) continue;
    const std::string path = storage::join(dir, where->segment);
    const std::uint64_t offset = where->offset + prng_.below(where->length);
    flips.push_back(Flip{path, offset, static_cast<int>(prng_.below(8))});
    if (entry.op == head) result_.coverage.corrupt_tails += 1;
  }
  for (const Flip& flip : flips) env.flip_bit(flip.path, flip.offset, flip.bit);
}

bool Simulator::flip_wal_bit(std::uint32_t r, std::uint64_t op, std::int64_t byte, int bit) {
  VSR_ASSERT(!is_up(r));
  storage::MemoryEnv& env = *nodes_[r].env;
  auto recovered = storage::recover(env, dir_of(r), storage_options_);
  if (!recovered || recovered->state.fresh) return false;
  const storage::WalEntry* entry = recovered->state.wal.find(op);
  const std::optional<storage::RecordLocation> where = recovered->storage.wal().locate(op);
  const auto length = static_cast<std::int64_t>(where ? where->length : 0);
  if (entry == nullptr || entry->status != storage::RecordStatus::ok || byte >= length ||
      byte < -length) {
    return false;
  }
  const auto at = static_cast<std::uint64_t>(byte >= 0 ? byte : length + byte);
  env.flip_bit(storage::join(dir_of(r), where->segment), where->offset + at, bit);
  if (op == recovered->state.wal.head_op) result_.coverage.corrupt_tails += 1;
  return true;
}

// Deletes, durably, the files of the replica's directory for which which(name) is true.
void Simulator::remove_files(std::uint32_t r, bool (*which)(const std::string& name)) {
  storage::MemoryEnv& env = *nodes_[r].env;
  const std::string dir = dir_of(r);
  auto names = env.list_dir(dir);
  VSR_ASSERT(names.ok());
  for (const std::string& name : *names) {
    if (which(name)) VSR_ASSERT(env.remove(storage::join(dir, name)).ok());
  }
  VSR_ASSERT(env.sync_dir(dir).ok());
}

std::size_t Simulator::damaged_count(std::uint32_t except) const {
  std::set<std::uint32_t> damaged;
  if (options_.corrupt_percent > 0) damaged = faulty_;
  for (std::uint32_t w = 0; w < options_.replicas; ++w) {
    if (nodes_[w].wiped || is_restored(w) || !has_metadata(w)) damaged.insert(w);
  }
  damaged.erase(except);
  return damaged.size();
}

bool Simulator::media_may_strike(std::uint32_t r) const {
  // A damaged metadata or checkpoint copy can make r restart recovering (or be restored),
  // unable to vote, like a restored replica: only while nothing outside the faulty set is
  // damaged, or more than f could be (R=6 seed 107429 of the long sweep: two faulty
  // replicas distrusted their metadata while a third had never finished being born).
  return damaged_count(r) < options_.core.faults_tolerated();
}

void Simulator::bring_back(std::uint32_t r) {
  restart(r);
  if (!is_up(r) && nodes_[r].refusal && nodes_[r].storage_faults && options_.replicas > 1) {
    // Refused for the medium's damage: the operator runs `vsr sync-node`, which copies a
    // peer's state (restore_from stands for it).
    // From a replica whose medium is sound if there is one (as an operator would choose).
    const auto offset = static_cast<std::uint32_t>(prng_.below(options_.replicas));
    for (const bool sound_only : {true, false}) {
      for (std::uint32_t i = 0; i < options_.replicas; ++i) {
        const std::uint32_t source = (offset + i) % options_.replicas;
        if (source == r || (sound_only && faulty_.count(source) != 0)) continue;
        if (holds_metadata_files(source)) {
          restore_from(r, source);
          result_.coverage.media_restores += 1;
          return;
        }
      }
    }
  }
}

void Simulator::die_of_storage_error(std::uint32_t r, const std::string& why) {
  if (options_.verbose) fmt::print("tick {} r{}: exits on a storage error: {}\n", now_, r, why);
  retire_counters(r);
  Node& node = nodes_[r];
  node.paused_until = 0;
  node.inbox.clear();
  node.queue.clear();
  node.disk.reset();
  // The kernel may have dropped the pages whose writeback failed: what was not synced is
  // gone, as after a power loss.
  node.env->crash();
  node.replica.reset();
  node.app.reset();
  node.down_until = now_ + 20 + prng_.below(300);
  result_.coverage.io_errors += 1;
  if (liveness_phase_) {
    // The faults are over (a write was in flight when they ended): the operator starts it
    // again.
    bring_back(r);
    if (!is_up(r)) fail(fmt::format("storage: replica {} cannot start again: {}", r, why));
  }
}

// One failure of the medium of replica r, through the storage interface, on any file that
// exists: the WAL's segments, the metadata copies, the checkpoint copies.
void Simulator::media_fault(std::uint32_t r) {
  Node& node = nodes_[r];
  storage::MemoryEnv& env = *node.env;
  const std::string dir = dir_of(r);
  auto names = env.list_dir(dir);
  if (!names) return;
  std::vector<std::string> files;
  for (const std::string& name : *names) {
    const auto bytes = env.contents(storage::join(dir, name));
    if (bytes && !bytes->empty() && !name.ends_with(".tmp") && name != "LOCK") {
      files.push_back(name);
    }
  }
  node.storage_faults = true;
  if (is_up(r) && prng_.chance(1, 4)) {
    // The next write lands up to a few KiB before or after where it was aimed.
    const auto shift = static_cast<std::int64_t>(1 + prng_.below(4096));
    env.misdirect_next_write(prng_.chance(1, 2) ? -shift : shift);
    result_.coverage.misdirected_writes += 1;
    return;
  }
  if (files.empty()) return;
  // A third of them strike a metadata copy (two files among many segments otherwise): the
  // damaged-copy rule must run often.
  std::vector<std::string> metadata;
  for (const std::string& name : files) {
    if (name.starts_with("metadata.")) metadata.push_back(name);
  }
  const std::vector<std::string>& pool = !metadata.empty() && prng_.chance(1, 3) ? metadata : files;
  const std::string name = pool[prng_.below(pool.size())];
  const std::string path = storage::join(dir, name);
  const std::uint64_t size = env.contents(path)->size();
  const bool copy = name.starts_with("metadata.") || name.starts_with("checkpoint.");
  if (copy && prng_.chance(1, 2)) {
    env.flip_bit(path, prng_.below(size), static_cast<int>(prng_.below(8)));
    result_.coverage.copies_flipped += 1;
    return;
  }
  const std::uint64_t offset = prng_.below(size);
  env.add_bad_sector(path, offset, 1 + prng_.below(std::min<std::uint64_t>(2048, size - offset)));
  result_.coverage.sector_errors += 1;
}

void Simulator::crash(std::uint32_t r) {
  Node& node = nodes_[r];
  if (!is_up(r)) return;
  storage::CrashOptions power_loss;
  if (!node.queue.empty() && prng_.chance(options_.torn_percent, 100)) {
    // The process dies inside the write in flight, at its first or second file operation
    // (a WAL append is a write and an fdatasync); the last write no sync covered lands in
    // part (anything from none of it to all).
    node.env->arm_crash(prng_.below(2));
    const std::vector<core::Effect> in_flight{node.queue.front().effect};
    (void)node.disk->execute(in_flight);  // fails where the crash strikes, or completes
    const std::size_t unsynced = node.env->unsynced_write_bytes();
    if (unsynced > 0) {
      power_loss.tear_last_write_at = prng_.below(unsynced + 1);
      result_.coverage.torn_writes += 1;
    }
  }
  retire_counters(r);
  node.paused_until = 0;  // kill -9 of a stopped process: what waited for it is gone
  node.inbox.clear();
  node.queue.clear();
  node.disk.reset();
  node.env->crash(power_loss);  // what was not synced is gone
  node.replica.reset();
  node.app.reset();
  result_.coverage.crashes += 1;
}

void Simulator::restart(std::uint32_t r, const std::set<std::uint64_t>& corrupt_ops,
                        bool lose_metadata) {
  VSR_ASSERT(!is_up(r));
  if (!corrupt_ops.empty()) {
    corrupt_wal(r, [&](std::uint64_t op, bool) { return corrupt_ops.count(op) != 0; });
  }
  if (lose_metadata) {
    remove_files(r, [](const std::string& name) {
      return name.starts_with("metadata.") || name.starts_with("checkpoint.");
    });
  }
  open_disk(r, /*refusal_expected=*/lose_metadata);
}

bool Simulator::holds_metadata_files(std::uint32_t r) const {
  // What a copy of its durable files would load: a faulty replica's copies may all be
  // damaged (R=16 seed 153727 of the long sweep restored from such a replica).
  storage::MemoryEnv copy;
  const std::string dir = dir_of(r);
  VSR_ASSERT(copy.create_dir(dir).ok());
  bool any = false;
  for (const auto& [name, bytes] : nodes_[r].env->durable_files(dir)) {
    if (!name.starts_with("metadata.")) continue;
    copy.set_file(storage::join(dir, name), bytes);
    any = true;
  }
  if (!any) return false;
  storage::MetadataStore store(copy, dir);
  auto loaded = store.load();
  return loaded && loaded->newest.has_value();
}

bool Simulator::has_metadata(std::uint32_t r) const {
  if (is_up(r)) return nodes_[r].replica->status() != core::Status::recovering;
  return holds_core_metadata(r);
}

bool Simulator::holds_core_metadata(std::uint32_t r) const {
  // Storage formats a new directory with metadata copies whose core part stays empty until
  // the core first writes its metadata: a replica that went down while still asking has the
  // files but no metadata of its own (counting the files let a restore take the damage past
  // f: R=11 seed 116586 of the long sweep).
  storage::MetadataStore store(*nodes_[r].env, dir_of(r));
  auto loaded = store.load();
  return loaded && loaded->newest && !loaded->newest->core.empty();
}

void Simulator::wipe(std::uint32_t r) {
  VSR_ASSERT(!is_up(r));
  Node& node = nodes_[r];
  // Damaged until it has executed every op any replica held (or had executed) before.
  std::uint64_t held = canonical_commit();
  for (const Node& n : nodes_) held = std::max(held, n.wal_head);
  node.wiped = std::max(node.wiped.value_or(0), held);
  // Every file goes, the RESTORED marker with them.
  remove_files(r, [](const std::string&) { return true; });
  result_.coverage.wipes += 1;
}

void Simulator::restore_from(std::uint32_t r, std::uint32_t source) {
  VSR_ASSERT(!is_up(r) && r != source);
  storage::MemoryEnv& env = *nodes_[r].env;
  const std::string dir = dir_of(r);
  // What the replaced directory may have voted in: its own newest metadata, and the floor
  // of a marker it still holds from an earlier restore.
  std::uint64_t previous_view = 0;
  {
    storage::MetadataStore own(env, dir);
    auto loaded = own.load();
    if (loaded && loaded->newest) previous_view = storage::promised_view(*loaded->newest);
    auto marker = storage::read_restored(env, dir);
    if (marker && *marker) previous_view = std::max(previous_view, (*marker)->view_floor());
  }
  // The copy: every durable file of the source (writes in flight there are not), except
  // what `vsr recover-node` leaves out.
  remove_files(r, [](const std::string&) { return true; });
  for (const auto& [name, bytes] : nodes_[source].env->durable_files(dir_of(source))) {
    if (name == "LOCK" || name == storage::restored_file_name || name.ends_with(".tmp")) continue;
    env.set_file(storage::join(dir, name), bytes);
  }
  storage::MetadataStore store(env, dir);
  auto loaded = store.load();
  if (!loaded || !loaded->newest) {
    fail(fmt::format("restore: replica {} has no metadata to copy", source));
    return;
  }
  const storage::Metadata copied = *loaded->newest;
  storage::Metadata adopted = copied;
  adopted.replica = r;
  for (int i = 0; i < 2; ++i) VSR_ASSERT(store.write(adopted).ok());  // both copies
  storage::RestoredMarker marker;
  marker.source_node = fmt::format("r{}", source);
  marker.source_replica = source;
  marker.replica = r;
  marker.source_view = storage::promised_view(copied);
  marker.source_log_view = copied.log_view;
  marker.source_commit = copied.commit;
  marker.source_checkpoint_op = copied.checkpoint_op;
  marker.previous_view = previous_view;
  marker.copied_at_ms = realtime_ms(r);
  VSR_ASSERT(storage::write_restored(env, dir, marker).ok());
  restart(r);
}

// --- faults -----------------------------------------------------------------------------

bool Simulator::may_strike(std::uint32_t r) const {
  return options_.steady_fault == SteadyFault::none || victims_.count(r) != 0;
}

// The steady fault begins: its victims are the primary (or, when none is normal, replica
// 0) and, for the minority kinds, up to f - 1 others.
void Simulator::start_steady_fault() {
  steady_started_ = true;
  const std::uint32_t replicas = options_.replicas;
  const std::uint32_t first = primary().value_or(0);
  victims_.insert(first);
  const SteadyFault kind = options_.steady_fault;
  const bool minority = kind >= SteadyFault::deaf_minority;
  const std::uint32_t f = options_.core.faults_tolerated();
  if (minority && f > 1) {
    const auto more = static_cast<std::uint32_t>(prng_.below(f));
    for (std::uint32_t i = 0; i < more; ++i) {
      victims_.insert(
          static_cast<std::uint32_t>((first + 1 + prng_.below(replicas - 1)) % replicas));
    }
  }
  for (std::uint32_t v : victims_) {
    for (std::uint32_t b = 0; b < replicas; ++b) {
      if (b == v || victims_.count(b) != 0) continue;
      switch (kind) {
        case SteadyFault::deaf_primary:
        case SteadyFault::deaf_minority:
          block(b, v);
          break;
        case SteadyFault::mute_primary:
        case SteadyFault::mute_minority:
          block(v, b);
          break;
        case SteadyFault::isolated_primary:
          block(b, v);
          block(v, b);
          break;
        default:
          break;
      }
    }
    if (kind == SteadyFault::partial_primary) {
      // Its prepares reach at most f - 1 backups: never a quorum without a view change.
      std::uint32_t reached = 1;
      for (std::uint32_t b = 0; b < replicas; ++b) {
        if (b == v) continue;
        if (reached < f && prng_.chance(1, 2)) {
          reached += 1;
        } else {
          block(v, b);
        }
      }
    }
    if (kind == SteadyFault::slow_minority) {
      slow_disk(v,
                healthy_disk_latency_ticks + 1 +
                    static_cast<std::uint32_t>(prng_.below(options_.slow_disk_latency_max_ticks)),
                options_.fault_ticks - now_);
    }
  }
  if (options_.verbose) {
    std::string names;
    for (std::uint32_t v : victims_) names += fmt::format(" r{}", v);
    fmt::print("tick {}: steady fault {} on{}\n", now_, to_string(kind), names);
  }
}

void Simulator::random_faults() {
  const std::uint32_t replicas = options_.replicas;
  if (options_.steady_fault != SteadyFault::none && !steady_started_ &&
      now_ >= options_.steady_fault_at) {
    start_steady_fault();
  }
  const bool steady = options_.steady_fault != SteadyFault::none;
  // The victims of a steady fault that crashes or pauses them do so again and again.
  const std::uint32_t crash_percent =
      options_.steady_fault == SteadyFault::crashing_minority ? 100 : options_.crash_percent;
  const std::uint32_t pause_percent =
      options_.steady_fault == SteadyFault::paused_minority ? 200 : options_.pause_percent;
  // A crash alone is no damage (the replica restarts with what it made durable), so even
  // with f = 0 (R = 1, 2) one replica may be down; crashed and paused replicas together
  // stay within max(1, f), so that a quorum is usually up to make progress. Damage (wipes,
  // restores, corruption) is bounded by f below.
  const std::uint32_t max_out = std::max<std::uint32_t>(1, options_.core.faults_tolerated());
  std::uint32_t out = 0;
  for (std::uint32_t r = 0; r < replicas; ++r) out += is_up(r) && !is_paused(r) ? 0u : 1u;
  for (std::uint32_t r = 0; r < replicas; ++r) {
    if (!is_up(r)) {
      if (now_ >= nodes_[r].down_until) {
        if (faulty_.count(r) != 0 && options_.corrupt_percent > 0) {
          corrupt_wal(r, [&](std::uint64_t, bool last) {
            return prng_.chance(
                last ? std::max(options_.corrupt_percent, options_.corrupt_tail_percent)
                     : options_.corrupt_percent,
                100);
          });
          // The medium may also fail while the replica is down, just before it starts: most
          // of all its metadata copies, which a running replica keeps rewriting.
          if (options_.media_percent > 0 && prng_.chance(1, 4) && media_may_strike(r)) {
            media_fault(r);
          }
        }
        bring_back(r);
        if (is_up(r)) {
          out -= 1;
        } else {
          nodes_[r].down_until = now_ + 50 + prng_.below(200);
        }
      }
      continue;
    }
    if (!may_strike(r)) continue;
    // A primary crashes three times as often: it takes its uncommitted prepares with it,
    // and the view change that follows decides about them.
    const bool was_primary = replica(r).is_primary();
    // A replica whose first metadata write is not yet on its disk comes back without
    // metadata, which is damage (it cannot tell itself from a wiped replica): only within
    // the damage budget (R=2 seed 102689 of the long sweep: a new primary crashed while its
    // birth metadata waited on a slow disk, and with f = 0 nobody could elect).
    if (out < max_out && prng_.chance(was_primary ? 3 * crash_percent : crash_percent, 10000) &&
        (holds_core_metadata(r) || damaged_count(r) < options_.core.faults_tolerated())) {
      if (is_paused(r)) out -= 1;
      const core::View view = replica(r).view();
      crash(r);
      // Mostly a quick restart; sometimes a long outage, after which the others have
      // released the WAL it lacks (with frequent checkpoints): state transfer.
      nodes_[r].down_until =
          now_ + (prng_.chance(1, 4) ? 300 + prng_.below(600) : 20 + prng_.below(300));
      if (was_primary) delay_next_primary(view, nodes_[r].down_until);
      out += 1;
      // At most f replicas damaged at once: wiped and not caught up, without metadata (a
      // replica that crashed before its first metadata write was durable cannot be told
      // from a wiped one, by itself or by the others), or (when corruption is on) the
      // designated corruption-faulty ones.
      const std::size_t damaged = damaged_count(r) + 1;
      if (damaged <= options_.core.faults_tolerated() && prng_.chance(options_.wipe_percent, 100)) {
        wipe(r);
      } else if (damaged <= options_.core.faults_tolerated() && options_.restore_percent > 0 &&
                 prng_.chance(options_.restore_percent, 100)) {
        // `vsr recover-node r --from-node source`: a copy of whatever another replica has
        // durably, as stale as it is; r restarts restored at once.
        const auto source =
            static_cast<std::uint32_t>((r + 1 + prng_.below(replicas - 1)) % replicas);
        if (holds_metadata_files(source)) {
          restore_from(r, source);
          out -= 1;
          result_.coverage.restores += 1;
        }
      }
      continue;
    }
    if (!is_paused(r) && out < max_out && prng_.chance(pause_percent, 10000)) {
      // Short pauses (the runtime replays the missed ticks) and long ones (it does not).
      const std::uint64_t ticks =
          prng_.chance(1, 2) ? 1 + prng_.below(99) : 1 + prng_.below(options_.pause_max_ticks);
      pause(r, ticks);
      out += 1;
    }
  }
  random_process_faults();
  if (partition_until_ != 0 && now_ >= partition_until_) {
    // A transient partition is over.
    partition_until_ = 0;
    for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  }
  if (replicas > 1 && !steady && prng_.chance(options_.network.partition_percent, 10000)) {
    random_partition();
  }
  random_client_faults();
}

// Slow disks and clock steps, on any replica, independent of the crash budget: neither
// loses anything.
void Simulator::random_process_faults() {
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    Node& node = nodes_[r];
    if (may_strike(r) && now_ >= node.slow_until &&
        prng_.chance(options_.slow_disk_percent, 10000)) {
      slow_disk(r,
                healthy_disk_latency_ticks + 1 +
                    static_cast<std::uint32_t>(prng_.below(options_.slow_disk_latency_max_ticks)),
                100 + prng_.below(600));
    }
    if (is_up(r) && may_strike(r) && prng_.chance(options_.io_error_percent, 10000) &&
        holds_core_metadata(r)) {
      // One of its next few file operations fails; the process exits when it sees that.
      node.env->arm_io_error(prng_.below(3));
      node.storage_faults = true;
    }
    if (faulty_.count(r) != 0 && options_.corrupt_percent > 0 &&
        prng_.chance(options_.media_percent, 10000) && media_may_strike(r)) {
      media_fault(r);
    }
    if (prng_.chance(options_.clock.jump_percent, 10000)) {
      // NTP steps mostly back (a clock found fast), sometimes forward.
      const auto size = static_cast<std::int64_t>(1 + prng_.below(options_.clock.jump_max_ms));
      jump_clock(r, prng_.chance(4, 5) ? -size : size);
    }
  }
}

void Simulator::random_partition() {
  const std::uint32_t replicas = options_.replicas;
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  result_.coverage.partitions += 1;
  // Half the partitions are transient (a flapping link, a switch that reboots): they heal
  // after a view change or so, while what they set off is still under way.
  partition_until_ = prng_.chance(1, 2) ? now_ + 50 + prng_.below(200) : 0;
  // The primary is the likeliest target: cut off with prepares in flight, its uncommitted
  // ops are what view changes truncate (nacks) or keep, and what lagging replicas repair.
  const std::optional<std::uint32_t> current = primary();
  const auto any = [&] { return static_cast<std::uint32_t>(prng_.below(replicas)); };
  switch (prng_.below(6)) {
    case 0:
      isolate(any());
      break;
    case 1: {
      // Asymmetric: one replica cannot hear (or cannot reach) some others.
      const std::uint32_t a = any();
      for (std::uint32_t b = 0; b < replicas; ++b) {
        if (b != a && prng_.chance(1, 2)) {
          if (prng_.chance(1, 2)) {
            block(a, b);
          } else {
            block(b, a);
          }
        }
      }
      break;
    }
    case 2:
      for (std::uint32_t a = 0; a < replicas; ++a) {
        for (std::uint32_t b = 0; b < replicas; ++b) {
          if (a != b && (a % 2) != (b % 2)) block(a, b);  // a split into two sides
        }
      }
      break;
    case 3:
      isolate(current.value_or(any()));
      if (current && prng_.chance(1, 2)) {
        // Cut off for about one view change, with the next primary late until after it.
        partition_until_ = now_ + 40 + prng_.below(110);
        delay_next_primary(replica(*current).view(), partition_until_);
      }
      break;
    case 4: {
      // The primary's prepares reach fewer than a quorum (it still hears everybody): what it
      // prepares now is on a minority, and the next view change must decide about it.
      const std::uint32_t p = current.value_or(any());
      std::uint32_t reached = 1;
      for (std::uint32_t b = 0; b < replicas; ++b) {
        if (b == p) continue;
        if (reached < options_.core.faults_tolerated() && prng_.chance(1, 2)) {
          reached += 1;
        } else {
          block(p, b);
        }
      }
      if (current && prng_.chance(1, 2)) {
        partition_until_ = now_ + 40 + prng_.below(110);
        delay_next_primary(replica(*current).view(), partition_until_);
      }
      break;
    }
    default:
      break;  // healed
  }
}

// When the primary fails, the next view's primary is often late: paused until after the
// old primary is back (`back_at`), or with a slow disk. The DoViewChanges of the others
// (the old primary's among them) then reach it before its own vote is durable, and it
// chooses the log from all of them: that is when an uncommitted tail that only the old
// primary had is truncated (SimFaults.ViewChangeTruncatesWhatOnlyTheOldPrimaryHadR3). A
// quick new primary decides on the first quorum, which keeps that tail or never sees it.
void Simulator::delay_next_primary(core::View view, std::uint64_t back_at) {
  const std::uint32_t next = static_cast<std::uint32_t>((view.value + 1) % options_.replicas);
  if (!is_up(next) || is_paused(next) || !may_strike(next) || now_ < nodes_[next].slow_until ||
      !prng_.chance(2, 3)) {
    return;
  }
  std::uint32_t out = 0;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) out += is_up(r) && !is_paused(r) ? 0u : 1u;
  if (out < std::max<std::uint32_t>(1, options_.core.faults_tolerated()) && prng_.chance(1, 2)) {
    pause(next, std::max<std::uint64_t>(back_at, now_ + 30) - now_ + 10 + prng_.below(60));
  } else {
    slow_disk(next, healthy_disk_latency_ticks + 10 + static_cast<std::uint32_t>(prng_.below(50)),
              100 + prng_.below(200));
  }
}

void Simulator::random_client_faults() {
  const std::uint32_t replicas = options_.replicas;
  if (prng_.chance(options_.network.client_partition_percent, 10000)) {
    client_blocked_.clear();
    result_.coverage.client_partitions += 1;
    const auto client = static_cast<std::uint32_t>(prng_.below(clients_.size()));
    switch (prng_.below(4)) {
      case 0:
      case 1: {
        // One client cut from some replicas: both ways, only its requests, or only replies.
        const auto way = prng_.below(3);
        for (std::uint32_t r = 0; r < replicas; ++r) {
          if (prng_.chance(1, 2)) block_client(client, r, way != 2, way != 1);
        }
        break;
      }
      case 2: {
        // Every client cut from one replica (the primary, most often), one way or both.
        const std::uint32_t r = prng_.chance(2, 3)
                                    ? primary().value_or(0)
                                    : static_cast<std::uint32_t>(prng_.below(replicas));
        const auto way = prng_.below(3);
        for (std::uint32_t c = 0; c < clients_.size(); ++c) block_client(c, r, way != 2, way != 1);
        break;
      }
      default:
        break;  // healed
    }
  }
  for (std::uint32_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].down_until <= now_ && prng_.chance(options_.client_crash_percent, 10000)) {
      crash_client(i, 20 + prng_.below(280));
    }
  }
}

void Simulator::pause(std::uint32_t r, std::uint64_t ticks) {
  VSR_ASSERT(is_up(r) && !is_paused(r) && ticks > 0);
  nodes_[r].paused_at = now_;
  nodes_[r].paused_until = now_ + ticks;
  result_.coverage.pauses += 1;
}

void Simulator::resume(std::uint32_t r) {
  Node& node = nodes_[r];
  const std::uint64_t missed = now_ - node.paused_at;
  node.paused_until = 0;
  // What the runtime does after SIGCONT: its ticker replays up to a second (100 ticks) of
  // missed ticks at once, and the actor reads what waited in its sockets, in either order.
  const bool ticks_first = prng_.chance(1, 2);
  auto catch_up = [&] {
    if (missed >= 100) return;
    for (std::uint64_t i = 1; i < missed && is_up(r); ++i) tick_replica(r);
  };
  if (ticks_first) catch_up();
  while (!node.inbox.empty() && is_up(r)) {
    Packet packet = std::move(node.inbox.front());
    node.inbox.pop_front();
    hand(r, packet);
  }
  if (!ticks_first) catch_up();
}

void Simulator::slow_disk(std::uint32_t r, std::uint32_t latency_ticks, std::uint64_t ticks) {
  Node& node = nodes_[r];
  node.slow_until = now_ + ticks;
  node.slow_latency = latency_ticks;
  result_.coverage.slow_disks += 1;
}

void Simulator::crash_client(std::uint32_t index, std::uint64_t down_ticks) {
  Client& c = clients_[index];
  // Whatever it was waiting for is forgotten (it may still execute: the checker expects no
  // reply for it); it counts as done, as an evicted one does.
  if (c.outstanding && c.registered) c.completed += 1;
  c.generation += 1;
  c.id = fmt::format("client-{}.{}", index, c.generation);
  c.request_no = 0;
  c.sent_session = 0;
  c.replay = nullptr;
  c.registered = false;
  c.outstanding = false;
  c.down_until = now_ + down_ticks;
  c.next_at = c.down_until;
  result_.coverage.client_crashes += 1;
}

void Simulator::start_liveness_phase() {
  liveness_phase_ = true;
  heal();
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    nodes_[r].env->disarm();  // no armed I/O error or misdirected write strikes any more
    if (!is_up(r)) bring_back(r);
    if (!is_up(r)) {
      fail(fmt::format("storage: replica {} cannot start once the faults are over: {}", r,
                       nodes_[r].refusal.value_or("?")));
      return;
    }
    if (is_paused(r)) resume(r);
    nodes_[r].slow_until = std::min(nodes_[r].slow_until, now_);
  }
  for (Client& c : clients_) {
    if (c.down_until > now_) c.down_until = c.next_at = now_;  // a crashed client is back
  }
}

// --- clients ----------------------------------------------------------------------------

void Simulator::client_tick(Client& c, std::uint32_t index) {
  if (c.paused || c.down_until > now_) return;
  if (!c.outstanding) {
    if (c.completed >= options_.requests_per_client || now_ < c.next_at) return;
    if (!c.registered) {
      c.operation.clear();
      // A (re-)registration: request_no 0; later requests continue the client's numbering.
      c.outstanding = true;
      c.sent_at = now_;
      c.retry_at = now_ + 60;
      Client copy = c;
      copy.request_no = 0;
      client_send(copy, index, false);
      return;
    }
    c.request_no += 1;
    if (options_.make_operation != nullptr) {
      c.operation = options_.make_operation(prng_);
    } else {
      const std::uint64_t key = prng_.below(6);
      if (prng_.chance(1, 4)) {
        c.operation = fmt::format("get k{}", key);
      } else if (prng_.chance(1, 6)) {
        c.operation = fmt::format("stamp t{}", key);  // the app sees the primary's clock
      } else {
        c.operation =
            fmt::format("add k{} {}", key, static_cast<std::int64_t>(prng_.below(200)) - 100);
      }
    }
    c.outstanding = true;
    c.sent_at = now_;
    c.retry_at = now_ + 60;
    client_send(c, index, false);
    return;
  }
  if (now_ >= c.retry_at) {
    c.retry_at = now_ + 60 + prng_.below(40);
    Client copy = c;
    if (!c.registered) copy.request_no = 0;
    client_send(copy, index, true);
  }
}

void Simulator::client_send(Client& c, std::uint32_t index, bool broadcast) {
  const core::Op session{c.request_no == 0 ? 0 : c.registered_op};
  if (session.value != 0) c.sent_session = session.value;
  core::Request request{core::View{c.view_hint}, c.id, core::RequestNo{c.request_no}, c.operation,
                        session};
  core::Bytes bytes =
      core::make_bytes(core::encode(options_.core.cluster_id, core::Message{request}));
  const std::uint32_t from = options_.replicas + index;
  if (broadcast) {
    for (std::uint32_t r = 0; r < options_.replicas; ++r) send_packet(from, r, bytes);
  } else {
    send_packet(from, static_cast<std::uint32_t>(c.view_hint % options_.replicas), bytes);
  }
}

void Simulator::on_client_message(std::uint32_t index, const core::Bytes& bytes) {
  Client& c = clients_[index];
  auto decoded = core::decode(*bytes, core::decode_limits(options_.core));
  if (!decoded || !std::holds_alternative<core::Reply>(*decoded)) {
    fail("a client received a message that is not a valid reply");
    return;
  }
  const core::Reply& reply = std::get<core::Reply>(*decoded);
  if (reply.client_id != c.id) {
    if (reply.client_id.rfind(fmt::format("client-{}", index), 0) != 0) {
      fail("a reply reached the wrong client");
    }
    return;  // for an earlier (evicted) session of this client
  }
  c.view_hint = std::max(c.view_hint, reply.view.value);
  const std::uint64_t expected_no = c.registered ? c.request_no : 0;
  if (reply.status == core::ReplyStatus::evicted) {
    result_.evictions += 1;
    // The session is gone: re-register. An outstanding request's outcome is unknown. A
    // notice about an older session (op <= our registration op) is a stale duplicate.
    if (c.registered && reply.op.value <= c.registered_op) return;
    // About this session only: the eviction notice (request 0), or the answer to the
    // request it waits for. Any other is about a request of an earlier session of this id
    // (a replay, or a late retry).
    const bool ours =
        reply.request_no.value == 0 || (c.outstanding && reply.request_no.value == expected_no);
    if (!ours) return;
    if (c.registered || (c.outstanding && reply.request_no.value == expected_no)) {
      if (c.outstanding && c.registered) c.completed += 1;
      c.registered = false;
      c.outstanding = false;
      c.next_at = now_ + 1;
      if (prng_.chance(1, 2)) {
        // A new session of the same client id: its numbering goes on, and every request of
        // the earlier session still in the network names that session, so none of them can
        // execute again. Half the time the client replays its last request of that session.
        result_.coverage.same_id_sessions += 1;
        c.replay = nullptr;
        if (c.sent_session != 0 && prng_.chance(1, 2)) {
          const core::Request last{core::View{c.view_hint}, c.id, core::RequestNo{c.request_no},
                                   c.operation, core::Op{c.sent_session}};
          c.replay = core::make_bytes(core::encode(options_.core.cluster_id, core::Message{last}));
        }
      } else {
        c.generation += 1;
        c.id = fmt::format("client-{}.{}", index, c.generation);
        c.request_no = 0;
        c.sent_session = 0;
        c.replay = nullptr;
      }
    }
    return;
  }
  if (!c.outstanding || reply.request_no.value != expected_no) return;  // a late duplicate
  if (reply.status == core::ReplyStatus::stale_request) {
    fail(fmt::format("{} got stale_request for its latest request {}", c.id, expected_no));
    return;
  }
  pending_replies_.push_back(ClientReply{c.id, expected_no, reply.op.value, reply.result});
  if (expected_no == 0) {
    c.registered = true;
    c.registered_op = reply.op.value;
    if (c.replay) {
      const std::uint32_t from = options_.replicas + index;
      for (std::uint32_t r = 0; r < options_.replicas; ++r) send_packet(from, r, c.replay);
      c.replay = nullptr;
      result_.coverage.session_replays += 1;
    }
  } else {
    c.completed += 1;
  }
  c.outstanding = false;
  // Think time spreads each client's requests over three quarters of the fault phase on
  // average; the time its requests take under faults carries the rest past it, so that the
  // liveness phase still has work to finish.
  const std::uint64_t spread =
      3 * options_.fault_ticks / (2 * std::max<std::uint32_t>(1, options_.requests_per_client));
  c.next_at = now_ + prng_.below(std::max<std::uint64_t>(5, spread));
}

// --- checkers ---------------------------------------------------------------------------

void Simulator::check() {
  for (std::uint32_t r = 0; r < options_.replicas && result_.ok; ++r) {
    if (is_up(r)) check_commits(r);
  }
  advance_model();
  check_pending_replies();
}

void Simulator::check_commits(std::uint32_t r) {
  Node& node = nodes_[r];
  const core::Replica& rep = *node.replica;
  const std::uint64_t commit = rep.commit_min().value;
  if (commit == node.polled_commit) return;
  for (std::uint64_t op = node.polled_commit + 1; op <= commit; ++op) {
    auto checksum = rep.executed_checksum(core::Op{op});
    if (!checksum) continue;
    auto [it, inserted] = canonical_.emplace(op, *checksum);
    if (!inserted && it->second != *checksum) {
      fail(fmt::format("(a) replica {} executed op {} as {} but another replica as {}", r, op,
                       checksum->hex(), it->second.hex()));
      return;
    }
    if (canonical_bodies_.count(op) == 0) {
      if (core::Bytes body = rep.prepare_at(core::Op{op})) canonical_bodies_[op] = body;
    }
  }
  node.polled_commit = commit;
  const std::uint64_t digest = digest_of(*node.app, rep.client_table());
  auto [it, inserted] = state_digests_.emplace(commit, digest);
  if (!inserted && it->second != digest) {
    fail(fmt::format("(b) replica {} has a different app state at commit {}", r, commit));
  }
}

void Simulator::advance_model() {
  const core::DecodeLimits limits = core::decode_limits(options_.core);
  while (true) {
    auto it = canonical_bodies_.find(model_op_ + 1);
    if (it == canonical_bodies_.end()) return;
    auto prepare = core::decode_prepare(*it->second, limits);
    VSR_ASSERT(prepare.ok());
    const core::Op op{model_op_ + 1};
    if (prepare->header.timestamp_ms <= model_timestamp_ms_ && op.value > 1) {
      fail(fmt::format("(c) the timestamp of op {} ({}) is not after op {}'s ({})", op.value,
                       prepare->header.timestamp_ms, op.value - 1, model_timestamp_ms_));
      return;
    }
    model_timestamp_ms_ = prepare->header.timestamp_ms;
    for (const core::BatchRequest& req : prepare->batch) {
      core::ExecuteOutcome outcome = model_clients_.begin_execute(
          req.client_id, req.session, req.request_no, req.operation, op);
      if (outcome.kind == core::ExecuteOutcome::Kind::registered) {
        expected_[{req.client_id, 0}] = Expected{op.value, ""};
      } else if (outcome.kind == core::ExecuteOutcome::Kind::execute) {
        std::string result;
        app::Context context{op.value, prepare->header.timestamp_ms, req.client_id};
        model_app_->execute(context, req.operation, result);
        if (!expected_
                 .emplace(std::make_pair(req.client_id, req.request_no.value),
                          Expected{op.value, result})
                 .second) {
          fail(fmt::format("(c) {} request {} executed twice, the second time at op {}",
                           req.client_id, req.request_no.value, op.value));
          return;
        }
        model_clients_.finish_execute(req.client_id, req.request_no, req.operation, op, result);
      }
    }
    model_op_ += 1;
    // The replicas' state at each commit is the model's: a replica that executed what the
    // model refused (a request of an earlier session, say) differs from it.
    const std::uint64_t digest = digest_of(*model_app_, model_clients_);
    auto [at, inserted] = state_digests_.emplace(model_op_, digest);
    if (!inserted && at->second != digest) {
      fail(fmt::format("(b) the replicas' state at commit {} is not the committed history's",
                       model_op_));
      return;
    }
  }
}

void Simulator::check_pending_replies() {
  auto it = pending_replies_.begin();
  while (it != pending_replies_.end() && result_.ok) {
    auto e = expected_.find({it->client, it->request_no});
    if (e != expected_.end() && e->second.op <= model_op_) {
      // A registration's reply may come from a later duplicate registration.
      const bool registration = it->request_no == 0;
      if (!registration && (e->second.op != it->op || e->second.result != it->result)) {
        fail(fmt::format(
            "(c) {} request {} got '{}' at op {}, the committed history says '{}' "
            "at op {}",
            it->client, it->request_no, it->result, it->op, e->second.result, e->second.op));
        return;
      }
      it = pending_replies_.erase(it);
      result_.replies_checked += 1;
      continue;
    }
    if (it->op != 0 && it->op <= model_op_ && it->request_no != 0) {
      fail(fmt::format("(c) {} request {} got a reply at op {}, which did not execute it",
                       it->client, it->request_no, it->op));
      return;
    }
    ++it;
  }
}

// --- checker (e): liveness under faults -------------------------------------------------
//
// The cluster must commit while a connected quorum of healthy replicas exists, whatever the
// other replicas do (crashed, partitioned one way or both, paused, slow, recovering,
// pushing their views), within liveness_bound_ticks(). Healthy and connected are defined
// conservatively (healthy()), and so is a client that waits (it reaches every replica both
// ways, so its request gets to whichever replica is primary and the reply back): a replica
// that is merely behind is healthy; one that may stall a view change by design is not.

bool Simulator::healthy(std::uint32_t r) const {
  if (!is_up(r) || is_paused(r)) return false;
  const Node& node = nodes_[r];
  const core::Replica& x = *node.replica;
  if (x.status() == core::Status::recovering || node.wiped) return false;
  // It never nacks what an earlier life may have acknowledged, so a view change may wait
  // for a replica outside the quorum (by design: that op may be committed).
  if (node.rejoin_floor != 0) return false;
  // Corrupt slots are never nacks either, until repaired.
  if (x.commit_min().value < node.corrupt_through) return false;
  // A slow disk: writes pending longer than a fast disk takes, or being issued so.
  if (node.latency_override > healthy_disk_latency_ticks || now_ < node.slow_done_at) return false;
  if (now_ < node.slow_until && node.slow_latency > healthy_disk_latency_ticks) return false;
  return true;
}

// The healthy replicas, less those with the most cut links among them until every pair is
// connected both ways. Greedy, so it may miss a quorum that exists (the checker then stays
// silent: no false alarm); it finds one for every partition the simulator makes.
std::vector<std::uint32_t> Simulator::find_healthy_quorum() const {
  std::vector<std::uint32_t> members;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (healthy(r)) members.push_back(r);
  }
  const std::size_t quorum = options_.replicas / 2 + 1;  // a majority, whatever the bug
  while (members.size() >= quorum) {
    std::size_t worst = 0;
    std::uint32_t worst_cuts = 0;
    for (std::size_t i = 0; i < members.size(); ++i) {
      std::uint32_t cuts = 0;
      for (std::uint32_t b : members) {
        const std::uint32_t a = members[i];
        if (a != b && (blocked_[a][b] || blocked_[b][a])) cuts += 1;
      }
      if (cuts > worst_cuts) {
        worst = i;
        worst_cuts = cuts;
      }
    }
    if (worst_cuts == 0) return members;
    members.erase(members.begin() + static_cast<std::ptrdiff_t>(worst));
  }
  return {};
}

bool Simulator::client_can_reach_every_replica(std::uint32_t client) const {
  const Client& c = clients_[client];
  if (c.paused || c.down_until > now_ || !c.outstanding) return false;
  const std::uint32_t endpoint = client_endpoint(client);
  for (std::uint32_t r = 0; r < options_.replicas && !client_blocked_.empty(); ++r) {
    if (client_blocked_.count({endpoint, r}) != 0 || client_blocked_.count({r, endpoint}) != 0) {
      return false;
    }
  }
  return true;
}

// The bound, in ticks of the configured timeouts (docs/vsr/protocol.md, "The simulator"):
//   detect = 2 x primary_timeout + jitter: a primary that hears no quorum abdicates after
//            primary_timeout; its backups time out primary_timeout + jitter after the last
//            heartbeat it sent.
//   elect  = (f + 2) x (view_change_timeout x 8 + jitter): a view change that fails times
//            out after at most view_change_timeout backed off 8-fold plus jitter; at most f
//            views in a row have their primary outside the quorum, one more may be forced
//            by a replica outside it whose voted view or recovering floor is higher, and
//            the next completes.
//   work   = k x client retry (100) + 4 x the longest disk latency + 2 x repair rounds per
//            8 ops in the log (repair asks for 8 bodies a round), for the requests,
//            acknowledgements and catching up behind the election; k >= 4 retries, so
//            many that all of them are lost (at the configured drop rate, a held packet
//            counted as lost) with a probability below 10^-9: the network is random, so
//            a bound on progress through it can only be one that is exceeded that rarely.
std::uint64_t Simulator::liveness_bound_ticks(const SimOptions& options,
                                              std::uint64_t disk_latency_ticks, std::uint64_t ops) {
  const core::Options& o = options.core;
  const std::uint64_t f = (options.replicas - 1) / 2;
  const std::uint64_t detect = 2 * std::uint64_t{o.primary_timeout_ticks} + o.timeout_jitter_ticks;
  const std::uint64_t attempt =
      (std::uint64_t{o.view_change_timeout_ticks} << core::Options::view_change_backoff_max) +
      o.timeout_jitter_ticks;
  const std::uint64_t elect = options.replicas == 1 ? 0 : (f + 2) * attempt;
  const std::uint64_t disk =
      std::max<std::uint64_t>(disk_latency_ticks, healthy_disk_latency_ticks);
  const std::uint64_t repair = 2 * std::uint64_t{o.repair_retry_ticks} * (1 + ops / 8);
  const double lost =
      options.network.drop_percent / 100.0 + options.network.long_delay_per_10000 / 10000.0;
  std::uint64_t retries = 4;
  while (lost > 0 && std::pow(lost, static_cast<double>(retries)) > 1e-9) retries += 1;
  return detect + elect + retries * 100 + 4 * disk + repair;
}

std::uint64_t Simulator::liveness_bound_ticks() const {
  std::uint64_t disk = options_.storage_latency_max_ticks;
  for (const Node& node : nodes_) {
    disk = std::max<std::uint64_t>(
        {disk, node.latency_override, node.slow_until > now_ ? node.slow_latency : 0});
  }
  return liveness_bound_ticks(options_, disk, canonical_commit());
}

void Simulator::check_liveness_under_faults() {
  if (!options_.check_liveness_under_faults || !result_.ok) return;
  std::optional<std::uint32_t> waiting;
  for (std::uint32_t i = 0; i < clients_.size() && !waiting; ++i) {
    if (client_can_reach_every_replica(i)) waiting = i;
  }
  std::vector<std::uint32_t> quorum;
  if (waiting) quorum = find_healthy_quorum();
  const std::uint64_t commit = canonical_commit();
  if (quorum.empty() || !waiting || quorum != healthy_quorum_) {
    // A new situation: the bound runs from now (a quorum that just formed, or just lost a
    // member, may need a whole election).
    healthy_quorum_ = std::move(quorum);
    liveness_armed_at_ = healthy_quorum_.empty() || !waiting ? 0 : now_;
    liveness_commit_ = commit;
    return;
  }
  if (liveness_armed_at_ == 0) {
    liveness_armed_at_ = now_;
    liveness_commit_ = commit;
    return;
  }
  if (commit > liveness_commit_) {
    if (healthy_quorum_.size() < options_.replicas) result_.coverage.commits_around_faults += 1;
    if (now_ - liveness_armed_at_ > result_.longest_commit_wait) {
      result_.longest_commit_wait = now_ - liveness_armed_at_;
      result_.longest_commit_wait_bound = liveness_bound_ticks();
    }
    liveness_armed_at_ = now_;
    liveness_commit_ = commit;
    return;
  }
  // Every bound is at least detection and four client retries: below that, no need to
  // work it out (most waits end there).
  const core::Options& o = options_.core;
  const std::uint64_t least = 2 * std::uint64_t{o.primary_timeout_ticks} + 4 * 100;
  if (now_ - liveness_armed_at_ <= least) return;
  const std::uint64_t bound = liveness_bound_ticks();
  if (now_ - liveness_armed_at_ <= bound) return;
  std::string members;
  for (std::uint32_t r : healthy_quorum_) {
    members += fmt::format("{}r{}", members.empty() ? "" : ",", r);
  }
  fail(fmt::format(
      "(e) liveness under faults: no commit for {} ticks (bound {}) while replicas {} were "
      "healthy and connected and {} waited for request {}; commit {};{}",
      now_ - liveness_armed_at_, bound, members, clients_[*waiting].id,
      clients_[*waiting].registered ? clients_[*waiting].request_no : 0, commit, replica_states()));
}

std::string Simulator::replica_states() const {
  std::string states;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r)) {
      states += fmt::format(" r{}=down", r);
      continue;
    }
    const core::Replica& x = replica(r);
    states += fmt::format(" r{}={}/v{}/lv{}/op{}/c{}-{}{}", r, core::to_string(x.status()),
                          x.view().value, x.log_view().value, x.op().value, x.commit_min().value,
                          x.commit_max().value, is_paused(r) ? "/paused" : "");
  }
  std::string cuts;
  for (std::uint32_t a = 0; a < options_.replicas; ++a) {
    for (std::uint32_t b = 0; b < options_.replicas; ++b) {
      if (blocked_[a][b]) cuts += fmt::format(" {}->{}", a, b);
    }
  }
  if (!cuts.empty()) states += "; cut:" + cuts;
  return states;
}

}  // namespace vsr::sim
