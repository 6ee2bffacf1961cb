// Read-only file mappings and owned buffers (contract in mapped_file.h).
#include "data/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vaec::rt::data {

MappedFile::~MappedFile() {
  if (data) munmap(const_cast<uint8_t *>(data), size);
}

OwnedBytes::~OwnedBytes() { std::free(data); }

namespace {

bool check_regular(const std::string &path, const struct stat &st, const char *kind, std::string &error) {
  if (S_ISDIR(st.st_mode)) return error = path + ": is a directory, not " + kind, false;
  if (!S_ISREG(st.st_mode))
    return error = path + ": is not a regular file (a pipe, socket or device?), not " + kind, false;
  return true;
}

}  // namespace

bool map_file(const std::string &path, const char *kind, std::shared_ptr<const MappedFile> &out,
              std::string &error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return error = path + ": cannot open: " + std::strerror(errno), false;
  if (!check_regular(path, st, kind, error)) return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return error = path + ": cannot open: " + std::strerror(errno), false;
  // Check again what was opened: the path may have changed since stat.
  if (::fstat(fd, &st) != 0) {
    error = path + ": cannot stat: " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!check_regular(path, st, kind, error)) {
    ::close(fd);
    return false;
  }
  auto mapped = std::make_shared<MappedFile>();
  if (st.st_size > 0) {
    void *p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      error = path + ": cannot map " + format_bytes(static_cast<uint64_t>(st.st_size)) + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    // Training reads examples in shuffled order: for a file that may not
    // stay in the page cache, read-ahead around each example would read
    // (and evict) ~40 times what is used.
    if (static_cast<uint64_t>(st.st_size) > (uint64_t{1} << 28)) ::madvise(p, static_cast<size_t>(st.st_size), MADV_RANDOM);
    mapped->data = static_cast<const uint8_t *>(p);
    mapped->size = static_cast<size_t>(st.st_size);
  }
  ::close(fd);  // the mapping keeps the file
  out = std::move(mapped);
  return true;
}

bool allocate_bytes(size_t size, const std::string &what, std::shared_ptr<OwnedBytes> &out, std::string &error) {
  // With overcommit, malloc succeeds for sizes the machine cannot hold and
  // the process dies later when it touches them; say so now instead.
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && size / static_cast<uint64_t>(page) > static_cast<uint64_t>(pages))
    return error = what + ": needs " + format_bytes(size) + ", more than this machine's " +
                   format_bytes(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)) + " of memory",
           false;
  auto owned = std::make_shared<OwnedBytes>();
  owned->data = static_cast<uint8_t *>(std::malloc(size > 0 ? size : 1));
  if (!owned->data) return error = what + ": cannot allocate " + format_bytes(size), false;
  owned->size = size;
  out = std::move(owned);
  return true;
}

}  // namespace vaec::rt::data
