#pragma once
// The deterministic cluster simulator: replicas, clients, a faulty network and faulty
// in-memory storage in one thread, all driven by one seed. The same seed and options give
// the same run, byte for byte. Checkers run after every tick:
//   (a) no two replicas execute different prepares (by checksum) at one op;
//   (b) replicas at equal commit numbers have identical app state and client tables;
//   (c) every reply a client received matches the model app replayed over the canonical
//       committed history, at the op the reply names (so it stays committed);
//   (d) liveness: after the fault phase, with the faults healed, every client's requests
//       complete within a bound.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kv_app.hpp"
#include "vsr/core/client_table.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/core/options.hpp"
#include "vsr/core/replica.hpp"

namespace vsr::sim {

struct NetworkFaults {
  std::uint32_t drop_percent = 0;
  std::uint32_t duplicate_percent = 0;
  std::uint32_t delay_min_ticks = 1;
  std::uint32_t delay_max_ticks = 3;
  std::uint32_t partition_percent = 0;  ///< chance per 100 ticks of a new partition
};

struct SimOptions {
  std::uint64_t seed = 1;
  std::uint32_t replicas = 3;
  std::uint32_t clients = 4;
  std::uint32_t requests_per_client = 20;
  std::uint64_t fault_ticks = 2000;     ///< phase 1: faults on
  std::uint64_t liveness_ticks = 4000;  ///< phase 2: faults healed; all requests must finish
  NetworkFaults network;
  std::uint32_t crash_percent = 0;    ///< chance per 100 ticks that an up replica crashes
  std::uint32_t corrupt_percent = 0;  ///< chance a WAL entry of a faulty replica reads corrupt
  std::uint32_t torn_percent = 50;    ///< chance a crash tears the write in flight
  std::uint32_t storage_latency_max_ticks = 3;
  core::Options core;      ///< replica_count is set from `replicas`
  bool randomize = false;  ///< derive faults and limits from the seed
  /// The app every replica runs; the checker replays a fresh instance of it over the
  /// committed history as the model for checker (c). Null: the KV app (kv_app.hpp).
  std::unique_ptr<app::StateMachine> (*app_factory)() = nullptr;
  /// The operation bytes of a client's next request. Null: KV operations.
  std::string (*make_operation)(core::Prng& prng) = nullptr;
  bool verbose = false;
};

/// Derives a fault mix and core limits from the seed (the sweep configuration).
SimOptions random_options(std::uint64_t seed, std::uint32_t replicas, core::InjectedBug bug);

struct SimResult {
  bool ok = true;
  std::string failure;  ///< which checker failed and why
  std::string replay;   ///< the command line that replays this run
  std::uint64_t ticks = 0;
  std::uint64_t ops_committed = 0;
  std::uint64_t requests_completed = 0;
  std::uint64_t replies_checked = 0;  ///< client replies verified against the model
  std::uint64_t evictions = 0;        ///< evicted replies received by clients
  std::uint64_t state_transfers = 0;
  std::uint64_t corrupt_entries = 0;  ///< WAL entries read back corrupt on restart
  std::uint64_t max_view = 0;
  std::uint64_t view_changes = 0;
  std::uint64_t crashes = 0;
  std::uint64_t repairs = 0;
  std::uint64_t truncations = 0;
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
  /// Restarts; WAL entries at `corrupt_ops` read back corrupt; `lose_metadata` wipes the
  /// metadata (and checkpoints) so the replica's durable state is unknown.
  void restart(std::uint32_t replica, const std::set<std::uint64_t>& corrupt_ops = {},
               bool lose_metadata = false);
  /// `vsr recover-node`: replaces the durable state of the down `replica` with a copy of
  /// `source`'s durable state (as stale as the source is) and restarts it as a restored
  /// replica (DurableState::restored_view_floor: the copied views and its own last view). It
  /// stays marked, across crashes, until it is durably normal again.
  void restore_from(std::uint32_t replica, std::uint32_t source);
  /// Whether `replica` is still marked restored (it has not been durably normal since).
  bool is_restored(std::uint32_t replica) const {
    return nodes_[replica].restored_floor.has_value();
  }
  void set_network(const NetworkFaults& faults) { options_.network = faults; }
  /// Every write of `replica` takes exactly `ticks` from now on (0: back to random).
  void set_storage_latency(std::uint32_t replica, std::uint32_t ticks) {
    nodes_[replica].latency_override = ticks;
  }
  /// A paused client sends nothing (not even retries) until resumed.
  void set_client_active(std::uint32_t client, bool active) { clients_[client].paused = !active; }
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
  };

  struct PendingWrite {
    std::uint64_t complete_at;
    core::Effect effect;
  };

  /// A replica's disk: what is durable, and a FIFO of writes in flight.
  struct Disk {
    std::optional<std::string> metadata;
    std::map<std::uint64_t, std::string> wal;  ///< op -> bytes
    std::set<std::uint64_t> torn;              ///< ops whose last write was torn
    std::set<std::uint64_t> corrupt;           ///< ops reported corrupt at the last restart
    std::uint64_t head = 0;                    ///< the WAL's last op (appends go to head + 1)
    std::map<std::uint64_t, std::string> checkpoints;
    std::deque<PendingWrite> queue;
  };

  struct Node {
    std::unique_ptr<app::StateMachine> app;
    std::unique_ptr<core::Replica> replica;
    Disk disk;
    std::uint64_t polled_commit = 0;  ///< checker progress through this replica's commits
    std::uint64_t down_until = 0;
    std::uint32_t incarnation = 0;
    std::uint32_t latency_override = 0;
    std::optional<core::View> restored_floor;  ///< the RESTORED marker, while present
    std::string traced;                        ///< last state printed by trace()
  };

  struct Client {
    std::string id;
    std::uint32_t generation = 0;  ///< a new session (and client id) after each eviction
    std::uint64_t request_no = 0;  ///< of the outstanding or last request
    bool registered = false;
    std::uint64_t registered_op = 0;  ///< op of the registration that made the session
    bool outstanding = false;
    std::string operation;
    std::uint64_t sent_at = 0;
    std::uint64_t retry_at = 0;
    std::uint64_t view_hint = 0;
    std::uint32_t completed = 0;
    std::uint64_t next_at = 0;
    bool paused = false;
  };

  struct Expected {
    std::uint64_t op;
    std::string result;
  };

  void step();
  void trace();
  void deliver(const Packet& packet);
  void drain(std::uint32_t r);
  void send_packet(std::uint32_t from, std::uint32_t to, core::Bytes bytes);
  void complete_storage(std::uint32_t r);
  void apply_write(Disk& disk, const core::Effect& effect, bool torn);
  core::DurableState durable_state(std::uint32_t r, const std::set<std::uint64_t>& corrupt_ops);
  void client_tick(Client& c, std::uint32_t index);
  void client_send(Client& c, std::uint32_t index, bool broadcast);
  void on_client_message(std::uint32_t index, const core::Bytes& bytes);
  void random_faults();
  void start_liveness_phase();
  void check();
  void check_commits(std::uint32_t r);
  void advance_model();
  void check_pending_replies();
  void fail(std::string why);
  std::uint64_t realtime_ms(std::uint32_t r) const;
  std::unique_ptr<app::StateMachine> make_app() const;

  SimOptions options_;
  core::Prng prng_;
  std::uint64_t now_ = 0;
  std::uint64_t seq_ = 0;
  bool liveness_phase_ = false;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::multimap<std::pair<std::uint64_t, std::uint64_t>, Packet> network_;  ///< (at, seq)
  std::vector<std::vector<bool>> blocked_;  ///< blocked_[from][to] between replicas
  std::set<std::uint32_t> faulty_;          ///< replicas whose disks may corrupt (≤ f)

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
