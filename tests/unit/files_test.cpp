// support/files.h: inputs refused by type without blocking, size bounds,
// exclusive temporaries that never follow a symlink, checked writes, and the
// output directory's lock.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/files.h"

namespace vaec::rt {
namespace {

std::string fresh_dir(const std::string &name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Files, InputsAreRefusedByTypeWithoutBlocking) {
  const std::string dir = fresh_dir("files_inputs");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string out, error;
  // A FIFO with no writer would block a plain open for ever.
  EXPECT_FALSE(read_regular(fifo, "a model", 1000, out, error));
  EXPECT_EQ(error, fifo + ": is a FIFO (a named pipe), not a model");
  EXPECT_FALSE(read_regular(dir, "a model", 1000, out, error));
  EXPECT_EQ(error, dir + ": is a directory, not a model");
  EXPECT_FALSE(read_regular("/dev/zero", "a model", 1000, out, error));
  EXPECT_EQ(error, "/dev/zero: is a character device, not a model");
  EXPECT_FALSE(read_regular(dir + "/missing", "a model", 1000, out, error));
  EXPECT_EQ(error, dir + "/missing: cannot open: No such file or directory");
  std::ofstream(dir + "/f") << "hello";
  ASSERT_TRUE(read_regular(dir + "/f", "a model", 5, out, error)) << error;
  EXPECT_EQ(out, "hello");
  EXPECT_FALSE(read_regular(dir + "/f", "a model", 4, out, error));
  EXPECT_EQ(error, dir + "/f: is 5 bytes, more than the 4 bytes a model may have");
  uint64_t size = 0;
  const int fd = open_regular(dir + "/f", "a model", size, error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_EQ(size, 5u);
  ::close(fd);
}

TEST(Files, ReplaceFileNeverFollowsASymlink) {
  const std::string dir = fresh_dir("files_replace");
  const std::string victim = dir + "/victim", target = dir + "/out.txt";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, target + ".tmp");
  std::string error;
  ASSERT_TRUE(replace_file(target, "new", true, error)) << error;
  EXPECT_EQ(read_text(target), "new");
  EXPECT_EQ(read_text(victim), "precious");
  // The target itself a symlink: it is replaced, its target untouched.
  std::filesystem::remove(target);
  std::filesystem::create_symlink(victim, target);
  ASSERT_TRUE(replace_file(target, "newer", false, error)) << error;
  EXPECT_FALSE(std::filesystem::is_symlink(target));
  EXPECT_EQ(read_text(target), "newer");
  EXPECT_EQ(read_text(victim), "precious");
  // A target that is a directory cannot be replaced; nothing is left behind.
  std::filesystem::create_directories(dir + "/d");
  EXPECT_FALSE(replace_file(dir + "/d", "x", false, error));
  EXPECT_EQ(error, dir + "/d: cannot write: Is a directory");
  int left = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir)) left += e.path().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(left, 0);
}

TEST(Files, WritesAreChecked) {
  std::string error;
  EXPECT_FALSE(write_file("/dev/full", std::string(100000, 'x'), error));
  EXPECT_EQ(error, "/dev/full: cannot write: No space left on device");
  EXPECT_FALSE(write_file("/nonexistent/x", "x", error));
  EXPECT_EQ(error, "/nonexistent/x: cannot create: No such file or directory");
  const std::string dir = fresh_dir("files_append");
  ASSERT_TRUE(append_file(dir + "/log", "a\n", error)) << error;
  ASSERT_TRUE(append_file(dir + "/log", "b\n", error)) << error;
  EXPECT_EQ(read_text(dir + "/log"), "a\nb\n");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(append_file(fifo, "x", error));  // no reader: refused at once
  EXPECT_EQ(error, fifo + ": cannot open: No such device or address");
}

TEST(Files, ADirectoryLockIsExclusive) {
  const std::string dir = fresh_dir("files_lock");
  std::string error;
  {
    DirectoryLock first;
    ASSERT_TRUE(first.acquire(dir, error)) << error;
    DirectoryLock second;  // another open file description: flock refuses it as it would another process
    EXPECT_FALSE(second.acquire(dir, error));
    EXPECT_EQ(error, dir + " is in use by another trainer (process " + std::to_string(::getpid()) +
                         "); wait for it to finish, or pass another --out");
  }
  DirectoryLock again;  // released with the first
  EXPECT_TRUE(again.acquire(dir, error)) << error;
  const std::string other = fresh_dir("files_lock_symlink");
  std::ofstream(other + "/victim") << "precious";
  std::filesystem::create_symlink(other + "/victim", other + "/.train.lock");
  DirectoryLock planted;
  EXPECT_FALSE(planted.acquire(other, error));
  EXPECT_EQ(error, other + "/.train.lock: cannot create the lock of the output directory: it is a symbolic link");
  EXPECT_EQ(read_text(other + "/victim"), "precious");
}

}  // namespace
}  // namespace vaec::rt
