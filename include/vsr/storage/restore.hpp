#pragma once
// Restored replicas: the RESTORED marker, and `vsr recover-node`'s copy of one replica's
// directory over another's.
//
// A replica whose state was copied from another replica may have "forgotten" prepares it
// acknowledged itself, or promises it made in a view change (docs/vsr/protocol.md, "Restored
// replicas"). If it voted as if its log were its own, the cluster could lose a committed operation.
// So the copy leaves a marker in the directory, RESTORED, for the replica to read on start: a
// marked replica must not vote until a StartView of a view at least view_floor() has given it the
// cluster's log, and clears the marker then (ReplicaDisk::open reads it into
// DurableState::restored_view_floor; docs/vsr/storage.md, "Restored replicas", also has the
// marker's grammar and the restore procedure).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/storage/env.hpp"
#include "vsr/storage/error.hpp"

namespace vsr::storage {

/// The marker's file name inside a node directory.
inline constexpr std::string_view restored_file_name = "RESTORED";

/// What the RESTORED marker records. Only its presence is a rule for the core; the fields
/// tell the core how far it must catch up, and the operator where the state came from.
struct RestoredMarker {
  std::string source_node;                 ///< the node whose directory was copied
  std::uint32_t source_replica = 0;        ///< its replica index
  std::uint32_t replica = 0;               ///< the index of the replica restored
  std::uint64_t source_view = 0;           ///< highest view the copy promised in (promised_view)
  std::uint64_t source_log_view = 0;       ///< log_view in the copied metadata
  std::uint64_t source_commit = 0;         ///< commit in the copied metadata
  std::uint64_t source_checkpoint_op = 0;  ///< checkpoint_op in the copied metadata
  /// The view in the replaced directory's own newest valid metadata (0: it had none). The
  /// restored replica may have promised something in that view; the copy does not know.
  std::uint64_t previous_view = 0;
  std::uint64_t copied_at_ms = 0;  ///< wall clock, Unix milliseconds; for the operator only

  /// The highest view the restored replica may have taken part in before or through the
  /// copy: it must not vote before a StartView of this view or a later one.
  std::uint64_t view_floor() const;

  friend bool operator==(const RestoredMarker&, const RestoredMarker&) = default;
};

/// The marker file's bytes (a sealed file, like the metadata copies).
std::string encode_restored_marker(const RestoredMarker& marker);
/// Decodes marker bytes; Errc::corruption with the reason when they are not a marker.
Result<RestoredMarker, Error> decode_restored_marker(std::string_view bytes);

/// Returns true iff the node directory `dir` holds a RESTORED marker. Fails safe: a marker
/// that cannot be read or decoded, or a directory whose state cannot be determined, also
/// counts as restored (the cost is a replica that waits to catch up before voting; the
/// other way round the cost could be a lost commit). Only "the file does not exist" is
/// false.
bool was_restored(Env& env, const std::string& dir);

/// The marker in `dir`: nullopt when there is none; Errc::corruption when present but not
/// decodable (it still counts as restored, see was_restored); Errc::io when unreadable.
Result<std::optional<RestoredMarker>, Error> read_restored(Env& env, const std::string& dir);

/// Writes the marker into `dir` atomically and durably (temporary file, fdatasync, rename,
/// directory fsync).
Status write_restored(Env& env, const std::string& dir, const RestoredMarker& marker);

/// Removes the marker from `dir` durably (directory fsync). No marker is fine. The core
/// calls this once the replica has caught up; after it, a crash restarts the replica as an
/// ordinary one.
Status clear_restored(Env& env, const std::string& dir);

// --- vsr recover-node --------------------------------------------------------------------

/// What recover-node asks for. Names are config node names, already validated and
/// distinct; indexes are their replica indexes.
struct RestoreRequest {
  std::filesystem::path nodes_dir;  ///< the cluster's nodes/ directory
  std::string target;               ///< the node restored (NAME)
  std::uint32_t target_replica = 0;
  std::string source;  ///< the node copied (SRC)
  std::uint32_t source_replica = 0;
  std::string cluster_id;  ///< the cluster id the copied metadata must carry (hex text)
  bool force = false;      ///< replace a target directory that holds data
};

/// Why recover-node refused or failed.
struct RestoreError {
  enum class Kind : std::uint8_t {
    refused,      ///< the request cannot be done as asked (target has data, source empty or
                  ///< of another replica); nothing changed
    running,      ///< a node directory is locked: that node is running; nothing changed
    environment,  ///< the OS failed, or the source's state is unusable (damaged)
  };
  Kind kind = Kind::environment;
  std::string message;
};

/// What recover-node did.
struct RestoreOutcome {
  std::vector<std::string> files;  ///< the names copied, sorted
  std::uint64_t bytes = 0;         ///< bytes copied
  bool replaced_data = false;      ///< the target directory held data, now removed
  RestoredMarker marker;           ///< as written into the target
};

/// Replaces nodes/<target> with a copy of nodes/<source> (POSIX only; not through an Env:
/// it needs directory locks and an atomic directory exchange). Holds both directories'
/// locks throughout, so neither node can start meanwhile. Copies every regular file of the
/// source except LOCK, RESTORED and *.tmp into nodes/.<target>.restore.tmp, fsyncing each;
/// rewrites both metadata copies of the copy with the target's replica index (the runtime
/// refuses a directory of another replica index); writes the RESTORED marker; fsyncs the
/// directory; then exchanges it with nodes/<target> in one rename (renameat2
/// RENAME_EXCHANGE, or two renames where the file system lacks it), fsyncs nodes/, and
/// removes the old contents. The source is only read (its LOCK file gets this process's
/// pid while it is held).
/// Refuses (`refused`) when the source holds no replica state or belongs to another cluster
/// or replica, or the target holds data and !force; `running` when either directory is
/// locked, naming the holder's pid when it recorded one.
Result<RestoreOutcome, RestoreError> restore_from_replica(const RestoreRequest& request);

// --- vsr sync-node -----------------------------------------------------------------------

/// A node directory being rebuilt beside itself and swapped in (vsr sync-node): the same
/// locks, temporary directory, marker and atomic exchange as restore_from_replica(), with
/// the contents written by the caller between begin() and commit().
class NodeDirReplacement {
 public:
  /// Locks nodes/<target> when it exists (`running` when it is locked), refuses
  /// (`refused`) when it holds data and !force, removes the leftovers of an interrupted
  /// restore, and creates the empty nodes/.<target>.restore.tmp with its own LOCK held.
  /// Creates nodes/ (0700) when it is missing.
  static Result<NodeDirReplacement, RestoreError> begin(const std::filesystem::path& nodes_dir,
                                                        const std::string& target, bool force);

  NodeDirReplacement(NodeDirReplacement&&) noexcept;
  NodeDirReplacement& operator=(NodeDirReplacement&&) noexcept;
  NodeDirReplacement(const NodeDirReplacement&) = delete;
  NodeDirReplacement& operator=(const NodeDirReplacement&) = delete;
  /// Removes the temporary directory unless commit() succeeded; releases the locks.
  ~NodeDirReplacement();

  /// The directory to fill (it holds only LOCK when begin() returns).
  const std::filesystem::path& copy_dir() const;
  /// The target held data (it is replaced by commit()).
  bool replaces_data() const;
  /// The view in the target's own newest valid metadata; 0 when it had none.
  std::uint64_t previous_view() const;

  /// Writes `marker` into the copy, fsyncs the copy and nodes/, exchanges the copy with
  /// nodes/<target> in one rename (as restore_from_replica()), and removes the old
  /// contents. Once it returns ok the target is the copy, marker included.
  Result<void, RestoreError> commit(const RestoredMarker& marker);

 private:
  struct State;
  explicit NodeDirReplacement(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vsr::storage
