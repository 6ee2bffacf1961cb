// safetensors files (contract in safetensors.h).
#include "inspect/safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

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
  const std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) return error = tmp + ": cannot create: " + std::strerror(errno), false;
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  bool ok = std::fwrite(length, 1, 8, f) == 8 && std::fwrite(header.data(), 1, header.size(), f) == header.size();
  for (const NamedTensor &t : tensors) {  // x86-64 and AArch64 store floats little-endian already
    uint64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    ok = ok && std::fwrite(t.data, sizeof(float), n, f) == n;
  }
  ok = std::fflush(f) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot write: " + std::strerror(errno ? errno : EIO);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace vaec::rt
