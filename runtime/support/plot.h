// The trainer's plots. The loss-curve picture the trainer redraws after every epoch: one panel
// per loss (total first), train and test losses per example against the
// epoch, each panel with its own scale, grid lines and tick labels, and a
// legend naming the two colours. Rasterized here (font.h for the text), so
// the trainer needs no plotting library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/image.h"

namespace vaec::rt {

// Losses per example after each epoch. A value that is NaN or infinite (no
// train loss at epoch 0, a diverged run) is left out of its curve.
struct LossHistory {
  std::vector<std::string> names;  // the losses, `total` first
  struct Row {
    int64_t epoch = 0;
    std::vector<double> train, test;  // one per name
  };
  std::vector<Row> rows;
};

// An RGB image with up to three panels per row. Never empty: without rows
// the panels are drawn with empty axes. `title` heads the picture.
Image plot_loss_curves(const LossHistory &history, const std::string &title);

// A scatter plot of points (xs[i], ys[i]), each coloured by labels[i] (0-9,
// matplotlib's tab10 colours; negative: grey), with ticks, axis names and a
// legend of the labels present. An RGB image; non-finite points are left out.
Image plot_scatter(const std::vector<float> &xs, const std::vector<float> &ys, const std::vector<int> &labels,
                   const std::string &title, const std::string &x_name, const std::string &y_name);

}  // namespace vaec::rt
