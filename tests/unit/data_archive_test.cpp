// The data readers on archives and folders: .npz (stored, deflated,
// ZIP64; every way an archive or its members can be wrong) and folders of
// PNGs (flat and by class, and their errors).
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

// --- .npz ---

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
  // A label past the class-index range is named exactly (as the fuzzer found, one near 2^63 once
  // went through a double and overflowed its conversion back).
  EXPECT_ERROR(fails(write(d + "/huge.npz", zip({{"x.npy", x},
                                                 {"y.npy", npy_of("<i8", "(3,)",
                                                                  bytes_of(std::vector<int64_t>{
                                                                      0, 1, 9223372036854775739}))}}))),
               "label 9223372036854775739 at index 2 in y is too large for a class index");
  EXPECT_ERROR(fails(write(d + "/big32.npz",
                           zip({{"x.npy", x}, {"y.npy", npy_of("<i4", "(3,)", bytes_of(std::vector<int32_t>{0, 2147483647, 1}))}}))),
               "label 2147483647 at index 1 in y is too large for a class index");
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

