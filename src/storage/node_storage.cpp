// Recovery of a node directory. The order of the reads mirrors the order of the writes in
// write_checkpoint() and release_wal(): a checkpoint is durable before the metadata names
// it, and the metadata names it before any WAL below it is deleted. So whichever step a crash
// interrupted, the newest valid checkpoint plus the WAL after it hold every op the
// metadata says is committed, unless the medium damaged them; then they are reported (or,
// with nothing valid left, the node refuses to start).

#include "vsr/storage/node_storage.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "format.hpp"
#include "vsr/base/assert.hpp"

namespace vsr::storage {
namespace {

constexpr std::string_view sync_node_advice =
    "the replica cannot start from this directory; restore it from the cluster with "
    "`vsr sync-node`";

std::string describe_copies(const auto& copies) {
  std::string text;
  for (const CopyState& copy : copies) {
    if (!text.empty()) text += "; ";
    text += copy.file + ": ";
    switch (copy.status) {
      case CopyStatus::valid:
        text += "valid";
        break;
      case CopyStatus::missing:
        text += "missing";
        break;
      case CopyStatus::corrupt:
      case CopyStatus::unreadable:
        text += copy.problem;
        break;
    }
  }
  return text;
}

Error nothing_valid(const std::string& dir, std::string_view what, const std::string& copies) {
  return Error{Errc::nothing_valid, fmt::format("node directory {}: no valid {} remains ({}); {}",
                                                dir, what, copies, sync_node_advice)};
}

}  // namespace

Result<Recovered, Error> recover(Env& env, const std::string& dir, const NodeOptions& options) {
  auto names = env.list_dir(dir);
  if (!names) return fail(std::move(names).error());
  const bool has_segments = std::any_of(names->begin(), names->end(), [](const std::string& n) {
    return format::parse_segment_name(n).has_value();
  });

  MetadataStore metadata(env, dir);
  auto metadata_load = metadata.load();
  if (!metadata_load) return fail(std::move(metadata_load).error());
  CheckpointStore checkpoints(env, dir, options.checkpoint_copies, options.checkpoint_bytes_max);
  auto checkpoint_load = checkpoints.load();
  if (!checkpoint_load) return fail(std::move(checkpoint_load).error());

  RecoveredState state;
  state.metadata_copies = metadata_load->copies;
  state.checkpoint_copies = checkpoint_load->copies;
  state.fresh = !metadata_load->any_present() && !checkpoint_load->any_present() && !has_segments;
  if (!state.fresh) {
    if (!metadata_load->newest) {
      return fail(nothing_valid(dir, "metadata copy", describe_copies(metadata_load->copies)));
    }
    state.metadata = *metadata_load->newest;
    if (!checkpoint_load->newest && state.metadata.checkpoint_op > 0) {
      return fail(nothing_valid(dir,
                                fmt::format("copy of checkpoint {}", state.metadata.checkpoint_op),
                                describe_copies(checkpoint_load->copies)));
    }
    state.checkpoint = std::move(checkpoint_load->newest);
  }

  const std::uint64_t first_op = (state.checkpoint ? state.checkpoint->op : 0) + 1;
  auto opened = Wal::open(env, dir, options.wal, first_op);
  if (!opened) return fail(std::move(opened).error());
  state.wal = std::move(opened->scan);
  // Committed ops past the WAL's end (a torn tail can take a synced record with it only if
  // the medium also failed; a lost last segment can take many): listed so the core fetches
  // them before it votes on anything.
  for (std::uint64_t op = state.wal.head_op + 1; op <= state.metadata.commit; ++op) {
    state.wal.entries.push_back(WalEntry{op, RecordStatus::missing, Damage::none, {}, {}});
  }
  NodeStorage storage(dir, std::move(metadata), std::move(checkpoints), std::move(opened->wal));
  return Recovered{std::move(storage), std::move(state)};
}

Status NodeStorage::format(const Metadata& initial) {
  return metadata_.format(initial);
}

Status NodeStorage::write_metadata(const Metadata& metadata) {
  return metadata_.write(metadata);
}

Status NodeStorage::write_checkpoint(std::uint64_t op, std::string_view blob) {
  Metadata next = metadata_.current();
  VSR_ASSERT_MSG(op >= next.checkpoint_op, "checkpoints move forward");
  if (auto written = checkpoints_.write(op, blob); !written) return written;
  next.checkpoint_op = op;
  next.commit = std::max(next.commit, op);
  return metadata_.write(next);
}

Status NodeStorage::release_wal(std::uint64_t op) {
  return wal_.remove_below(std::min(op, metadata_.current().checkpoint_op));
}

}  // namespace vsr::storage
