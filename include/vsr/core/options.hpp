#pragma once
// Every limit and timeout of the consensus core, in one place. The runtime fills it from
// cluster.tnet; the simulator from its seed. All replicas of a cluster must use the same
// replica_count, max_pipeline_depth and checkpoint_interval: the view change reasons about
// "at most max_pipeline_depth uncommitted ops past the commit point" (docs/vsr/protocol.md, *View
// change*).

#include <cstddef>
#include <cstdint>

namespace vsr::core {

/// Deliberately wrong protocol behaviour, for proving that the simulator's checkers catch
/// real bugs. Never set outside tests (tests/sim/injected_bugs_test.cpp).
enum class InjectedBug : std::uint8_t {
  none,
  prepare_ok_before_durable,   ///< a backup acknowledges before its WAL write completes
  quorum_too_small,            ///< replication quorum is one less than a majority
  shortest_log_wins,           ///< the new primary picks the log with the lowest op
  ignore_log_view,             ///< the new primary compares logs by op only
  execute_before_commit,       ///< a backup executes prepares as soon as they are written
  forget_client_table,         ///< the client table is not part of the checkpoint/restore
  wiped_replica_votes_as_new,  ///< a replica without metadata opens as new (or rejoins any view)
  recovery_trusts_asking,      ///< it decides on any f + 1 answers, asking replicas' included
  /// A replica rejoining a lower view takes a StartView of its own log_view that ends below
  /// ops it acknowledged (a delayed one), and truncates them.
  rejoin_stale_start_view,
  /// A recovering replica that installed a StartView nacks the slots it holds only as
  /// headers, although its earlier life may have acknowledged them.
  rejoined_replica_nacks,
  /// A recovering replica takes any StartView of its floor view, also one made before it
  /// restarted (no nonce check).
  recovering_takes_stale_start_view,
  /// A recovering replica whose floor is above the cluster's view never pushes the cluster
  /// up to it (a liveness bug: it waits forever).
  recovering_never_pushes_floor,
  /// A primary that hears no quorum never abdicates (a liveness bug under partitions that
  /// let it send but not receive).
  primary_never_abdicates,
  /// The quorum is (n-1)/2 + 1, the old formula: a majority for odd n, exactly half of an even
  /// n, so two quorums of an even-sized cluster need not intersect (issue 12, finding 1).
  minority_quorum_for_even_sizes,
  /// A storage decision, not the core's: on open, damage at the end of the WAL is cut as a
  /// torn write even when the last record was written whole (storage::WalOptions::
  /// bug_corrupt_tail_is_torn). The core ignores it; the simulator hands it to storage.
  corrupt_tail_is_torn,
  /// The client table ignores the session a request names (as before session numbers): a
  /// request of an earlier session of a client id, replayed or retried after the id was
  /// evicted and registered again, executes a second time (issue 13, finding 3).
  ignore_client_session,
};

struct Options {
  std::uint64_t cluster_id = 0;
  std::uint32_t replica_count = 3;  ///< 1..max_replicas

  // Normal operation (§4.1, §6 batching).
  std::uint32_t max_batch_size = 16;  ///< requests per Prepare
  /// Wait for more requests at most this long; 0: close the batch at the end of each burst
  /// of input (take_effects()).
  std::uint32_t max_batch_delay_ticks = 1;
  std::uint32_t max_pipeline_depth = 8;  ///< uncommitted prepares in flight
  /// false (adaptive batching): a partial batch waits until no prepare is in flight, so a
  /// loaded primary packs everything that arrived during one round trip into the next
  /// prepare, and only full batches fill the rest of the pipeline; an idle primary still
  /// prepares a lone request at once. true: every batch takes a free pipeline slot as soon
  /// as it is due (more, smaller prepares; the simulator runs both).
  bool eager_partial_batches = false;
  std::uint32_t max_request_queue = 256;  ///< requests waiting for a batch (then dropped)
  std::uint32_t max_operation_bytes = 64 * 1024;
  std::uint32_t client_table_size = 64;  ///< sessions; the least recently committed is evicted

  // Checkpoints (§5): every checkpoint_interval ops the app state and client table are saved.
  std::uint64_t checkpoint_interval = 64;

  // Timeouts, in ticks.
  std::uint32_t commit_heartbeat_ticks = 10;     ///< primary sends Commit at least this often
  std::uint32_t prepare_retry_ticks = 20;        ///< primary resends unacknowledged prepares
  std::uint32_t primary_timeout_ticks = 60;      ///< backup hears nothing → StartViewChange
  std::uint32_t view_change_timeout_ticks = 80;  ///< view change not done → next view;
                                                 ///< doubles per failed attempt, see below
  std::uint32_t timeout_jitter_ticks = 40;       ///< seeded jitter added to the two above
  std::uint32_t view_change_resend_ticks = 15;   ///< resend SVC/DVC while changing views
  std::uint32_t repair_retry_ticks = 8;          ///< re-request missing headers/prepares

  // Message bounds.
  std::uint32_t max_headers_per_message = 64;
  std::uint32_t max_message_bytes = 16 * 1024 * 1024;

  InjectedBug bug = InjectedBug::none;  ///< test-only switch, see InjectedBug

  static constexpr std::uint32_t max_replicas = 16;
  /// The view-change timeout doubles with each view change that did not complete, at most
  /// this many times (x8).
  static constexpr std::uint32_t view_change_backoff_max = 3;
  static constexpr std::size_t max_client_id_bytes = 64;

  /// f: the number of faulty replicas tolerated, (n-1)/2. An even n = 2f + 2 tolerates no
  /// more than 2f + 1 does: with f replicas down, the f + 2 left are exactly a quorum.
  std::uint32_t faults_tolerated() const { return (replica_count - 1) / 2; }
  /// Replicas that must have a prepare durable before it commits (and votes for a view): a
  /// majority, n/2 + 1, so that any two quorums intersect for every n (f + 1 for odd n, f + 2
  /// for even n). Used for replication, view-change votes and nacks alike.
  std::uint32_t quorum() const {
    std::uint32_t q = replica_count / 2 + 1;
    if (bug == InjectedBug::minority_quorum_for_even_sizes) q = (replica_count - 1) / 2 + 1;
    if (bug == InjectedBug::quorum_too_small && q > 1) q -= 1;
    return q;
  }
};

}  // namespace vsr::core
