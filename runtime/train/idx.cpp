// IDX reading with full validation (contract in idx.h).
#include "train/idx.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace vaec::rt {

int64_t IdxArray::item_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

bool read_idx(const std::string &path, IdxArray &out, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  unsigned char magic[4];
  if (size < 4 || !in.read(reinterpret_cast<char *>(magic), 4)) {
    error = path + ": not an IDX file (shorter than its 4-byte header)";
    return false;
  }
  if (magic[0] != 0 || magic[1] != 0) {
    error = path + ": not an IDX file (bad magic number; is it still gzip-compressed?)";
    return false;
  }
  if (magic[2] != 0x08) {
    error = path + ": IDX element type 0x" + std::to_string(magic[2]) + " is not unsigned bytes (0x08)";
    return false;
  }
  const int rank = magic[3];
  if (rank < 1 || rank > 4) {
    error = path + ": IDX rank " + std::to_string(rank) + " is not between 1 and 4";
    return false;
  }
  out.dims.clear();
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char *>(b), 4)) {
      error = path + ": truncated IDX header";
      return false;
    }
    int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    if (d < 1) {
      error = path + ": IDX dimension " + std::to_string(i) + " is 0";
      return false;
    }
    if (total > (int64_t{1} << 40) / d) {
      error = path + ": IDX dimensions are implausibly large";
      return false;
    }
    total *= d;
    out.dims.push_back(d);
  }
  const int64_t header = 4 + 4 * rank;
  if (size - header != total) {
    error = path + (size - header < total ? ": truncated: header promises " : ": header promises ") +
            std::to_string(total) + " bytes of data, file has " + std::to_string(size - header);
    return false;
  }
  out.data.resize(static_cast<size_t>(total));
  if (!in.read(reinterpret_cast<char *>(out.data.data()), total)) {
    error = path + ": read failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

bool read_idx_dataset(const std::string &dir, const std::string &prefix, IdxDataset &out,
                      std::string &error) {
  if (!read_idx(dir + "/" + prefix + "-images-idx3-ubyte", out.images, error)) return false;
  if (!read_idx(dir + "/" + prefix + "-labels-idx1-ubyte", out.labels, error)) return false;
  if (out.images.dims.size() != 3) {
    error = dir + "/" + prefix + "-images-idx3-ubyte: expected [count, rows, cols] images";
    return false;
  }
  if (out.labels.dims.size() != 1 || out.labels.count() != out.images.count()) {
    error = dir + ": " + std::to_string(out.images.count()) + " images but " +
            std::to_string(out.labels.count()) + " labels in " + prefix + "-labels-idx1-ubyte";
    return false;
  }
  for (uint8_t l : out.labels.data)
    if (l > 9) {
      error = dir + "/" + prefix + "-labels-idx1-ubyte: label " + std::to_string(l) + " is not a digit class 0-9";
      return false;
    }
  return true;
}

}  // namespace vaec::rt
