// Files opened so that a hostile or mistaken path cannot hang, redirect or
// silently cut them short: inputs are refused by type before a byte is read
// (a FIFO would block, a device never end, a directory throw); outputs go to
// a temporary of a unique name in the target's own directory, created
// exclusively (a symlink planted there is never followed), checked at every
// write and at close, then renamed over the target; an output directory is
// locked against a second trainer. Both the compiler and the trainer use it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace vaec::rt {

// Opens `path` read-only without blocking and refuses what is not a regular
// file by its type, after the open (fstat), so a path swapped between a check
// and the open changes nothing: "PATH: is a directory, not KIND" or "PATH: is
// a FIFO (a named pipe), not KIND". Returns the descriptor, blocking again,
// with the file's size in `size`; -1 with `error` set.
int open_regular(const std::string &path, const char *kind, uint64_t &size, std::string &error);

// Reads all of the regular file `path` into `out` if it holds at most
// `max_bytes` (checked against its size before anything is allocated);
// false with a message naming the file.
bool read_regular(const std::string &path, const char *kind, uint64_t max_bytes, std::string &out,
                  std::string &error);

// A new file for `target` that no other process has: DIR/.NAME.XXXXXX, made
// by mkstemp beside the target, so the rename stays within one filesystem.
// commit() closes it (every write and the close checked), gives it mode 0644
// less the umask, fsyncs it if asked and renames it over `target` (replacing
// a symlink there, never following it). Unless committed, it is removed.
class TempFile {
 public:
  TempFile() = default;
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;
  ~TempFile();

  bool create(const std::string &target, std::string &error);
  const std::string &path() const { return path_; }
  // The file as a stdio stream (owned here; commit() closes it).
  std::FILE *stream();
  bool write(const void *data, size_t bytes);
  // False with "TARGET: cannot write: ..." when any write, the flush, the
  // fsync, the close or the rename failed.
  bool commit(bool sync, std::string &error);

 private:
  void discard();
  std::string target_, path_;
  int fd_ = -1;
  std::FILE *stream_ = nullptr;
  int write_errno_ = 0;
};

// `bytes` into `target` through a TempFile (`sync`: fsync the file, then the
// directory, so a crash leaves the old or the new contents).
bool replace_file(const std::string &target, const std::string &bytes, bool sync, std::string &error);

// Writes `bytes` to `path` in place (created or truncated; a device or pipe
// the user named, such as /dev/stdout, is written too): for outputs a user
// names, where a temporary beside the target could not be renamed over it.
// Every write and the close checked.
bool write_file(const std::string &path, const std::string &bytes, std::string &error);

// Appends `bytes` to `path`, which must be a regular file or missing (then
// created): O_APPEND|O_NOFOLLOW, every write and the close checked.
bool append_file(const std::string &path, const std::string &bytes, std::string &error);

// An advisory lock (flock) on DIR/.train.lock, held until destruction, so two
// trainers never write one directory. The lock file holds the holder's pid
// for the message the second one gets.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  DirectoryLock(const DirectoryLock &) = delete;
  DirectoryLock &operator=(const DirectoryLock &) = delete;
  ~DirectoryLock();
  // False with "DIR is in use by another trainer (process N); ..." when
  // another process holds the lock, or with why the lock file cannot be made.
  bool acquire(const std::string &dir, std::string &error);

 private:
  int fd_ = -1;
};

}  // namespace vaec::rt
