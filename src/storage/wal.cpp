// The WAL. The reasoning behind each rule, and the grammar, are in docs/vsr/storage.md.
//
// In memory the Wal keeps one Slot per op from the first scanned segment to the durable
// head: where the op's bytes are and whether they verified. Scans, repairs and truncations
// all go through that index, so that the answer to "is op N on this disk?" is the same one
// the recovery scan gave, updated by every write since.
//
// The one judgement call is the torn tail. A crash in the middle of a write can only damage
// the end of the last segment (a segment is closed only after everything in it was synced),
// so damage there with no sound record after it may be a torn write. It is cut off only
// when its bytes are the front of the next record and nothing else (is_torn_write): a write
// that never completed was never acknowledged. A last record that was written whole and
// then damaged by the medium is not such a prefix, and neither is damage with a sound
// record after it, or in an earlier segment: those bytes were synced and then went bad, the
// ops there may be committed, and they are reported corrupt for the core to repair from its
// peers (truncating on a checksum failure is the classic way to lose acknowledged data:
// docs/vsr/storage.md, "Scanning").

#include "vsr/storage/wal.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "format.hpp"
#include "vsr/base/assert.hpp"

namespace vsr::storage {
namespace {

constexpr std::uint64_t op_max =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// The unit in which a segment that fails to read is read again (a disk sector).
constexpr std::size_t unreadable_sector_bytes = 512;

Error corruption(std::string message) {
  return Error{Errc::corruption, std::move(message)};
}

const char* status_name(RecordStatus status) {
  switch (status) {
    case RecordStatus::ok:
      return "ok";
    case RecordStatus::corrupt:
      return "corrupt";
    case RecordStatus::missing:
      return "missing";
  }
  return "?";
}

}  // namespace

const WalEntry* WalScan::find(std::uint64_t op) const {
  if (entries.empty() || op < entries.front().op || op > entries.back().op) return nullptr;
  return &entries[op - entries.front().op];
}

std::vector<std::uint64_t> WalScan::ops_with(RecordStatus status) const {
  std::vector<std::uint64_t> ops;
  for (const WalEntry& entry : entries) {
    if (entry.status == status) ops.push_back(entry.op);
  }
  return ops;
}

Wal::Wal(Env& env, std::string dir, const WalOptions& options)
    : env_(&env), dir_(std::move(dir)), options_(options) {
  VSR_ASSERT_MSG(options_.segment_bytes_max > 0, "WAL segments need room for a record");
}

Wal::Wal(Wal&&) noexcept = default;
Wal& Wal::operator=(Wal&&) noexcept = default;
Wal::~Wal() = default;

std::string Wal::segment_name(std::uint64_t first_op) {
  return format::segment_name(first_op);
}

std::string Wal::path_of(std::uint64_t segment_first_op) const {
  return join(dir_, segment_name(segment_first_op));
}

Result<OpenedWal, Error> Wal::open(Env& env, std::string dir, const WalOptions& options,
                                   std::uint64_t first_op) {
  VSR_ASSERT(first_op >= 1 && first_op <= op_max);
  Wal wal(env, std::move(dir), options);
  auto names = env.list_dir(wal.dir_);
  if (!names) return fail(std::move(names).error());
  bool removed_temp = false;
  for (const std::string& name : *names) {
    if (name.starts_with("wal-") && format::is_temp_name(name)) {
      // An interrupted repair: the segment it was rewriting is still whole.
      if (auto removed = env.remove(join(wal.dir_, name)); !removed) return fail(removed.error());
      removed_temp = true;
    } else if (const auto segment_first = format::parse_segment_name(name)) {
      // Names are zero-padded, so list order is op order.
      wal.segments_.push_back(Segment{*segment_first, 0, *segment_first - 1});
    }
  }
  if (removed_temp) {
    if (auto synced = env.sync_dir(wal.dir_); !synced) return fail(synced.error());
  }
  WalScan scan;
  scan.first_op = first_op;
  if (auto scanned = wal.scan_all(first_op, scan); !scanned) return fail(scanned.error());
  return OpenedWal{std::move(wal), std::move(scan)};
}

// Reads every segment that can hold first_op - 1 (the record the first reported op chains
// to) or later, builds the slots, cuts a torn tail, and fills `scan`.
Status Wal::scan_all(std::uint64_t first_op, WalScan& scan) {
  const std::uint64_t anchor = first_op > 1 ? first_op - 1 : 1;
  std::size_t start = 0;
  for (std::size_t k = 0; k < segments_.size(); ++k) {
    if (segments_[k].first_op <= anchor) start = k;
  }
  // Segments wholly below the anchor are not read: all their ops are below their
  // successor's first op.
  for (std::size_t k = 0; k < start; ++k) segments_[k].last_op = segments_[k + 1].first_op - 1;

  slots_first_op_ = segments_.empty() ? first_op : std::min(segments_[start].first_op, first_op);
  const std::size_t read_max =
      options_.segment_bytes_max + format::record_size(op_max, options_.body_bytes_max);
  std::vector<std::pair<std::uint64_t, std::string>> bodies;  // sound records >= first_op
  for (std::size_t k = start; k < segments_.size(); ++k) {
    // Slots that end below the anchor, before a gap, can never be reported nor chained to:
    // forget them rather than index the gap.
    const std::uint64_t placed_end = slots_first_op_ + slots_.size() - 1;
    if (!slots_.empty() && placed_end + 1 < first_op && segments_[k].first_op > placed_end + 1) {
      slots_.clear();
      slots_first_op_ = std::min(segments_[k].first_op, first_op);
    }
    auto data = read_segment(path_of(segments_[k].first_op), read_max);
    if (!data) return fail(std::move(data).error());
    const bool last = k + 1 == segments_.size();
    Absorbed absorbed;
    if (auto absorbed_ok = absorb(k, *data, last, &absorbed); !absorbed_ok) return absorbed_ok;
    for (const auto& [op, body] : absorbed.bodies) {
      if (op >= first_op) bodies.emplace_back(op, std::string(body));
    }
    if (last && absorbed.bad_tail) {
      if (auto cut = cut_torn_tail(k, *absorbed.bad_tail, scan); !cut) return cut;
    }
  }

  const std::uint64_t placed_end = slots_first_op_ + slots_.size() - 1;
  if (placed_end + 1 < first_op) {
    // The WAL ends below the first op asked for (a checkpoint ahead of the log).
    slots_.clear();
    slots_first_op_ = first_op;
  }
  durable_op_ = slots_first_op_ + slots_.size() - 1;
  head_op_ = durable_op_;

  // An empty last segment (its first record was torn away) is kept only when the next
  // append belongs in it.
  if (!segments_.empty() && segments_.back().size == 0 &&
      segments_.back().first_op != durable_op_ + 1) {
    if (auto removed = env_->remove(path_of(segments_.back().first_op)); !removed) return removed;
    if (auto synced = env_->sync_dir(dir_); !synced) return synced;
    segments_.pop_back();
  }

  check_chain(slots_first_op_, durable_op_);
  scan.head_op = durable_op_;
  scan.entries.reserve(durable_op_ + 1 - first_op);
  auto body = bodies.begin();
  for (std::uint64_t op = first_op; op <= durable_op_; ++op) {
    const Slot& s = slot(op);
    WalEntry entry{op, s.status, s.damage, s.checksum, {}};
    while (body != bodies.end() && body->first < op) ++body;
    if (s.status == RecordStatus::ok && body != bodies.end() && body->first == op) {
      entry.body = std::move(body->second);
    }
    scan.entries.push_back(std::move(entry));
  }
  return {};
}

// Reads a whole segment. A read that fails with an I/O error (a bad sector) is done again
// sector by sector, and every sector that still cannot be read becomes bytes that no record
// and no preallocated space can hold (0xff; a record starts with a digit, space is zeros),
// so the scan reports the ops there corrupt, to be repaired from a peer, instead of the
// whole WAL being unreadable and the replica unable to start.
Result<std::string, Error> Wal::read_segment(const std::string& path, std::size_t read_max) {
  auto data = env_->read_file(path, read_max);
  if (data || data.error().code != Errc::io) return data;
  std::string bytes;
  for (;;) {
    auto sector = env_->read_at(path, bytes.size(), unreadable_sector_bytes);
    if (!sector) {
      if (sector.error().code != Errc::io) return fail(std::move(sector).error());
      bytes.append(unreadable_sector_bytes, '\xff');
    } else {
      bytes.append(*sector);
      if (sector->size() < unreadable_sector_bytes) break;
    }
    if (bytes.size() > read_max) {
      return fail(
          Error{Errc::io, fmt::format("WAL segment {} is larger than {} bytes", path, read_max)});
    }
  }
  return bytes;
}

// Parses segment `index` from its bytes `data` and sets the slots of the ops found in it.
// Sound records become ok slots; a damaged region followed by a sound record makes the ops
// between corrupt; a damaged region at the end is left to the caller when `tail_may_tear`
// (the last segment at open) and otherwise made corrupt up to the next segment.
Status Wal::absorb(std::size_t index, std::string_view data, bool tail_may_tear, Absorbed* out) {
  Segment& seg = segments_[index];
  // Zeros at the end are preallocated space, never part of a record: every record ends in a
  // tnetstring terminator, which is not a zero byte.
  const std::size_t used = data.find_last_not_of('\0');
  data = data.substr(0, used == std::string_view::npos ? 0 : used + 1);
  seg.size = data.size();
  const bool has_next = index + 1 < segments_.size();
  const std::uint64_t hi =
      has_next ? segments_[index + 1].first_op - 1 : (tail_may_tear ? op_max : durable_op_);
  // A region of n bytes cannot have held more whole records than n / (smallest record
  // size), and a damaged region stood for at least one op: ops past that were never in it,
  // so they are missing, not corrupt.
  const std::size_t record_min = format::record_size(1, 0);

  auto place = [&](std::uint64_t op, const Slot& value) {
    grow_slots(op);
    slot(op) = value;
    seg.last_op = std::max(seg.last_op, op);
  };
  auto mark_damaged = [&](std::uint64_t from, std::uint64_t to, std::size_t begin, std::size_t end,
                          Damage damage) {
    if (from > to) return;  // junk that stood for no op
    to = std::min<std::uint64_t>(to,
                                 from + std::max<std::size_t>(1, (end - begin) / record_min) - 1);
    place(from, Slot{RecordStatus::corrupt, damage, seg.first_op, begin, end - begin, {}, {}});
    for (std::uint64_t op = from + 1; op <= to; ++op) {
      place(op, Slot{RecordStatus::corrupt, Damage::framing, seg.first_op, end, 0, {}, {}});
    }
  };

  std::uint64_t expect = seg.first_op;
  std::size_t pos = 0;
  std::optional<std::size_t> bad_start;
  Damage bad_damage = Damage::framing;
  while (pos < data.size()) {
    const format::Parsed parsed = format::parse_record(data.substr(pos), options_.body_bytes_max);
    const format::RecordView& record = parsed.record;
    if (parsed.kind == format::Parse::valid && record.op >= expect && record.op <= hi) {
      if (bad_start) {
        mark_damaged(expect, record.op - 1, *bad_start, pos, bad_damage);
      } else {
        // The WAL appends only at its head + 1, so sound records with ops missing between
        // them were never written that way: a write that landed in the wrong place
        // (misdirected) overwrote the records of those ops whole. They may have been
        // acknowledged: corrupt, never missing.
        for (std::uint64_t op = expect; op < record.op; ++op) {
          place(op, Slot{RecordStatus::corrupt, Damage::framing, seg.first_op, pos, 0, {}, {}});
        }
      }
      place(record.op, Slot{RecordStatus::ok, Damage::none, seg.first_op, pos, parsed.length,
                            record.checksum, record.parent});
      if (out != nullptr) out->bodies.emplace_back(record.op, record.body);
      expect = record.op + 1;
      pos += parsed.length;
      bad_start.reset();
      continue;
    }
    // Not a record that belongs here. A single damaged record is a checksum failure; more
    // than one thing, or bytes that do not parse, is lost framing.
    bad_damage =
        !bad_start && parsed.kind == format::Parse::damaged ? Damage::checksum : Damage::framing;
    if (!bad_start) bad_start = pos;
    if (parsed.kind != format::Parse::unframed) {
      pos += parsed.length;  // a whole tnetstring: skip it, body and all
      continue;
    }
    const auto next = format::find_record(data, pos + 1, expect, hi, options_.body_bytes_max);
    pos = next ? *next : data.size();
  }
  if (bad_start && tail_may_tear && is_torn_write(data.substr(*bad_start), expect)) {
    if (out != nullptr) out->bad_tail = *bad_start;
  } else if (bad_start && tail_may_tear) {
    // Damage at the very end that a crash cannot have left: records were written whole
    // here and went bad afterwards, so they may have been acknowledged. As many ops as the
    // damaged bytes could hold, from the next one, are reported corrupt (repaired from a
    // peer, never a nack; the others nack those that never existed), and the bytes stay.
    // Reporting only the next op let bad sectors over several records turn the later ones
    // into nacks (long sweep, R=9 seed 141976).
    mark_damaged(expect, hi, *bad_start, data.size(), bad_damage);
  } else if (bad_start) {
    mark_damaged(expect, hi, *bad_start, data.size(), bad_damage);
  }
  return {};
}

// The torn-tail rule (docs/vsr/storage.md, "Scanning"). Appends go over zeros (preallocated
// space, a file extended, or a file cut by an earlier scan or truncation), so a write that a
// crash interrupted leaves the front of the record for op `expect` followed by zeros, which
// absorb() trimmed: `tail` is then a proper prefix of that record. A record that was written
// whole keeps its terminator (a tnetstring's "}" is not a zero byte, nor can one flipped bit
// make it one) and lengths that agree with its op and body, so a bit flipped anywhere in it
// is never such a prefix.
bool Wal::is_torn_write(std::string_view tail, std::uint64_t expect) const {
  // The injected bug (tests only): every damaged tail is taken for a torn write, as before.
  if (options_.bug_corrupt_tail_is_torn) return true;
  return format::is_cut_short_record(tail, expect, options_.body_bytes_max);
}

Status Wal::cut_torn_tail(std::size_t index, std::uint64_t offset, WalScan& scan) {
  Segment& seg = segments_[index];
  auto file = env_->open_writable(path_of(seg.first_op), OpenMode::existing);
  if (!file) return fail(std::move(file).error());
  if (auto cut = (*file)->truncate(offset); !cut) return cut;
  if (auto synced = (*file)->sync(); !synced) return synced;
  scan.torn_tail = TornTail{segment_name(seg.first_op), offset, seg.size - offset};
  seg.size = offset;
  return {};
}

// Re-derives the chain verdict of ops [from_op, to_op]: a sound record whose parent is not
// the checksum of the sound record before it is corrupt (Damage::chain). A zero parent was
// written when the predecessor was unknown and links to nothing.
void Wal::check_chain(std::uint64_t from_op, std::uint64_t to_op) {
  for (std::uint64_t op = std::max(from_op, slots_first_op_ + 1); op <= to_op; ++op) {
    Slot& s = slot(op);
    const bool sound = s.status == RecordStatus::ok || s.damage == Damage::chain;
    if (!sound) continue;
    const auto before = known_checksum(op - 1);
    const bool broken = before && !s.parent.is_zero() && s.parent != *before;
    s.status = broken ? RecordStatus::corrupt : RecordStatus::ok;
    s.damage = broken ? Damage::chain : Damage::none;
  }
}

std::optional<Checksum> Wal::known_checksum(std::uint64_t op) const {
  // Only the newest buffered record is ever asked for (by the append after it).
  if (!chunks_.empty() && !chunks_.back().records.empty() &&
      chunks_.back().records.back().op == op) {
    return chunks_.back().records.back().checksum;
  }
  if (!indexed(op)) return std::nullopt;
  const Slot& s = slot(op);
  if (s.status == RecordStatus::ok || s.damage == Damage::chain) return s.checksum;
  return std::nullopt;
}

bool Wal::indexed(std::uint64_t op) const {
  return op >= slots_first_op_ && op - slots_first_op_ < slots_.size();
}

void Wal::grow_slots(std::uint64_t through_op) {
  VSR_ASSERT(through_op + 1 >= slots_first_op_);
  while (slots_first_op_ + slots_.size() <= through_op) slots_.emplace_back();
}

std::size_t Wal::segment_index(std::uint64_t first_op) const {
  const auto it = std::lower_bound(
      segments_.begin(), segments_.end(), first_op,
      [](const Segment& segment, std::uint64_t op) { return segment.first_op < op; });
  VSR_ASSERT_MSG(it != segments_.end() && it->first_op == first_op, "WAL: unknown segment");
  return static_cast<std::size_t>(it - segments_.begin());
}

bool Wal::can_extend_last(std::uint64_t record_bytes) const {
  if (segments_.empty()) return false;
  const Segment& last = segments_.back();
  return last.last_op == head_op_ &&
         (last.size == 0 || last.size + record_bytes <= options_.segment_bytes_max);
}

Status Wal::poison(Error error) {
  poisoned_ = error;
  active_.reset();
  return fail(std::move(error));
}

Status Wal::append(std::uint64_t op, std::string_view body) {
  if (poisoned_) return fail(*poisoned_);
  VSR_ASSERT_MSG(op == head_op_ + 1, "WAL: append out of order");
  VSR_ASSERT_MSG(op <= op_max, "WAL: op out of range");
  VSR_ASSERT_MSG(body.size() <= options_.body_bytes_max, "WAL: body over body_bytes_max");
  // Before a new chunk may hide the previous record (the one this chains to).
  const Checksum parent = known_checksum(op - 1).value_or(Checksum{});
  const std::size_t size = format::record_size(op, body.size());
  bool new_chunk = chunks_.empty();
  if (!new_chunk) {
    const Chunk& chunk = chunks_.back();
    const std::uint64_t filled = chunk.base + chunk.bytes.size();
    new_chunk = filled > 0 && filled + size > options_.segment_bytes_max;
  }
  if (new_chunk) {
    Chunk chunk;
    if (chunks_.empty() && can_extend_last(size)) {
      chunk.segment = segments_.back().first_op;
      chunk.base = segments_.back().size;
    } else {
      chunk.segment = op;
      chunk.creates_segment = true;
    }
    chunk.bytes = std::move(spare_);
    chunk.bytes.clear();
    chunks_.push_back(std::move(chunk));
  }
  Chunk& chunk = chunks_.back();
  const std::uint64_t offset = chunk.bytes.size();
  const Checksum checksum = format::append_record(chunk.bytes, op, parent, body);
  chunk.records.push_back(Pending{op, offset, size, checksum, parent});
  head_op_ = op;
  return {};
}

Status Wal::sync() {
  if (poisoned_) return fail(*poisoned_);
  for (Chunk& chunk : chunks_) {
    if (auto written = write_chunk(chunk); !written) return poison(written.error());
  }
  if (!chunks_.empty()) spare_ = std::move(chunks_.front().bytes);
  chunks_.clear();
  VSR_ASSERT(durable_op_ == head_op_);
  return {};
}

// One write and one fdatasync; a new segment file also needs its directory entry synced
// before anything in it counts as durable.
Status Wal::write_chunk(Chunk& chunk) {
  if (chunk.creates_segment) {
    auto file = env_->open_writable(path_of(chunk.segment), OpenMode::truncate);
    if (!file) return fail(std::move(file).error());
    active_ = std::move(file).value();
    active_segment_ = chunk.segment;
    segments_.push_back(Segment{chunk.segment, 0, chunk.segment - 1});
  } else if (!active_ || active_segment_ != chunk.segment) {
    auto file = env_->open_writable(path_of(chunk.segment), OpenMode::existing);
    if (!file) return fail(std::move(file).error());
    if ((*file)->size() < chunk.base) {
      return fail(
          Error{Errc::io, fmt::format("WAL segment {} is {} bytes, expected at least {}",
                                      path_of(chunk.segment), (*file)->size(), chunk.base)});
    }
    active_ = std::move(file).value();
    active_segment_ = chunk.segment;
  }
  // The bytes after the segment's last record are zeros (a scan trimmed them, or this Wal
  // wrote them): the chunk overwrites them, and when it reaches past the file's end, more
  // zeros follow it so that the next syncs need not change the file size.
  const std::uint64_t file_size = active_->size();
  const std::uint64_t end = chunk.base + chunk.bytes.size();
  if (auto written = active_->write_at(chunk.base, chunk.bytes); !written) return written;
  if (const std::uint64_t step = options_.preallocate_bytes; step > 0 && end > file_size) {
    const std::uint64_t rounded = (end + step - 1) / step * step;
    const std::uint64_t target = std::min(rounded, std::max(end, options_.segment_bytes_max));
    if (target > end) {
      const std::string zeros(static_cast<std::size_t>(target - end), '\0');
      if (auto padded = active_->write_at(end, zeros); !padded) return padded;
    }
  }
  if (auto synced = active_->sync(); !synced) return synced;
  if (chunk.creates_segment) {
    if (auto synced = env_->sync_dir(dir_); !synced) return synced;
  }
  Segment& seg = segments_.back();
  VSR_ASSERT(seg.first_op == chunk.segment);
  for (const Pending& pending : chunk.records) {
    grow_slots(pending.op);
    slot(pending.op) =
        Slot{RecordStatus::ok, Damage::none,     seg.first_op,  chunk.base + pending.offset,
             pending.length,   pending.checksum, pending.parent};
    seg.last_op = pending.op;
    durable_op_ = pending.op;
  }
  seg.size += chunk.bytes.size();
  return {};
}

Result<std::string, Error> Wal::read(std::uint64_t op) {
  if (!indexed(op)) {
    return fail(Error{Errc::not_found, fmt::format("op {} is not in the WAL index", op)});
  }
  Slot& s = slot(op);
  if (s.status != RecordStatus::ok) {
    return fail(corruption(fmt::format("op {} is {} in the WAL", op, status_name(s.status))));
  }
  auto bytes = env_->read_at(path_of(s.segment), s.offset, s.length);
  if (!bytes) return fail(std::move(bytes).error());
  const format::Parsed parsed = format::parse_record(*bytes, options_.body_bytes_max);
  if (parsed.kind != format::Parse::valid || parsed.length != s.length || parsed.record.op != op ||
      parsed.record.checksum != s.checksum) {
    s.status = RecordStatus::corrupt;
    s.damage = Damage::checksum;
    return fail(corruption(fmt::format("op {} no longer verifies in {}", op, path_of(s.segment))));
  }
  return std::string(parsed.record.body);
}

RecordStatus Wal::status(std::uint64_t op) const {
  VSR_ASSERT_MSG(indexed(op), "WAL: status of an op outside the index");
  return slot(op).status;
}

std::optional<RecordLocation> Wal::locate(std::uint64_t op) const {
  if (!indexed(op) || slot(op).segment == 0) return std::nullopt;
  const Slot& s = slot(op);
  return RecordLocation{segment_name(s.segment), s.offset, s.length};
}

Status Wal::repair(std::uint64_t op, std::string_view body) {
  if (poisoned_) return fail(*poisoned_);
  VSR_ASSERT_MSG(chunks_.empty(), "WAL: repair with appends not yet synced");
  VSR_ASSERT_MSG(indexed(op), "WAL: repair of an op outside the index");
  VSR_ASSERT_MSG(body.size() <= options_.body_bytes_max, "WAL: body over body_bytes_max");
  const Slot s = slot(op);
  VSR_ASSERT_MSG(s.status != RecordStatus::ok, "WAL: repair of a sound op");
  std::string record;
  format::append_record(record, op, known_checksum(op - 1).value_or(Checksum{}), body);
  // Every path below writes a segment through a handle of its own.
  active_.reset();

  std::size_t index = 0;
  Status written;
  if (s.segment != 0) {
    index = segment_index(s.segment);
    written = s.length == record.size() ? write_into(index, s.offset, record, false)
                                        : rewrite_segment(index, s, record);
  } else {
    // Missing between segments: at the end of the segment that stops just before it, or
    // else in a segment of its own.
    const auto after = std::upper_bound(
        segments_.begin(), segments_.end(), op,
        [](std::uint64_t value, const Segment& segment) { return value < segment.first_op; });
    const bool extends = after != segments_.begin() && std::prev(after)->last_op == op - 1;
    if (extends) {
      index = static_cast<std::size_t>(std::prev(after) - segments_.begin());
      written = write_into(index, segments_[index].size, record, false);
    } else {
      index = static_cast<std::size_t>(after - segments_.begin());
      segments_.insert(after, Segment{op, 0, op - 1});
      written = write_into(index, 0, record, true);
    }
  }
  if (!written) return poison(written.error());
  return reindex(index);
}

Status Wal::write_into(std::size_t index, std::uint64_t offset, std::string_view record,
                       bool creates_segment) {
  const std::string path = path_of(segments_[index].first_op);
  auto file = env_->open_writable(path, creates_segment ? OpenMode::truncate : OpenMode::existing);
  if (!file) return fail(std::move(file).error());
  if (auto written = (*file)->write_at(offset, record); !written) return written;
  if (auto synced = (*file)->sync(); !synced) return synced;
  if (creates_segment) return env_->sync_dir(dir_);
  return {};
}

// Replaces the bytes of `slot` in its segment with `record` by writing the whole segment
// anew beside it and renaming it into place, so a crash leaves the old or the new segment.
Status Wal::rewrite_segment(std::size_t index, const Slot& s, std::string_view record) {
  const std::string path = path_of(segments_[index].first_op);
  const std::string temp = path + ".tmp";
  const std::size_t read_max =
      options_.segment_bytes_max + format::record_size(op_max, options_.body_bytes_max);
  auto data = read_segment(path, read_max);
  if (!data) return fail(std::move(data).error());
  const std::string_view old = *data;
  std::string content;
  content.reserve(old.size() - s.length + record.size());
  content.append(old.substr(0, s.offset));
  content.append(record);
  content.append(old.substr(s.offset + s.length));
  auto file = env_->open_writable(temp, OpenMode::truncate);
  if (!file) return fail(std::move(file).error());
  if (auto written = (*file)->append(content); !written) return written;
  if (auto synced = (*file)->sync(); !synced) return synced;
  if (auto renamed = env_->rename(temp, path); !renamed) return renamed;
  return env_->sync_dir(dir_);
}

// Reads segment `index` back and re-derives the slots of every op in its range: the write
// just made is checked the way a restart would check it.
Status Wal::reindex(std::size_t index) {
  Segment& seg = segments_[index];
  const std::size_t read_max =
      options_.segment_bytes_max + format::record_size(op_max, options_.body_bytes_max);
  auto data = read_segment(path_of(seg.first_op), read_max);
  if (!data) return fail(std::move(data).error());
  const std::uint64_t hi =
      index + 1 < segments_.size() ? segments_[index + 1].first_op - 1 : durable_op_;
  for (std::uint64_t op = std::max(seg.first_op, slots_first_op_); op <= std::min(hi, durable_op_);
       ++op) {
    slot(op) = Slot{};
  }
  seg.last_op = seg.first_op - 1;
  if (auto absorbed = absorb(index, *data, false, nullptr); !absorbed) return absorbed;
  check_chain(seg.first_op, std::min(hi + 1, durable_op_));
  return {};
}

Status Wal::truncate_after(std::uint64_t op) {
  if (poisoned_) return fail(*poisoned_);
  VSR_ASSERT_MSG(chunks_.empty(), "WAL: truncate with appends not yet synced");
  VSR_ASSERT_MSG(op + 1 >= slots_first_op_, "WAL: truncate below the indexed ops");
  if (op >= durable_op_) {
    if (op > durable_op_) {
      // A jump past the head (state transfer): the ops up to `op` are in the checkpoint.
      slots_.clear();
      slots_first_op_ = op + 1;
      durable_op_ = head_op_ = op;
    }
    return {};
  }
  // Newest segment first, each removal durable before the next step, so that a crash at
  // any point leaves a prefix of the log and never a log with a hole and a stale suffix.
  while (!segments_.empty() && segments_.back().first_op > op) {
    active_.reset();
    const std::string path = path_of(segments_.back().first_op);
    if (auto removed = env_->remove(path); !removed) return poison(removed.error());
    if (auto synced = env_->sync_dir(dir_); !synced) return poison(synced.error());
    segments_.pop_back();
  }
  if (!segments_.empty()) {
    Segment& seg = segments_.back();
    std::optional<std::uint64_t> cut;
    for (std::uint64_t later = op + 1; later <= std::min(seg.last_op, durable_op_); ++later) {
      if (indexed(later) && slot(later).segment == seg.first_op) {
        cut = slot(later).offset;
        break;
      }
    }
    if (cut && *cut < seg.size) {
      active_.reset();
      auto file = env_->open_writable(path_of(seg.first_op), OpenMode::existing);
      if (!file) return poison(std::move(file).error());
      if (auto truncated = (*file)->truncate(*cut); !truncated) return poison(truncated.error());
      if (auto synced = (*file)->sync(); !synced) return poison(synced.error());
      seg.size = *cut;
    }
    seg.last_op = std::min(seg.last_op, op);
  }
  slots_.resize(op + 1 - slots_first_op_);
  durable_op_ = head_op_ = op;
  return {};
}

Status Wal::remove_below(std::uint64_t op) {
  if (poisoned_) return fail(*poisoned_);
  // Segment k holds only ops below segment k+1's first op; the last segment always stays.
  std::size_t count = 0;
  while (count + 1 < segments_.size() && segments_[count + 1].first_op <= op) ++count;
  if (count == 0) return {};
  // Oldest first: a crash leaves some old segments behind, never a hole above `op`.
  for (std::size_t k = 0; k < count; ++k) {
    if (auto removed = env_->remove(path_of(segments_[k].first_op)); !removed) {
      segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(k));
      return poison(removed.error());
    }
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(count));
  if (auto synced = env_->sync_dir(dir_); !synced) return poison(synced.error());
  while (!slots_.empty() && slots_first_op_ < segments_.front().first_op) {
    slots_.pop_front();
    ++slots_first_op_;
  }
  return {};
}

}  // namespace vsr::storage
