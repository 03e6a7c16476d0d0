// Checkpoint copies. Each copy is replaced atomically (temporary file, fdatasync, rename,
// directory fsync) and the copies are replaced one after the other, so at every instant
// each copy file is a whole old or new checkpoint and at least one of them verifies unless
// the medium damaged all of them.

#include "vsr/storage/checkpoint.hpp"

#include <cstdint>
#include <limits>
#include <tuple>

#include <fmt/format.h>

#include "copies.hpp"
#include "format.hpp"
#include "vsr/base/assert.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::storage {
namespace {

constexpr std::string_view format_tag = "vsr.checkpoint.1";
constexpr std::int64_t int_max = std::numeric_limits<std::int64_t>::max();
// What a checkpoint file may exceed its blob by: the fields and the two dict headers.
constexpr std::size_t overhead_max = 512;

// The content dict: format, op, sequence, checksum of the blob, and the blob last.
std::string encode(std::uint64_t op, std::uint64_t sequence, std::string_view blob) {
  VSR_ASSERT(op <= static_cast<std::uint64_t>(int_max));
  VSR_ASSERT(sequence <= static_cast<std::uint64_t>(int_max));
  std::string fields;
  tnet::Encoder encoder(fields);
  encoder.key("format");
  encoder.bytes(format_tag);
  encoder.key("op");
  encoder.integer(static_cast<std::int64_t>(op));
  encoder.key("sequence");
  encoder.integer(static_cast<std::int64_t>(sequence));
  encoder.key("checksum");
  encoder.bytes(checksum_of(blob).bytes());
  std::string content;
  content.reserve(fields.size() + blob.size() + 32);
  format::append_dict(content, fields, "blob", blob);
  return format::seal(content);
}

Result<Checkpoint, std::string> decode(std::string_view file, std::size_t blob_bytes_max) {
  const format::Unsealed unsealed = format::unseal(file, blob_bytes_max + overhead_max);
  if (!unsealed.problem.empty()) return fail(unsealed.problem);
  tnet::Limits limits;
  limits.max_size = blob_bytes_max + overhead_max;
  limits.max_elements = 16;
  limits.max_depth = 1;
  auto value = tnet::decode(unsealed.body, limits);
  if (!value) return fail("checkpoint: " + value.error().message());
  tnet::FieldReader reader(*value, "checkpoint");
  const std::string_view tag = reader.bytes("format");
  Checkpoint checkpoint;
  checkpoint.op = static_cast<std::uint64_t>(reader.integer_in("op", 0, int_max));
  checkpoint.sequence = static_cast<std::uint64_t>(reader.integer_in("sequence", 0, int_max));
  const std::string_view checksum = reader.bytes("checksum");
  const std::string_view blob = reader.bytes("blob");
  if (!reader.ok()) return fail(reader.error());
  if (tag != format_tag) return fail(fmt::format("checkpoint: unknown format '{}'", tag));
  const auto stored = Checksum::from_bytes(checksum);
  if (!stored) return fail("checkpoint: checksum is not 16 bytes");
  if (blob.size() > blob_bytes_max) return fail("checkpoint: blob over its size limit");
  if (checksum_of(blob) != *stored) return fail("checkpoint: blob checksum mismatch");
  checkpoint.checksum = *stored;
  checkpoint.blob = std::string(blob);
  return checkpoint;
}

}  // namespace

bool CheckpointLoad::any_present() const {
  for (const CopyState& copy : copies) {
    if (copy.status != CopyStatus::missing) return true;
  }
  return false;
}

CheckpointStore::CheckpointStore(Env& env, std::string dir, std::size_t copies,
                                 std::size_t blob_bytes_max)
    : env_(&env), dir_(std::move(dir)), copies_(copies), blob_bytes_max_(blob_bytes_max) {
  VSR_ASSERT_MSG(copies_ >= 2, "a checkpoint needs at least two copies");
}

std::string CheckpointStore::file_name(std::size_t index) {
  return fmt::format("checkpoint.{}", index);
}

Result<CheckpointLoad, Error> CheckpointStore::load() {
  auto cleaned = copies::remove_leftovers(*env_, dir_, [this](std::string_view base) {
    for (std::size_t i = 0; i < copies_; ++i) {
      if (base == file_name(i)) return true;
    }
    return false;
  });
  if (!cleaned) return fail(cleaned.error());
  CheckpointLoad loaded;
  for (std::size_t i = 0; i < copies_; ++i) {
    copies::ReadCopy copy =
        copies::read_copy(*env_, dir_, file_name(i), blob_bytes_max_ + overhead_max);
    if (copy.state.status == CopyStatus::valid) {
      auto checkpoint = decode(copy.bytes, blob_bytes_max_);
      if (!checkpoint) {
        copy.state.status = CopyStatus::corrupt;
        copy.state.problem = checkpoint.error();
      } else {
        copy.state.sequence = checkpoint->sequence;
        sequence_ = std::max(sequence_, checkpoint->sequence);
        const auto newer = [](const Checkpoint& a, const Checkpoint& b) {
          return std::tie(a.op, a.sequence) > std::tie(b.op, b.sequence);
        };
        if (!loaded.newest || newer(*checkpoint, *loaded.newest)) {
          loaded.newest = std::move(checkpoint).value();
        }
      }
    }
    loaded.copies.push_back(std::move(copy.state));
  }
  return loaded;
}

Status CheckpointStore::write(std::uint64_t op, std::string_view blob) {
  VSR_ASSERT_MSG(blob.size() <= blob_bytes_max_, "checkpoint blob over blob_bytes_max");
  const std::string sealed = encode(op, ++sequence_, blob);
  for (std::size_t i = 0; i < copies_; ++i) {
    if (auto written = copies::write_atomically(*env_, dir_, file_name(i), sealed); !written) {
      return written;
    }
  }
  return {};
}

}  // namespace vsr::storage
