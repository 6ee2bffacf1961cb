// The inspection commands' session (inspect.cpp): the checkpoint, the data
// the commands draw from and the model's parts; session_rows.cpp has the
// choice of examples, labels and conditions. Internal to inspect/.
#pragma once

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/feed.h"
#include "exec/executor.h"
#include "inspect/model_parts.h"
#include "inspect/options.h"
#include "support/image.h"
#include "support/text.h"
#include "train/checkpoint.h"

namespace vaec::rt {

inline int fail(const std::string &message) {
  print_message("error: " + message + "\n");
  return 1;
}

class Session {
 public:
  Session(const plan::Plan &plan, const vaec_kernel_entry *kernels, Args args, std::string command, std::string dir)
      : plan_(plan), kernels_(kernels), a_(std::move(args)), command_(std::move(command)),
        dir_(a_.get("out", dir)) {}

  int run();

 private:
  bool load_checkpoint(std::string &error);
  bool load_test_data(std::string &error);
  bool start_model(std::string &error);
  void image_size(int64_t row);
  std::string png_path() const { return a_.get("png", dir_ + "/" + command_ + ".png"); }
  int write(const Image &im);
  // A test image chosen by "N" (its index) or "label:D" (the first with label D, after `after`).
  bool pick(const std::string &spec, int64_t after, int64_t &index, std::string &error) const;
  Rows mu_of(const std::vector<int64_t> &indices);  // with the examples' own labels
  // The labels of examples of the set (empty without labels).
  std::vector<int32_t> labels_of(const std::vector<int64_t> &indices) const;
  std::vector<int32_t> first_labels(int64_t count) const;
  // --label D of a conditional model (-1 when not given); false after a message.
  bool chosen_label(int32_t &label, std::string &error) const;
  // The conditions decode programs take (--condition); false after a message.
  bool chosen_conditions(std::string &error);
  void use_first_examples(int64_t n);  // the conditions of the set's first n examples
  // The model rows of examples `indices` of the set the commands draw from.
  std::vector<float> rows(const std::vector<int64_t> &indices) const;
  std::vector<float> first_rows(int64_t count) const;
  int64_t count() const { return set_->count(); }
  // Labels, or false after a message saying `what` needs them.
  bool need_labels(const std::string &what, std::string &error) const;
  Image grid(const float *tiles, int64_t count, int columns, int gap = 2) const {
    return tile_grid(tiles, count, width_, height_, columns, 2, gap, channels_);
  }

  int reconstruct();
  int sample();
  int manifold();
  int interpolate();
  int scatter();
  int concept_strip();
  int eval();
  int export_weights();

  const plan::Plan &plan_;
  const vaec_kernel_entry *kernels_;
  Args a_;
  std::string command_, dir_, checkpoint_path_;
  Checkpoint ckpt_;
  data::Data data_;
  const data::Feed *set_ = nullptr;  // the test split, else the validation split, else the training split
  std::string set_name_;             // "test", "validation" or "training"
  std::unique_ptr<Executor> exec_;
  std::unique_ptr<ModelParts> parts_;
  int channels_ = 1, width_ = 28, height_ = 28;
  bool geometry_ = false;  // channels_, width_ and height_ are known
};

}  // namespace vaec::rt
