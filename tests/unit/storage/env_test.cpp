// Proves that both Env implementations honour the same contract for the operations the
// storage layer uses: writes, reads, listing, renames, removal, truncation and the errors
// for missing files. The POSIX one runs in a temporary directory on the real disk.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "storage_test_util.hpp"
#include "vsr/storage/env.hpp"
#include "vsr/storage/memory_env.hpp"

namespace vsr::storage {
namespace {

class StorageEnv : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "posix") {
      temp_ = std::make_unique<testing::TempDir>();
      env_ = &posix_env();
      dir_ = temp_->path();
    } else {
      memory_ = std::make_unique<MemoryEnv>();
      testing::make_node_dir(*memory_);
      env_ = memory_.get();
      dir_ = testing::node_dir;
    }
  }

  std::string path(const char* name) const { return join(dir_, name); }

  void write(const char* name, std::string_view contents) {
    auto file = env_->open_writable(path(name), OpenMode::truncate);
    ASSERT_TRUE(file.ok()) << file.error().message;
    ASSERT_TRUE((*file)->append(contents).ok());
    ASSERT_TRUE((*file)->sync().ok());
    ASSERT_TRUE(env_->sync_dir(dir_).ok());
  }

  std::string read(const char* name) {
    auto contents = env_->read_file(path(name), 1 << 20);
    EXPECT_TRUE(contents.ok()) << contents.error().message;
    return contents.ok() ? *contents : std::string();
  }

  std::unique_ptr<testing::TempDir> temp_;
  std::unique_ptr<MemoryEnv> memory_;
  Env* env_ = nullptr;
  std::string dir_;
};

TEST_P(StorageEnv, AppendWriteAtAndReadBack) {
  auto file = env_->open_writable(path("a"), OpenMode::truncate);
  ASSERT_TRUE(file.ok());
  WritableFile& f = **file;
  ASSERT_TRUE(f.append("hello").ok());
  ASSERT_TRUE(f.write_at(1, "E").ok());
  ASSERT_TRUE(f.append(" world").ok());
  EXPECT_EQ(f.size(), 11u);
  ASSERT_TRUE(f.write_at(13, "!").ok());  // past the end: a zero-filled gap
  EXPECT_EQ(f.size(), 14u);
  ASSERT_TRUE(f.sync().ok());
  EXPECT_EQ(read("a"), std::string("hEllo world\0\0!", 14));
  auto middle = env_->read_at(path("a"), 1, 4);
  ASSERT_TRUE(middle.ok());
  EXPECT_EQ(*middle, "Ello");
  auto tail = env_->read_at(path("a"), 12, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, std::string("\0!", 2));
  auto beyond = env_->read_at(path("a"), 100, 4);
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(*beyond, "");
}

TEST_P(StorageEnv, OpenModesKeepOrCutContents) {
  write("a", "abc");
  {
    auto file = env_->open_writable(path("a"), OpenMode::existing);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->size(), 3u);
    ASSERT_TRUE((*file)->append("def").ok());
    ASSERT_TRUE((*file)->sync().ok());
  }
  EXPECT_EQ(read("a"), "abcdef");
  {
    auto file = env_->open_writable(path("a"), OpenMode::truncate);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->size(), 0u);
  }
  EXPECT_EQ(read("a"), "");
}

TEST_P(StorageEnv, TruncateCutsTheFile) {
  write("a", "abcdef");
  auto file = env_->open_writable(path("a"), OpenMode::existing);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->truncate(2).ok());
  ASSERT_TRUE((*file)->sync().ok());
  EXPECT_EQ((*file)->size(), 2u);
  EXPECT_EQ(read("a"), "ab");
}

TEST_P(StorageEnv, ListsNamesSorted) {
  write("b", "1");
  write("a", "2");
  write("c", "3");
  auto names = env_->list_dir(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_P(StorageEnv, RenameReplacesAndRemoveDeletes) {
  write("a", "new");
  write("b", "old");
  ASSERT_TRUE(env_->rename(path("a"), path("b")).ok());
  ASSERT_TRUE(env_->sync_dir(dir_).ok());
  EXPECT_EQ(read("b"), "new");
  auto gone = env_->read_file(path("a"), 100);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::not_found);
  ASSERT_TRUE(env_->remove(path("b")).ok());
  auto removed = env_->read_file(path("b"), 100);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.error().code, Errc::not_found);
  auto again = env_->remove(path("b"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::not_found);
}

TEST_P(StorageEnv, MissingThingsAreNotFound) {
  auto read_missing = env_->read_at(path("nope"), 0, 1);
  ASSERT_FALSE(read_missing.ok());
  EXPECT_EQ(read_missing.error().code, Errc::not_found);
  auto list_missing = env_->list_dir(path("nodir"));
  ASSERT_FALSE(list_missing.ok());
  EXPECT_EQ(list_missing.error().code, Errc::not_found);
  auto rename_missing = env_->rename(path("nope"), path("x"));
  ASSERT_FALSE(rename_missing.ok());
  EXPECT_EQ(rename_missing.error().code, Errc::not_found);
}

TEST_P(StorageEnv, ReadFileRefusesFilesOverTheLimit) {
  write("a", "0123456789");
  auto limited = env_->read_file(path("a"), 9);
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().code, Errc::io);
  EXPECT_NE(limited.error().message.find("a"), std::string::npos);
  EXPECT_TRUE(env_->read_file(path("a"), 10).ok());
}

TEST_P(StorageEnv, CreateDirIsIdempotent) {
  ASSERT_TRUE(env_->create_dir(path("sub")).ok());
  ASSERT_TRUE(env_->create_dir(path("sub")).ok());
  ASSERT_TRUE(env_->sync_dir(dir_).ok());
  auto names = env_->list_dir(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"sub"});
}

INSTANTIATE_TEST_SUITE_P(Both, StorageEnv, ::testing::Values("posix", "memory"),
                         [](const auto& test) { return test.param; });

}  // namespace
}  // namespace vsr::storage
