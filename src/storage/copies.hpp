#pragma once
// Helpers shared by the metadata and checkpoint copies (private to vsr_storage).

#include <string>
#include <string_view>

#include "vsr/storage/env.hpp"
#include "vsr/storage/metadata.hpp"

namespace vsr::storage::copies {

/// Replaces `dir`/`name` with `contents` atomically and durably: a temporary file written
/// and fdatasynced, renamed over the copy, then the directory fsynced. After a crash the
/// copy is the old file or the new one, never a mixture.
Status write_atomically(Env& env, const std::string& dir, const std::string& name,
                        std::string_view contents);

/// Deletes the leftovers "<base>.tmp" in `dir` for each base name for which `is_ours`
/// returns true, and fsyncs the directory when it deleted any.
template <class Predicate>
Status remove_leftovers(Env& env, const std::string& dir, Predicate is_ours);

/// Reads one copy: its bytes, or a CopyState saying it is missing or unreadable.
struct ReadCopy {
  std::string bytes;
  CopyState state;  ///< status valid means "read"; the caller still has to verify
};
ReadCopy read_copy(Env& env, const std::string& dir, const std::string& name, std::size_t size_max);

template <class Predicate>
Status remove_leftovers(Env& env, const std::string& dir, Predicate is_ours) {
  auto names = env.list_dir(dir);
  if (!names) return fail(std::move(names).error());
  bool removed = false;
  constexpr std::string_view suffix = ".tmp";
  for (const std::string& name : *names) {
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    if (!is_ours(std::string_view(name).substr(0, name.size() - suffix.size()))) continue;
    if (auto gone = env.remove(join(dir, name)); !gone) return gone;
    removed = true;
  }
  if (removed) return env.sync_dir(dir);
  return {};
}

}  // namespace vsr::storage::copies
