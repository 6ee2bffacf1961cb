// The trainer (contract in trainer.h): the epoch loop, the per-epoch
// report and files, checkpoints, and the final RESULT line.
#include "train/training_loop.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "abi/param_layouts.h"
#include "train/checkpoint.h"
#include "support/files.h"
#include "train/loss_sums.h"
#include "exec/diagnose.h"
#include "exec/finite.h"
#include "exec/executor.h"
#include "data/feed.h"
#include "train/cpu_share.h"
#include "train/interrupt.h"
#include "train/progress_bar.h"
#include "train/run_files.h"
#include "support/text.h"
#include "train/trainer_options.h"


namespace vaec::rt::training {

// Fisher-Yates with an mt19937_64 seeded by (seed, epoch) and unbiased
// bounded draws: the standard fixes both, so every platform gets the same
// order (std::shuffle's is implementation-defined).
void shuffle(std::vector<int64_t> &order, uint64_t seed, int64_t epoch) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(epoch), uint32_t(uint64_t(epoch) >> 32)};
  std::mt19937_64 gen(seq);
  for (size_t i = order.size() - 1; i > 0; --i) {
    const uint64_t n = i + 1, limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = gen(); while (x >= limit);
    std::swap(order[i], order[x % n]);
  }
}


// The batch's examples as the model's rows (data/feed.h), written straight
// into the program's input (and its bf16 copy, when the plan keeps one).
void Trainer::gather(const plan::Program &program, const data::Feed &feed, const int64_t *rows, int64_t batch,
                     int64_t epoch) {
  if (plan_.buffers[program.input].type == plan::DType::U8) {
    feed.fill_bytes(rows, batch, exec_.u8(program.input));
  } else {  // and the input's bf16 copy, row by row while the row is in cache
    const Executor::InputRows in = exec_.input_rows(program);
    feed.fill(rows, batch, in.f32, epoch, exec_.team(), in.bf16);
  }
  if (program.labels >= 0) feed.fill_labels(rows, batch, program.label_classes, exec_.f32(program.labels));
  for (const plan::Program::Condition &c : program.conditions) feed.fill_array(c.name, rows, batch, c.row, exec_.f32(c.buffer));
}

// Runs the training steps of one epoch from `epoch_step` on (0, or where a
// checkpoint stopped mid-epoch); leaves in `epoch_step` where it stopped.
// A non-finite loss or gradient stops before the optimizer applies it:
// false after a message.
bool Trainer::train_epoch(int64_t epoch, LossSums &losses, int64_t &steps_done, int64_t &epoch_step) {
  const data::Feed &feed = data_.train;
  std::vector<int64_t> order(feed.count());
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, o_.seed, epoch);
  const int64_t batch = o_.batch, steps = steps_per_epoch();
  if (const std::string note = team_.start(); !note.empty()) print_message(note);
  const Clock::time_point begin = Clock::now();
  double writing = 0;  // seconds spent on --checkpoint-every, not training
  int64_t s = epoch_step;
  for (; s < steps; ++s) {
    if (o_.max_steps >= 0 && global_step_ >= static_cast<uint64_t>(o_.max_steps)) break;
    if (stopping()) break;
    const int64_t *rows = order.data() + s * batch, n = std::min(batch, feed.count() - s * batch);
    exec_.set_epoch(double(global_step_) / double(steps));  // before this step: (t - 1) / S
    const bool applied = train_step(rows, n, epoch);
    ++global_step_;
    const int bad = losses.add(exec_, n);
    if (bad >= 0 || !applied) {
      progress_.clear();
      report_non_finite(epoch, s, steps, bad, rows, n);
      return false;
    }
    ++steps_done, images_trained_ += n;
    if (const std::string note = team_.update(); !note.empty()) progress_.clear(), print_message(note);
    if (s + 1 < steps && checkpoint_due() && !stopping()) {  // the epoch's end writes one anyway
      const Clock::time_point t = Clock::now();
      if (!save(s + 1, &losses)) return false;
      writing += seconds_since(t);
    }
    progress_.update(s + 1, steps, double(images_trained_) / (seconds_since(begin) - writing));
  }
  epoch_step = s;
  train_seconds_ += seconds_since(begin) - writing;
  progress_.clear();
  return true;
}

bool Trainer::train_step(const int64_t *rows, int64_t n, int64_t epoch) {
  const uint64_t t = global_step_ + 1;
  if (!sum_) {
    gather(plan_.train, data_.train, rows, n, epoch);
    return exec_.train_step(plan_.train, t, lr_at(t), n);
  }
  const auto [first, end] = ranks_.share(n);
  sum_->begin_step(end - first, n, stop_signal() != 0);
  if (end > first) {
    gather(plan_.train, data_.train, rows + first, end - first, epoch);
    exec_.set_row0(first);
    return exec_.train_step(plan_.train, t, lr_at(t), end - first, sum_.get());
  }
  sum_->contribute_nothing();
  for (const auto &[name, buffer] : plan_.train.losses)
    if (!std::isfinite(exec_.scalar(buffer))) return false;
  return exec_.run_optimizer_if_finite(t, lr_at(t));
}

std::string Trainer::early_stop() const {
  if (patience_ <= 0 || data_.eval_name.empty() || history_.rows.empty()) return "";
  int64_t best = -1;
  double best_loss = INFINITY;
  for (const LossHistory::Row &r : history_.rows)
    if (!r.test.empty() && r.test[0] < best_loss) best_loss = r.test[0], best = r.epoch;  // names() lists total first
  const int64_t last = history_.rows.back().epoch;
  if (best < 0 || last - best < patience_) return "";
  char buf[256];
  std::snprintf(buf, sizeof buf, "early stopping: the %s loss has not improved for %lld epochs (best %s at epoch %lld)",
                data_.eval_name.c_str(), (long long)(last - best), LossSums::readable(best_loss).c_str(),
                (long long)best);
  return buf;
}

double Trainer::lr_at(uint64_t t) const {
  const double S = double(steps_per_epoch()), step = double(t - 1);  // steps before this one
  const double warm = std::round(schedule_.warmup * S);
  double f = 1;
  if (schedule_.name == "cosine") {
    const double span = std::max(1.0, double(schedule_.epochs) * S - warm);
    f = 0.5 * (1 + std::cos(M_PI * std::clamp((step - warm) / span, 0.0, 1.0)));
  } else if (schedule_.name == "step") {
    f = std::pow(schedule_.gamma, std::floor(step / S / schedule_.every + 1e-9));
  }
  if (step < warm) f *= (step + 1) / warm;
  return o_.lr * f;
}

// Names what went non-finite, and where first: the step is replayed one
// plan step at a time on the same batch (the optimizer has not run).
void Trainer::report_non_finite(int64_t epoch, int64_t step, int64_t steps, int bad_loss, const int64_t *rows,
                                int64_t batch) {
  std::ostringstream os;
  if (bad_loss >= 0) {
    os << "loss '" << plan_.train.losses[bad_loss].first << "' is " << exec_.scalar(plan_.train.losses[bad_loss].second);
  } else {
    std::string param = "?";
    for (const plan::Param &p : plan_.params)
      if (!all_finite(exec_.f32(p.grad_buffer), plan_.buffers[p.grad_buffer].elements)) {
        param = p.name;
        break;
      }
    os << "the gradient of '" << param << "' is not finite";
  }
  os << " at epoch " << epoch << ", step " << step + 1 << " of " << steps << " (global step " << global_step_
     << "); the training diverged: try a smaller --lr\n";
  if (!sum_) {  // with several ranks the sums mixed every rank's values: no replay
    gather(plan_.train, data_.train, rows, batch, epoch);
    const NonFinite first = find_first_non_finite(exec_, plan_.train, global_step_, batch);
    if (first.found) os << "note: the first non-finite value is in " << describe(first, "train") << "\n";
  }
  os << "note: this step was not applied; "
     << (last_checkpoint_.empty() ? "no checkpoint was written yet" : "the last good checkpoint is " + last_checkpoint_)
     << "\n";
  print_message("error: " + os.str());
}

// The eval program over every validation or test example once, in order, in
// batches of the training batch (the last one partial); nothing without
// either.
bool Trainer::evaluate(LossSums &losses) {
  const data::Feed &feed = data_.eval;
  const int64_t batch = o_.batch;
  exec_.set_epoch(double(global_step_) / double(steps_per_epoch()));
  std::vector<int64_t> rows(batch);
  for (int64_t i = 0; i * batch < feed.count(); ++i) {
    const int64_t n = std::min(batch, feed.count() - i * batch);
    const auto [first, end] = ranks_.share(n);  // one rank: [0, n)
    std::iota(rows.begin(), rows.end(), i * batch + first);
    if (end > first) {
      gather(plan_.eval, feed, rows.data(), end - first, 0);
      exec_.set_row0(first);
      exec_.run(plan_.eval, kEvalStepBase + static_cast<uint64_t>(i), end - first);
    }
    if (sum_) sum_->sum_losses(plan_.eval, end - first, n);
    if (int bad = losses.add(exec_, n); bad >= 0) {
      std::ostringstream os;
      os << "error: test loss '" << plan_.eval.losses[bad].first << "' is " << exec_.scalar(plan_.eval.losses[bad].second)
         << " on test batch " << i + 1 << " after " << global_step_ << " training steps\n";
      print_message(os.str());
      return false;
    }
  }
  return true;
}

// The state after `completed_` epochs and `epoch_step` steps of the next,
// whose train loss sums so far are `partial`'s.
Checkpoint Trainer::snapshot(int64_t epoch_step, const LossSums *partial) {
  Checkpoint c;
  c.model_hash = model_hash_;
  c.model = plan_.model;
  c.epoch = completed_;
  c.epoch_step = epoch_step;
  c.global_step = global_step_;
  c.seed = o_.seed;
  c.lr = o_.lr;
  c.threads = static_cast<uint32_t>(exec_.threads());
  c.param_count = plan_.param_count;
  c.batch = o_.batch;
  c.drop_last = o_.drop_last;
  // Views, not copies: the checkpoint is written before the next step.
  auto view = [&](int buffer) { return plan_.param_count > 0 ? static_cast<const float *>(exec_.f32(buffer)) : nullptr; };
  c.region_views.push_back(view(plan_.param_region));
  for (int s : plan_.state_regions) c.region_views.push_back(view(s));
  c.history.names = history_.names;
  for (const LossHistory::Row &row : history_.rows)
    if (row.epoch <= completed_) c.history.rows.push_back(row);
  if (partial) c.epoch_sums = partial->sums;
  c.data_mean = data_.standard.mean;
  c.data_std = data_.standard.std;
  if (plan_.stat_region >= 0) {
    const float *p = exec_.f32(plan_.stat_region);
    c.stats.assign(p, p + plan_.stat_count);
  }
  return c;
}

// Metrics, the loss curve, then the checkpoint (so a kill in between leaves
// a checkpoint no newer than the metrics, which a resume trims to it).
bool Trainer::finish_epoch(int64_t epoch, int64_t epoch_step, bool complete, const LossSums &train,
                           const LossSums &test, double images_per_sec, double seconds) {
  LossHistory::Row row{epoch, {}, {}};
  for (const std::string &name : history_.names) {
    row.train.push_back(train.value_of(name));
    row.test.push_back(test.value_of(name));
  }
  std::erase_if(history_.rows, [&](const LossHistory::Row &r) { return r.epoch >= epoch; });
  history_.rows.push_back(row);
  std::string error;
  if (first_rank() &&
      !files_.add_epoch({epoch, global_step_, row.train, row.test, images_per_sec, seconds}, history_, error))
    return fail(error), false;
  if (complete) completed_ = epoch;
  return save(complete ? 0 : epoch_step, complete ? nullptr : &train);
}

bool Trainer::save(int64_t epoch_step, const LossSums *partial) {
  last_checkpoint_ = describe_checkpoint(checkpoint_path_, epoch_step);
  if (!first_rank()) return true;  // rank 0 writes for all
  std::string error;
  // Checkpoints hold plain order: a plan that stores some parameters in
  // layouts of their own has the regions turned to plain order in place for
  // the write and back after it (exact permutations; copies of the regions
  // would add their size to the peak memory).
  const bool layouts = plan_.param_count > 0 && onednn::has_param_layouts(plan_);
  auto convert = [&](bool to_stored) {
    onednn::convert_param_layouts(plan_, exec_.f32(plan_.param_region), to_stored);
    for (int r : plan_.state_regions) onednn::convert_param_layouts(plan_, exec_.f32(r), to_stored);
  };
  if (layouts) convert(false);
  const bool written = write_checkpoint(checkpoint_path_, snapshot(epoch_step, partial), error);
  if (layouts) convert(true);
  if (!written) return fail(error), false;
  last_write_ = Clock::now();
  return true;
}

bool Trainer::checkpoint_due() const {
  if (o_.checkpoint_steps > 0) return global_step_ % static_cast<uint64_t>(o_.checkpoint_steps) == 0;
  return o_.checkpoint_minutes > 0 && seconds_since(last_write_) >= 60 * o_.checkpoint_minutes;
}

int Trainer::stop_on_signal(int64_t epoch, int64_t epoch_step, const LossSums &train, bool written) {
  const int signal = stop_signal() ? stop_signal() : SIGTERM;  // another rank's signal: mpirun's SIGTERM
  if (!written && !save(epoch_step, epoch_step > 0 ? &train : nullptr)) return 1;
  std::fflush(stdout);
  const std::string where = epoch_step > 0 ? "after step " + std::to_string(epoch_step) + " of " +
                                                 std::to_string(steps_per_epoch()) + " of epoch " + std::to_string(epoch)
                                           : "at the end of epoch " + std::to_string(completed_);
  if (!first_rank()) return 128 + signal;
  std::fprintf(stderr, "%s: stopped %s (global step %llu); wrote %s\nto resume: %s\n", signal_name(signal),
               where.c_str(), (unsigned long long)global_step_, checkpoint_path_.c_str(), resume_command_.c_str());
  return 128 + signal;
}

int Trainer::run() {
  const int64_t epochs = o_.max_steps == 0 ? 0 : o_.epochs;
  const bool at_max_steps = o_.max_steps >= 0 && global_step_ >= static_cast<uint64_t>(o_.max_steps);
  if (completed_ >= epochs || at_max_steps) {  // nothing to train: evaluate the model as it is
    LossSums test(plan_, plan_.eval, o_.batch);
    if (!evaluate(test)) return 1;
    if (!start_.checkpoint.empty() && !o_.quiet)
      std::printf("%s: nothing left to train with %s; evaluated it\n", last_checkpoint_.c_str(),
                  at_max_steps ? ("--max-steps " + std::to_string(o_.max_steps)).c_str()
                               : ("--epochs " + std::to_string(o_.epochs)).c_str());
    epochs_run_ = completed_;
    print_result(nullptr, test);
    return 0;
  }
  std::string error;
  if (first_rank() && !files_.start(!start_.checkpoint.empty(), completed_, error)) return fail(error);
  catch_stop_signals();
  const int64_t per_epoch = steps_per_epoch();
  for (int64_t epoch = completed_ + 1;; ++epoch) {
    LossSums train(plan_, plan_.train, o_.batch), test(plan_, plan_.eval, o_.batch);
    int64_t epoch_step = 0, steps = 0;
    if (epoch == start_.completed_epochs + 1 && start_.epoch_step > 0) {  // resumed mid-epoch: full batches so far
      epoch_step = train.batches = start_.epoch_step;
      train.examples = start_.epoch_step * o_.batch;
      if (start_.epoch_sums.size() == train.sums.size()) train.sums = start_.epoch_sums;
    }
    const Clock::time_point begin = Clock::now();
    const double seconds_before = train_seconds_;
    const int64_t images_before = images_trained_;
    if (!train_epoch(epoch, train, steps, epoch_step)) return 1;
    const bool at_max = o_.max_steps >= 0 && global_step_ >= static_cast<uint64_t>(o_.max_steps);
    if (stopping() && epoch_step < per_epoch && !at_max) return stop_on_signal(epoch, epoch_step, train, false);
    if (!evaluate(test)) return 1;
    if (const std::string drift = compare_ranks(); !drift.empty()) return fail(drift);
    const double seconds = train_seconds_ - seconds_before;
    const double images_per_sec = double(images_trained_ - images_before) / std::max(seconds, 1e-9);
    const bool complete = epoch_step == per_epoch;
    epochs_run_ = epoch;
    if (!finish_epoch(epoch, epoch_step, complete, train, test, images_per_sec, seconds_since(begin))) return 1;
    if (!o_.quiet) print_epoch(epoch, epochs, train, test, images_per_sec, complete);
    const std::string stop = complete ? early_stop() : "";
    if (!stop.empty() && !o_.quiet) std::printf("%s\n", stop.c_str());
    if (epoch == epochs || !stop.empty() || at_max) {
      if (!o_.quiet)
        std::printf("wrote %s, %s, %s and %s\n", files_.path("metrics.csv").c_str(), "metrics.jsonl",
                    "loss_curve.png", checkpoint_path_.c_str());
      print_result(&train, test);
      // A signal during the last step or evaluation: the run is complete, but
      // its caller asked it to stop and learns so from the status.
      if (const int signal = stop_signal())
        return std::fprintf(stderr, "%s: the run was complete\n", signal_name(signal)), 128 + signal;
      return 0;
    }
    if (stopping()) return stop_on_signal(epoch, complete ? 0 : epoch_step, train, true);
  }
}

// epoch 3/10  train 112.41 (recon 89.12, kl 23.29)  test 110.87 (...)  61,234 img/s  4.1 s
void Trainer::print_epoch(int64_t epoch, int64_t epochs, const LossSums &train, const LossSums &test,
                          double img_s, bool complete) {
  const int64_t batch = o_.batch, count = data_.train.count();
  std::printf("epoch %lld/%lld  train %s", (long long)epoch, (long long)epochs, train.describe().c_str());
  if (!data_.eval_name.empty())
    std::printf("  %s %s", data_.eval_name == "test" ? "test" : "val", test.describe().c_str());
  std::printf("  %s img/s  %.1f s", grouped(int64_t(img_s)).c_str(), seconds_since(start_time_));
  if (scheduled()) std::printf("  lr %.3g", lr_at(global_step_));
  if (!complete) std::printf("  (--max-steps reached after %lld steps)", (long long)global_step_);
  else if (o_.drop_last && count % batch > 0) std::printf("  (--drop-last: %lld images left out)", (long long)(count % batch));
  std::printf("\n");
  std::fflush(stdout);
}

void Trainer::print_result(const LossSums *train, const LossSums &test) {
  if (!first_rank()) return;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto number = [](double v) { return std::isfinite(v) ? fixed(v, 4) : std::string("null"); };
  std::string model;
  for (char c : plan_.model) model += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  const double images = double(images_trained_);
  std::printf("RESULT {\"framework\": \"vaec\", \"model\": \"%s\", \"batch\": %lld, \"epochs\": %lld, \"steps\": %llu, "
              "\"images_per_sec\": %s, \"train_loss\": %s, \"test_loss\": %s, \"seconds\": %.3f, "
              "\"peak_rss_mib\": %.1f, \"threads\": %d, \"ranks\": %d, \"images\": %lld, \"test_images\": %lld, \"eval\": \"%s\", "
              "\"step_gflop\": %.6g}\n",
              model.c_str(), (long long)o_.batch, (long long)epochs_run_, (unsigned long long)global_step_,
              train_seconds_ > 0 ? fixed(images / train_seconds_, 1).c_str() : "null",
              number(train ? train->headline() : NAN).c_str(), number(test.headline()).c_str(),
              seconds_since(start_time_), usage.ru_maxrss / 1024.0, exec_.threads(), ranks_.size(), (long long)images_trained_,
              (long long)test.examples, data_.eval_name.empty() ? "none" : data_.eval_name.c_str(),
              plan::program_flops(plan_.train, o_.batch) * 1e-9);
  std::fflush(stdout);
}

}  // namespace vaec::rt::training
