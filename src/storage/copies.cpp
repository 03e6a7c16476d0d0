#include "copies.hpp"

namespace vsr::storage::copies {

Status write_atomically(Env& env, const std::string& dir, const std::string& name,
                        std::string_view contents) {
  const std::string path = join(dir, name);
  const std::string temp = path + ".tmp";
  auto file = env.open_writable(temp, OpenMode::truncate);
  if (!file) return fail(std::move(file).error());
  if (auto written = (*file)->append(contents); !written) return written;
  if (auto synced = (*file)->sync(); !synced) return synced;
  if (auto renamed = env.rename(temp, path); !renamed) return renamed;
  return env.sync_dir(dir);
}

ReadCopy read_copy(Env& env, const std::string& dir, const std::string& name,
                   std::size_t size_max) {
  ReadCopy copy;
  copy.state.file = name;
  auto bytes = env.read_file(join(dir, name), size_max);
  if (!bytes) {
    copy.state.status =
        bytes.error().code == Errc::not_found ? CopyStatus::missing : CopyStatus::unreadable;
    copy.state.problem = bytes.error().message;
    return copy;
  }
  copy.bytes = std::move(bytes).value();
  copy.state.status = CopyStatus::valid;
  return copy;
}

}  // namespace vsr::storage::copies
