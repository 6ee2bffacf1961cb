// The data readers (runtime/data/source.h) on files the tests write byte by
// byte: round trips of every format, one test per way a file can be wrong
// (checking the message), files written by real numpy when python3 has it,
// and the real MNIST files when scripts/setup.sh has fetched them.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/source.h"
#include "support/image.h"

using namespace vaec::rt::data;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory for one test.
std::string fresh_dir(const std::string &name) {
  const std::string dir = ::testing::TempDir() + "/vaec_data_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string write(const std::string &path, const std::string &bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX file: magic 00 00 `type` rank, big-endian dims, then `data`.
std::string idx(const std::vector<uint32_t> &dims, const std::string &data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

std::string bytes_of(const std::vector<uint8_t> &v) { return std::string(v.begin(), v.end()); }
template <typename T>
std::string bytes_of(const std::vector<T> &v) {
  return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
}

// A .npy file: `dict` is the header's text (without padding or newline).
std::string npy(const std::string &dict, const std::string &data, int major = 1) {
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

std::string npy_of(const std::string &descr, const std::string &shape, const std::string &data) {
  return npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", data);
}

std::string deflate_raw(const std::string &in) {
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

uint32_t crc_of(const std::string &s) { return crc32(0, reinterpret_cast<const Bytef *>(s.data()), s.size()); }

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
std::string zip(const std::vector<ZipEntry> &entries, bool zip64_end = false, uint16_t disk = 0) {
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
std::vector<int> ints(const Array &a) {
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

bool idx_fails(const std::string &path, std::string &error) {
  Array a;
  return read_idx(path, a, error);
}
bool npy_fails(const std::string &path, std::string &error) {
  Array a;
  return read_npy(path, a, error);
}
bool npz_fails(const std::string &path, std::string &error) {
  std::vector<std::pair<std::string, Array>> a;
  return read_npz(path, a, error);
}
bool open_fails(const std::string &path, std::string &error, const std::string &label_column = "") {
  Source s;
  return open_source(path, OpenOptions{label_column}, s, error);
}

}  // namespace

// --- dtypes ---

TEST(DataSource, DtypeNamesAndSizes) {
  EXPECT_STREQ(dtype_name(DType::U8), "uint8");
  EXPECT_STREQ(dtype_name(DType::F32), "float32");
  EXPECT_STREQ(dtype_name(DType::F64), "float64");
  EXPECT_STREQ(dtype_name(DType::I32), "int32");
  EXPECT_STREQ(dtype_name(DType::I64), "int64");
  EXPECT_EQ(dtype_size(DType::U8), 1);
  EXPECT_EQ(dtype_size(DType::F32), 4);
  EXPECT_EQ(dtype_size(DType::F64), 8);
  EXPECT_EQ(dtype_size(DType::I32), 4);
  EXPECT_EQ(dtype_size(DType::I64), 8);
}

// --- IDX ---

TEST(DataSource, IdxRank4RoundTrip) {
  const std::string dir = fresh_dir("idx4");
  std::vector<uint8_t> data(2 * 3 * 4 * 3);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 3);
  const std::string path = write(dir + "/rgb-idx4-ubyte", idx({2, 3, 4, 3}, bytes_of(data)));
  Array a;
  std::string error;
  ASSERT_TRUE(read_idx(path, a, error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_EQ(a.item_shape(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(a.item_elements(), 36);
  EXPECT_EQ(a.item_bytes(), 36);
  EXPECT_EQ(a.dtype, DType::U8);
  EXPECT_EQ(a.value(1, 5), data[36 + 5]);
  EXPECT_EQ(std::memcmp(a.bytes, data.data(), data.size()), 0);
  // Mapped, not copied: the storage outlives the file's name.
  fs::remove(path);
  EXPECT_EQ(a.value(1, 35), data[71]);
  // The same file through open_source: examples without labels.
  write(dir + "/images.bin", idx({2, 3, 4, 3}, bytes_of(data)));
  Source s;
  ASSERT_TRUE(open_source(dir + "/images.bin", {}, s, error)) << error;
  EXPECT_EQ(s.format, "idx");
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_TRUE(s.train.y.empty());
  EXPECT_FALSE(s.test.present());
  EXPECT_EQ(s.classes, 0);
}

TEST(DataSource, IdxRefusesDirectoriesAndFifos) {
  const std::string dir = fresh_dir("idx_special");
  EXPECT_ERROR([&](std::string &e) { return idx_fails(dir, e); }, "is a directory, not an IDX file");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever if the reader opened it for reading without care.
  EXPECT_ERROR([&](std::string &e) { return idx_fails(fifo, e); }, "is not a regular file");
  EXPECT_ERROR([&](std::string &e) { return open_fails(fifo, e); }, "is not a regular file or a directory");
  EXPECT_ERROR([&](std::string &e) { return idx_fails(dir + "/missing", e); }, "missing: cannot open: No such file");
}

TEST(DataSource, IdxRefusesBadHeaders) {
  const std::string d = fresh_dir("idx_bad");
  auto fails = [](const std::string &path) { return [path](std::string &e) { return idx_fails(path, e); }; };
  EXPECT_ERROR(fails(write(d + "/short", std::string("\0\0\x08", 3))), "too short for an IDX file (3 bytes)");
  EXPECT_ERROR(fails(write(d + "/gz", std::string("\x1f\x8b\x08\x00rest", 8))),
               "not an IDX file (bad magic number; it is gzip-compressed: gunzip it first)");
  EXPECT_ERROR(fails(write(d + "/f32", idx({1}, "abcd", 0x0D))),
               "IDX element type 0x0D (32-bit floats) is not unsigned bytes (0x08)");
  EXPECT_ERROR(fails(write(d + "/rank0", idx({}, ""))), "IDX rank 0 is not between 1 and 4");
  EXPECT_ERROR(fails(write(d + "/rank5", idx({1, 1, 1, 1, 1}, "x"))), "IDX rank 5 is not between 1 and 4");
  EXPECT_ERROR(fails(write(d + "/zero", idx({3, 0, 2}, ""))), "IDX dimension 1 is 0");
  EXPECT_ERROR(fails(write(d + "/header", idx({60000, 28, 28}, "").substr(0, 8))),
               "too short for its IDX header (16 bytes for rank 3, the file has 8)");
  EXPECT_ERROR(fails(write(d + "/trunc", idx({60000, 28, 28}, std::string(1000, 'x')))),
               "truncated: header promises 47040000 bytes of data, the file has 1000");
  EXPECT_ERROR(fails(write(d + "/huge", idx({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "x"))),
               "truncated: header promises more than 2^64 bytes of data, the file has 1");
  EXPECT_ERROR(fails(write(d + "/trailing", idx({2, 2}, "abcdef"))),
               "header promises 4 bytes of data, the file has 6 (2 trailing bytes)");
}

// --- .npy ---

TEST(DataSource, NpyRoundTripsEveryVersionAndDtype) {
  const std::string d = fresh_dir("npy");
  const std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  for (int major : {1, 2, 3}) {
    const std::string path = write(d + "/f" + std::to_string(major) + ".npy",
                                   npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", bytes_of(f), major));
    Array a;
    std::string error;
    ASSERT_TRUE(read_npy(path, a, error)) << error;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(a.dtype, DType::F32);
    EXPECT_EQ(a.value(2, 1), 7.0);
    EXPECT_FLOAT_EQ(static_cast<float>(a.value(2, 0)), 1e-3f);
  }
  // Keys in another order, double quotes, newlines, no trailing comma, Python 2 longs.
  const std::vector<double> g = {0.25, -1e300};
  Array a;
  std::string error;
  ASSERT_TRUE(read_npy(write(d + "/g.npy", npy("{ \"shape\" : (2L,\n 1L) ,'fortran_order':False,'descr':'<f8'}",
                                               bytes_of(g))),
                       a, error))
      << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.value(1, 0), -1e300);
  // Every accepted descr.
  const std::vector<std::pair<std::string, DType>> descrs = {
      {"|u1", DType::U8}, {"<u1", DType::U8}, {"u1", DType::U8}, {"<i4", DType::I32}, {"<i8", DType::I64}};
  for (const auto &[descr, dtype] : descrs) {
    const std::string data(dtype_size(dtype) * 5, '\1');
    ASSERT_TRUE(read_npy(write(d + "/l.npy", npy_of(descr, "(5,)", data)), a, error)) << descr << ": " << error;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{5}));
    EXPECT_EQ(a.dtype, dtype) << descr;
  }
  const std::vector<int64_t> labels = {3, 0, 9, 2};
  ASSERT_TRUE(read_npy(write(d + "/y.npy", npy_of("<i8", "(4,)", bytes_of(labels))), a, error)) << error;
  EXPECT_EQ(a.value(2, 0), 9);  // 1-d: one element per "example"
  // A 0-d array reads, but is no set of examples.
  ASSERT_TRUE(read_npy(write(d + "/scalar.npy", npy_of("<f8", "()", bytes_of(g).substr(0, 8))), a, error)) << error;
  EXPECT_TRUE(a.shape.empty());
  EXPECT_ERROR([&](std::string &e) { return open_fails(d + "/scalar.npy", e); },
               "the examples are a 0-d array (one number), not an array of examples");
  EXPECT_ERROR([&](std::string &e) { return open_fails(d + "/y.npy", e); }, "the examples are int64");
  EXPECT_ERROR([&](std::string &e) { return open_fails(d + "/f1.npy", e, "label"); },
               "a label column ('label') applies to CSV files; this is an .npy file");
  // Through open_source, with the extension in capitals.
  fs::copy_file(d + "/f1.npy", d + "/F.NPY");
  Source s;
  ASSERT_TRUE(open_source(d + "/F.NPY", {}, s, error)) << error;
  EXPECT_EQ(s.format, "npy");
  EXPECT_EQ(s.train.x.count(), 3);
  EXPECT_FALSE(s.test.present());
}

TEST(DataSource, NpyRefusesBadFiles) {
  const std::string d = fresh_dir("npy_bad");
  auto fails = [](const std::string &path) { return [path](std::string &e) { return npy_fails(path, e); }; };
  const std::string f6(24, '\0');
  EXPECT_ERROR(fails(write(d + "/magic.npy", "PK\3\4 not numpy at all")), "not a .npy file (no \\x93NUMPY magic");
  std::string v4 = npy_of("<f4", "(3, 2)", f6);
  v4[6] = 4;
  EXPECT_ERROR(fails(write(d + "/v4.npy", v4)), ".npy format version 4.0 is not 1.0, 2.0 or 3.0");
  std::string long_header = npy_of("<f4", "(3, 2)", f6);
  long_header[8] = static_cast<char>(0xE8), long_header[9] = 3;  // 1000
  EXPECT_ERROR(fails(write(d + "/len.npy", long_header)),
               "the .npy header's length (1000 bytes) runs past the end of the file (152 bytes)");
  std::string no_newline = npy_of("<f4", "(3, 2)", f6);
  no_newline[10 + 117] = ' ';  // the last byte of its 118-byte header
  EXPECT_ERROR(fails(write(d + "/nl.npy", no_newline)), "the .npy header is not terminated by a newline");
  EXPECT_ERROR(fails(write(d + "/be.npy", npy_of(">f4", "(3, 2)", f6))), "dtype '>f4' is big-endian");
  EXPECT_ERROR(fails(write(d + "/f2.npy", npy_of("<f2", "(3, 2)", f6))),
               "dtype '<f2' is not one of uint8, float32, float64, int32, int64");
  EXPECT_ERROR(fails(write(d + "/i1.npy", npy_of("|i1", "(3, 2)", f6))), "dtype '|i1' is not one of");
  EXPECT_ERROR(fails(write(d + "/f.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", f6))),
               "the array is in Fortran order; save it with np.ascontiguousarray");
  EXPECT_ERROR(fails(write(d + "/big.npy", npy_of("<f4", "(4294967296, 4294967296)", f6))),
               "the shape's size overflows 64 bits");
  EXPECT_ERROR(fails(write(d + "/short.npy", npy_of("<f4", "(5, 2)", f6))),
               "truncated: header promises 40 bytes of data after its 128-byte header, the file has 24");
  EXPECT_ERROR(fails(write(d + "/long.npy", npy_of("<f4", "(2, 2)", f6))),
               "header promises 16 bytes of data after its 128-byte header, the file has 24 (8 trailing bytes)");
  EXPECT_ERROR(fails(write(d + "/nokey.npy", npy("{'descr': '<f4', 'fortran_order': False}", f6))),
               "malformed .npy header: it lacks 'shape'");
  EXPECT_ERROR(fails(write(d + "/key.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", f6))),
               "malformed .npy header: unexpected key 'x'");
  EXPECT_ERROR(fails(write(d + "/rec.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", f6))),
               "structured dtype");
  EXPECT_ERROR(fails(write(d + "/neg.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", f6))),
               "expected a dimension in the shape");
  EXPECT_ERROR(fails(write(d + "/tiny.npy", "\x93NUMPY")), "not a .npy file");
  EXPECT_ERROR(fails(d), "is a directory, not a .npy file");
  // 1-d examples are refused by open_source.
  write(d + "/vec.npy", npy_of("<f4", "(6,)", f6));
  EXPECT_ERROR([&](std::string &e) { return open_fails(d + "/vec.npy", e); },
               "the examples are 1-d [6]; an array of examples needs a dimension after the count");
}

// --- .npz ---

namespace {

const std::vector<uint8_t> kX = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};   // [3, 2, 2]
const std::vector<int64_t> kY = {2, 0, 1};
const std::vector<uint8_t> kXTest = {20, 21, 22, 23, 24, 25, 26, 27};      // [2, 2, 2]
const std::vector<int32_t> kYTest = {4, 1};

std::vector<ZipEntry> mnist_like(bool deflated, bool zip64) {
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

void expect_mnist_like(const std::string &path, const std::string &format = "npz") {
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

}  // namespace

TEST(DataSource, NpzStoredMembersAreMappedInPlace) {
  const std::string d = fresh_dir("npz_stored");
  const std::string path = write(d + "/set.npz", zip(mnist_like(false, false)));
  expect_mnist_like(path);
  std::vector<std::pair<std::string, Array>> arrays;
  std::string error;
  ASSERT_TRUE(read_npz(path, arrays, error)) << error;
  ASSERT_EQ(arrays.size(), 5u);  // README.txt is no array
  EXPECT_EQ(arrays[0].first, "x");
  EXPECT_EQ(arrays[4].first, "notes");
  // Zero-copy: every stored array keeps the one mapping of the archive.
  EXPECT_EQ(arrays[0].second.storage.get(), arrays[1].second.storage.get());
  // Only the named members are read.
  ASSERT_TRUE(read_npz(path, {"y"}, arrays, error)) << error;
  ASSERT_EQ(arrays.size(), 5u);
  EXPECT_TRUE(arrays[0].second.shape.empty());
  EXPECT_EQ(arrays[1].second.shape, (std::vector<int64_t>{3}));
}

TEST(DataSource, NpzDeflatedMembersAreInflated) {
  const std::string d = fresh_dir("npz_deflated");
  expect_mnist_like(write(d + "/set.npz", zip(mnist_like(true, false))));
  // A larger, compressible float member.
  std::vector<float> big(10000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 7) * 0.5f;
  std::vector<ZipEntry> e = {{"x.npy", npy_of("<f4", "(100, 100)", bytes_of(big)), true}};
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(write(d + "/big.npz", zip(e)), {}, s, error)) << error;
  EXPECT_EQ(s.train.x.dtype, DType::F32);
  EXPECT_EQ(s.train.x.value(99, 99), big[9999]);
  EXPECT_EQ(s.train.x.value(3, 4), big[304]);
  EXPECT_TRUE(s.train.y.empty());
  EXPECT_EQ(s.classes, 0);
}

TEST(DataSource, NpzZip64) {
  const std::string d = fresh_dir("npz_zip64");
  expect_mnist_like(write(d + "/stored.npz", zip(mnist_like(false, true), true)));
  expect_mnist_like(write(d + "/deflated.npz", zip(mnist_like(true, true), true)));
  // ZIP64 extra fields with the classic end record.
  expect_mnist_like(write(d + "/extra_only.npz", zip(mnist_like(false, true), false)));
}

TEST(DataSource, NpzRefusesBadArchives) {
  const std::string d = fresh_dir("npz_bad");
  auto fails = [](const std::string &path) { return [path](std::string &e) { return npz_fails(path, e); }; };
  const std::string x = npy_of("|u1", "(3, 2, 2)", bytes_of(kX));
  EXPECT_ERROR(fails(write(d + "/short.npz", "PK")), "not a ZIP archive (too short");
  EXPECT_ERROR(fails(write(d + "/text.npz", std::string(100, 'a'))),
               "not a ZIP archive (no end-of-central-directory record)");
  ZipEntry enc{"x.npy", x};
  enc.flags = 1;
  EXPECT_ERROR(fails(write(d + "/enc.npz", zip({enc}))), "member x.npy is encrypted");
  ZipEntry bz{"x.npy", x};
  bz.method_override = 12;
  EXPECT_ERROR(fails(write(d + "/bz.npz", zip({bz}))),
               "member x.npy uses compression method 12 (bzip2); vaec reads stored");
  EXPECT_ERROR(fails(write(d + "/disk.npz", zip({{"x.npy", x}}, false, 1))), "multi-disk (split) ZIP archive");
  std::string outside = zip({{"x.npy", x}});
  outside[outside.size() - 3] = 0x7F;  // the central directory's offset, high byte
  EXPECT_ERROR(fails(write(d + "/cd.npz", outside)), "the central directory lies outside the file");
  ZipEntry far{"x.npy", x};
  far.offset_override = 1u << 30;
  EXPECT_ERROR(fails(write(d + "/local.npz", zip({far}))), "its local header is missing or outside the file");
  ZipEntry far64{"x.npy", x};
  far64.zip64 = true, far64.offset_override = uint64_t{1} << 40;
  EXPECT_ERROR(fails(write(d + "/local64.npz", zip({far64}, true))), "its local header is missing or outside the file");
  ZipEntry bomb{"x.npy", x, true, true};
  bomb.size_override = uint64_t{1} << 40;
  EXPECT_ERROR(fails(write(d + "/bomb.npz", zip({bomb}, true))), "beyond deflate's 1032:1 limit");
  ZipEntry empty{"x.npy", x, true};
  empty.size_override = 0;
  EXPECT_ERROR(fails(write(d + "/zero.npz", zip({empty}))), "inflates to more than the 0 bytes");
  ZipEntry crc{"x.npy", x, true};
  crc.crc_xor = 1;
  EXPECT_ERROR(fails(write(d + "/crc.npz", zip({crc}))), "member x.npy: CRC-32 mismatch");
  ZipEntry more{"x.npy", x, true};
  more.size_override = x.size() + 10;
  EXPECT_ERROR(fails(write(d + "/more.npz", zip({more}))),
               "inflates to 140 bytes, but its directory entry states 150");
  ZipEntry less{"x.npy", x, true};
  less.size_override = x.size() - 10;
  EXPECT_ERROR(fails(write(d + "/less.npz", zip({less}))), "inflates to more than the 130 bytes");
  ZipEntry stored{"x.npy", x};
  stored.size_override = x.size() + 1;
  EXPECT_ERROR(fails(write(d + "/stored.npz", zip({stored}))), "a stored member of 141 bytes occupies 140");
  // The member's own .npy is checked against its inflated size.
  const std::string lying = npy_of("|u1", "(4, 2, 2)", bytes_of(kX));
  EXPECT_ERROR(fails(write(d + "/lying.npz", zip({{"x.npy", lying, true}}))),
               "member x.npy: truncated: header promises 16 bytes of data after its 128-byte header, the member has 12");
  EXPECT_ERROR(fails(write(d + "/twice.npz", zip({{"x.npy", x}, {"x.npy", x}}))), "holds two members named x.npy");
  std::string cut = zip({{"x.npy", x, true}});
  cut.erase(30 + 5 + 10, 4);  // four bytes out of the compressed data
  EXPECT_ERROR(fails(write(d + "/cut.npz", cut)), "damaged ZIP archive");
}

TEST(DataSource, NpzContentsAreChecked) {
  const std::string d = fresh_dir("npz_contents");
  auto fails = [](const std::string &path) { return [path](std::string &e) { return open_fails(path, e); }; };
  const std::string x = npy_of("|u1", "(3, 2, 2)", bytes_of(kX));
  EXPECT_ERROR(fails(write(d + "/positional.npz", zip({{"arr_0.npy", x}}))),
               "no array named x (it holds arr_0); save the examples as np.savez(path, x=..., y=...)");
  EXPECT_ERROR(fails(write(d + "/count.npz",
                           zip({{"x.npy", x}, {"y.npy", npy_of("<i8", "(2,)", bytes_of(std::vector<int64_t>{1, 2}))}}))),
               "3 examples but 2 labels in y");
  EXPECT_ERROR(fails(write(d + "/flat.npz", zip({{"x.npy", npy_of("|u1", "(12,)", bytes_of(kX))}}))),
               "the examples in x are 1-d [12]");
  EXPECT_ERROR(fails(write(d + "/int.npz", zip({{"x.npy", npy_of("<i4", "(3, 1)", bytes_of(kX))}}))),
               "the examples in x are int32; examples must be uint8, float32 or float64");
  EXPECT_ERROR(fails(write(d + "/fy.npz", zip({{"x.npy", x}, {"y.npy", npy_of("<f4", "(3,)", bytes_of(kX))}}))),
               "the labels in y are float32; labels must be uint8, int32 or int64");
  EXPECT_ERROR(fails(write(d + "/y2.npz", zip({{"x.npy", x}, {"y.npy", npy_of("|u1", "(3, 1)", "abc")}}))),
               "the labels in y have shape [3,1]; labels must be 1-d");
  EXPECT_ERROR(fails(write(d + "/neg.npz",
                           zip({{"x.npy", x}, {"y.npy", npy_of("<i8", "(3,)", bytes_of(std::vector<int64_t>{0, -1, 2}))}}))),
               "label -1 at index 1 in y is negative");
  EXPECT_ERROR(fails(write(d + "/ytest.npz", zip({{"x.npy", x}, {"y_test.npy", npy_of("<i8", "(1,)", le(0, 8))}}))),
               "y_test without x_test");
  EXPECT_ERROR(fails(write(d + "/shape.npz", zip({{"x.npy", x}, {"x_test.npy", npy_of("|u1", "(2, 3)", "abcdef")}}))),
               "the test examples are [3] uint8, but the training examples are [2,2] uint8");
  EXPECT_ERROR(fails(write(d + "/empty.npz", zip({{"x.npy", npy_of("|u1", "(0, 2)", "")}}))),
               "no examples in x (shape [0,2])");
}

// --- PNG folders ---

namespace {

vaec::rt::Image picture(int w, int h, int channels, int seed) {
  vaec::rt::Image im(w, h, channels);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i * 7 + seed * 31);
  return im;
}

void png(const std::string &path, const vaec::rt::Image &im) {
  fs::create_directories(fs::path(path).parent_path());
  std::string error;
  ASSERT_TRUE(vaec::rt::write_png(path, im, error)) << error;
}

// A PNG in a format write_png does not make (16-bit, alpha).
void png_raw(const std::string &path, int w, int h, uint32_t format, const void *pixels) {
  png_image p{};
  p.version = PNG_IMAGE_VERSION;
  p.width = w, p.height = h, p.format = format;
  ASSERT_TRUE(png_image_write_to_file(&p, path.c_str(), 0, pixels, 0, nullptr)) << p.message;
  png_image_free(&p);
}

bool folder_fails(const std::string &dir, std::string &error) {
  Split s;
  std::vector<std::string> names;
  return read_png_folder(dir, s, names, error);
}

}  // namespace

TEST(DataSource, PngFlatFolder) {
  const std::string d = fresh_dir("png_flat");
  for (int i = 0; i < 3; ++i) png(d + "/img" + std::to_string(2 - i) + ".png", picture(5, 4, 1, i));
  write(d + "/.DS_Store", "hidden files are skipped");
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(d, {}, s, error)) << error;
  EXPECT_EQ(s.format, "png folder");
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_TRUE(s.train.y.empty());
  EXPECT_TRUE(s.class_names.empty());
  EXPECT_EQ(s.classes, 0);
  // Name order: img0.png (written with seed 2) first.
  const vaec::rt::Image first = picture(5, 4, 1, 2);
  EXPECT_EQ(std::memcmp(s.train.x.bytes, first.pixels.data(), first.pixels.size()), 0);
}

TEST(DataSource, PngClassFolders) {
  const std::string d = fresh_dir("png_classes");
  // Written out of order; classes sort by name, files by name in each.
  png(d + "/dog/b.png", picture(3, 2, 3, 1));
  png(d + "/dog/a.png", picture(3, 2, 3, 2));
  png(d + "/cat/z.png", picture(3, 2, 3, 3));
  write(d + "/LICENSE", "ignored beside class folders, as ImageFolder does");
  write(d + "/cat/.hidden.png", "skipped");
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(d, {}, s, error)) << error;
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{3, 2, 3, 3}));
  EXPECT_EQ(s.train.y, (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(s.classes, 2);
  const vaec::rt::Image a = picture(3, 2, 3, 2);  // dog/a.png, the second image
  EXPECT_EQ(std::memcmp(s.train.x.bytes + 18, a.pixels.data(), 18), 0);
  EXPECT_EQ(s.train.x.value(1, 17), a.pixels[17]);
}

TEST(DataSource, PngFolderErrors) {
  const std::string base = fresh_dir("png_bad");
  auto fails = [](const std::string &dir) { return [dir](std::string &e) { return folder_fails(dir, e); }; };
  {
    const std::string d = base + "/ragged";
    png(d + "/a/0.png", picture(28, 28, 1, 0));
    png(d + "/b/7.png", picture(32, 32, 1, 0));
    EXPECT_ERROR(fails(d), "b/7.png: is 32x32, but a/0.png is 28x28; the images of a folder must all have one size");
  }
  {
    const std::string d = base + "/channels";
    png(d + "/0.png", picture(4, 4, 1, 0));
    png(d + "/1.png", picture(4, 4, 3, 0));
    EXPECT_ERROR(fails(d), "1.png: is 4x4 RGB, but 0.png is 4x4 grey");
  }
  {
    const std::string d = base + "/text";
    png(d + "/0.png", picture(4, 4, 1, 0));
    write(d + "/notes.txt", "x");
    EXPECT_ERROR(fails(d), "notes.txt: is not a .png file");
  }
  {
    const std::string d = base + "/garbage";
    png(d + "/0.png", picture(4, 4, 1, 0));
    write(d + "/1.png", "not a png");
    EXPECT_ERROR(fails(d), "1.png: not a PNG image vaec can read");
  }
  {
    const std::string d = base + "/mixed";
    png(d + "/a/0.png", picture(4, 4, 1, 0));
    png(d + "/stray.png", picture(4, 4, 1, 0));
    EXPECT_ERROR(fails(d), "stray.png: a PNG beside class sub-folders belongs to no class");
  }
  {
    const std::string d = base + "/empty";
    fs::create_directories(d);
    write(d + "/.hidden", "");
    EXPECT_ERROR(fails(d), "empty: holds no PNG images");
  }
  {
    const std::string d = base + "/empty_class";
    png(d + "/a/0.png", picture(4, 4, 1, 0));
    fs::create_directories(d + "/b");
    EXPECT_ERROR(fails(d), "b: the class folder holds no PNG images");
  }
  {
    const std::string d = base + "/nested";
    png(d + "/a/deeper/0.png", picture(4, 4, 1, 0));
    EXPECT_ERROR(fails(d), "a/deeper: a folder inside the class folder a");
  }
  {
    const std::string d = base + "/deep16";
    fs::create_directories(d);
    std::vector<uint16_t> px(16, 40000);
    png_raw(d + "/0.png", 4, 4, PNG_FORMAT_LINEAR_Y, px.data());
    EXPECT_ERROR(fails(d), "0.png: is a 16-bit PNG");
  }
  {
    const std::string d = base + "/alpha";
    fs::create_directories(d);
    std::vector<uint8_t> px(4 * 4 * 4, 200);
    png_raw(d + "/0.png", 4, 4, PNG_FORMAT_RGBA, px.data());
    EXPECT_ERROR(fails(d), "0.png: has transparency");
  }
  {
    const std::string d = base + "/empty_file";
    write(d + "/0.png", "");
    EXPECT_ERROR(fails(d), "0.png: not a PNG image vaec can read");
  }
  {
    // A sound header, then the image data cut short.
    const std::string d = base + "/cut";
    png(d + "/0.png", picture(40, 40, 3, 0));
    std::ifstream in(d + "/0.png", std::ios::binary);
    const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write(d + "/0.png", whole.substr(0, whole.size() / 2));
    EXPECT_ERROR(fails(d), "0.png: cannot decode PNG");
  }
  {
    // A header promising 200000 x 100000 pixels: refused before anything
    // that size is allocated.
    const std::string d = base + "/huge";
    auto chunk = [](const std::string &type, const std::string &data) {
      const std::string body = type + data;
      return be32(static_cast<uint32_t>(data.size())) + body + be32(crc_of(body));
    };
    const std::string ihdr = be32(200000) + be32(100000) + std::string("\x08\x00\x00\x00\x00", 5);
    write(d + "/0.png", "\x89PNG\r\n\x1a\n" + chunk("IHDR", ihdr) + chunk("IDAT", "xx") + chunk("IEND", ""));
    EXPECT_ERROR(fails(d), "1 image of 200000x100000 grey (0.png) would need more than the 16 GiB");
  }
  {
    // Many files, two bad: the first in name order is reported, whatever
    // order the threads reach them in.
    const std::string d = base + "/many";
    for (int i = 0; i < 300; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "/%03d.png", i);
      if (i == 120 || i == 250) write(d + name, "bad");
      else png(d + name, picture(6, 6, 1, i));
    }
    for (int run = 0; run < 3; ++run) EXPECT_ERROR(fails(d), "120.png: not a PNG image");
  }
}

// --- CSV ---

namespace {

bool csv_fails(const std::string &path, const std::string &label, std::string &error) {
  Split s;
  std::vector<std::string> columns;
  return read_csv(path, label, s, columns, error);
}

}  // namespace

TEST(DataSource, CsvWithHeaderAndLabels) {
  const std::string d = fresh_dir("csv");
  const std::string path = write(d + "/t.csv", "\xEF\xBB\xBF" "a,\"b, c\",label\r\n1,2.5,3\n-4, +5e-1 ,\"0\"\n\n\n");
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(path, {"label"}, s, error)) << error;
  EXPECT_EQ(s.format, "csv");
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(s.train.x.dtype, DType::F32);
  EXPECT_EQ(s.train.x.value(0, 1), 2.5);
  EXPECT_EQ(s.train.x.value(1, 0), -4.0);
  EXPECT_EQ(s.train.x.value(1, 1), 0.5);
  EXPECT_EQ(s.train.y, (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(s.columns, (std::vector<std::string>{"a", "b, c"}));
  EXPECT_EQ(s.classes, 4);
  // Without a label column every column is data.
  Split split;
  std::vector<std::string> columns;
  ASSERT_TRUE(read_csv(path, "", split, columns, error)) << error;
  EXPECT_EQ(split.x.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(split.y.empty());
  EXPECT_EQ(columns.size(), 3u);
  // Without a header.
  ASSERT_TRUE(read_csv(write(d + "/n.csv", "1,2\n3,4"), "", split, columns, error)) << error;
  EXPECT_EQ(split.x.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(split.x.value(1, 1), 4.0);
  EXPECT_TRUE(columns.empty());
}

TEST(DataSource, CsvErrorsNameTheRowAndColumn) {
  const std::string d = fresh_dir("csv_bad");
  auto fails = [](const std::string &path, const std::string &label = "") {
    return [path, label](std::string &e) { return csv_fails(path, label, e); };
  };
  EXPECT_ERROR(fails(write(d + "/abc.csv", "a,b,label\n1,2,0\n3,abc,1\n")), "abc.csv:3:3: error: 'abc' is not a number");
  // Columns count characters, not bytes (é is two bytes).
  EXPECT_ERROR(fails(write(d + "/utf8.csv", "\"é\"b,c\n1,2\n")), "utf8.csv:1:4: error: text after the closing quote");
  EXPECT_ERROR(fails(write(d + "/nan.csv", "1,2\n3,nan\n")), "nan.csv:2:3: error: 'nan' is not a finite number");
  EXPECT_ERROR(fails(write(d + "/inf.csv", "1,2\n-inf,1\n")), "inf.csv:2:1: error: '-inf' is not a finite number");
  EXPECT_ERROR(fails(write(d + "/huge.csv", "1,2\n1e39,1\n")), "huge.csv:2:1: error: '1e39' does not fit in float32");
  EXPECT_ERROR(fails(write(d + "/blank.csv", "1,2\n3,,\n")), "blank.csv:2: error: 3 fields, but line 1 has 2");
  EXPECT_ERROR(fails(write(d + "/empty_field.csv", "1,2\n3,\n")), "empty_field.csv:2:3: error: an empty field is not a number");
  EXPECT_ERROR(fails(write(d + "/ragged.csv", "a,b,c,d,e,f\n1,2,3,4,5\n")), "ragged.csv:2: error: 5 fields, but the header has 6");
  EXPECT_ERROR(fails(write(d + "/nolabel.csv", "a,b\n1,2\n"), "label"),
               "no column named 'label' (its columns: 'a', 'b')");
  EXPECT_ERROR(fails(write(d + "/noheader.csv", "1,2\n3,4\n"), "label"),
               "has no header row (line 1 is all numbers), so no column named 'label'");
  EXPECT_ERROR(fails(write(d + "/frac.csv", "a,label\n1,2.5\n"), "label"),
               "frac.csv:2:3: error: label '2.5' is not a non-negative integer");
  EXPECT_ERROR(fails(write(d + "/neg.csv", "a,label\n1,-1\n"), "label"), "label '-1' is not a non-negative integer");
  EXPECT_ERROR(fails(write(d + "/only.csv", "label\n1\n"), "label"), "has no columns besides the label column 'label'");
  EXPECT_ERROR(fails(write(d + "/middle.csv", "1,2\n\n3,4\n")),
               "middle.csv:2: error: a blank line before line 3 (blank lines may only end the file)");
  EXPECT_ERROR(fails(write(d + "/quote.csv", "\"a,b\n1\n")), "quote.csv:1:1: error: unterminated quoted field");
  EXPECT_ERROR(fails(write(d + "/after.csv", "\"a\"b,c\n1,2\n")), "after.csv:1:4: error: text after the closing quote");
  EXPECT_ERROR(fails(write(d + "/header_only.csv", "a,b\n")), "has no rows of data after its header");
  EXPECT_ERROR(fails(write(d + "/empty.csv", "")), "empty.csv: is empty");
  EXPECT_ERROR(fails(write(d + "/hex.csv", "1\n0x10\n")), "hex.csv:2:1: error: '0x10' is not a number");
}

// --- open_source's dispatch and IDX data sets ---

TEST(DataSource, IdxDataSets) {
  const std::string d = fresh_dir("idx_set");
  const std::string images = idx({3, 2, 2}, bytes_of(kX)), labels = idx({3}, std::string("\x01\x00\x02", 3));
  write(d + "/train-images-idx3-ubyte", images);
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(d, {}, s, error)) << error;  // labels and the test split are optional
  EXPECT_EQ(s.format, "idx");
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_TRUE(s.train.y.empty());
  EXPECT_FALSE(s.test.present());
  write(d + "/train-labels-idx1-ubyte", labels);
  write(d + "/t10k-images-idx3-ubyte", idx({2, 2, 2}, bytes_of(kXTest)));
  write(d + "/t10k-labels-idx1-ubyte", idx({2}, std::string("\x05\x00", 2)));
  ASSERT_TRUE(open_source(d + "/", {}, s, error)) << error;
  EXPECT_EQ(s.train.y, (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(s.test.y, (std::vector<int32_t>{5, 0}));
  EXPECT_EQ(s.test.x.count(), 2);
  EXPECT_EQ(s.classes, 6);
  write(d + "/train-labels-idx1-ubyte", idx({2}, "\x01\x02"));
  EXPECT_ERROR([&](std::string &e) { return open_fails(d, e); }, "3 examples but 2 labels in train-labels-idx1-ubyte");
  write(d + "/train-labels-idx1-ubyte", labels);
  fs::remove(d + "/t10k-images-idx3-ubyte");
  EXPECT_ERROR([&](std::string &e) { return open_fails(d, e); },
               "t10k-labels-idx1-ubyte: labels without t10k-images-idx3-ubyte");
  fs::remove(d + "/t10k-labels-idx1-ubyte");
  write(d + "/train-images-idx3-ubyte", idx({3, 2}, "abcdefg"));
  EXPECT_ERROR([&](std::string &e) { return open_fails(d, e); }, "train-images-idx3-ubyte: header promises 6 bytes");
}

TEST(DataSource, OpenSourceTellsFormatsApart) {
  const std::string d = fresh_dir("dispatch");
  EXPECT_ERROR([&](std::string &e) { return open_fails(write(d + "/notes.txt", "hello"), e); },
               "notes.txt: not a data file of a format vaec knows; vaec reads a directory of MNIST IDX files");
  EXPECT_ERROR([&](std::string &e) { return open_fails(d + "/nothing.npz", e); },
               "nothing.npz: cannot open: No such file or directory");
  EXPECT_ERROR([&](std::string &e) { return open_fails("", e); }, "no data path given");
  // An IDX magic with an element type the reader refuses is still told as IDX.
  EXPECT_ERROR([&](std::string &e) { return open_fails(write(d + "/one", idx({3}, "abc")), e); },
               "the examples are 1-d [3]");
  EXPECT_ERROR([&](std::string &e) { return open_fails(write(d + "/data.csv.gz", std::string("\x1f\x8b", 2)), e); },
               "not a data file of a format vaec knows");
}

// --- real files ---

TEST(DataSource, RealMnist) {
  const std::string mnist = std::string(VAEC_SOURCE_DIR) + "/data/mnist";
  if (!fs::exists(mnist + "/train-images-idx3-ubyte")) GTEST_SKIP() << mnist << " is absent (scripts/setup.sh)";
  Source s;
  std::string error;
  ASSERT_TRUE(open_source(mnist, {}, s, error)) << error;
  EXPECT_EQ(s.format, "idx");
  EXPECT_EQ(s.train.x.shape, (std::vector<int64_t>{60000, 28, 28}));
  EXPECT_EQ(s.test.x.shape, (std::vector<int64_t>{10000, 28, 28}));
  EXPECT_EQ(s.classes, 10);
  EXPECT_EQ(std::vector<int32_t>(s.train.y.begin(), s.train.y.begin() + 5), (std::vector<int32_t>{5, 0, 4, 1, 9}));
  EXPECT_EQ(std::vector<int32_t>(s.test.y.begin(), s.test.y.begin() + 5), (std::vector<int32_t>{7, 2, 1, 0, 4}));
}

TEST(DataSource, FilesWrittenByNumpy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no numpy (scripts/setup.sh installs python3-numpy)";
  const std::string d = fresh_dir("numpy");
  const std::string script = write(d + "/make.py", R"(import numpy as np, sys
d = sys.argv[1]
x = (np.arange(100 * 28 * 28) * 7 % 256).astype(np.uint8).reshape(100, 28, 28)
y = np.arange(100, dtype=np.int64) % 10
f = (np.arange(12, dtype=np.float64) / 8 - 0.5).reshape(4, 3)
np.save(d + '/x.npy', x)
np.save(d + '/f.npy', f)
np.savez(d + '/stored.npz', x=x, y=y, x_test=x[:10], y_test=y[:10])
np.savez_compressed(d + '/deflated.npz', x=x, y=y, x_test=x[:10], y_test=y[:10])
np.savez_compressed(d + '/f.npz', x=f)
)");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + d).c_str()), 0);
  auto expect_x = [](const Array &a, int64_t count) {
    ASSERT_EQ(a.shape, (std::vector<int64_t>{count, 28, 28}));
    ASSERT_EQ(a.dtype, DType::U8);
    for (int64_t i = 0; i < count; ++i)
      for (int64_t j = 0; j < 784; j += 13) ASSERT_EQ(a.value(i, j), (i * 784 + j) * 7 % 256) << i << "," << j;
  };
  std::string error;
  Source s;
  ASSERT_TRUE(open_source(d + "/x.npy", {}, s, error)) << error;
  expect_x(s.train.x, 100);
  for (const char *name : {"/stored.npz", "/deflated.npz"}) {
    ASSERT_TRUE(open_source(d + name, {}, s, error)) << error;
    expect_x(s.train.x, 100);
    expect_x(s.test.x, 10);
    ASSERT_EQ(s.train.y.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.train.y[i], i % 10);
    EXPECT_EQ(s.test.y.size(), 10u);
    EXPECT_EQ(s.classes, 10);
  }
  for (const char *name : {"/f.npy", "/f.npz"}) {
    ASSERT_TRUE(open_source(d + name, {}, s, error)) << error;
    ASSERT_EQ(s.train.x.shape, (std::vector<int64_t>{4, 3}));
    EXPECT_EQ(s.train.x.dtype, DType::F64);
    for (int i = 0; i < 12; ++i) EXPECT_EQ(s.train.x.value(i / 3, i % 3), i / 8.0 - 0.5);
  }
}
