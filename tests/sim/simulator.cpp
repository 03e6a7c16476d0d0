// The deterministic simulator (see simulator.hpp). One thread, one seed, no clocks: every
// random choice comes from prng_, and every container iterated for output is ordered.

#include "simulator.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
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
  return now_ * 10 + r * 7;
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
    std::string states;
    for (std::uint32_t r = 0; r < options_.replicas; ++r) {
      if (!is_up(r)) {
        states += fmt::format(" r{}=down", r);
        continue;
      }
      const core::Replica& x = replica(r);
      states += fmt::format(" r{}={}/v{}/lv{}/op{}/c{}-{}", r, core::to_string(x.status()),
                            x.view().value, x.log_view().value, x.op().value, x.commit_min().value,
                            x.commit_max().value);
    }
    for (const Client& c : clients_) {
      if (c.outstanding || c.completed < options_.requests_per_client) {
        states += fmt::format(" [{} request {}{}{} done {}]", c.id, c.request_no,
                              c.registered ? "" : " unregistered",
                              c.outstanding ? " outstanding" : "", c.completed);
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
      std::string states;
      for (std::uint32_t r = 0; r < options_.replicas; ++r) {
        const core::Replica& x = replica(r);
        states += fmt::format(" r{}={}/v{}/lv{}/op{}/c{}-{}", r, core::to_string(x.status()),
                              x.view().value, x.log_view().value, x.op().value,
                              x.commit_min().value, x.commit_max().value);
      }
      fail(fmt::format("(d) liveness: replicas did not converge after the clients finished;{}",
                       states));
      if (options_.verbose) {
        for (std::uint32_t r = 0; r < options_.replicas; ++r) {
          fmt::print("{}", replica(r).debug_log(12));
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
  result_.view_changes = 0;
  result_.repairs = 0;
  result_.truncations = 0;
  result_.state_transfers = 0;
  result_.requests_completed = 0;
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r)) continue;
    result_.max_view = std::max(result_.max_view, replica(r).view().value);
    result_.view_changes += replica(r).counters().view_changes_started;
    result_.repairs += replica(r).counters().prepares_repaired;
    result_.truncations += replica(r).counters().truncated_ops;
    result_.state_transfers += replica(r).counters().state_transfers;
  }
  for (const Client& c : clients_) result_.requests_completed += c.completed;
  return result_;
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
  while (!network_.empty() && network_.begin()->first.first <= now_) {
    Packet packet = std::move(network_.begin()->second);
    network_.erase(network_.begin());
    deliver(packet);
  }
  for (std::uint32_t r = 0; r < options_.replicas; ++r) complete_storage(r);
  check();
  if (options_.randomize && !liveness_phase_) random_faults();
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r)) continue;
    nodes_[r].replica->tick(realtime_ms(r));
    drain(r);
  }
  for (std::uint32_t i = 0; i < clients_.size(); ++i) client_tick(clients_[i], i);
  check();
  if (options_.verbose) trace();
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
    }
    if (nodes_[r].traced != line) {
      fmt::print("tick {} r{}: {}\n", now_, r, line);
      nodes_[r].traced = line;
    }
  }
}

// --- network ----------------------------------------------------------------------------

void Simulator::send_packet(std::uint32_t from, std::uint32_t to, core::Bytes bytes) {
  const NetworkFaults& f = options_.network;
  const bool faults = !liveness_phase_;
  if (faults && prng_.chance(f.drop_percent, 100)) return;
  auto delay = [&] {
    std::uint64_t span =
        f.delay_max_ticks >= f.delay_min_ticks ? f.delay_max_ticks - f.delay_min_ticks + 1 : 1;
    return f.delay_min_ticks + prng_.below(span);
  };
  network_.emplace(std::make_pair(now_ + delay(), seq_++), Packet{from, to, bytes});
  if (faults && prng_.chance(f.duplicate_percent, 100)) {
    network_.emplace(std::make_pair(now_ + delay(), seq_++), Packet{from, to, std::move(bytes)});
  }
}

void Simulator::deliver(const Packet& packet) {
  const std::uint32_t replicas = options_.replicas;
  if (packet.to < replicas) {
    if (!is_up(packet.to)) return;
    if (packet.from < replicas && blocked_[packet.from][packet.to]) return;
    nodes_[packet.to].replica->on_message(*packet.bytes);
    drain(packet.to);
  } else {
    on_client_message(packet.to - replicas, packet.bytes);
  }
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
      std::uint64_t at = node.latency_override != 0
                             ? now_ + node.latency_override
                             : now_ + 1 + prng_.below(options_.storage_latency_max_ticks);
      if (!node.queue.empty()) at = std::max(at, node.queue.back().complete_at);
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
    fail(fmt::format("storage: replica {} cannot write: {}", r, done.error()));
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
  if (!is_up(r)) return;
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
    if (!refusal_expected) {
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
  for (const core::WalEntry& entry : state.wal) {
    if (entry.state == core::WalEntryState::corrupt) result_.corrupt_entries += 1;
  }
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
    if (entry.op == head) result_.corrupt_tails += 1;
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
  if (op == recovered->state.wal.head_op) result_.corrupt_tails += 1;
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
      result_.torn_writes += 1;
    }
  }
  node.queue.clear();
  node.disk.reset();
  node.env->crash(power_loss);  // what was not synced is gone
  node.replica.reset();
  node.app.reset();
  result_.crashes += 1;
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
  for (const auto& [name, bytes] : nodes_[r].env->durable_files(dir_of(r))) {
    if (name.starts_with("metadata.")) return true;
  }
  return false;
}

bool Simulator::has_metadata(std::uint32_t r) const {
  if (is_up(r)) return nodes_[r].replica->status() != core::Status::recovering;
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
  result_.wipes += 1;
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

void Simulator::random_faults() {
  const std::uint32_t replicas = options_.replicas;
  // A crash alone is no damage (the replica restarts with what it made durable), so even
  // with f = 0 (R = 1, 2) one replica may be down; more than f down at once would leave no
  // quorum up. Damage (wipes, restores, corruption) is bounded by f below.
  const std::uint32_t max_down = std::max<std::uint32_t>(1, options_.core.faults_tolerated());
  std::uint32_t down = 0;
  for (std::uint32_t r = 0; r < replicas; ++r) down += is_up(r) ? 0u : 1u;
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
        }
        restart(r);
        down -= 1;
      }
      continue;
    }
    if (down < max_down && prng_.chance(options_.crash_percent, 10000)) {
      crash(r);
      nodes_[r].down_until = now_ + 20 + prng_.below(300);
      down += 1;
      // At most f replicas damaged at once: wiped and not caught up, without metadata (a
      // replica that crashed before its first metadata write was durable cannot be told
      // from a wiped one, by itself or by the others), or (when corruption is on) the
      // designated corruption-faulty ones.
      std::set<std::uint32_t> damaged;
      if (options_.corrupt_percent > 0) damaged = faulty_;
      for (std::uint32_t w = 0; w < replicas; ++w) {
        if (nodes_[w].wiped || is_restored(w) || !has_metadata(w)) damaged.insert(w);
      }
      damaged.insert(r);
      if (damaged.size() <= options_.core.faults_tolerated() &&
          prng_.chance(options_.wipe_percent, 100)) {
        wipe(r);
      } else if (damaged.size() <= options_.core.faults_tolerated() &&
                 options_.restore_percent > 0 && prng_.chance(options_.restore_percent, 100)) {
        // `vsr recover-node r --from-node source`: a copy of whatever another replica has
        // durably, as stale as it is; r restarts restored at once.
        const auto source =
            static_cast<std::uint32_t>((r + 1 + prng_.below(replicas - 1)) % replicas);
        if (holds_metadata_files(source)) {
          restore_from(r, source);
          down -= 1;
          result_.restores += 1;
        }
      }
    }
  }
  if (replicas > 1 && prng_.chance(options_.network.partition_percent, 10000)) {
    heal();
    switch (prng_.below(4)) {
      case 0:
        isolate(static_cast<std::uint32_t>(prng_.below(replicas)));
        break;
      case 1: {
        // Asymmetric: one replica cannot hear (or cannot reach) some others.
        std::uint32_t a = static_cast<std::uint32_t>(prng_.below(replicas));
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
      default:
        break;  // healed
    }
  }
}

void Simulator::start_liveness_phase() {
  liveness_phase_ = true;
  heal();
  for (std::uint32_t r = 0; r < options_.replicas; ++r) {
    if (!is_up(r)) restart(r);
  }
}

// --- clients ----------------------------------------------------------------------------

void Simulator::client_tick(Client& c, std::uint32_t index) {
  if (c.paused) return;
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
  core::Request request{core::View{c.view_hint}, c.id, core::RequestNo{c.request_no}, c.operation};
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
    if (c.registered || (c.outstanding && reply.request_no.value == expected_no)) {
      if (c.outstanding && c.registered) c.completed += 1;
      // A client whose session was evicted starts a new session under a new client id:
      // re-registering the old id would let a retry of an old request still in the network
      // execute a second time (TigerBeetle's client-session notes).
      c.generation += 1;
      c.id = fmt::format("client-{}.{}", index, c.generation);
      c.request_no = 0;
      c.registered = false;
      c.outstanding = false;
      c.next_at = now_ + 1;
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
  } else {
    c.completed += 1;
  }
  c.outstanding = false;
  // Think time spreads each client's requests over the fault phase and past it, so that
  // the liveness phase still has work to finish.
  const std::uint64_t spread =
      2 * options_.fault_ticks / std::max<std::uint32_t>(1, options_.requests_per_client);
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
      core::ExecuteOutcome outcome =
          model_clients_.begin_execute(req.client_id, req.request_no, op);
      if (outcome.kind == core::ExecuteOutcome::Kind::registered) {
        expected_[{req.client_id, 0}] = Expected{op.value, ""};
      } else if (outcome.kind == core::ExecuteOutcome::Kind::execute) {
        std::string result;
        app::Context context{op.value, prepare->header.timestamp_ms, req.client_id};
        model_app_->execute(context, req.operation, result);
        expected_[{req.client_id, req.request_no.value}] = Expected{op.value, result};
        model_clients_.finish_execute(req.client_id, req.request_no, op, result);
      }
    }
    model_op_ += 1;
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

}  // namespace vsr::sim
