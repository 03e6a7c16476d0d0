#pragma once
// The replica's durable metadata (view, log_view, commit, checkpoint op, identity, and the
// consensus core's own metadata as opaque bytes) in two copies, metadata.0 and metadata.1. Each
// write goes to the copy that does not hold the newest valid version, with a higher sequence
// number, so a torn or failed write damages at most the older copy and one valid copy always
// remains. Reads take the valid copy with the highest sequence. Grammar and reasoning:
// docs/vsr/storage.md.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "vsr/storage/env.hpp"

namespace vsr::storage {

/// The state a replica must not forget across a crash (VRR §4 with a durable log: view and
/// log_view are written before the messages that depend on them are sent).
struct Metadata {
  std::string cluster_id;           ///< the cluster this directory belongs to (opaque bytes)
  std::uint32_t replica = 0;        ///< this replica's index in the configuration
  std::uint64_t view = 0;           ///< the highest view this replica took part in
  std::uint64_t log_view = 0;       ///< the view in which its log was last normal
  std::uint64_t commit = 0;         ///< the highest op it knows to be committed
  std::uint64_t checkpoint_op = 0;  ///< the op of the newest durable checkpoint (0: none)
  /// The consensus core's metadata (core::encode_metadata: the fields above as the core
  /// sees them, plus the canonical view headers, the voted view and the checkpoint's
  /// checksum), opaque here; empty until the core first wrote its metadata. At most
  /// core_bytes_max bytes.
  std::string core;
  std::uint64_t sequence = 0;  ///< set by MetadataStore; the higher copy is newer

  friend bool operator==(const Metadata&, const Metadata&) = default;
};

/// The highest view in which the replica that wrote `metadata` may have acknowledged a
/// prepare or sent a DoViewChange: max(log_view, voted_view) of the core's metadata. A view
/// that rose alone on a timeout is no promise, so it does not count. When the core's part
/// is empty or unreadable, max(view, log_view) (never lower than the truth).
std::uint64_t promised_view(const Metadata& metadata);

/// The state of one stored copy (of metadata or of a checkpoint).
enum class CopyStatus : std::uint8_t {
  valid,       ///< decodes and its checksum verifies
  corrupt,     ///< present but fails its checksum or grammar
  missing,     ///< the file does not exist
  unreadable,  ///< the read itself failed (I/O error)
};

/// One copy as load() found it.
struct CopyState {
  std::string file;  ///< file name
  CopyStatus status = CopyStatus::missing;
  std::string problem;         ///< why it is not valid
  std::uint64_t sequence = 0;  ///< valid copies only
};

/// What MetadataStore::load() found.
struct MetadataLoad {
  std::optional<Metadata> newest;  ///< the valid copy with the highest sequence
  std::array<CopyState, 2> copies;

  /// Returns true iff at least one copy file exists (valid or not).
  bool any_present() const;
};

/// Reads and writes the two metadata copies of one node directory. Not thread-safe.
class MetadataStore {
 public:
  static constexpr std::size_t copy_count = 2;
  /// The largest Metadata::core. The core's metadata holds at most 1024 view headers
  /// (core::decode_metadata refuses more), each under 512 bytes encoded, plus a few
  /// integers; ReplicaDiskTest.TheLargestMetadataTheCoreDecodesFitsACopy writes the largest
  /// the core can decode.
  static constexpr std::size_t core_bytes_max = std::size_t{1024} * 512 + 1024;
  /// The largest metadata file a load reads: the fields, the seal and Metadata::core.
  static constexpr std::size_t file_bytes_max = 4096 + core_bytes_max;

  /// REQUIRES: `env` outlives this store; `dir` exists.
  MetadataStore(Env& env, std::string dir);

  /// Reads both copies and remembers the newest valid one (the base of the next write).
  /// Deletes leftover temporary files of an interrupted format(). A copy that cannot be
  /// read is reported in its CopyState; an error only when the directory cannot be listed
  /// or a leftover cannot be deleted.
  Result<MetadataLoad, Error> load();
  /// Creates both copies of a brand new node, each atomically (temporary file, fdatasync,
  /// rename, directory fsync), so a crash leaves either no copy or a valid one.
  Status format(const Metadata& initial);
  /// Durably writes `metadata` with the next sequence number into the copy that does not
  /// hold the newest valid version. REQUIRES: load() found a valid copy, or format() ran.
  Status write(const Metadata& metadata);
  /// The newest valid metadata (with its sequence). REQUIRES: has_current().
  const Metadata& current() const;
  bool has_current() const { return current_.has_value(); }

  /// The file name of copy `index`.
  static std::string file_name(std::size_t index);

 private:
  Status write_copy(std::size_t index, const Metadata& metadata);

  Env* env_;
  std::string dir_;
  std::optional<Metadata> current_;
  std::size_t current_copy_ = 0;  // which copy holds current_
};

}  // namespace vsr::storage
