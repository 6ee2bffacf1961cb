// The data readers (runtime/data/source.h) on files the tests write byte by
// byte: round trips of IDX, .npy and CSV, one test per way a file can be
// wrong (checking the message), open_source's dispatch, files written by
// real numpy when python3 has it, and the real MNIST files when
// scripts/setup.sh has fetched them. .npz and PNG folders:
// data_archive_test.cpp.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/source.h"
#include "data_files_test.h"
#include "support/image.h"

using namespace vaec::rt::data;
using namespace vaec::test::data_files;
namespace fs = std::filesystem;

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
