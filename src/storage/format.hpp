#pragma once
// The byte formats of the storage files (private to vsr_storage). Every file is made of
// tnetstrings, written so that the encoder never has to move a large payload: a dict's
// length prefix is computed up front, then the small fields are encoded with the codec and
// the one large field (a WAL body, a checkpoint blob) is copied once, last.
// The grammars are in docs/vsr/storage.md; the decoder here is the codec's.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vsr/storage/checksum.hpp"

namespace vsr::storage::format {

// ---------------------------------------------------------------------------------------
// WAL records: 4:op,N#  6:parent,16:...,  8:checksum,16:...,  4:body,L:...,  in a dict.

/// A record's checksum: XXH3-128 over the op (8 bytes, little-endian) and the body, so a
/// flipped op number fails like a flipped body. The parent is deliberately outside it: a
/// record's identity is then the same on every replica and after any repair, whatever was
/// known of its predecessor when it was written; a damaged parent shows as a broken link.
Checksum record_checksum(std::uint64_t op, std::string_view body);

/// The exact encoded size of a record for `op` with a body of `body_bytes`.
std::size_t record_size(std::uint64_t op, std::size_t body_bytes);

/// Appends the record to `out`; returns its checksum.
Checksum append_record(std::string& out, std::uint64_t op, const Checksum& parent,
                       std::string_view body);

/// A record read back; `body` views the parsed input.
struct RecordView {
  std::uint64_t op = 0;
  Checksum parent;
  Checksum checksum;
  std::string_view body;
};

/// What lies at the front of some bytes.
enum class Parse : std::uint8_t {
  valid,     ///< a record whose fields and checksum verify
  damaged,   ///< one well-formed tnetstring (its length is known) that is not a valid record
  unframed,  ///< no complete tnetstring: cut short, garbage, or a length over the limits
};

struct Parsed {
  Parse kind = Parse::unframed;
  std::size_t length = 0;  ///< bytes of the tnetstring (valid and damaged)
  RecordView record;       ///< valid only
};

/// Parses the record at the front of `data`, believing no body over `body_bytes_max`.
Parsed parse_record(std::string_view data, std::size_t body_bytes_max);

/// Returns true iff `data` is a proper prefix of the record this WAL would write for `op`
/// with some body of at most `body_bytes_max` bytes: every byte present is what the encoder
/// writes there (lengths, keys, tags, and the outer length consistent with the op and the
/// body length), and `data` ends before the record's terminating "}". Checksums are not
/// checked (they are not all there). This is what a write cut short by a crash leaves when
/// what follows it is zeros or the end of the file; a complete record with bytes flipped is
/// never such a prefix (its terminator is present, or its lengths disagree).
bool is_cut_short_record(std::string_view data, std::uint64_t op, std::size_t body_bytes_max);

/// The first offset at or after `from` where a valid record for an op in [lo, hi] starts,
/// or nullopt. This is how a scan finds its footing again after damaged framing.
std::optional<std::size_t> find_record(std::string_view data, std::size_t from, std::uint64_t lo,
                                       std::uint64_t hi, std::size_t body_bytes_max);

// ---------------------------------------------------------------------------------------
// Sealed files (metadata and checkpoint copies): a dict of 8:checksum,16:...,  4:body,L:...,
// where the checksum is XXH3-128 of the body bytes and the body is itself a tnetstring.

/// Appends to `out` the dict holding the already encoded `fields` (key/value tnetstrings)
/// followed by the entry `last_key` -> bytes `last_value`.
void append_dict(std::string& out, std::string_view fields, std::string_view last_key,
                 std::string_view last_value);

/// The sealed form of `body`.
std::string seal(std::string_view body);

/// The body of a sealed file, or why it is not one. `body_bytes_max` bounds what is read.
struct Unsealed {
  std::string_view body;
  std::string problem;  ///< empty iff the seal verified
};
Unsealed unseal(std::string_view file, std::size_t body_bytes_max);

// ---------------------------------------------------------------------------------------
// File names.

/// Returns true iff `name` ends with ".tmp" (a leftover of an interrupted atomic write).
bool is_temp_name(std::string_view name);

/// "wal-" + the first op in 20 zero-padded digits + ".log".
std::string segment_name(std::uint64_t first_op);
/// The first op named by a segment file name, or nullopt when `name` is not one.
std::optional<std::uint64_t> parse_segment_name(std::string_view name);

}  // namespace vsr::storage::format
