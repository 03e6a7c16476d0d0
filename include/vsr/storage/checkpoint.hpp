#pragma once
// Checkpoints: an opaque blob (the app snapshot and the client table, encoded by the core)
// with the op it reflects, in two or more copies checkpoint.0, checkpoint.1, ... Each copy
// is written to a temporary file, fdatasynced, renamed over the copy and its directory
// fsynced before the next copy is touched, so at every instant each copy file is a whole,
// checksummed old or new checkpoint. Reads take the newest valid copy (by op, then by
// sequence) and report which copies were damaged. Grammar: docs/vsr/storage.md.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/storage/checksum.hpp"
#include "vsr/storage/env.hpp"
#include "vsr/storage/metadata.hpp"

namespace vsr::storage {

/// A durable snapshot of the state machine after op `op`.
struct Checkpoint {
  std::uint64_t op = 0;        ///< the last op the snapshot includes
  std::uint64_t sequence = 0;  ///< set by CheckpointStore; breaks ties between equal ops
  Checksum checksum;           ///< XXH3-128 of `blob`: the checkpoint's identity
  std::string blob;            ///< opaque to storage

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

/// What CheckpointStore::load() found.
struct CheckpointLoad {
  std::optional<Checkpoint> newest;  ///< the valid copy with the highest (op, sequence)
  std::vector<CopyState> copies;     ///< one per copy, in copy order

  /// Returns true iff at least one copy file exists (valid or not).
  bool any_present() const;
};

/// Reads and writes the checkpoint copies of one node directory. Not thread-safe.
class CheckpointStore {
 public:
  /// REQUIRES: `env` outlives this store; `dir` exists; copies >= 2.
  CheckpointStore(Env& env, std::string dir, std::size_t copies = 2,
                  std::size_t blob_bytes_max = std::size_t{1} << 30);

  /// Reads every copy; remembers the highest sequence for the next write. Deletes leftover
  /// temporary files of an interrupted write(). Errors as MetadataStore::load().
  Result<CheckpointLoad, Error> load();
  /// Durably writes a checkpoint of `op` into every copy, one after the other.
  /// REQUIRES: blob.size() <= blob_bytes_max.
  Status write(std::uint64_t op, std::string_view blob);

  /// The file name of copy `index`.
  static std::string file_name(std::size_t index);

 private:
  Env* env_;
  std::string dir_;
  std::size_t copies_;
  std::size_t blob_bytes_max_;
  std::uint64_t sequence_ = 0;  // the highest sequence seen or written
};

}  // namespace vsr::storage
