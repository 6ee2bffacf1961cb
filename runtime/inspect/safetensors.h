// Writing weights as safetensors (the format of Hugging Face's safetensors
// library, which PyTorch users load with safetensors.torch.load_file): an
// 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {...}, "h.w": {"dtype": "F32", "shape": [400, 784],
//    "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8, then the tensors' little-endian
// bytes back to back (offsets count from the end of the header).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vaec::rt {

struct NamedTensor {
  std::string name;           // e.g. "h.w"
  std::vector<int64_t> dims;  // e.g. {400, 784}: PyTorch's layout
  const float *data = nullptr;
};

// Writes `path` through an exclusive temporary file beside it and a rename
// (support/files.h). False with a message.
bool write_safetensors(const std::string &path, const std::vector<NamedTensor> &tensors,
                       const std::map<std::string, std::string> &metadata, std::string &error);

}  // namespace vaec::rt
