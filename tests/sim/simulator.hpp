#pragma once
// The deterministic cluster simulator: replicas, clients, a faulty network and faulty
// storage in one thread, all driven by one seed. The same seed and options give the same
// run, byte for byte.
//
// Storage is the real one: each replica's directory lives in a storage::MemoryEnv of its
// own (its disk and its power supply) and the core's storage effects run through the
// daemon's adapter, storage::ReplicaDisk, over the real WAL, metadata and checkpoint files.
// An effect is queued with a completion tick (the disk's latency, in ticks: no real time
// passes) and executed when due, in issue order; the durable write id it returns is
// reported to the core. A crash drops the queue and cuts the power (MemoryEnv::crash):
// what was not synced is lost, and with torn_percent the write in flight dies part way
// (the process stops inside one of its first file operations, and the last unsynced write
// lands in part). A restart recovers the directory (ReplicaDisk::open); a directory that
// cannot start (nothing valid) fails the run unless the scenario asked for it. Media
// corruption, on at most f replicas ever, is bits flipped in WAL records, at any byte and in
// the last record too (MemoryEnv::flip_bit). A disk may turn slow for a stretch
// (slow_disk).
//
// The network loses, duplicates, delays and reorders packets, partitions replicas
// (symmetric, one-way, split) and cuts client links (one way or both); a few packets are
// held far beyond every core timeout, so that messages of old views and of earlier
// incarnations (a replica that crashed and restarted since) arrive late. Clients crash and
// come back under a new client id. Each replica's wall clock (the realtime_ms of
// Replica::tick) has its own offset and drift and sometimes steps backwards. A replica may
// be paused (no ticks, deliveries or storage completions; messages to it wait in a bounded
// inbox) and resumed with its timers stale. In some seeds a steady fault holds on a
// minority (SteadyFault) while every other replica fault strikes only that minority.
//
// Each run counts the faults it injected and the protocol paths the replicas took
// (Coverage): the replicas' counters over every incarnation, and what the simulator sees in
// the messages where the core has no counter. docs/vsr/protocol.md, "The
// simulator", describes the fault model, checker (e)'s bound and the coverage.
//
// Checkers run after every tick:
//   (a) no two replicas execute different prepares (by checksum) at one op;
//   (b) replicas at equal commit numbers have identical app state and client tables;
//   (c) every reply a client received matches the model app replayed over the canonical
//       committed history, at the op the reply names (so it stays committed), and prepare
//       timestamps strictly increase along that history;
//   (d) liveness: after the fault phase, with the faults healed, every client's requests
//       complete within a bound;
//   (e) liveness under faults: while a connected quorum of healthy replicas exists and a
//       client that can reach every replica waits for a reply, the canonical commit
//       advances within liveness_bound_ticks(), whatever happens to the other replicas;
//   (i) no replica's assertion fails (the core's invariants are always on; the simulator
//       turns a failed one into a failure of the run instead of an abort).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kv_app.hpp"
#include "vsr/core/client_table.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/core/options.hpp"
#include "vsr/core/replica.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/node_storage.hpp"
#include "vsr/storage/replica_disk.hpp"

namespace vsr::sim {

struct NetworkFaults {
  std::uint32_t drop_percent = 0;
  std::uint32_t duplicate_percent = 0;
  std::uint32_t delay_min_ticks = 1;
  std::uint32_t delay_max_ticks = 3;
  std::uint32_t partition_percent = 0;  ///< chance per 100 ticks of a new partition
  /// Chance per 10,000 packets (between replicas, or to and from clients) of being held for
  /// Simulator::long_delay_ticks(), longer than every core timeout.
  std::uint32_t long_delay_per_10000 = 0;
  /// Chance per 100 ticks of a new cut of client links (one way or both).
  std::uint32_t client_partition_percent = 0;
};

/// Each replica's wall clock, as Replica::tick sees it (Simulator::realtime_ms): 10 ms a
/// tick, plus an offset and a drift of its own, and steps.
struct ClockFaults {
  std::uint64_t skew_max_ms = 0;         ///< each clock starts up to this far behind or ahead
  std::uint32_t drift_max_permille = 0;  ///< and runs up to this much slow or fast
  std::uint32_t jump_percent = 0;        ///< chance per 100 ticks and replica of a step
  std::uint64_t jump_max_ms = 0;         ///< steps go back (mostly) or forward, this far
};

/// A fault that holds on at most f replicas (the victims) from SimOptions::steady_fault_at
/// to the end of the fault phase, while every other replica fault (crash, pause, slow disk,
/// partition) strikes only the victims: checker (e) then watches the rest, a connected
/// quorum of healthy replicas, for longer than its bound.
enum class SteadyFault : std::uint8_t {
  none,
  deaf_primary,       ///< the primary hears no replica (it can send)
  mute_primary,       ///< no replica hears the primary (it can receive)
  isolated_primary,   ///< both
  partial_primary,    ///< the primary's prepares reach fewer than a quorum
  deaf_minority,      ///< f replicas hear nobody
  mute_minority,      ///< nobody hears f replicas
  paused_minority,    ///< f replicas paused again and again
  slow_minority,      ///< f replicas (the primary among them) with slow disks
  crashing_minority,  ///< f replicas crashing again and again
};
const char* to_string(SteadyFault fault);

struct SimOptions {
  std::uint64_t seed = 1;
  std::uint32_t replicas = 3;
  std::uint32_t clients = 4;
  std::uint32_t requests_per_client = 20;
  std::uint64_t fault_ticks = 2000;     ///< phase 1: faults on
  std::uint64_t liveness_ticks = 4000;  ///< phase 2: faults healed; all requests must finish
  SteadyFault steady_fault = SteadyFault::none;
  std::uint64_t steady_fault_at = 0;
  NetworkFaults network;
  ClockFaults clock;
  std::uint32_t crash_percent = 0;    ///< chance per 100 ticks that an up replica crashes
  std::uint32_t corrupt_percent = 0;  ///< chance a WAL record of a faulty replica gets a bit flip
  /// Chance its last WAL record gets one, where acknowledged data is most easily lost (a
  /// flip there must not pass for a torn write); only with corrupt_percent > 0.
  std::uint32_t corrupt_tail_percent = 0;
  std::uint32_t torn_percent = 50;  ///< chance a crash strikes inside the write in flight
  /// Chance that a random crash is followed by a wipe (its whole disk deleted), while at
  /// most f replicas are damaged at once (wiped and not caught up, or corruption-faulty).
  std::uint32_t wipe_percent = 0;
  /// Chance that a random crash (not wiped) is followed by `vsr recover-node` from another
  /// replica's durable files, perhaps stale (restore_from), under the same limit.
  std::uint32_t restore_percent = 0;
  /// Chance per 100 ticks that an up replica's disk fails one of its next writes or fsyncs
  /// (MemoryEnv::arm_io_error): the process exits, as the daemon does (exit 4), losing what
  /// it had not synced, and is started again later (a crash, within the same budget).
  std::uint32_t io_error_percent = 0;
  /// Chance per 100 ticks that the medium of a corruption-faulty replica (at most f, only
  /// with corrupt_percent > 0) fails, while the replica runs or is down: a latent sector
  /// error in a WAL segment, a metadata copy or a checkpoint copy; a bit flipped in a
  /// metadata or checkpoint copy; or (while it runs) its next write misdirected. A replica
  /// whose directory is then refused at start is restored from a peer (`vsr sync-node`).
  std::uint32_t media_percent = 0;
  std::uint32_t storage_latency_max_ticks = 3;
  /// Chance per 100 ticks that an up replica's disk turns slow for a stretch: every write
  /// then takes up to slow_disk_latency_max_ticks.
  std::uint32_t slow_disk_percent = 0;
  std::uint32_t slow_disk_latency_max_ticks = 120;
  /// Chance per 100 ticks that an up replica is paused for up to pause_max_ticks (as by
  /// SIGSTOP; crashed and paused replicas together stay within max(1, f)).
  std::uint32_t pause_percent = 0;
  std::uint32_t pause_max_ticks = 400;
  /// Messages that reach a paused replica wait (its socket buffers), at most this many;
  /// the rest are lost.
  std::uint32_t paused_inbox_max = 64;
  /// Chance per 100 ticks that a client crashes: it forgets its outstanding request and
  /// comes back, up to 300 ticks later, under a new client id.
  std::uint32_t client_crash_percent = 0;
  /// Checker (e), liveness under faults.
  bool check_liveness_under_faults = true;
  /// WAL segment size: small, so that segments are created, released and repaired often.
  std::uint64_t wal_segment_bytes = 8 * 1024;
  core::Options core;      ///< replica_count is set from `replicas`
  bool randomize = false;  ///< derive faults and limits from the seed
  /// The app every replica runs; the checker replays a fresh instance of it over the
  /// committed history as the model for checker (c). Null: the KV app (kv_app.hpp).
  std::unique_ptr<app::StateMachine> (*app_factory)() = nullptr;
  /// The operation bytes of a client's next request. Null: KV operations.
  std::string (*make_operation)(core::Prng& prng) = nullptr;
  bool verbose = false;
};

/// The name of an injected bug as `vsr_sim --bug` spells it, and back.
const char* injected_bug_name(core::InjectedBug bug);
std::optional<core::InjectedBug> parse_injected_bug(std::string_view name);

/// Derives a fault mix and core limits from the seed (the sweep configuration).
SimOptions random_options(std::uint64_t seed, std::uint32_t replicas, core::InjectedBug bug);

/// How often each fault struck and each protocol path ran in a run. The replicas' own
/// counters (core::Counters) are summed over every incarnation; the rest the simulator
/// observes from outside, for want of a counter in the core (see each field).
struct Coverage {
  // Faults.
  std::uint64_t crashes = 0;
  std::uint64_t torn_writes = 0;      ///< crashes that struck inside a write
  std::uint64_t corrupt_entries = 0;  ///< WAL entries read back corrupt on restart
  std::uint64_t corrupt_tails = 0;    ///< bits flipped in the WAL's last record (any byte)
  std::uint64_t wipes = 0;
  std::uint64_t restores = 0;  ///< random recover-node restores
  std::uint64_t partitions = 0;
  std::uint64_t client_partitions = 0;
  std::uint64_t client_crashes = 0;
  /// Evicted clients that registered the same client id again (a new session), and the
  /// requests of their earlier session that they sent again after that (replays).
  std::uint64_t same_id_sessions = 0;
  std::uint64_t session_replays = 0;
  std::uint64_t pauses = 0;
  std::uint64_t paused_messages_lost = 0;  ///< beyond a paused replica's inbox
  std::uint64_t slow_disks = 0;            ///< stretches of a slow disk
  std::uint64_t clock_jumps = 0;
  std::uint64_t io_errors = 0;           ///< write or fsync errors that ended a replica's process
  std::uint64_t sector_errors = 0;       ///< latent sector errors (WAL, metadata, checkpoints)
  std::uint64_t misdirected_writes = 0;  ///< writes that landed elsewhere in their file
  std::uint64_t copies_flipped = 0;      ///< bits flipped in metadata or checkpoint copies
  /// Starts in status recovering because a metadata copy was damaged (it may have been the
  /// newest, with a vote the valid one lacks).
  std::uint64_t metadata_distrusted = 0;
  /// Starts refused for the medium's damage, then restored from a peer (`vsr sync-node`).
  std::uint64_t media_restores = 0;
  std::uint64_t long_delayed_deliveries = 0;  ///< packets held beyond every timeout, delivered
  /// Packets from a replica delivered after it crashed and restarted (an earlier life).
  std::uint64_t earlier_incarnation_deliveries = 0;
  // Protocol paths, from core::Counters (see there).
  std::uint64_t view_changes = 0;
  std::uint64_t truncated_ops = 0;
  std::uint64_t state_transfers = 0;
  std::uint64_t prepares_repaired = 0;
  std::uint64_t vc_restart = 0;  ///< view changes by cause, view_changes_on_restart ...
  std::uint64_t vc_primary_timeout = 0;
  std::uint64_t vc_abdication = 0;
  std::uint64_t vc_next_view = 0;
  std::uint64_t vc_svc_quorum = 0;
  std::uint64_t vc_followed = 0;
  std::uint64_t vc_voted_above = 0;
  std::uint64_t vc_do_view_change = 0;
  std::uint64_t start_views_refused = 0;
  std::uint64_t rejoins = 0;
  std::uint64_t rejoin_floors_cleared = 0;
  std::uint64_t phantom_slots_dropped = 0;
  // Protocol paths the simulator sees in the messages (the core has no counter for them):
  // DoViewChange entries that tell a new primary "missing" (nacks), or "corrupt" (never a
  // nack); ops beyond a sender's head are nacks too and are not counted here.
  std::uint64_t nack_entries = 0;
  std::uint64_t corrupt_entries_not_nacked = 0;
  /// Commits that checker (e) saw while a healthy connected quorum waited for one and
  /// another replica was outside it: the cluster made progress around a fault.
  std::uint64_t commits_around_faults = 0;

  /// Every field with its name, in declaration order (for sums, printing and minimums).
  static const std::vector<std::pair<const char*, std::uint64_t Coverage::*>>& fields();
  Coverage& operator+=(const Coverage& other);
};

struct SimResult {
  bool ok = true;
  std::string failure;  ///< which checker failed and why
  std::string replay;   ///< the command line that replays this run
  std::uint64_t ticks = 0;
  std::uint64_t ops_committed = 0;
  std::uint64_t requests_completed = 0;
  std::uint64_t replies_checked = 0;  ///< client replies verified against the model
  std::uint64_t evictions = 0;        ///< evicted replies received by clients
  std::uint64_t max_view = 0;
  /// Checker (e): the longest wait for a commit it watched, and its bound then (the margin).
  std::uint64_t longest_commit_wait = 0;
  std::uint64_t longest_commit_wait_bound = 0;
  Coverage coverage;
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();

  /// Runs both phases (or until a checker fails) and reports.
  SimResult run();
  /// Fills the statistics of result() from the current state (run() calls it).
  const SimResult& summarize();

  // --- scripting for named scenarios -----------------------------------------------------
  /// Runs until tick `until` (absolute) or a failure. Returns false on failure.
  bool run_until(std::uint64_t until);
  /// Runs until every client finished or `max_ticks` pass; false if they did not finish.
  bool run_until_done(std::uint64_t max_ticks);
  void isolate(std::uint32_t replica);               ///< cut both directions
  void block(std::uint32_t from, std::uint32_t to);  ///< one direction only
  void heal();                                       ///< all links up
  void crash(std::uint32_t replica);
  /// Restarts from the replica's directory; the WAL records of `corrupt_ops` get a flipped
  /// bit first (read back corrupt). `lose_metadata` deletes the metadata and checkpoint
  /// copies first: the directory then holds a WAL and nothing that says what it means, so
  /// storage refuses it (the node would exit asking for `vsr sync-node`) and the replica
  /// stays down (refusal() says why); any other refusal fails the run.
  void restart(std::uint32_t replica, const std::set<std::uint64_t>& corrupt_ops = {},
               bool lose_metadata = false);
  /// Media corruption where a script wants it: flips bit `bit` of byte `byte` of the WAL
  /// record of `op` on the down `replica`, through its MemoryEnv. `byte` counts from the
  /// record's start, or from its end when negative (-1: its last byte, the terminator).
  /// Returns false when the WAL holds no sound record for `op` that long.
  bool flip_wal_bit(std::uint32_t replica, std::uint64_t op, std::int64_t byte, int bit);
  /// `rm -rf nodes/NAME`: deletes the whole durable state of the down `replica` (its disk,
  /// and a RESTORED marker with it). Restart it with restart(). It counts as damaged until
  /// it is durably normal and has executed every op the cluster held when it was wiped.
  void wipe(std::uint32_t replica);
  /// Whether `replica` was wiped and has not caught up since.
  bool is_wiped(std::uint32_t replica) const { return nodes_[replica].wiped.has_value(); }
  /// Whether `replica` knows what it voted for: up and not recovering, or down with a
  /// metadata copy on its disk.
  bool has_metadata(std::uint32_t replica) const;
  /// Whether `replica`'s disk holds the core's metadata (a crash now would leave it knowing
  /// what it voted for; its first metadata write may still be in flight).
  bool holds_core_metadata(std::uint32_t replica) const;
  /// Whether `replica`'s disk durably holds a valid metadata copy (a restore can copy it).
  bool holds_metadata_files(std::uint32_t replica) const;
  /// `vsr recover-node`: replaces the files of the down `replica` with the durable files of
  /// `source` (as stale as the source is), rewrites the metadata copies with the replica's
  /// index, writes the RESTORED marker (storage/restore.hpp) and restarts it as a restored
  /// replica. It stays marked, across crashes, until it is durably normal again.
  void restore_from(std::uint32_t replica, std::uint32_t source);
  /// Whether `replica`'s directory holds the RESTORED marker (it has not been durably
  /// normal since it was restored).
  bool is_restored(std::uint32_t replica) const;
  /// Why storage refused to start the down `replica` at its last restart, if it did.
  const std::optional<std::string>& refusal(std::uint32_t replica) const {
    return nodes_[replica].refusal;
  }
  /// The directory of `replica` in its MemoryEnv (for tests).
  static std::string dir_of(std::uint32_t replica);
  storage::MemoryEnv& env_of(std::uint32_t replica) { return *nodes_[replica].env; }
  void set_network(const NetworkFaults& faults) { options_.network = faults; }
  /// Every write of `replica` takes exactly `ticks` from now on (0: back to random).
  void set_storage_latency(std::uint32_t replica, std::uint32_t ticks) {
    nodes_[replica].latency_override = ticks;
  }
  /// The client id `client` uses now (a new one after each eviction or crash).
  const std::string& client_id(std::uint32_t client) const { return clients_[client].id; }
  /// A paused client sends nothing (not even retries) until resumed.
  void set_client_active(std::uint32_t client, bool active) { clients_[client].paused = !active; }

  // Network: the endpoints of a link are replicas 0..n-1 and clients n.. (client_endpoint).
  std::uint32_t client_endpoint(std::uint32_t client) const { return options_.replicas + client; }
  /// Every packet sent from `from` to `to` from now on arrives `ticks` later than it would
  /// (0: back to normal): with ticks > long-lived timeouts, a scripted stale message.
  void delay_link(std::uint32_t from, std::uint32_t to, std::uint64_t ticks);
  /// Cuts the link between `client` and `replica`: its requests (client to replica), its
  /// replies (replica to client), or both. heal() restores it.
  void block_client(std::uint32_t client, std::uint32_t replica, bool requests, bool replies);
  /// The client process dies: it forgets its outstanding request (which may still execute)
  /// and starts again after `down_ticks` under a new client id, registering first. It never
  /// reuses an id: a retry of its old request could otherwise execute twice.
  void crash_client(std::uint32_t client, std::uint64_t down_ticks);
  /// Longer than every core timeout, including the backed-off view-change timeout: the
  /// least hold of a packet that network.long_delay_per_10000 picks (at most three times it).
  std::uint64_t long_delay_ticks() const;

  // Processes, clocks and disks.
  /// Freezes `replica` for `ticks`: no ticks, no deliveries (messages wait in its bounded
  /// inbox) and no storage completions; its wall clock runs on. On resume it gets the
  /// ticks it missed at once if they were fewer than 100 (the runtime replays up to a second
  /// of ticks after a stall), else none: its timers are stale either way.
  void pause(std::uint32_t replica, std::uint64_t ticks);
  bool is_paused(std::uint32_t replica) const { return nodes_[replica].paused_until != 0; }
  /// The wall clock of `replica` in ms, as its next tick() sees it.
  std::uint64_t realtime_ms(std::uint32_t replica) const;
  /// Sets the offset (ms, behind when negative) and drift (per mille) of `replica`'s clock.
  void set_clock(std::uint32_t replica, std::int64_t offset_ms, std::int32_t drift_permille);
  /// Steps `replica`'s clock by `delta_ms` (backwards when negative), as NTP may.
  void jump_clock(std::uint32_t replica, std::int64_t delta_ms);
  /// Every write of `replica` issued in the next `ticks` takes `latency_ticks`.
  void slow_disk(std::uint32_t replica, std::uint32_t latency_ticks, std::uint64_t ticks);

  // Checker (e).
  /// The bound of checker (e) in ticks, from the configured timeouts (see simulator.cpp).
  std::uint64_t liveness_bound_ticks() const;
  /// The same for a cluster with `options`, disks at most `disk_latency_ticks` slow and
  /// `ops` ops in its log.
  static std::uint64_t liveness_bound_ticks(const SimOptions& options,
                                            std::uint64_t disk_latency_ticks, std::uint64_t ops);
  /// The replicas under the steady fault (empty before steady_fault_at, or without one).
  const std::set<std::uint32_t>& victims() const { return victims_; }
  /// The replicas of the connected quorum of healthy replicas that checker (e) found in the
  /// last tick (empty when there was none, or no client waited). See healthy().
  const std::vector<std::uint32_t>& healthy_quorum() const { return healthy_quorum_; }
  /// Whether checker (e) counts `replica` as healthy: up, not paused, not recovering, not
  /// damaged (wiped and not caught up, corrupt WAL entries not yet behind its commit, a
  /// rejoin floor in its metadata) and with a fast disk (no write pending longer than
  /// healthy_disk_latency_ticks).
  bool healthy(std::uint32_t replica) const;
  /// A disk is fast while its writes take at most this many ticks.
  static constexpr std::uint32_t healthy_disk_latency_ticks = 10;
  bool is_up(std::uint32_t replica) const { return nodes_[replica].replica != nullptr; }
  const core::Replica& replica(std::uint32_t r) const { return *nodes_[r].replica; }
  /// The replica that is normal primary in the highest view, if any is up.
  std::optional<std::uint32_t> primary() const;
  std::uint64_t now() const { return now_; }
  bool failed() const { return !result_.ok; }
  const SimResult& result() const { return result_; }
  bool all_done() const;
  /// Every replica up, normal in one view, with everything executed.
  bool converged() const;
  std::uint64_t canonical_commit() const {
    return canonical_.empty() ? 0 : canonical_.rbegin()->first;
  }

 private:
  struct Packet {
    std::uint32_t from;
    std::uint32_t to;  ///< replicas first, then clients
    core::Bytes bytes;
    std::uint32_t incarnation = 0;  ///< of the sending replica
    bool long_delayed = false;      ///< held beyond every timeout
  };

  struct PendingWrite {
    std::uint64_t complete_at;
    core::Effect effect;
  };

  struct Node {
    std::unique_ptr<app::StateMachine> app;
    std::unique_ptr<core::Replica> replica;
    /// The replica's machine: its disk (the directory dir_of(r)) and its power supply.
    std::unique_ptr<storage::MemoryEnv> env;
    std::unique_ptr<storage::ReplicaDisk> disk;  ///< open while the replica is up
    std::deque<PendingWrite> queue;              ///< storage effects in flight, in issue order
    std::uint64_t wal_head = 0;                  ///< the WAL's head when last seen
    std::optional<std::string> refusal;          ///< why the last restart was refused
    std::uint64_t polled_commit = 0;  ///< checker progress through this replica's commits
    std::uint64_t down_until = 0;
    std::uint32_t incarnation = 0;
    std::uint32_t latency_override = 0;
    std::optional<std::uint64_t> wiped;  ///< wiped: catching up through this op (damaged)
    std::string traced;                  ///< last state printed by trace()
    /// Counters of the earlier incarnations (a crash discards the replica object).
    core::Counters retired;
    // Pause: frozen until this tick (0: running), since paused_at; what arrived meanwhile.
    std::uint64_t paused_until = 0;
    std::uint64_t paused_at = 0;
    std::deque<Packet> inbox;
    // The machine's wall clock, in µs (realtime_ms() is clock_us / 1000), advanced every
    // tick by 10 ms times (1000 + drift_permille) / 1000, also while down or paused.
    std::uint64_t clock_us = 0;
    std::int32_t drift_permille = 0;
    // Slow disk: writes issued before slow_until take slow_latency; a write slower than
    // healthy_disk_latency_ticks completes at slow_done_at at the latest.
    std::uint64_t slow_until = 0;
    std::uint32_t slow_latency = 0;
    std::uint64_t slow_done_at = 0;
    // Damage that checker (e) waits out: WAL entries read back corrupt at the last restart
    // (through this op, until executed), and the rejoin floor of the latest metadata the
    // replica wrote or opened with (slots it never nacks: it may stall a view change).
    std::uint64_t corrupt_through = 0;
    std::uint64_t rejoin_floor = 0;
    /// Storage faults were injected (an armed I/O error, the medium's): a failed write, or
    /// a start refused for damage, is then the node's fault-handling path, not a bug.
    bool storage_faults = false;
  };

  /// Where a link is cut or delayed; endpoints as in client_endpoint().
  using Link = std::pair<std::uint32_t, std::uint32_t>;

  struct Client {
    std::string id;
    std::uint32_t generation = 0;  ///< a new session (and client id) after each eviction
    std::uint64_t request_no = 0;  ///< of the outstanding or last request
    bool registered = false;
    std::uint64_t registered_op = 0;  ///< op of the registration: the session's number
    /// A request of this client id's earlier session, sent again once the new session is
    /// registered (a replay: it must never execute).
    core::Bytes replay;
    std::uint64_t sent_session = 0;  ///< the session its last request (request_no) named
    bool outstanding = false;
    std::string operation;
    std::uint64_t sent_at = 0;
    std::uint64_t retry_at = 0;
    std::uint64_t view_hint = 0;
    std::uint32_t completed = 0;
    std::uint64_t next_at = 0;
    bool paused = false;
    std::uint64_t down_until = 0;  ///< crashed until this tick (crash_client)
  };

  struct Expected {
    std::uint64_t op;
    std::string result;
  };

  void step();
  void advance();  ///< one tick of step(), which turns a failed assertion into a failure
  void trace();
  void deliver(Packet packet);
  /// Hands a packet to the running replica `r`, counting what it did (coverage).
  void hand(std::uint32_t r, const Packet& packet);
  void tick_replica(std::uint32_t r);
  void resume(std::uint32_t r);
  void drain(std::uint32_t r);
  void retire_counters(std::uint32_t r);
  void send_packet(std::uint32_t from, std::uint32_t to, core::Bytes bytes);
  void complete_storage(std::uint32_t r);
  void execute_storage(std::uint32_t r, const std::vector<core::Effect>& effects);
  void open_disk(std::uint32_t r, bool refusal_expected);
  /// Replicas damaged now (wiped and not caught up, restored and not yet durably normal,
  /// without metadata, or corruption-faulty), not counting `except`.
  std::size_t damaged_count(std::uint32_t except) const;
  /// Starts a down replica again: restarts it, or restores it from a peer when its last
  /// start was refused for the medium's damage.
  void bring_back(std::uint32_t r);
  /// The replica's process exits on a storage error (the daemon's exit 4).
  void die_of_storage_error(std::uint32_t r, const std::string& why);
  /// Whether the medium of (corruption-faulty) replica r may fail now: the damage it may
  /// cause stays within the budget.
  bool media_may_strike(std::uint32_t r) const;
  /// Injects one fault of the medium of (corruption-faulty) replica r.
  void media_fault(std::uint32_t r);
  template <class Pick>
  void corrupt_wal(std::uint32_t r, Pick pick);
  void remove_files(std::uint32_t r, bool (*which)(const std::string& name));
  void client_tick(Client& c, std::uint32_t index);
  void client_send(Client& c, std::uint32_t index, bool broadcast);
  void on_client_message(std::uint32_t index, const core::Bytes& bytes);
  void random_faults();
  void start_steady_fault();
  /// Whether random replica faults may strike `r` now (the victims only, in steady mode).
  bool may_strike(std::uint32_t r) const;
  void random_partition();
  void delay_next_primary(core::View view, std::uint64_t back_at);
  void random_client_faults();
  void random_process_faults();
  void start_liveness_phase();
  void check();
  void check_liveness_under_faults();
  std::vector<std::uint32_t> find_healthy_quorum() const;
  bool client_can_reach_every_replica(std::uint32_t client) const;
  void check_commits(std::uint32_t r);
  void advance_model();
  void check_pending_replies();
  void fail(std::string why);
  std::string replica_states() const;
  std::unique_ptr<app::StateMachine> make_app() const;

  SimOptions options_;
  storage::NodeOptions storage_options_;
  core::Prng prng_;
  std::uint64_t now_ = 0;
  std::uint64_t seq_ = 0;
  bool liveness_phase_ = false;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::multimap<std::pair<std::uint64_t, std::uint64_t>, Packet> network_;  ///< (at, seq)
  std::vector<std::vector<bool>> blocked_;    ///< blocked_[from][to] between replicas
  std::set<Link> client_blocked_;             ///< cut client links, (from, to) endpoints
  std::map<Link, std::uint64_t> link_delay_;  ///< extra ticks on a link (delay_link)
  std::uint64_t partition_until_ = 0;         ///< a transient random partition heals then
  std::set<std::uint32_t> faulty_;            ///< replicas whose disks may corrupt (≤ f)
  std::set<std::uint32_t> victims_;           ///< of the steady fault (≤ f)
  bool steady_started_ = false;

  // Checker (e): the connected quorum of healthy replicas of the last tick, since when it
  // has been that one with a client waiting (0: not armed), and the last canonical commit.
  std::vector<std::uint32_t> healthy_quorum_;
  std::uint64_t liveness_armed_at_ = 0;
  std::uint64_t liveness_commit_ = 0;

  // Checker state.
  std::map<std::uint64_t, core::Checksum> canonical_;  ///< op -> checksum first executed
  std::map<std::uint64_t, core::Bytes> canonical_bodies_;
  std::map<std::uint64_t, std::uint64_t> state_digests_;  ///< commit -> digest
  std::uint64_t model_op_ = 0;
  std::uint64_t model_timestamp_ms_ = 0;          ///< of the last op the model executed
  std::unique_ptr<app::StateMachine> model_app_;  ///< replays the committed history
  core::ClientTable model_clients_;
  std::map<std::pair<std::string, std::uint64_t>, Expected> expected_;
  struct ClientReply {
    std::string client;
    std::uint64_t request_no;
    std::uint64_t op;
    std::string result;
  };
  std::vector<ClientReply> pending_replies_;
  SimResult result_;
};

}  // namespace vsr::sim
