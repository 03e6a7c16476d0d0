#pragma once
// The error type of the storage layer. Every operation that touches a file returns a
// Result<T, storage::Error> (or a Status); nothing here throws. The code says what the
// caller must do about it: `io` from a writer is fatal (a failed fsync leaves the page cache
// in an unknown state, so vsr never retries one), `corruption` is reported and repaired,
// `nothing_valid` stops the node and sends the operator to `vsr sync-node`.

#include <cstdint>
#include <string>

#include "vsr/base/result.hpp"

namespace vsr::storage {

/// What kind of failure an Error is.
enum class Errc : std::uint8_t {
  io,             ///< a system call failed (open, write, fsync, rename, ...), or a simulated one
  not_found,      ///< a file or directory that was asked for does not exist
  corruption,     ///< stored bytes fail their checksum or their grammar
  nothing_valid,  ///< no valid copy of the metadata or the checkpoint remains
};

/// A failure: its kind and a message naming the file and the reason.
struct Error {
  Errc code = Errc::io;
  std::string message;  ///< e.g. "cannot fsync /n/wal-...log: Input/output error"
};

/// The result of an operation that returns nothing on success.
using Status = Result<void, Error>;

/// A short English name for `code`, e.g. "I/O error".
const char* describe(Errc code);

}  // namespace vsr::storage
