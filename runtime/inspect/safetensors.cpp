// safetensors files (contract in safetensors.h).
#include "inspect/safetensors.h"

#include "support/files.h"
#include "support/json.h"

namespace vaec::rt {

bool write_safetensors(const std::string &path, const std::vector<NamedTensor> &tensors,
                       const std::map<std::string, std::string> &metadata, std::string &error) {
  std::string header = "{\"__metadata__\": {";
  bool first = true;
  for (const auto &[k, v] : metadata) header += (first ? "" : ", ") + json_string(k) + ": " + json_string(v), first = false;
  header += "}";
  uint64_t offset = 0;
  for (const NamedTensor &t : tensors) {
    uint64_t n = 1;
    header += ", " + json_string(t.name) + ": {\"dtype\": \"F32\", \"shape\": [";
    for (size_t i = 0; i < t.dims.size(); ++i) header += (i ? ", " : "") + std::to_string(t.dims[i]), n *= t.dims[i];
    header += "], \"data_offsets\": [" + std::to_string(offset) + ", " + std::to_string(offset + 4 * n) + "]}";
    offset += 4 * n;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  TempFile tmp;
  if (!tmp.create(path, error)) return false;
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  tmp.write(length, 8);
  tmp.write(header.data(), header.size());
  for (const NamedTensor &t : tensors) {  // x86-64 and AArch64 store floats little-endian already
    uint64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    tmp.write(t.data, n * sizeof(float));
  }
  return tmp.commit(false, error);
}

}  // namespace vaec::rt
