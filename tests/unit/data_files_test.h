// Data files written byte by byte for the data readers' tests
// (data_source_test.cpp, data_archive_test.cpp): IDX, .npy and ZIP/.npz
// bytes, deflate, and the readers called for their error message.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/source.h"

namespace vaec::test::data_files {

using namespace vaec::rt::data;
namespace fs = std::filesystem;

// A fresh, empty directory for one test.
inline std::string fresh_dir(const std::string &name) {
  const std::string dir = ::testing::TempDir() + "/vaec_data_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string write(const std::string &path, const std::string &bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

inline std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX file: magic 00 00 `type` rank, big-endian dims, then `data`.
inline std::string idx(const std::vector<uint32_t> &dims, const std::string &data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

inline std::string bytes_of(const std::vector<uint8_t> &v) { return std::string(v.begin(), v.end()); }
template <typename T>
inline std::string bytes_of(const std::vector<T> &v) {
  return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
}

// A .npy file: `dict` is the header's text (without padding or newline).
inline std::string npy(const std::string &dict, const std::string &data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  s += le(header.size(), major == 1 ? 2 : 4);
  return s + header + data;
}

inline std::string npy_of(const std::string &descr, const std::string &shape, const std::string &data) {
  return npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", data);
}

inline std::string deflate_raw(const std::string &in) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 16, '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline uint32_t crc_of(const std::string &s) { return crc32(0, reinterpret_cast<const Bytef *>(s.data()), s.size()); }

struct ZipEntry {
  std::string name;
  std::string content;  // the member's bytes (the .npy)
  bool deflated = false;
  bool zip64 = false;   // sizes and offset as 0xFFFFFFFF with a ZIP64 extra field
  uint16_t flags = 0, method_override = 0xFFFF;
  uint64_t size_override = ~uint64_t{0}, offset_override = ~uint64_t{0};
  uint32_t crc_xor = 0;
};

// A ZIP archive as Python's zipfile writes it; `zip64_end` adds the ZIP64
// end record and locator.
inline std::string zip(const std::vector<ZipEntry> &entries, bool zip64_end = false, uint16_t disk = 0) {
  std::string out, cd;
  for (const ZipEntry &e : entries) {
    const std::string data = e.deflated ? deflate_raw(e.content) : e.content;
    const uint16_t method = e.method_override != 0xFFFF ? e.method_override : e.deflated ? 8 : 0;
    const uint64_t size = e.size_override != ~uint64_t{0} ? e.size_override : e.content.size();
    const uint64_t offset = e.offset_override != ~uint64_t{0} ? e.offset_override : out.size();
    const uint32_t crc = crc_of(e.content) ^ e.crc_xor;
    const uint64_t max32 = 0xFFFFFFFF;
    out += le(0x04034b50, 4) + le(45, 2) + le(e.flags, 2) + le(method, 2) + le(0, 4) + le(crc, 4);
    out += e.zip64 ? le(max32, 4) + le(max32, 4) : le(data.size(), 4) + le(size, 4);
    out += le(e.name.size(), 2) + le(e.zip64 ? 20 : 0, 2) + e.name;
    if (e.zip64) out += le(1, 2) + le(16, 2) + le(size, 8) + le(data.size(), 8);
    out += data;
    cd += le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(e.flags, 2) + le(method, 2) + le(0, 4) + le(crc, 4);
    cd += e.zip64 ? le(max32, 4) + le(max32, 4) : le(data.size(), 4) + le(size, 4);
    cd += le(e.name.size(), 2) + le(e.zip64 ? 28 : 0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4);
    cd += le(e.zip64 ? max32 : offset, 4) + e.name;
    if (e.zip64) cd += le(1, 2) + le(24, 2) + le(size, 8) + le(data.size(), 8) + le(offset, 8);
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64_end) {
    const uint64_t z = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(entries.size(), 8) +
           le(entries.size(), 8) + le(cd.size(), 8) + le(cd_offset, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(z, 8) + le(1, 4);
  }
  out += le(0x06054b50, 4) + le(disk, 2) + le(0, 2);
  out += zip64_end ? le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFFFFFF, 4) + le(0xFFFFFFFF, 4)
                   : le(entries.size(), 2) + le(entries.size(), 2) + le(cd.size(), 4) + le(cd_offset, 4);
  return out + le(0, 2);
}

// The values of a uint8 array [count, ...] as ints.
inline std::vector<int> ints(const Array &a) {
  std::vector<int> v;
  for (int64_t i = 0; i < a.count(); ++i)
    for (int64_t j = 0; j < a.item_elements(); ++j) v.push_back(static_cast<int>(a.value(i, j)));
  return v;
}

#define EXPECT_ERROR(call, text)                                                              \
  do {                                                                                        \
    std::string error_;                                                                       \
    EXPECT_FALSE(call(error_)) << "no error; expected " << (text);                           \
    EXPECT_NE(error_.find(text), std::string::npos) << "message: " << error_;                 \
  } while (0)

inline bool idx_fails(const std::string &path, std::string &error) {
  Array a;
  return read_idx(path, a, error);
}
inline bool npy_fails(const std::string &path, std::string &error) {
  Array a;
  return read_npy(path, a, error);
}
inline bool npz_fails(const std::string &path, std::string &error) {
  std::vector<std::pair<std::string, Array>> a;
  return read_npz(path, a, error);
}
inline bool open_fails(const std::string &path, std::string &error, const std::string &label_column = "") {
  Source s;
  return open_source(path, OpenOptions{label_column}, s, error);
}

inline const std::vector<uint8_t> kX = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};   // [3, 2, 2]
inline const std::vector<int64_t> kY = {2, 0, 1};
inline const std::vector<uint8_t> kXTest = {20, 21, 22, 23, 24, 25, 26, 27};      // [2, 2, 2]
inline const std::vector<int32_t> kYTest = {4, 1};

// A small MNIST-like .npz: x, y, x_test, y_test and two members that are not
// data.
inline std::vector<ZipEntry> mnist_like(bool deflated, bool zip64) {
  std::vector<ZipEntry> e = {
      {"x.npy", npy_of("|u1", "(3, 2, 2)", bytes_of(kX))},
      {"y.npy", npy_of("<i8", "(3,)", bytes_of(kY))},
      {"x_test.npy", npy_of("|u1", "(2, 2, 2)", bytes_of(kXTest))},
      {"y_test.npy", npy_of("<i4", "(2,)", bytes_of(kYTest))},
      {"notes.npy", npy_of("<f8", "(1,)", std::string(8, '\0'))},
      {"README.txt", "not an array"},
  };
  for (ZipEntry &m : e) m.deflated = deflated, m.zip64 = zip64;
  return e;
}

// What open_source must read from mnist_like.
inline void expect_mnist_like(const std::string &path, const std::string &format = "npz") {
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(path, {}, s, error)) << error;
  EXPECT_EQ(s.format, format);
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(ints(s.train.x), std::vector<int>(kX.begin(), kX.end()));
  EXPECT_EQ(s.train.y, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(s.test.x.shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(ints(s.test.x), std::vector<int>(kXTest.begin(), kXTest.end()));
  EXPECT_EQ(s.test.y, (std::vector<int32_t>{4, 1}));
  EXPECT_EQ(s.classes, 5);  // max over both splits, plus one
}

}  // namespace vaec::test::data_files
