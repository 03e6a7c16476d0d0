#pragma once
// Helpers shared by the storage tests: deterministic bodies and blobs, a node directory in
// a MemoryEnv, and a temporary directory on the real file system.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::storage::testing {

/// The node directory every MemoryEnv test uses.
inline const std::string node_dir = "/node";

/// A body for `op` that differs by op and by `generation` (a rewritten suffix), of varying
/// length.
inline std::string body_for(std::uint64_t op, std::uint64_t generation = 0) {
  return fmt::format("prepare op={} gen={} ", op, generation) +
         std::string(static_cast<std::size_t>((op * 13 + generation * 5) % 40), 'x');
}

/// A checkpoint blob for `op`.
inline std::string blob_for(std::uint64_t op) {
  return fmt::format("snapshot@{}:", op) + std::string(static_cast<std::size_t>(op % 17), 'z');
}

/// A MemoryEnv with node_dir created.
inline void make_node_dir(MemoryEnv& env) {
  auto created = env.create_dir(node_dir);
  ASSERT_TRUE(created.ok());
}

/// Opens the WAL of node_dir; fails the test on error.
inline OpenedWal open_wal(Env& env, const WalOptions& options = {}, std::uint64_t first_op = 1,
                          const std::string& dir = node_dir) {
  auto opened = Wal::open(env, dir, options, first_op);
  if (!opened) {
    ADD_FAILURE() << "Wal::open: " << opened.error().message;
    std::abort();
  }
  return std::move(opened).value();
}

/// Appends ops [from, to] with body_for(op, generation), `batch` per sync.
inline void append_ops(Wal& wal, std::uint64_t from, std::uint64_t to, std::uint64_t batch = 1,
                       std::uint64_t generation = 0) {
  for (std::uint64_t op = from; op <= to; ++op) {
    ASSERT_TRUE(wal.append(op, body_for(op, generation)).ok());
    if ((op - from + 1) % batch == 0 || op == to) {
      ASSERT_TRUE(wal.sync().ok());
    }
  }
}

/// A fresh directory under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vsr-storage-XXXXXX").string();
    const char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      std::abort();
    }
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vsr::storage::testing
