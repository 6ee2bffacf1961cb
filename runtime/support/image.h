// Images and PNG files for the trainer's pictures: 8-bit grayscale or RGB pixels in
// memory, written with libpng (its simplified API, which reports errors as
// messages instead of longjmp), read back (for tests and tools), and a grid
// of equal-size grayscale images (decoded digits) with a gap between them.
//
// Nothing here throws or aborts on bad input: writing and reading return
// false with a message naming the file, and tile_grid returns an empty
// image for arguments that make no picture (which write_png then refuses).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vaec::rt {

struct Image {
  int width = 0, height = 0;
  int channels = 1;             // 1: gray, 3: RGB
  std::vector<uint8_t> pixels;  // rows top to bottom, channels interleaved

  Image() = default;
  Image(int width, int height, int channels, uint8_t fill = 0);
  bool empty() const { return width <= 0 || height <= 0; }
  uint8_t *at(int x, int y) { return &pixels[(static_cast<size_t>(y) * width + x) * channels]; }
  const uint8_t *at(int x, int y) const { return &pixels[(static_cast<size_t>(y) * width + x) * channels]; }
};

// Writes `image` as an 8-bit gray or RGB PNG. The bytes go to an exclusive
// temporary file beside `path` (files.h), which is then renamed over `path`,
// so a viewer never sees half a picture.
bool write_png(const std::string &path, const Image &image, std::string &error);

// Reads any PNG as 8-bit gray (when it has no colour) or RGB; transparency
// is composited over white.
bool read_png(const std::string &path, Image &out, std::string &error);

// Tiles `count` images of `channels` (1: grey, 3: RGB) planes of `width` x
// `height` floats (channel-first, row-major, consecutive in `images`; 0
// black, 1 full intensity, values outside [0, 1] clamped, NaN black) into
// rows of `columns`, each pixel drawn `scale` x `scale` (28x28 digits are
// tiny on screen) with `gap` white pixels between and around the tiles.
// Returns an empty image when count, width, height, columns or scale is not
// positive, gap is negative, channels is not 1 or 3 or the picture would
// exceed 2^28 pixels.
Image tile_grid(const float *images, int64_t count, int width, int height, int columns, int scale = 1,
                int gap = 2, int channels = 1);

}  // namespace vaec::rt
