// Inputs refused by type, exclusive temporaries, checked writes and the
// output directory's lock (contract in files.h).
#include "support/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "support/text.h"

namespace vaec::rt {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// "a directory", "a FIFO (a named pipe)", ...: what a non-regular file is.
const char *type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (a named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string directory_of(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The mode fopen("w") would give: 0666 less the umask, read once (umask can
// only be read by setting it).
mode_t file_mode() {
  static const mode_t mask = [] {
    const mode_t m = ::umask(022);
    ::umask(m);
    return m;
  }();
  return 0666 & ~mask;
}

bool write_fd(int fd, const void *data, size_t bytes, int &error) {
  const char *p = static_cast<const char *>(data);
  for (size_t done = 0; done < bytes;) {
    const ssize_t n = ::write(fd, p + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return error = n < 0 ? errno : EIO, false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int open_regular(const std::string &path, const char *kind, uint64_t &size, std::string &error) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return error = path + ": cannot open: " + errno_text(errno), -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = path + ": cannot stat: " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    error = path + ": is " + type_name(st.st_mode) + ", not " + kind;
    ::close(fd);
    return -1;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

bool read_regular(const std::string &path, const char *kind, uint64_t max_bytes, std::string &out,
                  std::string &error) {
  uint64_t size = 0;
  const int fd = open_regular(path, kind, size, error);
  if (fd < 0) return false;
  if (size > max_bytes) {
    ::close(fd);
    return error = path + ": is " + format_bytes(size) + ", more than the " + format_bytes(max_bytes) + " " + kind +
                   " may have",
           false;
  }
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc &) {
    ::close(fd);
    return error = path + ": cannot allocate " + format_bytes(size) + " to read it", false;
  }
  // Read to the end, but never past the bound: the file may grow meanwhile.
  size_t done = 0;
  while (true) {
    if (done == bytes.size()) {
      if (bytes.size() > max_bytes) break;
      bytes.resize(bytes.size() + 4096);
    }
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = path + ": cannot read: " + errno_text(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done > max_bytes)
    return error = path + ": grew past the " + format_bytes(max_bytes) + " " + kind + " may have while being read",
           false;
  bytes.resize(done);
  out = std::move(bytes);
  return true;
}

// --- TempFile ---

TempFile::~TempFile() { discard(); }

void TempFile::discard() {
  const bool open = stream_ || fd_ >= 0;
  if (stream_) std::fclose(stream_);
  else if (fd_ >= 0) ::close(fd_);
  if (open) ::unlink(path_.c_str());
  stream_ = nullptr;
  fd_ = -1;
}

bool TempFile::create(const std::string &target, std::string &error) {
  discard();
  target_ = target;
  std::string name = directory_of(target) + "/" + base_name(target) + ".tmp.XXXXXX";
  // mkostemp creates with O_EXCL: a name that exists, a symlink included, is
  // never opened; it draws another.
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return error = target + ": cannot create a temporary file beside it: " + errno_text(errno), false;
  fd_ = fd;
  path_ = name;
  write_errno_ = 0;
  return true;
}

std::FILE *TempFile::stream() {
  if (!stream_ && fd_ >= 0) stream_ = ::fdopen(fd_, "wb");
  return stream_;
}

bool TempFile::write(const void *data, size_t bytes) {
  if (write_errno_) return false;
  if (stream_) {
    if (std::fwrite(data, 1, bytes, stream_) == bytes) return true;
    write_errno_ = errno ? errno : EIO;
    return false;
  }
  return fd_ >= 0 && write_fd(fd_, data, bytes, write_errno_);
}

bool TempFile::commit(bool sync, std::string &error) {
  if (fd_ < 0) return error = target_ + ": cannot write: no temporary file", false;
  int e = write_errno_;
  if (stream_) {
    if (!e && (std::fflush(stream_) != 0 || std::ferror(stream_))) e = errno ? errno : EIO;
  }
  if (!e && ::fchmod(fd_, file_mode()) != 0) e = errno;
  if (!e && sync && ::fsync(fd_) != 0) e = errno;
  const int closed = stream_ ? std::fclose(stream_) : ::close(fd_);
  if (!e && closed != 0) e = errno ? errno : EIO;
  stream_ = nullptr;
  fd_ = -1;
  if (!e && ::rename(path_.c_str(), target_.c_str()) != 0) e = errno;
  if (e) {
    ::unlink(path_.c_str());
    return error = target_ + ": cannot write: " + errno_text(e), false;
  }
  return true;
}

bool replace_file(const std::string &target, const std::string &bytes, bool sync, std::string &error) {
  TempFile tmp;
  if (!tmp.create(target, error)) return false;
  tmp.write(bytes.data(), bytes.size());
  if (!tmp.commit(sync, error)) return false;
  // The rename is durable once the directory is; a failure here loses at
  // most the new name after a power cut, never the old contents.
  if (sync)
    if (const int dir = ::open(directory_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  return true;
}

bool write_file(const std::string &path, const std::string &bytes, std::string &error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return error = path + ": cannot create: " + errno_text(errno), false;
  int e = 0;
  write_fd(fd, bytes.data(), bytes.size(), e);
  if (::close(fd) != 0 && !e) e = errno;
  if (e) return error = path + ": cannot write: " + errno_text(e), false;
  return true;
}

bool append_file(const std::string &path, const std::string &bytes, std::string &error) {
  // O_NONBLOCK: a FIFO without a reader fails instead of waiting for one.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
  if (fd < 0)
    return error = path + ": cannot open: " + (errno == ELOOP ? "it is a symbolic link" : errno_text(errno)), false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error = path + ": is " + type_name(st.st_mode) + ", not a file to append to", false;
  }
  int e = 0;
  write_fd(fd, bytes.data(), bytes.size(), e);
  if (::close(fd) != 0 && !e) e = errno;
  if (e) return error = path + ": cannot write: " + errno_text(e), false;
  return true;
}

// --- DirectoryLock ---

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

bool DirectoryLock::acquire(const std::string &dir, std::string &error) {
  const std::string path = dir + "/.train.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0)
    return error = path + ": cannot create the lock of the output directory: " +
                   (errno == ELOOP ? "it is a symbolic link" : errno_text(errno)),
           false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error = path + ": is " + type_name(st.st_mode) + ", not the lock file of the output directory", false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (e != EWOULDBLOCK) return error = path + ": cannot lock: " + errno_text(e), false;
    std::string holder(pid, n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return error = dir + " is in use by another trainer" + (holder.empty() ? "" : " (process " + holder + ")") +
                   "; wait for it to finish, or pass another --out",
           false;
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  int e = 0;
  if (::ftruncate(fd, 0) != 0) e = errno;
  if (!e && ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) e = errno ? errno : EIO;
  if (e) {
    ::close(fd);
    return error = path + ": cannot write: " + errno_text(e), false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return true;
}

}  // namespace vaec::rt
