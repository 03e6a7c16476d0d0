// Metadata copies. The alternation rule is "never overwrite the newest valid copy": write()
// targets the other copy, so a write torn by a crash can only damage the older version,
// and the newest valid copy survives (TigerBeetle's superblock copies follow the same rule
// with four copies; two suffice against torn writes, which is what this guards).
// The first metadata of a node is written atomically (format) so that a crash during it
// leaves either a fresh directory or a valid copy, never a node that cannot start.

#include "vsr/storage/metadata.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "copies.hpp"
#include "format.hpp"
#include "vsr/base/assert.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::storage {
namespace {

constexpr std::string_view format_tag = "vsr.metadata.2";
constexpr std::int64_t int_max = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t body_bytes_max = MetadataStore::file_bytes_max;

std::int64_t as_int(std::uint64_t value) {
  VSR_ASSERT_MSG(value <= static_cast<std::uint64_t>(int_max), "metadata value over int64");
  return static_cast<std::int64_t>(value);
}

std::string encode(const Metadata& m) {
  VSR_ASSERT_MSG(m.core.size() <= MetadataStore::core_bytes_max, "core metadata over its limit");
  std::string body;
  tnet::Encoder encoder(body);
  encoder.begin_dict();
  encoder.key("format");
  encoder.bytes(format_tag);
  encoder.key("sequence");
  encoder.integer(as_int(m.sequence));
  encoder.key("cluster_id");
  encoder.bytes(m.cluster_id);
  encoder.key("replica");
  encoder.integer(m.replica);
  encoder.key("view");
  encoder.integer(as_int(m.view));
  encoder.key("log_view");
  encoder.integer(as_int(m.log_view));
  encoder.key("commit");
  encoder.integer(as_int(m.commit));
  encoder.key("checkpoint_op");
  encoder.integer(as_int(m.checkpoint_op));
  encoder.key("core");
  encoder.bytes(m.core);
  encoder.end_dict();
  std::string sealed = format::seal(body);
  VSR_ASSERT_MSG(sealed.size() <= MetadataStore::file_bytes_max, "metadata over its size limit");
  return sealed;
}

// The metadata in a copy's bytes, or why there is none.
Result<Metadata, std::string> decode(std::string_view file) {
  const format::Unsealed unsealed = format::unseal(file, body_bytes_max);
  if (!unsealed.problem.empty()) return fail(unsealed.problem);
  tnet::Limits limits;
  limits.max_size = body_bytes_max;
  limits.max_elements = 16;
  limits.max_depth = 1;
  auto value = tnet::decode(unsealed.body, limits);
  if (!value) return fail("metadata: " + value.error().message());
  tnet::FieldReader reader(*value, "metadata");
  const std::string_view tag = reader.bytes("format");
  if (reader.ok() && tag != format_tag) {
    return fail(fmt::format("metadata: unknown format '{}'", tag));
  }
  Metadata m;
  m.sequence = static_cast<std::uint64_t>(reader.integer_in("sequence", 0, int_max));
  m.cluster_id = std::string(reader.bytes("cluster_id"));
  m.replica = static_cast<std::uint32_t>(
      reader.integer_in("replica", 0, std::numeric_limits<std::uint32_t>::max()));
  m.view = static_cast<std::uint64_t>(reader.integer_in("view", 0, int_max));
  m.log_view = static_cast<std::uint64_t>(reader.integer_in("log_view", 0, int_max));
  m.commit = static_cast<std::uint64_t>(reader.integer_in("commit", 0, int_max));
  m.checkpoint_op = static_cast<std::uint64_t>(reader.integer_in("checkpoint_op", 0, int_max));
  m.core = std::string(reader.bytes("core"));
  if (!reader.ok()) return fail(reader.error());
  if (m.core.size() > MetadataStore::core_bytes_max)
    return fail(std::string("metadata: core too large"));
  return m;
}

}  // namespace

bool MetadataLoad::any_present() const {
  for (const CopyState& copy : copies) {
    if (copy.status != CopyStatus::missing) return true;
  }
  return false;
}

MetadataStore::MetadataStore(Env& env, std::string dir) : env_(&env), dir_(std::move(dir)) {}

std::string MetadataStore::file_name(std::size_t index) {
  VSR_ASSERT(index < copy_count);
  return fmt::format("metadata.{}", index);
}

std::uint64_t promised_view(const Metadata& metadata) {
  const std::uint64_t fallback = std::max(metadata.view, metadata.log_view);
  if (metadata.core.empty()) return fallback;
  auto value = tnet::decode(metadata.core);
  if (!value || !value->is_dict()) return fallback;
  const auto log_view = value->find("log_view");
  const auto voted_view = value->find("voted_view");
  if (!log_view || !voted_view || !log_view->is_integer() || !voted_view->is_integer() ||
      log_view->integer() < 0 || voted_view->integer() < 0) {
    return fallback;
  }
  return std::max(static_cast<std::uint64_t>(log_view->integer()),
                  static_cast<std::uint64_t>(voted_view->integer()));
}

Result<MetadataLoad, Error> MetadataStore::load() {
  auto cleaned = copies::remove_leftovers(*env_, dir_, [](std::string_view base) {
    return base == file_name(0) || base == file_name(1);
  });
  if (!cleaned) return fail(cleaned.error());
  MetadataLoad loaded;
  current_.reset();
  for (std::size_t i = 0; i < copy_count; ++i) {
    copies::ReadCopy copy = copies::read_copy(*env_, dir_, file_name(i), file_bytes_max);
    if (copy.state.status == CopyStatus::valid) {
      auto metadata = decode(copy.bytes);
      if (!metadata) {
        copy.state.status = CopyStatus::corrupt;
        copy.state.problem = metadata.error();
      } else {
        copy.state.sequence = metadata->sequence;
        if (!current_ || metadata->sequence > current_->sequence) {
          current_ = *metadata;
          current_copy_ = i;
        }
      }
    }
    loaded.copies[i] = std::move(copy.state);
  }
  loaded.newest = current_;
  return loaded;
}

Status MetadataStore::format(const Metadata& initial) {
  VSR_ASSERT_MSG(!current_, "format of a node that has metadata");
  for (std::size_t i = 0; i < copy_count; ++i) {
    Metadata copy = initial;
    copy.sequence = i + 1;
    if (auto written = write_copy(i, copy); !written) return written;
    current_ = copy;
    current_copy_ = i;
  }
  return {};
}

Status MetadataStore::write(const Metadata& metadata) {
  VSR_ASSERT_MSG(current_, "metadata write before load() or format()");
  Metadata next = metadata;
  next.sequence = current_->sequence + 1;
  const std::size_t target = 1 - current_copy_;
  // Atomically (a temporary file, renamed over the copy): a crash then leaves each copy
  // whole, so a damaged copy is always the medium's doing, and may be the newer one
  // (ReplicaDisk distrusts the metadata then). Metadata is written on view changes and
  // checkpoints, not per op, so the directory fsync this costs is rare.
  if (auto written = write_copy(target, next); !written) return written;
  current_ = next;
  current_copy_ = target;
  return {};
}

const Metadata& MetadataStore::current() const {
  VSR_ASSERT_MSG(current_, "no metadata: the node is not formatted");
  return *current_;
}

// Writes copy `index` whole through a temporary file renamed over it: a crash leaves the
// old copy or the new one, never a torn one.
Status MetadataStore::write_copy(std::size_t index, const Metadata& metadata) {
  return copies::write_atomically(*env_, dir_, file_name(index), encode(metadata));
}

}  // namespace vsr::storage
