#pragma once
// The VSR replica as a deterministic state machine (TigerBeetle's shape, etcd-raft's IO-free
// core). Inputs: open() once with the durable state, then tick(), on_message() and
// on_storage_done(). Output: effects (vsr/core/effects.hpp), drained with take_effects().
// No clocks, sockets, files, threads or entropy in here: time is ticks, randomness is a
// seeded Prng, and committed operations are executed directly on the app StateMachine
// because execution is pure computation.
//
// The handlers live in files by sub-protocol:
//   src/core/replica.cpp              open/restart, tick, dispatch, execution, checkpoints
//   src/core/replica_normal.cpp       §4.1 request, prepare, prepare_ok, commit
//   src/core/replica_view_change.cpp  §4.2 start_view_change, do_view_change, start_view
//   src/core/replica_repair.cpp       request_headers/headers, request_prepare, chain repair
//   src/core/replica_recovery.cpp     recovery/recovery_response: opening without metadata
// docs/vsr/protocol.md describes the protocol and names the tests that guard each rule.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/app/state_machine.hpp"
#include "vsr/core/client_table.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/core/message.hpp"
#include "vsr/core/options.hpp"
#include "vsr/core/types.hpp"

namespace vsr::core {

enum class Status : std::uint8_t {
  normal,       ///< §4.1: primary or backup of view_
  view_change,  ///< §4.2: changing to view_
  recovering,   ///< durable state unknown: never votes; asks its peers (asking()), then
                ///< waits for a StartView of its view floor
};
const char* to_string(Status status);

/// Counters for status output and tests. Rejected input is counted, never asserted on.
struct Counters {
  std::uint64_t rejected_messages = 0;  ///< failed decode/validation
  std::uint64_t dropped_messages = 0;   ///< valid but stale, foreign or not for us now
  std::uint64_t prepares_sent = 0;
  std::uint64_t ops_committed = 0;
  std::uint64_t requests_executed = 0;
  std::uint64_t view_changes_started = 0;
  std::uint64_t repairs_requested = 0;
  std::uint64_t prepares_repaired = 0;
  std::uint64_t checkpoints_written = 0;
  std::uint64_t state_transfers = 0;  ///< checkpoints installed from a peer
  std::uint64_t truncated_ops = 0;
  // Which path started each view change (their sum is view_changes_started).
  std::uint64_t view_changes_on_restart = 0;       ///< a restarted primary hands over
  std::uint64_t view_changes_primary_timeout = 0;  ///< a backup heard no primary
  std::uint64_t view_changes_abdication = 0;       ///< a primary heard no quorum
  std::uint64_t view_changes_next_view = 0;        ///< a view change timed out
  std::uint64_t view_changes_svc_quorum = 0;       ///< a quorum of StartViewChange
  std::uint64_t view_changes_followed = 0;        ///< changing views already: followed a higher one
  std::uint64_t view_changes_voted_above = 0;     ///< a StartViewChange whose sender voted above
  std::uint64_t view_changes_do_view_change = 0;  ///< a DoViewChange of a higher view
  std::uint64_t start_views_refused = 0;  ///< stale, or not for a recovering replica's floor
  std::uint64_t rejoins = 0;              ///< a recovering replica installed a StartView
  std::uint64_t rejoin_floors_cleared = 0;
  /// Unreadable slots above the primary's head, from damage at the end of the WAL, dropped
  /// on the primary's fresh StartView (Replica::drop_phantom_slots).
  std::uint64_t phantom_slots_dropped = 0;
};

/// Why a view change started (Counters).
enum class ViewChangeCause : std::uint8_t {
  restart,
  primary_timeout,
  abdication,
  next_view,
  svc_quorum,
  followed,
  voted_above,
  do_view_change,
};

class Replica {
 public:
  /// `app` must outlive the replica and be in its initial state; open() restores it.
  Replica(const Options& options, ReplicaIndex self, app::StateMachine& app, std::uint64_t seed);

  /// Starts from durable state (restart). Without metadata (a new or a wiped replica) it
  /// opens recovering and asks the other replicas for their state: new (view 0, voting) once
  /// they show that nothing ever happened, else recovering with a view floor (see
  /// DurableState). A single replica without metadata is new at once. Call once.
  void open(const DurableState& state);

  /// Advances time by one tick. `realtime_ms` is the runtime's wall clock, used only to
  /// stamp prepares (never read by the app; the stamp never goes backwards).
  void tick(std::uint64_t realtime_ms);

  /// A message from a peer replica or a client, as received. Invalid input is counted and
  /// dropped.
  void on_message(std::string_view bytes);
  void on_message(Message message);

  /// Storage effects with write id <= `write_id` are durable.
  void on_storage_done(std::uint64_t write_id);

  /// The effects produced since the last call, in order. Drivers call it after each burst
  /// of input (the messages that were waiting), so it first closes the batch of requests
  /// gathered in that burst: a primary prepares queued requests here when the pipeline has
  /// room and the batch delay is due, so that requests arriving together share one Prepare
  /// instead of each taking a free pipeline slot alone.
  std::vector<Effect> take_effects();

  // --- observation (status command, simulator checkers) ---------------------------------
  ReplicaIndex self() const { return self_; }
  Status status() const { return status_; }
  View view() const { return view_; }
  View log_view() const { return log_view_; }
  Op op() const { return op_; }
  Op commit_min() const { return commit_min_; }  ///< executed through
  Op commit_max() const { return commit_max_; }  ///< known committed through
  Op checkpoint_op() const { return checkpoint_op_; }
  bool is_primary() const { return status_ == Status::normal && primary_of(view_) == self_; }
  /// Opened without metadata and still waiting for a quorum of answers to Recovery.
  bool asking() const { return asking_; }
  /// Normal in view_, with the metadata of view_ (view and log_view) durable.
  bool is_durably_normal() const;
  ReplicaIndex primary_of(View view) const;
  const Counters& counters() const { return counters_; }
  const ClientTable& client_table() const { return clients_; }
  /// Checksum of the executed op `op`, if it is still in memory.
  std::optional<Checksum> executed_checksum(Op op) const;
  /// What this replica waits for, in a few words, when it is not simply serving: e.g.
  /// "a StartView of view 7 or later (restored)", "DoViewChange from 1 more replica",
  /// "the body of op 42 (no replica sent it yet)". Empty when normal with nothing missing.
  /// For `vsr status`: a cluster that cannot recover stalls, and says why.
  std::string waiting_for() const;
  /// One line per log slot around the commit point, for test failure messages.
  std::string debug_log(std::size_t max_slots) const;
  /// The encoded prepare at `op`, if this replica holds its body (null otherwise).
  Bytes prepare_at(Op op) const;

 private:
  /// One op of the in-memory log (ops above the last checkpoint). Who changes it: the
  /// normal path appends, the view change installs canonical headers, repair fills bodies.
  struct Slot {
    std::optional<Checksum> checksum;     ///< the canonical checksum, when known
    std::optional<PrepareHeader> header;  ///< when known (implies checksum)
    Bytes body;                           ///< encoded prepare, verified; null if missing
    bool durable = false;                 ///< body is synced in the WAL
    std::uint64_t write_id = 0;           ///< pending WAL write of body (0: none)
    bool corrupt = false;                 ///< disk had something unreadable here
    bool in_wal = false;  ///< the WAL holds (or a write in flight will hold) this body
    /// The batch of the prepare with checksum `batch_of`, kept from when it was built or
    /// received so that executing it need not decode `body` again; dropped once executed.
    /// Used only while batch_of equals `checksum`.
    std::shared_ptr<const std::vector<BatchRequest>> batch;
    Checksum batch_of;
  };

  /// The primary's bookkeeping for one uncommitted op.
  struct Inflight {
    Checksum checksum;
    std::uint32_t acks = 0;           ///< bitmask of replicas with the prepare durable
    std::uint64_t sent_tick = 0;      ///< last sent (resent every prepare_retry_ticks)
    std::uint64_t prepared_tick = 0;  ///< first sent in this view
  };

  struct DvcRecord {
    DoViewChange message;
  };

  // --- replica.cpp ---
  /// Consumes `message`: a request's strings move into the batch queue.
  void dispatch(Message& message, const Bytes& bytes);
  void emit(Effect effect);
  void send(ReplicaIndex to, const Message& message);
  void send(ReplicaIndex to, const Bytes& bytes);
  void broadcast(const Message& message);
  void broadcast(const Bytes& bytes);
  std::uint64_t next_write_id() { return ++write_id_last_; }
  void write_metadata();
  bool metadata_durable() const { return metadata_durable_id_ <= storage_done_; }
  Metadata current_metadata() const;
  std::vector<PrepareHeader> suffix_headers() const;
  void write_prepare(Slot& slot, Op op);
  void flush_wal();
  void forget_slot(Op op, Slot& slot, const Checksum& expected);
  void wal_forget_from(Op op);
  void execute_committed();
  void execute_op(Op op, std::uint64_t timestamp_ms, const std::vector<BatchRequest>& batch);
  /// The session a request names (InjectedBug::ignore_client_session: the table's own).
  Op named_session(std::string_view client_id, Op session) const;
  void maybe_checkpoint(Op op, const Checksum& checksum, std::uint64_t timestamp_ms);
  void restore(const DurableState& state);
  void load_wal(const DurableState& state);
  std::uint64_t jitter();
  void check_invariants() const;
  Slot* slot_at(Op op);
  const Slot* slot_at(Op op) const;
  Checksum checksum_below(Op op) const;

  // --- replica_normal.cpp ---
  void on_request(Request m);
  /// Consumes `m`'s batch when it extends the log.
  void on_prepare(Prepare& m, const Bytes& bytes);
  void on_prepare_ok(const PrepareOk& m);
  void on_commit(const Commit& m);
  void on_reply(const Reply& m);
  void primary_tick();
  void backup_tick();
  void flush_batch(bool force);
  void prepare_batch();
  /// How many queued requests the next prepare takes (max_batch_size, max_message_bytes).
  std::size_t batch_count() const;
  void send_prepare_ok(Op op);
  void rebuild_inflight_requests();
  void primary_count_ack(Op op, const Checksum& checksum, ReplicaIndex from);
  void advance_primary_commit();
  void advance_commit_max(Op commit);
  void send_reply(const std::string& client_id, RequestNo request_no, Op op, ReplyStatus status,
                  const std::string& result);
  void request_start_view(View view);
  /// The primary heard a message of its view from `from` (abdication, primary_tick).
  void heard_from(ReplicaIndex from);
  /// A backup's answer to the primary's Commit heartbeat, so that a primary that hears
  /// nobody can tell and abdicate.
  void answer_heartbeat(Op commit);

  // --- replica_recovery.cpp ---
  void start_asking();
  void recovery_tick();
  void on_recovery(const Recovery& m);
  void on_recovery_response(const RecoveryResponse& m);
  bool pristine() const;
  void open_as_new();

  // --- replica_view_change.cpp ---
  void on_start_view_change(const StartViewChange& m);
  void on_do_view_change(const DoViewChange& m);
  void on_start_view(const StartView& m);
  /// True iff this replica may install `m` in its current status (docs/vsr/protocol.md,
  /// "Rejoining a lower view" and "Restored replicas").
  bool start_view_acceptable(const StartView& m) const;
  void on_request_start_view(const RequestStartView& m);
  void start_view_change(View view, ViewChangeCause cause);
  void view_change_tick();
  /// True iff the slot may hold a prepare that an earlier life of this replica acknowledged
  /// and this one does not hold durably: never a nack (rejoin_floor_).
  bool maybe_acknowledged_before(const Slot& slot) const;
  void maybe_clear_rejoin_floor();
  void maybe_send_do_view_change(bool resend);
  DoViewChange make_do_view_change() const;
  void maybe_choose_log();
  void maybe_start_view();
  StartView make_start_view() const;
  void install_headers(const std::vector<PrepareHeader>& headers, Op op);
  void truncate_after(Op op);
  static bool is_phantom(const Slot& slot);
  bool only_phantoms_above(Op op) const;
  bool answers_own_request(const StartView& m) const;
  void drop_phantom_slots(const StartView& m);
  void install_canonical(Op op, const Checksum& checksum,
                         const std::optional<PrepareHeader>& header);

  // --- replica_repair.cpp ---
  void on_request_headers(const RequestHeaders& m);
  void on_headers(const Headers& m);
  void on_request_prepare(const RequestPrepare& m);
  bool accept_repair(const Prepare& m, const Bytes& bytes);
  void on_request_checkpoint(const RequestCheckpoint& m);
  void on_sync_checkpoint(const SyncCheckpoint& m);
  void verify_chain();
  void repair_tick(bool force);
  bool log_repaired() const;
  ReplicaIndex repair_peer();

  // --- configuration (never changes) ---
  Options options_;
  DecodeLimits limits_;
  ReplicaIndex self_;
  app::StateMachine& app_;
  Prng prng_;
  Bytes root_bytes_;
  PrepareHeader root_header_;

  // --- replicated protocol state ---
  Status status_ = Status::recovering;  ///< set by open(), start_view_change(), on_start_view()
  View view_;                           ///< current view; durable before DVC/SV are sent
  View log_view_;  ///< view in which the log was last installed; changes only on SV/new primary
  Op op_;          ///< head of the log: the highest op with a slot
  Op commit_min_;  ///< executed through (the app state reflects ops <= commit_min_)
  Checksum commit_min_checksum_;  ///< checksum of the prepare at commit_min_
  Op commit_max_;                 ///< known committed through (>= commit_min_)
  Op checkpoint_op_;              ///< latest durable checkpoint
  Checksum checkpoint_checksum_;
  std::map<std::uint64_t, Slot> log_;  ///< ops in [log_base, op_]; op -> slot
  Op chain_low_;  ///< lowest op such that [chain_low_, op_] is verified by the hash chain
  /// The WAL is written strictly in op order, each prepare chaining to the one below it
  /// (the storage contract: append at head + 1, rewrite in place only a corrupt entry,
  /// truncate): every op from the log base through wal_head_ is in the WAL or in flight.
  Op wal_head_;
  ClientTable clients_;
  std::uint64_t timestamp_ms_ = 0;  ///< last prepare timestamp (primary stamps monotonically)
  std::uint64_t realtime_ms_ = 0;

  // --- primary state (normal status, primary of view_) ---
  std::deque<Request> queue_;  ///< requests waiting for a batch
  std::uint64_t queue_since_tick_ = 0;
  std::map<std::uint64_t, Inflight> inflight_;  ///< uncommitted ops (commit_max_, op_]
  std::map<std::string, RequestNo, std::less<>> inflight_requests_;  ///< queued or prepared

  // --- view change state ---
  std::uint32_t svc_from_ = 0;  ///< bitmask: SVC for view_ received (incl. self)
  std::map<std::uint64_t, std::uint32_t> svc_future_;  ///< higher view -> bitmask of senders
  std::map<std::uint32_t, DoViewChange> dvcs_;         ///< new primary: DVCs for view_
  bool log_chosen_ = false;          ///< new primary: canonical log installed for view_
  bool start_view_pending_ = false;  ///< new primary: waiting for log_view metadata to sync
  bool do_view_change_sent_ = false;
  /// The highest view for which this replica sent (or may have sent) a DoViewChange; durable
  /// before the DoViewChange leaves. No view above a lower view v was ever started with this
  /// replica's log when voted_view_ <= v, so it may go back to v's StartView instead of
  /// staying out of a cluster that never followed its view changes.
  View voted_view_;
  std::vector<PrepareHeader> view_headers_;  ///< canonical suffix installed with log_view_
  std::uint64_t view_change_since_tick_ = 0;
  /// View changes started since this replica was last normal: the view-change timeout
  /// doubles with each, up to view_change_backoff_max, so that a cluster whose view changes
  /// keep failing (partitions, slow disks) spaces its attempts instead of duelling.
  std::uint32_t view_change_attempts_ = 0;
  /// Set when a recovering replica installs a StartView (on_start_view), from its floor;
  /// durable in the metadata; cleared once every slot it might have acknowledged in an
  /// earlier life is durable here (maybe_clear_rejoin_floor). While set, a slot of a view at
  /// or below it (or of unknown view) without a durable body is reported `corrupt` in a
  /// DoViewChange, never `missing`: the earlier life's PrepareOk may still count in the
  /// primary's quorum (finding 3 of #12).
  View rejoin_floor_;
  /// Sent in this incarnation's RequestStartView; a recovering replica takes a StartView of
  /// its floor view only with it (start_view_acceptable). Drawn once at open, below 2^63.
  std::uint64_t request_start_view_nonce_ = 0;

  // --- opening without metadata (replica_recovery.cpp) ---
  bool asking_ = false;  ///< waiting for answers to Recovery
  /// New by a birth decision (no informed quorum) and primary: client requests wait until
  /// f others answered while not asking (replica_recovery.cpp).
  bool birth_hold_ = false;
  std::uint64_t recovery_nonce_ = 0;  ///< of this incarnation's Recovery, below 2^63
  std::map<std::uint32_t, RecoveryResponse> recovery_answers_;  ///< sender -> latest answer
  std::uint64_t last_recovery_sent_ = 0;

  // --- durability ---
  std::uint64_t write_id_last_ = 0;        ///< last storage write id issued
  std::uint64_t storage_done_ = 0;         ///< storage durable through this write id
  std::uint64_t metadata_durable_id_ = 0;  ///< write id of the latest metadata write
  Metadata metadata_written_;              ///< the latest metadata written (maybe not yet durable)
  std::deque<std::pair<std::uint64_t, std::uint64_t>> pending_writes_;  ///< (write id, op)
  std::optional<Checkpoint> checkpoint_pending_;  ///< written, waiting for its write id
  Bytes checkpoint_bytes_;  ///< encoded latest durable checkpoint, served for state transfer
  Bytes checkpoint_pending_bytes_;
  std::uint64_t checkpoint_write_id_ = 0;
  Op checkpoint_previous_;  ///< the checkpoint before checkpoint_op_ (WAL kept above it)

  // --- timers (ticks) ---
  std::uint64_t now_ = 0;
  std::uint64_t last_primary_contact_ = 0;
  std::uint64_t primary_timeout_jitter_ = 0;
  std::uint64_t last_heartbeat_sent_ = 0;
  std::uint64_t last_view_change_send_ = 0;
  std::uint64_t last_repair_ = 0;
  std::uint64_t last_rsv_sent_ = 0;
  /// The primary: the tick at which it last heard each replica in view heard_view_ (a
  /// PrepareOk, also the answers to Commit heartbeats). It abdicates (starts a view change)
  /// when fewer than a quorum, itself included, were heard within primary_timeout_ticks:
  /// a primary that can send but not receive would otherwise keep the backups from electing
  /// another with its heartbeats, for as long as the partition lasts (finding 6 of #12).
  std::vector<std::uint64_t> heard_tick_;
  View heard_view_;

  Counters counters_;
  std::vector<Effect> effects_;

  /// The state at the last check_invariants(), for the checks of what never goes backwards.
  struct Monotonic {
    View log_view;
    View voted_view;
    Op commit_min;
    Op checkpoint_op;
  };
  mutable Monotonic checked_;
};

}  // namespace vsr::core
