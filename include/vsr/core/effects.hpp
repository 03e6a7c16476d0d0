#pragma once
// The core's output: effects the runtime (or the simulator) executes, and the durable
// state it hands back on restart. This is the seam between the pure core and storage/IO.
//
// Contract for whoever executes effects:
//  - Sends may be executed immediately and in any order; they may be lost. The core emits
//    a send that depends on durable state (PrepareOk, DoViewChange, StartView, Reply) only
//    after the storage completion that made that state durable has been reported to it.
//  - Storage effects (WritePrepare, TruncateWal, WriteMetadata, WriteCheckpoint,
//    ReleaseWal) carry increasing write ids and must become durable in issue order. The
//    runtime reports progress with Replica::on_storage_done(id): everything with a write id
//    <= id is durable (synced). Several writes may share one fsync.
//  - A crash loses any storage effect whose completion was not reported; the last one in
//    flight may be torn (report it as WalEntryState::torn on restart).

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/core/message.hpp"
#include "vsr/core/types.hpp"

namespace vsr::core {

/// The durable replica state besides the WAL (VR Revisited §4.2 view/log_view, plus the
/// canonical log suffix of log_view so that a restart cannot mistake a stale WAL tail for
/// its log).
struct Metadata {
  View view;
  View log_view;  ///< the view in which the log was last installed (normal status)
  Op commit;      ///< highest op known committed when written (a hint)
  Op checkpoint_op;
  Checksum checkpoint_checksum;             ///< checksum of the prepare at checkpoint_op
  std::vector<PrepareHeader> view_headers;  ///< canonical suffix of the log in log_view
  /// The highest view for which a DoViewChange may have been sent: the replica never goes
  /// back to a view below it (Replica::on_start_view).
  View voted_view;
  /// The view floor this replica rejoined with after it was restored, wiped or lost its
  /// metadata (0: never). An earlier life of it may have acknowledged any prepare of a view
  /// at or below the floor, so such a slot is never a nack while its body is not durable
  /// here (docs/vsr/protocol.md, "Restored replicas").
  View rejoin_floor;

  friend bool operator==(const Metadata&, const Metadata&) = default;
};

std::string encode_metadata(std::uint64_t cluster_id, const Metadata& metadata);
Result<Metadata, std::string> decode_metadata(std::string_view bytes, std::uint64_t cluster_id);

/// A checkpoint: the app state and the client table after executing `op` (§5).
struct Checkpoint {
  Op op;
  Checksum checksum;  ///< of the prepare at op
  /// The primary's stamp on the prepare at op: a replica restarted or synced from this
  /// checkpoint never stamps a later prepare below it (docs/vsr/protocol.md, *Normal operation*).
  std::uint64_t timestamp_ms = 0;
  std::string app_snapshot;
  std::string client_table;
};

std::string encode_checkpoint(std::uint64_t cluster_id, const Checkpoint& checkpoint);
Result<Checkpoint, std::string> decode_checkpoint(std::string_view bytes, std::uint64_t cluster_id);

struct SendToReplica {
  ReplicaIndex to;
  Bytes message;
};

struct SendToClient {
  std::string client_id;
  Bytes message;
};

/// Writes the encoded prepare for `op` into the WAL. The core writes in op order: `op` is
/// the WAL head + 1 (an append, chaining to the head), or an op whose entry was reported
/// corrupt on open (a rewrite in place); it truncates before it writes anything else.
struct WritePrepare {
  std::uint64_t write_id = 0;
  Op op;
  Checksum checksum;
  Bytes message;  ///< the same bytes that are sent to the backups
};

/// Forgets every WAL entry above `op` (a view change truncated the log, or a stale entry
/// is replaced). When `op` is above the WAL head (after a state transfer installed the
/// checkpoint of `op`, written before this), the WAL continues at op + 1.
struct TruncateWal {
  std::uint64_t write_id = 0;
  Op op;
};

struct WriteMetadata {
  std::uint64_t write_id = 0;
  Metadata metadata;
  Bytes encoded;
};

struct WriteCheckpoint {
  std::uint64_t write_id = 0;
  Op op;
  Bytes encoded;  ///< encode_checkpoint()
};

/// WAL entries at or below `op` are no longer needed (a later checkpoint is durable).
struct ReleaseWal {
  std::uint64_t write_id = 0;
  Op op;
};

using Effect = std::variant<SendToReplica, SendToClient, WritePrepare, TruncateWal, WriteMetadata,
                            WriteCheckpoint, ReleaseWal>;

/// Returns the storage write id of a storage effect, or nullopt for a send.
std::optional<std::uint64_t> write_id_of(const Effect& effect);

enum class WalEntryState : std::uint8_t {
  intact,   ///< read back whole; the core still verifies its checksums
  torn,     ///< the tail write a crash interrupted: it never completed, so never acked
  corrupt,  ///< a slot that was written but cannot be read: maybe acked, repair from peers
};

struct WalEntry {
  Op op;
  WalEntryState state = WalEntryState::intact;
  Bytes bytes;  ///< null unless intact
};

/// What storage hands the core on start. Without metadata (an empty directory, new or
/// wiped, or a WAL whose metadata is gone) the replica cannot know what it voted for: it
/// drops the WAL, opens in status recovering and asks the others before it votes (new in
/// view 0 if every answer shows nothing ever happened, else like a restored replica with
/// the highest view they voted in as its floor; docs/vsr/protocol.md, "Replicas without
/// metadata"). A single replica (n = 1) without metadata is new at once.
struct DurableState {
  std::optional<Metadata> metadata;
  std::optional<Checkpoint> checkpoint;
  std::vector<WalEntry> wal;
  /// Set when this state was copied from another replica, wiped or restored (the node
  /// directory's RESTORED marker): the replica may have forgotten prepares it acknowledged
  /// and votes it cast. It opens in status recovering (never votes or acknowledges) and
  /// leaves it only on a StartView of this view or a later one (docs/vsr/protocol.md,
  /// "Restored replicas").
  std::optional<View> restored_view_floor;
};

}  // namespace vsr::core
