// A tiny built-in bitmap font (5x7 pixel glyphs for printable ASCII, plus
// descenders) to label the trainer's plots without a font file or library.
#pragma once

#include <cstdint>
#include <string>

#include "support/image.h"

namespace vaec::rt {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// Pixels a line of `text` takes at `scale` (each glyph pixel drawn
// scale x scale): 6 * scale per character (5 plus 1 of spacing), minus
// the trailing space; 7 * scale high above the baseline (descenders of
// g, j, p, q, y take one row more).
int text_width(const std::string &text, int scale);
inline int text_height(int scale) { return 7 * scale; }

// Draws `text` with its top-left corner at (x, y) into an RGB image,
// clipped to the image. Characters outside printable ASCII draw as '?'.
void draw_text(Image &image, int x, int y, const std::string &text, int scale, Rgb color);

}  // namespace vaec::rt
