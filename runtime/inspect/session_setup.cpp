// Setting up a Session (session.h): the checkpoint, its data (with the
// training run's split and standardization), the model's executor holding
// the checkpoint's parameters, and the pictures' geometry.
#include <omp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/feed.h"
#include "abi/param_layouts.h"
#include "exec/executor.h"
#include "inspect/model_parts.h"
#include "inspect/session.h"
#include "support/text.h"
#include "train/checkpoint.h"

namespace vaec::rt {

bool Session::load_checkpoint(std::string &error) {
  checkpoint_path_ = a_.get("checkpoint", dir_ + "/checkpoint.bin");
  struct stat st{};
  if (stat(checkpoint_path_.c_str(), &st) != 0)
    return error = "no checkpoint: " + checkpoint_path_ + " does not exist; train first (train --out " + dir_ +
                   ") or pass --checkpoint FILE",
           false;
  return read_checkpoint(checkpoint_path_, ckpt_, error) &&
         checkpoint_fits(ckpt_, checkpoint_path_, model_identity(plan_), plan_, error);
}

bool Session::load_test_data(std::string &error) {
  data::Settings settings;
  std::string input;
  std::vector<int64_t> shape;
  if (!data::settings_from_config(plan_.config, settings, error) ||
      !data::model_input_from_config(plan_.config, input, shape, error))
    return false;
  if (a_.has("data")) settings.path = a_.get("data", "");
  if (a_.has("test")) settings.test_path = a_.get("test", "");
  settings.seed = ckpt_.seed;  // the training run's validation split
  const data::Standardization stored{ckpt_.data_mean, ckpt_.data_std};
  if (!data::load_data(settings, input, shape, &stored, data_, error)) return false;
  if (data_.test.count() > 0) set_ = &data_.test, set_name_ = "test";
  else if (data_.eval.count() > 0) set_ = &data_.eval, set_name_ = "validation";
  else set_ = &data_.train, set_name_ = "training";
  if (set_->row() != plan_.encode.input_row)
    return error = settings.path + ": examples of " + std::to_string(set_->row()) +
                   " values, but the model was compiled for " + std::to_string(plan_.encode.input_row),
           false;
  // A flat input draws as the stored images when they are images.
  const std::vector<int64_t> &stored_shape = data_.layout.stored;
  if (shape.size() == 1 && stored_shape.size() == 2) channels_ = 1, height_ = int(stored_shape[0]), width_ = int(stored_shape[1]), geometry_ = true;
  if (shape.size() == 1 && stored_shape.size() == 3 && stored_shape[2] == 3)
    channels_ = 3, height_ = int(stored_shape[0]), width_ = int(stored_shape[1]), geometry_ = true;
  return true;
}

bool Session::start_model(std::string &error) {
  int64_t threads = omp_get_num_procs();
  if (a_.has("threads") && !to_int(a_.get("threads", ""), 1, 4096, threads))
    return error = "bad value '" + a_.get("threads", "") + "' for --threads", false;
  // eval runs the model's own eval program over --images test images: in
  // batches of the plan's, the last one partial.
  const int64_t B = plan_.eval.batch;
  int64_t images = set_ ? count() : 0;
  if (command_ == "eval" && a_.has("images")) to_int(a_.get("images", ""), 1, std::max<int64_t>(1, images), images);
  Batches batches{{plan_.eval.name, {B}}};
  if (images % B != 0) batches[plan_.eval.name].push_back(images % B);
  try {
    exec_ = std::make_unique<Executor>(plan_, kernels_, int(threads), ckpt_.seed, false, batches);
  } catch (const std::exception &e) {
    return error = e.what(), false;
  }
  if (plan_.param_count > 0) {
    std::memcpy(exec_->f32(plan_.param_region), ckpt_.regions[0].data(), plan_.param_count * sizeof(float));
    onednn::convert_param_layouts(plan_, exec_->f32(plan_.param_region), true);  // checkpoints hold plain order
  }
  if (plan_.stat_region >= 0)
    std::memcpy(exec_->f32(plan_.stat_region), ckpt_.stats.data(), plan_.stat_count * sizeof(float));
  exec_->set_epoch(double(ckpt_.epoch));  // `epoch` as after the checkpoint's last complete epoch
  parts_ = std::make_unique<ModelParts>(plan_, *exec_);
  return true;
}

// The pictures' geometry: the model's [C, H, W] input (C 1 or 3), the stored
// images of a flat input, else square grey images of `row` pixels, else one
// row of them.
void Session::image_size(int64_t row) {
  if (geometry_) return;
  std::string input, error;
  std::vector<int64_t> shape;
  if (data::model_input_from_config(plan_.config, input, shape, error) && shape.size() == 3 &&
      (shape[0] == 1 || shape[0] == 3) && shape[0] * shape[1] * shape[2] == row) {
    channels_ = int(shape[0]), height_ = int(shape[1]), width_ = int(shape[2]), geometry_ = true;
    return;
  }
  const int side = int(std::lround(std::sqrt(double(row))));
  if (int64_t(side) * side == row) width_ = height_ = side;
  else width_ = int(row), height_ = 1;
  channels_ = 1;
  geometry_ = true;
}

}  // namespace vaec::rt
