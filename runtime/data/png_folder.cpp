// A folder of PNG images as examples (contract in source.h), by
// torchvision ImageFolder's rule: either PNG files at the top (no labels),
// or class sub-folders holding PNG files (label = the sub-folder's index in
// name order; files in name order within each). Names sort by bytes, which
// for UTF-8 is Python's code-point order. Hidden entries (".name") are
// skipped. With class sub-folders, other files at the top (a README, a
// LICENSE) are ignored as ImageFolder ignores them, but a PNG there is an
// error: it would belong to no class. Inside a class folder every visible
// entry must be a PNG file (".png" in any case); nested folders are an error.
//
// Every image must be 8-bit (or lower-depth, which libpng expands) grey,
// RGB or palette without transparency: an alpha channel or a tRNS chunk is
// refused, naming the file, rather than composited over a guessed
// background; 16-bit images are refused too. All images share the first
// image's width, height and channels; the result is U8 [N, H, W] (grey) or
// [N, H, W, 3], in memory of its own, allocated only once the first image's
// size times the file count is known to be at most 16 GiB.
//
// Files are listed first, then read (one read each into a per-thread buffer)
// and decoded in parallel; the error reported is the first bad file in
// sorted order whatever the threads' timing.
#include <fcntl.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "data/mapped_file.h"
#include "data/source.h"

namespace vaec::rt::data {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxTotalBytes = uint64_t{16} << 30;
constexpr uint64_t kMaxFileBytes = uint64_t{256} << 20;

bool is_png_name(const std::string &name) {
  if (name.size() < 4) return false;
  std::string ext = name.substr(name.size() - 4);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png";
}

struct Entry {
  std::string name;
  bool directory = false;
};

// The visible entries of `dir`, sorted by name; anything that is neither a
// regular file nor a directory (after following links) is an error.
bool list(const std::string &dir, const std::string &shown, std::vector<Entry> &out, std::string &error) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return error = shown + ": cannot list: " + ec.message(), false;
  for (; it != end; it.increment(ec)) {
    if (ec) return error = shown + ": cannot list: " + ec.message(), false;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    const fs::file_status st = fs::status(it->path(), ec);
    if (ec) return error = shown + "/" + name + ": cannot stat: " + ec.message(), false;
    if (!fs::is_regular_file(st) && !fs::is_directory(st))
      return error = shown + "/" + name + ": is neither a file nor a folder (a pipe, socket or broken link?)", false;
    out.push_back({name, fs::is_directory(st)});
  }
  if (ec) return error = shown + ": cannot list: " + ec.message(), false;
  std::sort(out.begin(), out.end(), [](const Entry &a, const Entry &b) { return a.name < b.name; });
  return true;
}

struct File {
  std::string rel;  // relative to the folder, for messages: "b/7.png"
  int32_t label = -1;
};

// Reads the file whole into `buffer` (grown, never shrunk).
bool read_whole(const std::string &path, const std::string &rel, std::vector<uint8_t> &buffer, size_t &size,
                std::string &error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return error = rel + ": cannot open: " + std::strerror(errno), false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error = rel + ": is not a regular file", false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    ::close(fd);
    return error = rel + ": is " + format_bytes(static_cast<uint64_t>(st.st_size)) +
                   ", more than the 256 MiB vaec reads as one PNG image",
           false;
  }
  size = static_cast<size_t>(st.st_size);
  if (buffer.size() < size) buffer.resize(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, buffer.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : 0;
      ::close(fd);
      return error = rel + ": cannot read: " + (e ? std::strerror(e) : "the file shrank while being read"), false;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

struct Shape {
  uint32_t width = 0, height = 0;
  int channels = 0;
  // "28x28", and " grey" or " RGB" when `other` differs in channels.
  std::string text(const Shape &other) const {
    return std::to_string(width) + "x" + std::to_string(height) +
           (channels == other.channels ? "" : channels == 3 ? " RGB" : " grey");
  }
};

// Begins decoding: checks the PNG's kind and reports its shape. The caller
// frees `png`.
bool begin_png(const uint8_t *bytes, size_t size, const std::string &rel, png_image &png, Shape &shape,
               std::string &error) {
  png = png_image{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes, size))
    return error = rel + ": not a PNG image vaec can read (" + png.message + ")", false;
  if (png.format & PNG_FORMAT_FLAG_LINEAR)
    return error = rel + ": is a 16-bit PNG; vaec reads 8-bit grey or RGB images", false;
  if (png.format & PNG_FORMAT_FLAG_ALPHA)
    return error = rel + ": has transparency (an alpha channel or tRNS); vaec reads 8-bit grey or RGB images "
                         "without it",
           false;
  shape.width = png.width;
  shape.height = png.height;
  shape.channels = png.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1;
  return true;
}

}  // namespace

bool read_png_folder(const std::string &dir, Split &out, std::vector<std::string> &class_names, std::string &error) {
  const std::string base = dir + (!dir.empty() && dir.back() == '/' ? "" : "/");
  std::vector<Entry> top;
  if (!list(dir, dir, top, error)) return false;
  std::vector<File> files;
  std::vector<std::string> classes;
  const bool has_folders = std::any_of(top.begin(), top.end(), [](const Entry &e) { return e.directory; });
  if (!has_folders) {
    for (const Entry &e : top) {
      if (!is_png_name(e.name))
        return error = base + e.name + ": is not a .png file; a folder of images holds only .png files (and hidden "
                                       "files, which are skipped)",
               false;
      files.push_back({e.name, -1});
    }
  } else {
    for (const Entry &e : top)
      if (!e.directory && is_png_name(e.name))
        return error = base + e.name + ": a PNG beside class sub-folders belongs to no class; move it into one (" +
                       dir + " holds both)",
               false;
    for (const Entry &e : top) {
      if (!e.directory) continue;
      std::vector<Entry> inner;
      if (!list(base + e.name, base + e.name, inner, error)) return false;
      const auto label = static_cast<int32_t>(classes.size());
      for (const Entry &f : inner) {
        const std::string rel = e.name + "/" + f.name;
        if (f.directory)
          return error = base + rel + ": a folder inside the class folder " + e.name + "; vaec reads one level of classes",
                 false;
        if (!is_png_name(f.name))
          return error = base + rel + ": is not a .png file; a folder of images holds only .png files (and hidden "
                                      "files, which are skipped)",
                 false;
        files.push_back({rel, label});
      }
      if (inner.empty()) return error = base + e.name + ": the class folder holds no PNG images", false;
      classes.push_back(e.name);
    }
  }
  if (files.empty()) return error = dir + ": holds no PNG images", false;

  // The first image sets the shape; only then is the whole allocated.
  std::vector<uint8_t> buffer;
  size_t size = 0;
  std::string message;
  Shape first;
  {
    png_image png{};
    const bool ok = read_whole(base + files[0].rel, files[0].rel, buffer, size, message) &&
                    begin_png(buffer.data(), size, files[0].rel, png, first, message);
    png_image_free(&png);
    if (!ok) return error = base + message, false;
  }
  const uint64_t n = files.size();
  uint64_t item = 0, total = 0;
  if (__builtin_mul_overflow(uint64_t{first.width} * first.height, static_cast<uint64_t>(first.channels), &item) ||
      __builtin_mul_overflow(item, n, &total) || total > kMaxTotalBytes)
    return error = dir + ": " + std::to_string(n) + (n == 1 ? " image of " : " images of ") + first.text(Shape{}) + " (" + files[0].rel +
                   ") would need more than the 16 GiB vaec reads from a PNG folder",
           false;
  std::shared_ptr<OwnedBytes> pixels;
  if (!allocate_bytes(total, dir, pixels, error)) return false;

  std::vector<std::string> errors(files.size());
  std::atomic<int64_t> first_bad{static_cast<int64_t>(files.size())};
#pragma omp parallel firstprivate(buffer)
  {
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < static_cast<int64_t>(files.size()); ++i) {
      // Files after a bad one need not be read: only the first is reported.
      if (i > first_bad.load(std::memory_order_relaxed)) continue;
      const File &f = files[static_cast<size_t>(i)];
      std::string &e = errors[static_cast<size_t>(i)];
      size_t bytes = 0;
      png_image png{};
      Shape shape;
      bool ok = read_whole(base + f.rel, f.rel, buffer, bytes, e) && begin_png(buffer.data(), bytes, f.rel, png, shape, e);
      if (ok && (shape.width != first.width || shape.height != first.height || shape.channels != first.channels)) {
        e = f.rel + ": is " + shape.text(first) + ", but " + files[0].rel + " is " + first.text(shape) +
            "; the images of a folder must all have one size and colour type";
        ok = false;
      }
      if (ok) {
        png.format = first.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
        if (!png_image_finish_read(&png, nullptr, pixels->data + static_cast<uint64_t>(i) * item, 0, nullptr)) {
          e = f.rel + ": cannot decode PNG: " + png.message;
          ok = false;
        }
      }
      png_image_free(&png);
      if (!ok) {
        int64_t seen = first_bad.load();
        while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
        }
      }
    }
  }
  if (first_bad < static_cast<int64_t>(files.size()))
    return error = base + errors[static_cast<size_t>(first_bad.load())], false;

  out.x.shape = {static_cast<int64_t>(n), first.height, first.width};
  if (first.channels == 3) out.x.shape.push_back(3);
  out.x.dtype = DType::U8;
  out.x.bytes = pixels->data;
  out.x.storage = std::move(pixels);
  out.y.clear();
  if (!classes.empty())
    for (const File &f : files) out.y.push_back(f.label);
  class_names = std::move(classes);
  return true;
}

}  // namespace vaec::rt::data
