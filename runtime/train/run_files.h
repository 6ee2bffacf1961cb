// The files a training run keeps in its output directory, besides the
// checkpoint: metrics.csv and metrics.jsonl (one row per epoch, appended as
// epochs end) and loss_curve.png (redrawn after every epoch, plot.h).
//
// metrics.csv starts with a header line
//   epoch,step,train_total,train_recon,...,test_total,test_recon,...,images_per_sec,seconds
// (the loss names as the plan lists them, total first); metrics.jsonl has
// one object per line:
//   {"epoch": 1, "step": 468, "train": {"total": 163.87, ...}, "test": {...},
//    "images_per_sec": 48689.1, "seconds": 1.31}
// `step` is the global step at the epoch's end, `images_per_sec` counts
// training steps only, `seconds` is the epoch's wall time (training and
// evaluation). A missing value (no train loss) is empty in the CSV and null
// in JSON. A fresh run truncates both files; a resumed one first drops the
// rows of epochs after the checkpoint's, so each epoch appears once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/plot.h"

namespace vaec::rt {

// Creates `dir` and its missing parents; false with a message.
bool make_directories(const std::string &dir, std::string &error);

struct MetricsRow {
  int64_t epoch = 0;
  uint64_t step = 0;
  std::vector<double> train, test;  // in the order of the names given to RunFiles
  double images_per_sec = 0, seconds = 0;
};

class RunFiles {
 public:
  RunFiles(std::string dir, std::vector<std::string> loss_names, std::string title);

  // Starts metrics.csv and metrics.jsonl afresh, or, when `resume`, keeps
  // their whole rows of epochs up to `last_epoch` (a torn last row is
  // dropped; each file is rewritten through an exclusive temporary one).
  // False with a message naming the file.
  bool start(bool resume, int64_t last_epoch, std::string &error);

  // Appends `row` to both metrics files (never through a symlink) and
  // redraws loss_curve.png from `history`.
  bool add_epoch(const MetricsRow &row, const LossHistory &history, std::string &error);

  std::string path(const std::string &file) const { return dir_ + "/" + file; }

 private:
  bool rewrite(const std::string &file, const std::string &header, int64_t last_epoch, std::string &error);
  bool append(const std::string &file, const std::string &line, std::string &error);

  std::string dir_, title_;
  std::vector<std::string> names_;
};

}  // namespace vaec::rt
