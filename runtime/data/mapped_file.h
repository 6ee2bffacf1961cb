// A whole file mapped read-only, for the readers that hand out arrays
// pointing into their file (IDX, .npy, stored .npz members), and the checks
// every reader makes before it opens a path.
//
// map_file refuses directories and anything that is not a regular file
// (pipes, devices: opening one for reading could block or have effects)
// before opening it, and opens with O_NONBLOCK besides, so that a path
// swapped for a FIFO between the check and the open cannot hang it. An
// empty file maps to {nullptr, 0}. The mapping is private and read-only:
// changing the file while it is mapped is the one thing these checks cannot
// catch (a shortened file can raise SIGBUS, as with any mapped reader).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/source.h"
#include "support/text.h"  // format_bytes

namespace vaec::rt::data {

struct MappedFile : Storage {
  const uint8_t *data = nullptr;
  size_t size = 0;
  MappedFile() = default;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile() override;
};

// `kind` names what the file should be, for messages: "an IDX file"
// gives "data/x: is a directory, not an IDX file".
bool map_file(const std::string &path, const char *kind, std::shared_ptr<const MappedFile> &out,
              std::string &error);

// Memory a reader filled (inflated .npz members, decoded PNGs, CSV values).
// Allocation failure is a message, not an exception.
struct OwnedBytes : Storage {
  uint8_t *data = nullptr;
  size_t size = 0;
  OwnedBytes() = default;
  OwnedBytes(const OwnedBytes &) = delete;
  OwnedBytes &operator=(const OwnedBytes &) = delete;
  ~OwnedBytes() override;
};

// Allocates `size` bytes (uninitialised) or sets `error` to "<what>: cannot
// allocate N bytes"; also refuses more than the machine's physical memory.
bool allocate_bytes(size_t size, const std::string &what, std::shared_ptr<OwnedBytes> &out, std::string &error);

}  // namespace vaec::rt::data
