// The trainer (contract in trainer.h): options, data, the epoch loop, the
// per-epoch report and the final RESULT line.
#include "trainer.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
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

#include "executor.h"
#include "idx.h"

namespace vaec::rt {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// 61234 -> "61,234"
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// --- options ---

struct Options {
  int64_t epochs = 10, batch = 0, max_steps = -1;
  uint64_t seed = 1;
  int threads = 1;
  std::string data;
  double lr = 1e-3;
  bool quiet = false, help = false;
};

const char *const kOptionNames[] = {"epochs", "batch", "seed", "threads", "data", "lr", "max-steps", "quiet", "help"};

std::string usage(const plan::Plan &plan, const Options &d) {
  std::ostringstream os;
  os << "usage: train [options]\n"
     << "Trains " << plan.model << " (compiled by vaec for batch " << plan.train.batch
     << ") and reports its losses per example.\n\n"
     << "  --epochs N     passes over the training set (default " << d.epochs << ")\n"
     << "  --batch N      must be " << plan.train.batch << ": shapes are fixed when compiling\n"
     << "  --seed N       seeds initialisation, shuffling and noise (default " << d.seed << ")\n"
     << "  --threads N    worker threads (default " << d.threads << ", the number of cores)\n"
     << "  --data DIR     the four IDX files (default " << (d.data.empty() ? "none" : d.data) << ")\n"
     << "  --lr X         learning rate (default " << d.lr << ")\n"
     << "  --max-steps N  stop after N training steps in all, then evaluate (benchmarks)\n"
     << "  --quiet        print only the final RESULT line\n"
     << "  --help         show this text\n";
  return os.str();
}

template <typename T>
bool parse_int(const std::string &text, T min, T max, T &out) {
  T v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

// Defaults come from the plan's config (the YAML's train section).
Options default_options(const plan::Plan &plan) {
  Options o;
  auto get = [&](const char *key) { auto it = plan.config.find(key); return it == plan.config.end() ? "" : it->second; };
  parse_int<int64_t>(get("epochs"), 0, INT64_MAX, o.epochs);
  parse_int<uint64_t>(get("seed"), 0, UINT64_MAX, o.seed);
  if (!get("lr").empty()) o.lr = std::strtod(get("lr").c_str(), nullptr);
  o.batch = plan.train.batch;
  o.threads = omp_get_num_procs();
  const std::string data = get("data");
  o.data = data == "mnist" ? "data/mnist" : data == "fashion_mnist" ? "data/fashion" : "";
  return o;
}

// Fills `o` from argv (--name value or --name=value); false with a message
// on the first bad option.
bool parse_options(int argc, char **argv, Options &o, std::string &error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], name, value;
    bool has_value = false;
    if (arg == "-h") arg = "--help";
    if (arg.rfind("--", 0) != 0) return error = "unexpected argument '" + arg + "' (see --help)", false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(2, eq - 2), value = arg.substr(eq + 1), has_value = true;
    } else {
      name = arg.substr(2);
    }
    if (name == "quiet" || name == "help") {
      if (has_value) return error = "--" + name + " takes no value", false;
      (name == "quiet" ? o.quiet : o.help) = true;
      continue;
    }
    if (std::find(std::begin(kOptionNames), std::end(kOptionNames), name) == std::end(kOptionNames)) {
      std::string close;
      for (const char *known : kOptionNames)
        if (std::string(known).find(name) == 0 || name.find(known) == 0) close = known;
      return error = "unknown option '--" + name + "'" + (close.empty() ? " (see --help)" : "; did you mean '--" + close + "'?"),
             false;
    }
    if (!has_value) {
      if (i + 1 >= argc) return error = "--" + name + " needs a value", false;
      value = argv[++i];
    }
    bool ok = true;
    if (name == "epochs") ok = parse_int<int64_t>(value, 0, 1'000'000, o.epochs);
    else if (name == "batch") ok = parse_int<int64_t>(value, 1, INT32_MAX, o.batch);
    else if (name == "seed") ok = parse_int<uint64_t>(value, 0, UINT64_MAX, o.seed);
    else if (name == "threads") ok = parse_int<int>(value, 1, 4096, o.threads);
    else if (name == "max-steps") ok = parse_int<int64_t>(value, 0, INT64_MAX, o.max_steps);
    else if (name == "data") o.data = value;
    else if (name == "lr") {
      char *end = nullptr;
      o.lr = std::strtod(value.c_str(), &end);
      ok = !value.empty() && *end == '\0' && std::isfinite(o.lr) && o.lr > 0;
    }
    if (!ok) return error = "bad value '" + value + "' for --" + name, false;
  }
  return true;
}

// --- data ---

struct Data {
  IdxDataset train, test;
};

bool load_data(const plan::Plan &plan, const std::string &dir, Data &data, std::string &error) {
  if (dir.empty()) return error = "the plan names no known data set; pass --data DIR", false;
  if (!read_idx_dataset(dir, "train", data.train, error) || !read_idx_dataset(dir, "t10k", data.test, error)) {
    if (error.find("cannot open") != std::string::npos) error += " (run scripts/setup.sh, or pass --data DIR)";
    return false;
  }
  for (const auto &[split, set, prog] : {std::tuple{"train", &data.train, &plan.train}, {"t10k", &data.test, &plan.eval}}) {
    if (set->images.item_size() != prog->input_row)
      return error = dir + "/" + split + "-images-idx3-ubyte: images of " + std::to_string(set->images.item_size()) +
                     " bytes, but the model was compiled for " + std::to_string(prog->input_row),
             false;
  }
  if (data.train.images.count() < plan.train.batch)
    return error = dir + ": " + std::to_string(data.train.images.count()) + " training images, fewer than one batch of " +
                   std::to_string(plan.train.batch),
           false;
  if (data.test.images.count() % plan.eval.batch != 0)
    return error = dir + ": the eval batch " + std::to_string(plan.eval.batch) + " does not divide the " +
                   std::to_string(data.test.images.count()) + " test images; recompile with a batch that does",
           false;
  return true;
}

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

// --- losses ---

// Sums of a program's losses over batches, reported per example as
// plan.loss_scaling says. `order` lists `total` first, then plan order.
struct LossSums {
  const plan::Plan &plan;
  const plan::Program &program;
  std::vector<size_t> order;
  std::vector<double> sums;
  int64_t batches = 0;

  LossSums(const plan::Plan &p, const plan::Program &prog) : plan(p), program(prog), sums(prog.losses.size(), 0.0) {
    for (size_t i = 0; i < prog.losses.size(); ++i)
      if (prog.losses[i].first == "total") order.insert(order.begin(), i);
      else order.push_back(i);
  }
  // Adds this batch's values; returns the index of a non-finite loss or -1.
  int add(const Executor &exec) {
    ++batches;
    for (size_t i = 0; i < sums.size(); ++i) {
      const float v = exec.scalar(program.losses[i].second);
      if (!std::isfinite(v)) return static_cast<int>(i);
      sums[i] += v;
    }
    return -1;
  }
  double per_example(size_t i) const {
    const std::string &scaling = plan.loss_scaling.at(program.losses[i].first);
    const double examples = double(batches) * double(program.batch);
    if (scaling == "sum") return sums[i] / examples;
    if (scaling == "mean") return sums[i] * double(program.batch) / examples;
    return sums[i] / double(batches);  // "batch"
  }
  double headline() const { return order.empty() || batches == 0 ? NAN : per_example(order[0]); }
  // "112.41 (recon 89.12, kl 23.29)"
  std::string describe() const {
    if (order.empty() || batches == 0) return "-";
    std::string s = fixed(per_example(order[0]), 2);
    for (size_t j = 1; j < order.size(); ++j)
      s += (j == 1 ? " (" : ", ") + program.losses[order[j]].first + " " + fixed(per_example(order[j]), 2);
    return order.size() > 1 ? s + ")" : s;
  }
};

void check_loss_scaling(const plan::Plan &plan) {
  for (const plan::Program *p : {&plan.train, &plan.eval})
    for (const auto &[name, buffer] : p->losses) {
      auto it = plan.loss_scaling.find(name);
      if (it == plan.loss_scaling.end()) throw std::runtime_error("the plan gives no loss_scaling for loss '" + name + "'");
      if (it->second != "sum" && it->second != "mean" && it->second != "batch")
        throw std::runtime_error("unknown loss_scaling '" + it->second + "' for loss '" + name + "'");
    }
}

// --- progress ---

// `[=====>     ] 61% 34,567 img/s` on stderr, redrawn at most 10 times a
// second, and only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  void update(int64_t done, int64_t total, double images_per_second) {
    if (!enabled_ || Clock::now() - last_ < std::chrono::milliseconds(100)) return;
    last_ = Clock::now();
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
    std::string bar(kWidth, ' ');
    for (int i = 0; i < filled; ++i) bar[i] = '=';
    if (filled < kWidth) bar[filled] = '>';
    std::fprintf(stderr, "\r[%s] %3d%% %s img/s\033[K", bar.c_str(), int(100 * done / std::max<int64_t>(total, 1)),
                 grouped(int64_t(images_per_second)).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K"), std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool enabled_, drawn_ = false;
  Clock::time_point last_{};
};

// --- the run ---

class Trainer {
 public:
  Trainer(const plan::Plan &plan, const Options &o, const Data &data, Executor &exec, Clock::time_point start)
      : plan_(plan), o_(o), data_(data), exec_(exec), progress_(!o.quiet), start_(start) {}

  // Returns the exit status.
  int run();

 private:
  bool train_epoch(int64_t epoch, LossSums &losses, int64_t &steps_done);
  bool evaluate(LossSums &losses);
  void gather(const plan::Program &program, const IdxArray &images, const int64_t *rows);
  void print_epoch(int64_t epoch, int64_t epochs, const LossSums &train, const LossSums &test, int64_t steps,
                   double seconds);
  void print_result(const LossSums *train, const LossSums &test);

  const plan::Plan &plan_;
  const Options &o_;
  const Data &data_;
  Executor &exec_;
  ProgressBar progress_;
  Clock::time_point start_;  // the program's, for the elapsed times
  uint64_t global_step_ = 0;
  double train_seconds_ = 0;
  int64_t epochs_run_ = 0;
};

void Trainer::gather(const plan::Program &program, const IdxArray &images, const int64_t *rows) {
  uint8_t *dst = exec_.u8(program.input);
  const size_t row = static_cast<size_t>(program.input_row);
  for (int64_t i = 0; i < program.batch; ++i) std::memcpy(dst + i * row, images.data.data() + rows[i] * row, row);
}

// Runs one epoch of training steps; false (after a message) on a non-finite loss.
bool Trainer::train_epoch(int64_t epoch, LossSums &losses, int64_t &steps_done) {
  const IdxArray &images = data_.train.images;
  std::vector<int64_t> order(images.count());
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, o_.seed, epoch);
  const int64_t batch = plan_.train.batch, steps = images.count() / batch;
  const Clock::time_point begin = Clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    if (o_.max_steps >= 0 && global_step_ >= static_cast<uint64_t>(o_.max_steps)) break;
    gather(plan_.train, images, order.data() + s * batch);
    exec_.run(plan_.train, ++global_step_);
    if (int bad = losses.add(exec_); bad >= 0) {
      progress_.clear();
      std::cerr << "error: loss '" << plan_.train.losses[bad].first << "' is "
                << exec_.scalar(plan_.train.losses[bad].second) << " at epoch " << epoch << ", step " << s + 1 << " of "
                << steps << " (global step " << global_step_ << "); the training diverged: try a smaller --lr\n";
      return false;
    }
    exec_.run_optimizer(global_step_, o_.lr);
    ++steps_done;
    progress_.update(s + 1, steps, double(steps_done * batch) / seconds_since(begin));
  }
  train_seconds_ += seconds_since(begin);
  progress_.clear();
  return true;
}

// The eval program over every test image once, in order.
bool Trainer::evaluate(LossSums &losses) {
  const IdxArray &images = data_.test.images;
  const int64_t batch = plan_.eval.batch;
  std::vector<int64_t> rows(batch);
  for (int64_t i = 0; i < images.count() / batch; ++i) {
    std::iota(rows.begin(), rows.end(), i * batch);
    gather(plan_.eval, images, rows.data());
    exec_.run(plan_.eval, kEvalStepBase + static_cast<uint64_t>(i));
    if (int bad = losses.add(exec_); bad >= 0) {
      std::cerr << "error: test loss '" << plan_.eval.losses[bad].first << "' is "
                << exec_.scalar(plan_.eval.losses[bad].second) << " on test batch " << i + 1 << " after "
                << global_step_ << " training steps\n";
      return false;
    }
  }
  return true;
}

int Trainer::run() {
  const int64_t epochs = o_.max_steps == 0 ? 0 : o_.epochs;
  if (epochs == 0) {  // nothing to train: evaluate the initial model
    LossSums test(plan_, plan_.eval);
    if (!evaluate(test)) return 1;
    print_result(nullptr, test);
    return 0;
  }
  for (int64_t epoch = 1;; ++epoch) {
    LossSums train(plan_, plan_.train), test(plan_, plan_.eval);
    const double seconds_before = train_seconds_;
    int64_t steps = 0;
    if (!train_epoch(epoch, train, steps) || !evaluate(test)) return 1;
    ++epochs_run_;
    const bool stopped = o_.max_steps >= 0 && global_step_ >= static_cast<uint64_t>(o_.max_steps);
    if (!o_.quiet) print_epoch(epoch, epochs, train, test, steps, train_seconds_ - seconds_before);
    if (epoch == epochs || stopped) {
      print_result(&train, test);
      return 0;
    }
  }
}

// epoch 3/10  train 112.41 (recon 89.12, kl 23.29)  test 110.87 (...)  61,234 img/s  4.1 s
void Trainer::print_epoch(int64_t epoch, int64_t epochs, const LossSums &train, const LossSums &test, int64_t steps,
                          double seconds) {
  const int64_t batch = plan_.train.batch, count = data_.train.images.count();
  const double img_s = double(steps * batch) / std::max(seconds, 1e-9);
  std::printf("epoch %lld/%lld  train %s  test %s  %s img/s  %.1f s", (long long)epoch, (long long)epochs,
              train.describe().c_str(), test.describe().c_str(), grouped(int64_t(img_s)).c_str(),
              seconds_since(start_));
  if (steps < count / batch) std::printf("  (--max-steps reached after %lld steps)", (long long)global_step_);
  else if (count % batch > 0) std::printf("  (%lld images left over)", (long long)(count % batch));
  std::printf("\n");
  std::fflush(stdout);
}

void Trainer::print_result(const LossSums *train, const LossSums &test) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto number = [](double v) { return std::isfinite(v) ? fixed(v, 4) : std::string("null"); };
  std::string model;
  for (char c : plan_.model) model += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  const int64_t images = int64_t(global_step_) * plan_.train.batch;
  std::printf("RESULT {\"framework\": \"vaec\", \"model\": \"%s\", \"batch\": %lld, \"epochs\": %lld, \"steps\": %llu, "
              "\"images_per_sec\": %s, \"train_loss\": %s, \"test_loss\": %s, \"seconds\": %.3f, "
              "\"peak_rss_mib\": %.1f, \"threads\": %d}\n",
              model.c_str(), (long long)plan_.train.batch, (long long)epochs_run_, (unsigned long long)global_step_,
              train_seconds_ > 0 ? fixed(images / train_seconds_, 1).c_str() : "null",
              number(train ? train->headline() : NAN).c_str(), number(test.headline()).c_str(), seconds_since(start_),
              usage.ru_maxrss / 1024.0, exec_.threads());
  std::fflush(stdout);
}

int fail(const std::string &message) {
  std::cerr << "error: " << message << "\n";
  return 1;
}

}  // namespace
}  // namespace vaec::rt

int vaec_trainer_main(int argc, char **argv, const char *plan_text, const vaec_kernel_entry *kernels) {
  using namespace vaec::rt;
  const Clock::time_point start = Clock::now();
  vaec::plan::Plan plan;
  std::string error;
  if (!vaec::plan::parse_plan(plan_text, plan, error)) return fail("the trainer's embedded plan is damaged: " + error);
  const Options defaults = default_options(plan);
  Options o = defaults;
  if (!parse_options(argc, argv, o, error)) return fail(error);
  if (o.help) {
    std::cout << usage(plan, defaults);
    return 0;
  }
  if (o.batch != plan.train.batch)
    return fail("this trainer was compiled for batch " + std::to_string(plan.train.batch) +
                " (shapes are static); to train with batch " + std::to_string(o.batch) +
                ", recompile the model: vaec compile FILE --batch " + std::to_string(o.batch));
  Data data;
  if (!load_data(plan, o.data, data, error)) return fail(error);
  try {
    check_loss_scaling(plan);
    Executor exec(plan, kernels, o.threads, o.seed);
    exec.init_params(o.seed);
    Trainer trainer(plan, o, data, exec, start);
    return trainer.run();
  } catch (const std::exception &e) {
    return fail(e.what());
  }
}
