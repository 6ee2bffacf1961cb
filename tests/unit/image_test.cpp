// PNG files (written, then decoded again by libpng), image grids, the
// bitmap font and the loss-curve plot.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/font.h"
#include "support/image.h"
#include "support/plot.h"

namespace vaec::rt {
namespace {

std::string temp_path(const std::string &name) { return ::testing::TempDir() + "/" + name; }

Image pattern(int w, int h, int channels) {
  Image im(w, h, channels);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  return im;
}

TEST(Png, GrayAndRgbRoundTrip) {
  for (int channels : {1, 3}) {
    const Image im = pattern(37, 23, channels);
    const std::string path = temp_path("round_trip_" + std::to_string(channels) + ".png");
    std::string error;
    ASSERT_TRUE(write_png(path, im, error)) << error;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    Image back;
    ASSERT_TRUE(read_png(path, back, error)) << error;
    EXPECT_EQ(back.width, 37);
    EXPECT_EQ(back.height, 23);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, im.pixels);
  }
}

TEST(Png, ErrorsAreMessages) {
  std::string error;
  EXPECT_FALSE(write_png("/nonexistent/dir/x.png", pattern(4, 4, 1), error));
  EXPECT_EQ(error, "/nonexistent/dir/x.png: cannot create a temporary file beside it: No such file or directory");
  EXPECT_FALSE(write_png(temp_path("empty.png"), Image(), error));
  EXPECT_EQ(error, temp_path("empty.png") + ": cannot write an empty image");
  Image two = pattern(4, 4, 1);
  two.channels = 2;
  EXPECT_FALSE(write_png(temp_path("two.png"), two, error));
  EXPECT_EQ(error, temp_path("two.png") + ": cannot write an image of 2 channels");

  Image out;
  EXPECT_FALSE(read_png(temp_path("missing.png"), out, error));
  EXPECT_NE(error.find("missing.png: cannot read PNG"), std::string::npos) << error;
  std::ofstream(temp_path("text.png")) << "not a png at all";
  EXPECT_FALSE(read_png(temp_path("text.png"), out, error));
  EXPECT_NE(error.find("text.png: cannot read PNG"), std::string::npos) << error;
  // A PNG cut in half: the header reads, the pixels do not.
  ASSERT_TRUE(write_png(temp_path("whole.png"), pattern(64, 64, 3), error)) << error;
  std::ifstream in(temp_path("whole.png"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(temp_path("half.png"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(read_png(temp_path("half.png"), out, error));
  EXPECT_NE(error.find("half.png: cannot "), std::string::npos) << error;
}

TEST(Grid, SizeGapsScaleAndValues) {
  // 12 "digits" of 28x28, five per row, each pixel drawn 3x3, 2-pixel gaps.
  std::vector<float> digits(12 * 28 * 28, 0.0f);
  for (int i = 0; i < 12; ++i) digits[i * 784 + 5 * 28 + 7] = i / 11.0f;  // one lit pixel at (7, 5)
  digits[784 - 1] = 7.0f;            // clamped to white
  digits[784 - 2] = -1.0f;           // clamped to black
  digits[784 - 3] = std::nanf("");   // black
  const Image grid = tile_grid(digits.data(), 12, 28, 28, 5, 3, 2);
  ASSERT_EQ(grid.channels, 1);
  EXPECT_EQ(grid.width, 5 * (84 + 2) + 2);
  EXPECT_EQ(grid.height, 3 * (84 + 2) + 2);
  EXPECT_EQ(*grid.at(0, 0), 255);     // the frame
  EXPECT_EQ(*grid.at(87, 40), 255);   // the gap between the first two tiles
  EXPECT_EQ(*grid.at(2, 2), 0);       // the first tile's corner
  for (int i = 0; i < 12; ++i) {
    const int x0 = 2 + (i % 5) * 86, y0 = 2 + (i / 5) * 86;
    for (int dy = 0; dy < 3; ++dy)
      for (int dx = 0; dx < 3; ++dx)
        EXPECT_EQ(*grid.at(x0 + 7 * 3 + dx, y0 + 5 * 3 + dy), std::lround(i / 11.0 * 255)) << "tile " << i;
  }
  EXPECT_EQ(*grid.at(2 + 27 * 3, 2 + 27 * 3), 255);
  EXPECT_EQ(*grid.at(2 + 26 * 3, 2 + 27 * 3), 0);
  EXPECT_EQ(*grid.at(2 + 25 * 3, 2 + 27 * 3), 0);
  EXPECT_EQ(*grid.at(grid.width - 3, grid.height - 3), 255);  // no 13th tile: background

  std::string error;
  ASSERT_TRUE(write_png(temp_path("grid.png"), grid, error)) << error;
  Image back;
  ASSERT_TRUE(read_png(temp_path("grid.png"), back, error)) << error;
  EXPECT_EQ(back.pixels, grid.pixels);

  EXPECT_TRUE(tile_grid(digits.data(), 0, 28, 28, 5).empty());
  EXPECT_TRUE(tile_grid(digits.data(), 12, 28, 28, 0).empty());
  EXPECT_TRUE(tile_grid(digits.data(), 12, 28, 28, 5, 0).empty());
  EXPECT_TRUE(tile_grid(nullptr, 12, 28, 28, 5).empty());
  EXPECT_TRUE(tile_grid(digits.data(), 1, 1 << 20, 1 << 20, 1).empty());
  EXPECT_EQ(tile_grid(digits.data(), 3, 28, 28, 10, 1, 0).width, 84);  // fewer images than columns
}

TEST(Font, WidthAndInk) {
  EXPECT_EQ(text_width("", 2), 0);
  EXPECT_EQ(text_width("epoch", 1), 29);
  EXPECT_EQ(text_width("epoch", 2), 58);
  Image im(80, 20, 3, 255);
  draw_text(im, 2, 2, "0.25", 2, {0, 0, 0});
  int ink = 0, outside = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      if (im.at(x, y)[0] == 0) (x >= 2 && x < 2 + text_width("0.25", 2) && y >= 2 && y < 2 + 16 ? ink : outside)++;
  EXPECT_GT(ink, 40);
  EXPECT_EQ(outside, 0);
  draw_text(im, -50, -50, "clipped \x01\xff", 3, {0, 0, 0});  // off the image, unprintable: no crash
}

// Pixels of exactly `c` below the header (title and legend), and their extent.
struct Ink {
  int count = 0, min_x = 1 << 30, max_x = -1, y_at_min_x = 0, y_at_max_x = 0;
};
Ink find_colour(const Image &im, Rgb c, int x_begin, int x_end) {
  Ink ink;
  for (int y = 44; y < im.height; ++y)
    for (int x = x_begin; x < x_end; ++x) {
      const uint8_t *p = im.at(x, y);
      if (p[0] != c.r || p[1] != c.g || p[2] != c.b) continue;
      ++ink.count;
      if (x < ink.min_x) ink.min_x = x, ink.y_at_min_x = y;
      if (x > ink.max_x) ink.max_x = x, ink.y_at_max_x = y;
    }
  return ink;
}

TEST(Plot, LossCurvesAreDrawnAndGoTheRightWay) {
  LossHistory h;
  h.names = {"total", "recon", "kl"};
  for (int e = 1; e <= 8; ++e) {
    const double recon = 200.0 / e + 80, kl = 10.0 + 2 * e;  // recon falls, kl rises
    h.rows.push_back({e, {recon + kl, recon, kl}, {recon + kl - 1, recon - 2, kl + 1}});
  }
  const Image im = plot_loss_curves(h, "mnist_mlp: loss per example");
  ASSERT_EQ(im.channels, 3);
  EXPECT_EQ(im.width, 2 * 12 + 3 * 440);
  EXPECT_EQ(im.height, 44 + 320 + 12);
  const Rgb train{31, 119, 180}, test{230, 110, 0};
  const int panel = 440, left = 12;
  // The recon panel (second): train falls left to right; kl (third) rises.
  const Ink recon = find_colour(im, train, left + panel, left + 2 * panel);
  const Ink kl = find_colour(im, train, left + 2 * panel, left + 3 * panel);
  EXPECT_GT(recon.count, 500);
  EXPECT_GT(recon.max_x - recon.min_x, 250);  // spans the plot
  EXPECT_LT(recon.y_at_min_x, recon.y_at_max_x - 100);
  EXPECT_GT(kl.y_at_min_x, kl.y_at_max_x + 100);
  EXPECT_GT(find_colour(im, test, left, left + panel).count, 500);
  // Something dark was written (title, ticks, labels).
  EXPECT_GT(find_colour(im, {40, 40, 40}, 0, im.width).count, 2000);

  std::string error;
  ASSERT_TRUE(write_png(temp_path("loss_curve.png"), im, error)) << error;
  Image back;
  ASSERT_TRUE(read_png(temp_path("loss_curve.png"), back, error)) << error;
  EXPECT_EQ(back.pixels, im.pixels);
}

TEST(Plot, OddHistoriesStillMakeAPicture) {
  LossHistory none;
  EXPECT_FALSE(plot_loss_curves(none, "x").empty());
  LossHistory h;
  h.names = {"total", "a", "b", "c", "d"};  // two rows of panels
  h.rows.push_back({1, {NAN, INFINITY, 1e300, -1e300, 0}, {1, 1, 1, 1, 1}});
  h.rows.push_back({2, {1}, {}});  // short rows
  const Image im = plot_loss_curves(h, "odd");
  EXPECT_EQ(im.width, 2 * 12 + 3 * 440);
  EXPECT_EQ(im.height, 44 + 2 * 320 + 12);
  LossHistory one;
  one.names = {"total"};
  one.rows.push_back({1, {5}, {6}});  // one epoch: a marker each
  const Image single = plot_loss_curves(one, "one");
  EXPECT_GT(find_colour(single, {31, 119, 180}, 0, single.width).count, 20);
  EXPECT_GT(find_colour(single, {230, 110, 0}, 0, single.width).count, 20);
  one.rows[0].test = {5};  // equal values: a flat range
  EXPECT_GT(find_colour(plot_loss_curves(one, "one"), {230, 110, 0}, 0, single.width).count, 20);
}

// mnist_conv's first epoch had a train mean of 36.5 (a few exploded steps),
// then 0.19 ... 0.18: the later epochs must still spread over the panel,
// with the outlier drawn at the top edge.
TEST(Plot, AnExplodedEpochDoesNotFlattenTheRest) {
  LossHistory h;
  h.names = {"total"};
  h.rows.push_back({1, {36.55}, {0.1991}});
  for (int e = 2; e <= 10; ++e) h.rows.push_back({e, {0.1955 - 0.0016 * e}, {0.1923 - 0.0013 * e}});
  const Image im = plot_loss_curves(h, "mnist_conv: loss per example");
  const Ink test = find_colour(im, {230, 110, 0}, 0, im.width);
  EXPECT_GT(test.y_at_max_x - test.y_at_min_x, 0);  // the test curve falls...
  int rows_used = 0;                                 // ...over many pixel rows, not one line
  for (int y = 44; y < im.height; ++y) {
    bool any = false;
    for (int x = 0; x < im.width && !any; ++x) {
      const uint8_t *p = im.at(x, y);
      any = p[0] == 230 && p[1] == 110 && p[2] == 0;
    }
    rows_used += any;
  }
  EXPECT_GT(rows_used, 100);
  std::string error;
  ASSERT_TRUE(write_png(temp_path("exploded_curve.png"), im, error)) << error;
}

}  // namespace
}  // namespace vaec::rt
