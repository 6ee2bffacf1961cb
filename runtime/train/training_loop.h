// The training run's internals, shared by trainer.cpp (the Trainer: the
// epoch loop, reports, files and checkpoints) and training_setup.cpp (the
// command line, data, resuming and the executor). Contract in trainer.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/feed.h"
#include "dist/gradient_sum.h"
#include "dist/ranks.h"
#include "exec/executor.h"
#include "support/text.h"
#include "train/checkpoint.h"
#include "train/cpu_share.h"
#include "train/interrupt.h"
#include "train/loss_sums.h"
#include "train/progress_bar.h"
#include "train/run_files.h"
#include "train/trainer_options.h"

namespace vaec::rt::training {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A message in file:line:col form (a CSV cell) carries its own "error:".
inline std::string error_line(const std::string &message) {
  return (message.find(": error: ") == std::string::npos ? "error: " : "") + message + "\n";
}
inline int fail(const std::string &message) {
  print_message(error_line(message));
  return 1;
}

// Fisher-Yates with an mt19937_64 seeded by (seed, epoch) (trainer.cpp).
void shuffle(std::vector<int64_t> &order, uint64_t seed, int64_t epoch);

// Where a run starts: afresh, or where a checkpoint left off.
struct Start {
  int64_t completed_epochs = 0, epoch_step = 0;
  uint64_t global_step = 0;
  LossHistory history;
  std::vector<double> epoch_sums;
  std::string checkpoint;  // the file resumed from; empty when starting afresh
};

class Trainer {
 public:
  Trainer(const plan::Plan &plan, const Options &o, const data::Data &data, Executor &exec, RunFiles &files,
          std::string checkpoint_path, uint64_t model_hash, Start start, Clock::time_point start_time,
          std::string resume_command, dist::Ranks &ranks)
      : plan_(plan), o_(o), data_(data), exec_(exec), ranks_(ranks),
        sum_(ranks.many() ? std::make_unique<dist::GradientSum>(ranks, exec, plan) : nullptr),
        files_(files), checkpoint_path_(std::move(checkpoint_path)),
        model_hash_(model_hash), start_(std::move(start)), progress_(!o.quiet), start_time_(start_time),
        last_write_(start_time), resume_command_(std::move(resume_command)),
        global_step_(start_.global_step), completed_(start_.completed_epochs) {
    history_.names = LossSums(plan, plan.train, o.batch).names();
    auto config = [&](const char *k) { auto it = plan.config.find(k); return it == plan.config.end() ? std::string() : it->second; };
    if (!config("schedule").empty()) schedule_.name = config("schedule");
    auto number = [&](const char *k, double &v) { if (!config(k).empty()) v = std::strtod(config(k).c_str(), nullptr); };
    number("schedule_every", schedule_.every);
    number("schedule_gamma", schedule_.gamma);
    number("warmup", schedule_.warmup);
    double patience = 0;
    number("early_stopping", patience);
    patience_ = int64_t(patience);
    double epochs = 1;
    number("epochs", epochs);
    schedule_.epochs = std::max<int64_t>(1, int64_t(epochs));
    if (start_.history.names == history_.names) history_.rows = start_.history.rows;
    if (!start_.checkpoint.empty()) last_checkpoint_ = describe_checkpoint(start_.checkpoint, start_.epoch_step);
  }

  // Returns the exit status.
  int run();

 private:
  bool train_epoch(int64_t epoch, LossSums &losses, int64_t &steps_done, int64_t &epoch_step);
  // One training step on rows[0, n) of the epoch's order, this rank's share
  // of them; false when a loss or gradient is not finite (nothing applied).
  bool train_step(const int64_t *rows, int64_t n, int64_t epoch);
  // Whether to stop after this step: a signal here, or on any rank.
  bool stopping() const { return sum_ ? sum_->stop() : stop_signal() != 0; }
  // With several ranks: "" when every rank holds rank 0's parameters.
  std::string compare_ranks() const { return sum_ ? dist::compare_parameters(ranks_, exec_, plan_) : ""; }
  bool first_rank() const { return ranks_.rank() == 0; }
  // The learning rate of training step t (from 1): --lr times the schedule's
  // factor (trainer.h).
  double lr_at(uint64_t t) const;
  bool scheduled() const { return schedule_.name != "constant" || schedule_.warmup > 0; }
  bool evaluate(LossSums &losses);
  void gather(const plan::Program &program, const data::Feed &feed, const int64_t *rows, int64_t batch, int64_t epoch);
  void report_non_finite(int64_t epoch, int64_t step, int64_t steps, int bad_loss, const int64_t *rows, int64_t batch);
  // Training steps of an epoch: every image once, the last batch partial
  // unless --drop-last.
  int64_t steps_per_epoch() const {
    const int64_t n = data_.train.count(), b = o_.batch;
    return o_.drop_last ? n / b : (n + b - 1) / b;
  }
  // Writes the checkpoint of `epoch_step` steps into the next epoch (train
  // loss sums so far in `partial`); false after a message.
  bool save(int64_t epoch_step, const LossSums *partial);
  // --checkpoint-every: whether the step just taken is due for a checkpoint.
  bool checkpoint_due() const;
  // After SIGINT or SIGTERM: the checkpoint (unless the epoch's end wrote
  // it), where the run stopped and how to resume it; 128 + the signal.
  int stop_on_signal(int64_t epoch, int64_t epoch_step, const LossSums &train, bool written);
  bool finish_epoch(int64_t epoch, int64_t epoch_step, bool complete, const LossSums &train, const LossSums &test,
                    double images_per_sec, double seconds);
  Checkpoint snapshot(int64_t epoch_step, const LossSums *partial);
  void print_epoch(int64_t epoch, int64_t epochs, const LossSums &train, const LossSums &test, double img_s,
                   bool complete);
  void print_result(const LossSums *train, const LossSums &test);
  // "out/checkpoint.bin (epoch 2 and 17 steps, global step 953)" for now.
  std::string describe_checkpoint(const std::string &path, int64_t epoch_step) const {
    return path + " (epoch " + std::to_string(completed_) +
           (epoch_step > 0 ? " and " + std::to_string(epoch_step) + " steps" : "") + ", global step " +
           std::to_string(global_step_) + ")";
  }

  const plan::Plan &plan_;
  const Options &o_;
  const data::Data &data_;
  Executor &exec_;
  dist::Ranks &ranks_;
  std::unique_ptr<dist::GradientSum> sum_;  // with several ranks
  struct Schedule {
    std::string name = "constant";
    double every = 1, gamma = 0.1, warmup = 0;
    int64_t epochs = 1;  // train.epochs: cosine's length
  } schedule_;
  int64_t patience_ = 0;  // train.early_stopping: 0, or epochs without a better eval `total`
  // With early stopping: a message when the last `patience_` epochs of the
  // history have no better eval total than the epochs before them.
  std::string early_stop() const;
  RunFiles &files_;
  const std::string checkpoint_path_;
  const uint64_t model_hash_;
  Start start_;
  ProgressBar progress_;
  Team team_{exec_, o_.team};
  Clock::time_point start_time_;  // the program's, for the elapsed times
  Clock::time_point last_write_;  // of the last checkpoint, for --checkpoint-every Mm
  const std::string resume_command_;
  uint64_t global_step_ = 0;
  int64_t completed_ = 0;  // epochs completed, this run's and before
  double train_seconds_ = 0;
  int64_t images_trained_ = 0;  // this run's
  int64_t epochs_run_ = 0;
  LossHistory history_;
  std::string last_checkpoint_;  // "DIR/checkpoint.bin (epoch 2, global step 936)" once there is one
};

}  // namespace vaec::rt::training
