// PNG writing, reading and image grids (contract in image.h).
#include "support/image.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "support/files.h"

namespace vaec::rt {

Image::Image(int w, int h, int c, uint8_t fill)
    : width(w), height(h), channels(c), pixels(static_cast<size_t>(w > 0 ? w : 0) * (h > 0 ? h : 0) * c, fill) {}

bool write_png(const std::string &path, const Image &image, std::string &error) {
  if (image.empty()) return error = path + ": cannot write an empty image", false;
  if (image.channels != 1 && image.channels != 3)
    return error = path + ": cannot write an image of " + std::to_string(image.channels) + " channels", false;
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels)
    return error = path + ": the image's pixels do not match its size", false;
  TempFile tmp;
  if (!tmp.create(path, error)) return false;
  std::FILE *f = tmp.stream();
  if (!f) return error = path + ": cannot write: " + std::strerror(errno), false;
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  const bool written = png_image_write_to_stdio(&png, f, 0, image.pixels.data(), 0, nullptr) != 0;
  const std::string libpng_message = png.message;
  png_image_free(&png);
  if (!written) return error = path + ": cannot write: " + libpng_message, false;
  return tmp.commit(false, error);
}

bool read_png(const std::string &path, Image &out, std::string &error) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str())) {
    error = path + ": cannot read PNG: " + png.message;
    png_image_free(&png);
    return false;
  }
  const bool color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
  png.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  if (png.width == 0 || png.height == 0 || uint64_t{png.width} * png.height > (uint64_t{1} << 28)) {
    error = path + ": unreasonable PNG size " + std::to_string(png.width) + "x" + std::to_string(png.height);
    png_image_free(&png);
    return false;
  }
  Image image(static_cast<int>(png.width), static_cast<int>(png.height), color ? 3 : 1);
  const png_color white{255, 255, 255};
  if (!png_image_finish_read(&png, &white, image.pixels.data(), 0, nullptr)) {
    error = path + ": cannot decode PNG: " + png.message;
    png_image_free(&png);
    return false;
  }
  png_image_free(&png);
  out = std::move(image);
  return true;
}

Image tile_grid(const float *images, int64_t count, int width, int height, int columns, int scale, int gap,
                int channels) {
  if (!images || count <= 0 || width <= 0 || height <= 0 || columns <= 0 || scale <= 0 || gap < 0 ||
      (channels != 1 && channels != 3))
    return {};
  const int64_t cols = std::min<int64_t>(columns, count), rows = (count + cols - 1) / cols;
  const int64_t tile_w = int64_t{width} * scale, tile_h = int64_t{height} * scale, plane = int64_t{width} * height;
  const int64_t w = cols * (tile_w + gap) + gap, h = rows * (tile_h + gap) + gap;
  if (w > (1 << 28) || h > (1 << 28) || w * h > (int64_t{1} << 28)) return {};
  Image grid(static_cast<int>(w), static_cast<int>(h), channels, 255);
  for (int64_t i = 0; i < count; ++i) {
    const float *src = images + i * plane * channels;
    const int64_t x0 = gap + (i % cols) * (tile_w + gap), y0 = gap + (i / cols) * (tile_h + gap);
    for (int64_t y = 0; y < tile_h; ++y)
      for (int64_t x = 0; x < tile_w; ++x) {
        uint8_t *px = grid.at(static_cast<int>(x0 + x), static_cast<int>(y0 + y));
        for (int c = 0; c < channels; ++c) {
          const float v = src[c * plane + (y / scale) * width + x / scale];
          const float clamped = std::isnan(v) ? 0.0f : std::fmin(std::fmax(v, 0.0f), 1.0f);
          px[c] = static_cast<uint8_t>(std::lround(clamped * 255.0f));
        }
      }
  }
  return grid;
}

}  // namespace vaec::rt
