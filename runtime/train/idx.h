// Reading IDX files (the MNIST format: big-endian header, then uint8 data).
// The generated trainer reads its data set through this; every way a file can
// be wrong (missing, not IDX, wrong element type, truncated, dims overflowing)
// gives a message naming the file, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vaec::rt {

struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28} or {60000}
  std::vector<uint8_t> data;   // row-major, size = product of dims
  int64_t count() const { return dims.empty() ? 0 : dims[0]; }
  int64_t item_size() const;   // product of dims[1..]
};

// Reads an uint8 IDX file. On failure returns false and sets `error` to a
// message such as "data/mnist/t10k-images-idx3-ubyte: truncated: header
// promises 7840000 bytes of data, file has 1000".
bool read_idx(const std::string &path, IdxArray &out, std::string &error);

// An MNIST-style split: images [n, rows, cols] with labels [n].
struct IdxDataset {
  IdxArray images, labels;
};

// Reads `<dir>/<prefix>-images-idx3-ubyte` and `<dir>/<prefix>-labels-idx1-ubyte`
// (prefix "train" or "t10k") and checks that they agree.
bool read_idx_dataset(const std::string &dir, const std::string &prefix, IdxDataset &out,
                      std::string &error);

}  // namespace vaec::rt
