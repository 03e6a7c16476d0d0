// Proves the vsr_io helpers keep their contracts: capped reads that name the path and the
// errno text, atomic writes that leave no temporary file and set the exact mode, mkdir -p,
// and a directory lock that a second holder (even in the same process) cannot take.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include "vsr/io/file.hpp"

namespace vsr::io {
namespace {

using test::TempDir;
using ::testing::HasSubstr;

void write_plain(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

std::vector<std::string> entries_of(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(IoReadFile, ReadsWholeFile) {
  TempDir dir;
  write_plain(dir / "f", std::string("hello\0world", 11));
  auto read = read_file(dir / "f", 100);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, std::string("hello\0world", 11));
}

TEST(IoReadFile, EmptyFileIsEmptyString) {
  TempDir dir;
  write_plain(dir / "f", "");
  auto read = read_file(dir / "f", 100);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "");
}

TEST(IoReadFile, CapIsInclusive) {
  TempDir dir;
  write_plain(dir / "f", std::string(100, 'x'));
  EXPECT_TRUE(read_file(dir / "f", 100).ok());
  auto too_large = read_file(dir / "f", 99);
  ASSERT_FALSE(too_large.ok());
  EXPECT_THAT(too_large.error().message, HasSubstr((dir / "f").string()));
  EXPECT_THAT(too_large.error().message, HasSubstr("limit of 99"));
  EXPECT_EQ(too_large.error().sys_errno, 0);
}

TEST(IoReadFile, MissingFileNamesPathAndErrno) {
  TempDir dir;
  auto read = read_file(dir / "absent", 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().sys_errno, ENOENT);
  EXPECT_THAT(read.error().message, HasSubstr((dir / "absent").string()));
  EXPECT_THAT(read.error().message, HasSubstr("No such file or directory"));
}

TEST(IoReadFile, DirectoryIsRefused) {
  TempDir dir;
  auto read = read_file(dir.path(), 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().sys_errno, EISDIR);
}

TEST(IoReadFile, CapAppliesToFilesWithoutSize) {
  // /proc files report size 0 but have contents: the cap must hold while reading.
  auto read = read_file("/proc/self/status", 10);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.error().message, HasSubstr("more than the limit of 10"));
  auto whole = read_file("/proc/self/status", 1 << 20);
  ASSERT_TRUE(whole.ok());
  EXPECT_THAT(*whole, HasSubstr("Pid:"));
}

TEST(IoWriteFileAtomic, WritesExactModeAndLeavesNoTempFile) {
  TempDir dir;
  const mode_t old_umask = ::umask(0);  // the mode must not depend on the umask
  auto written = write_file_atomic(dir / "secret", "key material", 0600);
  ::umask(old_umask);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(entries_of(dir.path()), std::vector<std::string>{"secret"});
  EXPECT_EQ(mode_of(dir / "secret"), 0600u);
  EXPECT_EQ(*read_file(dir / "secret", 100), "key material");
}

TEST(IoWriteFileAtomic, ReplacesExistingFileAndItsMode) {
  TempDir dir;
  write_plain(dir / "f", "old contents that are longer");
  ::chmod((dir / "f").c_str(), 0644);
  ASSERT_TRUE(write_file_atomic(dir / "f", "new", 0600).ok());
  EXPECT_EQ(*read_file(dir / "f", 100), "new");
  EXPECT_EQ(mode_of(dir / "f"), 0600u);
  EXPECT_EQ(entries_of(dir.path()), std::vector<std::string>{"f"});
}

TEST(IoWriteFileAtomic, MissingDirectoryFailsWithPathAndNoLeftovers) {
  TempDir dir;
  auto written = write_file_atomic(dir / "absent" / "f", "x", 0600);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().sys_errno, ENOENT);
  EXPECT_THAT(written.error().message, HasSubstr((dir / "absent").string()));
  EXPECT_TRUE(entries_of(dir.path()).empty());
}

TEST(IoWriteFileAtomic, TargetIsDirectoryFailsAndCleansUp) {
  TempDir dir;
  std::filesystem::create_directory(dir / "d");
  std::filesystem::create_directory(dir / "d" / "inside");  // rename over a non-empty dir fails
  auto written = write_file_atomic(dir / "d", "x", 0600);
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.error().message, HasSubstr("cannot rename"));
  EXPECT_EQ(entries_of(dir.path()), std::vector<std::string>{"d"});
}

TEST(IoWriteFileAtomic, BareFileNameUsesCurrentDirectory) {
  TempDir dir;
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  auto written = write_file_atomic("plain", "x", 0600);
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(entries_of(dir.path()), std::vector<std::string>{"plain"});
}

TEST(IoFsyncDirectory, WorksOnDirectoryFailsOnMissing) {
  TempDir dir;
  EXPECT_TRUE(fsync_directory(dir.path()).ok());
  auto missing = fsync_directory(dir / "absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr((dir / "absent").string()));
}

TEST(IoCreateDirectories, CreatesNestedWithModeAndAcceptsExisting) {
  TempDir dir;
  const mode_t old_umask = ::umask(0);
  auto made = create_directories(dir / "a" / "b" / "c", 0700);
  ::umask(old_umask);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(dir / "a" / "b" / "c"));
  EXPECT_EQ(mode_of(dir / "a" / "b"), 0700u);
  EXPECT_TRUE(create_directories(dir / "a" / "b" / "c", 0700).ok());
  EXPECT_TRUE(create_directories((dir / "a" / "b").string() + "/", 0700).ok());
}

TEST(IoCreateDirectories, FileInTheWayIsNotADirectory) {
  TempDir dir;
  write_plain(dir / "file", "x");
  auto made = create_directories(dir / "file" / "sub", 0700);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().sys_errno, ENOTDIR);
  EXPECT_THAT(made.error().message, HasSubstr((dir / "file").string()));
  auto on_file = create_directories(dir / "file", 0700);
  ASSERT_FALSE(on_file.ok());
  EXPECT_THAT(on_file.error().message, HasSubstr("Not a directory"));
}

TEST(IoPathExists, TellsPresentFromAbsent) {
  TempDir dir;
  write_plain(dir / "f", "x");
  EXPECT_TRUE(*path_exists(dir / "f"));
  EXPECT_TRUE(*path_exists(dir.path()));
  EXPECT_FALSE(*path_exists(dir / "absent"));
  EXPECT_FALSE(*path_exists(dir / "absent" / "deeper"));
}

TEST(IoDirectoryLock, SecondHolderInSameProcessIsRefused) {
  TempDir dir;
  auto first = DirectoryLock::acquire(dir.path());
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = DirectoryLock::acquire(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().sys_errno, EWOULDBLOCK);
  EXPECT_THAT(second.error().message, HasSubstr(dir.path().string() + " is locked"));
  EXPECT_THAT(second.error().message, HasSubstr("pid " + std::to_string(::getpid())));
  EXPECT_THAT(second.error().message, HasSubstr("only one process may use it"));
}

TEST(IoDirectoryLock, ReleasedOnDestructionAndAfterMove) {
  TempDir dir;
  {
    auto lock = DirectoryLock::acquire(dir.path());
    ASSERT_TRUE(lock.ok());
    DirectoryLock moved = std::move(*lock);
    EXPECT_EQ(moved.directory(), dir.path());
    EXPECT_FALSE(DirectoryLock::acquire(dir.path()).ok());
  }
  EXPECT_TRUE(DirectoryLock::acquire(dir.path()).ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "LOCK"));
}

TEST(IoDirectoryLock, AnotherProcessIsRefusedWhileHeld) {
  TempDir dir;
  auto lock = DirectoryLock::acquire(dir.path());
  ASSERT_TRUE(lock.ok());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // 0: refused as expected, 1: acquired (wrong).
    ::_exit(DirectoryLock::acquire(dir.path()).ok() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(IoDirectoryLock, MissingDirectoryFailsWithPath) {
  TempDir dir;
  auto lock = DirectoryLock::acquire(dir / "absent");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().sys_errno, ENOENT);
  EXPECT_THAT(lock.error().message, HasSubstr((dir / "absent" / "LOCK").string()));
}

}  // namespace
}  // namespace vsr::io
