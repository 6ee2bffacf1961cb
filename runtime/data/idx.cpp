// IDX files (MNIST's format), memory-mapped: a 4-byte magic 00 00 08 RANK
// (08: unsigned bytes; RANK 1..4), RANK big-endian u32 dimensions, then the
// bytes of the array, row-major, and nothing after them. Array::bytes points
// into the mapping, past the header; the array's storage keeps it mapped.
// Contract in source.h; every check below is a message naming the file.
#include <cstdio>

#include "data/mapped_file.h"
#include "data/source.h"

namespace vaec::rt::data {

bool read_idx(const std::string &path, Array &out, std::string &error) {
  std::shared_ptr<const MappedFile> file;
  if (!map_file(path, "an IDX file", file, error)) return false;
  const uint8_t *p = file->data;
  const size_t size = file->size;
  if (size < 4) return error = path + ": too short for an IDX file (" + std::to_string(size) + " bytes)", false;
  if (p[0] != 0 || p[1] != 0) {
    const bool gzip = p[0] == 0x1f && p[1] == 0x8b;
    return error = path + ": not an IDX file (bad magic number" +
                   (gzip ? "; it is gzip-compressed: gunzip it first)" : ")"),
           false;
  }
  if (p[2] != 0x08) {
    // The other IDX element types, named as the format's description does.
    const char *name = p[2] == 0x09 ? "signed bytes" : p[2] == 0x0B ? "16-bit integers"
                     : p[2] == 0x0C ? "32-bit integers" : p[2] == 0x0D ? "32-bit floats"
                     : p[2] == 0x0E ? "64-bit floats" : "an unknown type";
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", p[2]);
    return error = path + ": IDX element type " + code + " (" + name + ") is not unsigned bytes (0x08)", false;
  }
  const int rank = p[3];
  if (rank < 1 || rank > 4) return error = path + ": IDX rank " + std::to_string(rank) + " is not between 1 and 4", false;
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (size < header)
    return error = path + ": too short for its IDX header (" + std::to_string(header) + " bytes for rank " +
                   std::to_string(rank) + ", the file has " + std::to_string(size) + ")",
           false;
  std::vector<int64_t> shape;
  uint64_t total = 1;
  bool overflow = false;
  for (int i = 0; i < rank; ++i) {
    const uint8_t *b = p + 4 + 4 * i;
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    if (d == 0) return error = path + ": IDX dimension " + std::to_string(i) + " is 0", false;
    overflow |= __builtin_mul_overflow(total, static_cast<uint64_t>(d), &total);
    shape.push_back(d);
  }
  const uint64_t data = size - header;
  if (overflow || total > data)
    return error = path + ": truncated: header promises " +
                   (overflow ? std::string("more than 2^64") : std::to_string(total)) +
                   " bytes of data, the file has " + std::to_string(data),
           false;
  if (total < data)
    return error = path + ": header promises " + std::to_string(total) + " bytes of data, the file has " +
                   std::to_string(data) + " (" + std::to_string(data - total) + " trailing bytes)",
           false;
  out.shape = std::move(shape);
  out.dtype = DType::U8;
  out.bytes = p + header;
  out.storage = std::move(file);
  return true;
}

}  // namespace vaec::rt::data
