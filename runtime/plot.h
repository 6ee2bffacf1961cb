// The loss-curve picture the trainer redraws after every epoch: one panel
// per loss (total first), train and test losses per example against the
// epoch, each panel with its own scale, grid lines and tick labels, and a
// legend naming the two colours. Rasterized here (font.h for the text), so
// the trainer needs no plotting library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image.h"

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

}  // namespace vaec::rt
