// The training run's set-up (contract in trainer.h): the command line, the
// data, resuming from a checkpoint, the executor; then the Trainer.
#include "train/trainer.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "train/checkpoint.h"
#include "support/files.h"
#include "train/loss_sums.h"
#include "exec/diagnose.h"
#include "abi/param_layouts.h"
#include "exec/executor.h"
#include "data/feed.h"
#include "train/cpu_share.h"
#include "train/interrupt.h"
#include "train/progress_bar.h"
#include "train/run_files.h"
#include "support/text.h"
#include "train/trainer_options.h"


#include "train/training_loop.h"

namespace vaec::rt {
namespace training {
namespace {

// --- data ---

// Opens the run's data: the plan's settings, with --data, --test and --seed.
bool load_data(const plan::Plan &plan, const Options &o, const data::Standardization *stored, data::Data &d,
               std::string &error) {
  data::Settings s;
  if (!data::settings_from_config(plan.config, s, error)) return false;
  s.path = o.data, s.test_path = o.test, s.seed = o.seed;
  std::string input;
  std::vector<int64_t> shape;
  if (!data::model_input_from_config(plan.config, input, shape, error)) return false;
  if (!data::load_data(s, input, shape, stored, d, error)) {
    if (error.find("No such file") != std::string::npos && !o.given.count("data") &&
        (s.data == "mnist" || s.data == "fashion_mnist"))
      error += " (run scripts/setup.sh, or pass --data PATH)";
    return false;
  }
  // A model with a label(K) input reads every example's label, below K.
  if (plan.train.labels >= 0)
    for (const auto &[feed, what] : {std::pair{&d.train, "training"}, {&d.eval, "evaluation"}}) {
      if (feed->count() == 0) continue;
      if (!feed->has_labels())
        return error = s.path + " has no labels for its " + what + " examples, but the model's input " +
                       plan.config.at("label_input") + " is label(" + std::to_string(plan.train.label_classes) +
                       ") (labels come from IDX label files, an .npz's y, class sub-folders or train.label)",
               false;
      if (const int32_t l = feed->label_beyond(plan.train.label_classes); l >= 0)
        return error = s.path + ": label " + std::to_string(l) + " of a " + what + " example is not below the " +
                       std::to_string(plan.train.label_classes) + " classes of the model's input " +
                       plan.config.at("label_input"),
               false;
    }
  // Each condition input reads the data's array of its name, for every split it trains or scores on.
  for (const plan::Program *p : {&plan.train, &plan.eval})
    for (const plan::Program::Condition &c : p->conditions)
      for (const auto &[feed, what] : {std::pair{&d.train, "training"}, {&d.eval, "evaluation"}}) {
        if (feed->count() == 0) continue;
        if (std::string why = feed->check_array(c.name, c.row); !why.empty())
          return error = s.path + ": its " + what + " split " + why, false;
      }
  if (d.train.row() != plan.train.input_row)
    return error = s.path + ": examples of " + std::to_string(d.train.row()) + " values, but the model was compiled for " +
                   std::to_string(plan.train.input_row),
           false;
  return true;
}

// Reads and checks the checkpoint to resume from; it decides the seed and
// the batch and, unless given, the learning rate and the thread count. (The
// check holds for a plan of any batch: model_identity does not depend on it.)
bool load_resume(const plan::Plan &plan, uint64_t hash, const std::string &path, Options &o, Checkpoint &c,
                 Start &start, std::string &error) {
  if (!read_checkpoint(path, c, error) || !checkpoint_fits(c, path, hash, plan, error)) return false;
  if (o.given.count("batch") && o.batch != c.batch)
    return error = path + " was trained with --batch " + std::to_string(c.batch) +
                   "; a resumed run keeps its batch, which decides the steps of an epoch (leave out --batch)",
           false;
  o.batch = c.batch;
  if (o.given.count("drop-last") && !c.drop_last)
    return error = path + " was trained on every image of an epoch; a resumed run keeps that, which decides the "
                          "steps of an epoch (leave out --drop-last)",
           false;
  o.drop_last = c.drop_last;
  if (o.given.count("seed") && o.seed != c.seed)
    return error = path + " was trained with --seed " + std::to_string(c.seed) +
                   "; a resumed run keeps its seed (leave out --seed)",
           false;
  o.seed = c.seed;
  if (!o.given.count("lr") && std::isfinite(c.lr) && c.lr > 0) o.lr = c.lr;
  if (!o.given.count("threads") && c.threads >= 1 && c.threads <= 4096) o.threads = static_cast<int>(c.threads);
  else if (static_cast<uint32_t>(o.threads) != c.threads)
    print_message("warning: " + path + " was written with --threads " + std::to_string(c.threads) + ", this run uses " +
                  std::to_string(o.threads) + ": results will differ in the last bits from an uninterrupted run\n");
  start = {c.epoch, c.epoch_step, c.global_step, c.history, c.epoch_sums, path};
  return true;
}
}  // namespace
}  // namespace training

using namespace training;

// The directory of the trainer program: dirname(argv[0]), or of
// /proc/self/exe when it was found on the PATH.
std::string program_directory(const char *argv0) {
  std::string path = argv0 ? argv0 : "";
  if (path.find('/') == std::string::npos) {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    path = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "./train";
  }
  const size_t slash = path.find_last_of('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}


int run_training(int argc, char **argv, plan::Plan plan, const vaec_kernel_entry *kernels,
                 const std::string &more_help) {
  const Clock::time_point start_time = Clock::now();
  std::string error;
  const Options defaults = default_options(plan);
  Options o = defaults;
  std::vector<char *> args(argv, argv + argc);
  if (argc > 1 && std::string(argv[1]) == "train") args.erase(args.begin() + 1);  // `train train ...` is `train ...`
  dist::Ranks &ranks = dist::Ranks::world();
  // Every rank has the same command line: a mistake in it is everyone's.
  if (!parse_options(static_cast<int>(args.size()), args.data(), o, error))
    return ranks.many() ? ranks.refuse(error_line(error)) : fail(error);
  const std::string resume = resume_command(std::vector<std::string>(args.begin(), args.end()));
  if (o.help) {
    std::cout << usage(plan, defaults) << "\n" << more_help;
    return 0;
  }
  if (ranks.many()) {
    if (const std::string why = dist::cannot_split(plan); !why.empty())
      return ranks.refuse(error_line("cannot train on " + std::to_string(ranks.size()) + " ranks: " + why));
    if (ranks.rank() > 0) o.quiet = true;  // rank 0 reports for all
  }
  const std::string out = o.out.empty() ? program_directory(argc > 0 ? argv[0] : nullptr) : o.out;
  const std::string checkpoint_path = out + "/checkpoint.bin";
  const uint64_t hash = model_identity(plan);
  Checkpoint resumed;
  Start start;
  if (o.resume && !load_resume(plan, hash, o.resume_file.empty() ? checkpoint_path : o.resume_file, o, resumed, start,
                               error))
    return fail(error);
  // A plan whose inputs are not per example (a test's hand-made one) runs
  // only at its batch, on whole batches.
  const bool any_batch = plan.train.input >= 0 && plan.train.input < static_cast<int>(plan.buffers.size()) &&
                         plan.buffers[plan.train.input].row > 0;
  if (!any_batch && o.batch != plan.train.batch)
    return fail("this plan runs only at batch " + std::to_string(plan.train.batch) +
                " (its buffers are not sized per example)");
  if (!any_batch) o.drop_last = true;
  if (plan.train.input < 0 || plan.train.input >= static_cast<int>(plan.buffers.size()))
    return fail("this plan has no input");
  // The data is checked before anything is written.
  if (o.data.empty()) return fail("the plan names no data; pass --data PATH");
  data::Data data;
  data::Standardization stored{resumed.data_mean, resumed.data_std};
  if (!load_data(plan, o, o.resume ? &stored : nullptr, data, error)) return fail(error);
  if (data.eval_name.empty() && plan.config.count("early_stopping"))
    return fail("train.early_stopping watches the test or validation loss, but " + o.data +
                " has no test split: set train.test or train.validation");
  if (plan.buffers[plan.train.input].type == plan::DType::U8 && !data.train.raw_bytes())
    return fail("this plan takes raw uint8 bytes, but " + o.data + " needs a transform (data/feed.h)");
  // Two trainers writing one directory would mix their metrics and replace
  // each other's checkpoints. Of a run's ranks, rank 0 writes.
  DirectoryLock lock;
  if (ranks.rank() == 0 && (!make_directories(out, error) || !lock.acquire(out, error))) return fail(error);
  const int64_t train_count = data.train.count(), test_count = data.eval.count();
  if (train_count < (o.drop_last ? o.batch : 1))
    return fail(o.data + ": " + std::to_string(train_count) + " training examples, " +
                (o.drop_last ? "fewer than one batch of " + std::to_string(o.batch) + " (and --drop-last)" : "none"));
  if (!any_batch && test_count % o.batch != 0)
    return fail(o.data + ": the batch " + std::to_string(o.batch) + " of this plan does not divide the " +
                std::to_string(test_count) + " test examples");
  if (data.eval_name.empty() && !o.quiet)
    print_message("note: " + o.data + " has no test split and neither train.test nor train.validation is set: " +
                  "the trainer reports training losses only\n");
  const int64_t per_epoch = o.drop_last ? train_count / o.batch : (train_count + o.batch - 1) / o.batch;
  if (start.epoch_step > 0 && start.epoch_step >= per_epoch)
    return fail(start.checkpoint + " stopped at step " + std::to_string(start.epoch_step) +
                " of an epoch, but an epoch of " + o.data + " has only " + std::to_string(per_epoch) + " steps");
  try {
    check_loss_scaling(plan);
    // Every batch size this run uses: full batches, and the last of an epoch
    // and of the test set when they are partial.
    // The inspection programs are not run here.
    // With several ranks, this rank's shares of them (none when empty).
    Batches batches{{plan.train.name, {}}, {plan.eval.name, {}}, {plan.encode.name, {}},
                    {plan.decode.name, {}}, {plan.nll.name, {}}};
    auto add = [&](const std::string &program, int64_t n) {
      const auto [first, end] = ranks.share(n);
      if (end > first) batches[program].push_back(end - first);
    };
    add(plan.train.name, o.batch);
    if (!o.drop_last && train_count % o.batch != 0) add(plan.train.name, train_count % o.batch);
    if (test_count > 0) add(plan.eval.name, std::min(o.batch, test_count));
    if (test_count % o.batch != 0) add(plan.eval.name, test_count % o.batch);
    Executor exec(plan, kernels, o.threads, o.seed, o.profile, batches);
    exec.init_params(o.seed);
    if (o.resume && plan.param_count > 0) {
      std::memcpy(exec.f32(plan.param_region), resumed.regions[0].data(), plan.param_count * sizeof(float));
      for (size_t i = 0; i < plan.state_regions.size(); ++i)
        std::memcpy(exec.f32(plan.state_regions[i]), resumed.regions[i + 1].data(), plan.param_count * sizeof(float));
      // Checkpoints hold plain order; the plan may store some parameters otherwise.
      onednn::convert_param_layouts(plan, exec.f32(plan.param_region), true);
      for (int r : plan.state_regions) onednn::convert_param_layouts(plan, exec.f32(r), true);
    }
    if (o.resume && plan.stat_region >= 0)
      std::memcpy(exec.f32(plan.stat_region), resumed.stats.data(), plan.stat_count * sizeof(float));
    resumed = {};
    // Every rank starts from rank 0's parameters, optimizer state and statistics.
    if (plan.param_count > 0) ranks.broadcast(exec.f32(plan.param_region), plan.param_count * sizeof(float));
    for (int s : plan.state_regions) ranks.broadcast(exec.f32(s), plan.param_count * sizeof(float));
    RunFiles files(out, LossSums(plan, plan.train, o.batch).names(), plan.model + ": loss per example");
    Trainer trainer(plan, o, data, exec, files, checkpoint_path, hash, std::move(start), start_time, resume, ranks);
    return trainer.run();
  } catch (const std::exception &e) {
    return fail(e.what());
  }
}

}  // namespace vaec::rt
