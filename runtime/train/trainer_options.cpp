// The trainer's options (contract in trainer_options.h).
#include "train/trainer_options.h"

#include <omp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <sstream>

namespace vaec::rt {
namespace {

const char *const kOptionNames[] = {"epochs", "batch", "seed", "threads", "data", "test", "lr",
                                    "max-steps", "out", "resume", "quiet",   "help", "profile", "drop-last",
                                    "checkpoint-every", "team"};

// adaptive -> kAdaptiveTeam, fixed -> kFixedTeam, N -> N.
bool parse_team(const std::string &text, int &team) {
  if (text == "adaptive") return team = kAdaptiveTeam, true;
  if (text == "fixed") return team = kFixedTeam, true;
  int n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < 1 || n > 4096) return false;
  return team = n, true;
}

// N steps, or M minutes written `Mm` (M may have decimals); 0: at epoch ends only.
bool parse_checkpoint_every(const std::string &text, int64_t &steps, double &minutes) {
  if (!text.empty() && text.back() == 'm') {
    char *end = nullptr;
    const double m = std::strtod(text.c_str(), &end);
    if (text.size() < 2 || end != text.c_str() + text.size() - 1 || !std::isfinite(m) || m <= 0 || m > 1e6) return false;
    return steps = 0, minutes = m, true;
  }
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < 0) return false;
  return steps = n, minutes = 0, true;
}

template <typename T>
bool parse_int(const std::string &text, T min, T max, T &out) {
  T v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

std::string fixed_minutes(double m) {
  std::ostringstream os;
  os << m << "m";
  return os.str();
}

}  // namespace

std::string usage(const plan::Plan &plan, const Options &d) {
  std::ostringstream os;
  os << "usage: train [train] [options]\n"
     << "       train COMMAND [options]   (COMMAND: reconstruct, sample, manifold, interpolate, scatter,\n"
     << "                                  concept, eval, export; below)\n"
     << "Trains " << plan.model << " (compiled by vaec for batch " << plan.train.batch
     << ") and reports its losses per example.\n\n"
     << "  --epochs N     train until epoch N (default " << d.epochs << ")\n"
     << "  --batch N      examples per step, any N (default " << plan.train.batch << ", the compiled batch);\n"
     << "                 also the test batch\n"
     << "  --drop-last    leave out the last, partial batch of each epoch (default: train on every image)\n"
     << "  --seed N       seeds initialisation, shuffling and noise (default " << d.seed << ")\n"
     << "  --threads N    the work is cut into N chunks, the same on any machine (default " << d.threads << ",\n"
     << "                 what the plan was made for: vaec compile --threads); a checkpoint keeps it\n"
     << "  --team adaptive | fixed | N\n"
     << "                 the threads that run those chunks; the results are the same bits on any\n"
     << "                 team (default " << (d.team == kAdaptiveTeam ? "adaptive" : d.team == kFixedTeam ? "fixed" : std::to_string(d.team))
     << ", the plan's: vaec compile --team). adaptive: as many of the\n"
     << "                 threads as there are CPUs other programs leave free, measured every\n"
     << "                 half second, so a busy program beside the trainer costs it about its share\n"
     << "                 of the CPUs, not nearly all of it; fixed: all N; a number: that many.\n"
     << "                 Waiting threads spin as libgomp does (OMP_WAIT_POLICY, GOMP_SPINCOUNT)\n"
     << "  --data PATH    the training data: a .npz, .npy, .csv or IDX file, a folder of PNGs or of\n"
     << "                 MNIST's IDX files (default " << (d.data.empty() ? "none" : d.data) << ")\n"
     << "  --test PATH    the test data (default " << (d.test.empty() ? "the data's own test split" : d.test) << ")\n"
     << "  --lr X         learning rate (default " << d.lr << ")\n"
     << "  --max-steps N  stop after N training steps in all, then evaluate (benchmarks)\n"
     << "  --out DIR      where metrics.csv, metrics.jsonl, loss_curve.png and checkpoint.bin go\n"
     << "                 (default: the directory of this program)\n"
     << "  --resume [FILE]\n"
     << "                 continue from a checkpoint (default DIR/checkpoint.bin) with its seed,\n"
     << "                 learning rate and threads, exactly as if the run had never stopped\n"
     << "  --checkpoint-every N | Mm\n"
     << "                 also write DIR/checkpoint.bin every N training steps, or every M minutes\n"
     << "                 (default " << (d.checkpoint_steps > 0     ? std::to_string(d.checkpoint_steps)
                                          : d.checkpoint_minutes > 0 ? fixed_minutes(d.checkpoint_minutes)
                                                                     : std::string("0")) << "; 0: only at the end of each epoch), so that\n"
     << "                 kill -9 loses at most that much. On SIGINT (Ctrl-C) or SIGTERM the run\n"
     << "                 finishes its step, writes the checkpoint, prints the command that resumes\n"
     << "                 it and exits with 130 or 143\n"
     << "  --quiet        print only the final RESULT line\n"
     << "  --profile      at exit, the time of every plan step, by kind, and of the optimizer\n"
     << "  --help         show this text\n";
  return os.str();
}

Options default_options(const plan::Plan &plan) {
  Options o;
  auto get = [&](const char *key) { auto it = plan.config.find(key); return it == plan.config.end() ? "" : it->second; };
  parse_int<int64_t>(get("epochs"), 0, INT64_MAX, o.epochs);
  parse_int<uint64_t>(get("seed"), 0, UINT64_MAX, o.seed);
  if (!get("lr").empty()) o.lr = std::strtod(get("lr").c_str(), nullptr);
  o.batch = plan.train.batch;
  if (!parse_int<int>(get("threads"), 1, 4096, o.threads)) o.threads = omp_get_num_procs();
  if (!parse_team(get("team"), o.team)) o.team = kFixedTeam;
  o.data = get("data_path");
  o.test = get("test_path");
  return o;
}

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
    if (name == "quiet" || name == "help" || name == "profile" || name == "drop-last") {
      if (has_value) return error = "--" + name + " takes no value", false;
      (name == "quiet" ? o.quiet : name == "help" ? o.help : name == "profile" ? o.profile : o.drop_last) = true;
      o.given.insert(name);
      continue;
    }
    if (std::find(std::begin(kOptionNames), std::end(kOptionNames), name) == std::end(kOptionNames)) {
      std::string close;
      for (const char *known : kOptionNames)
        if (std::string(known).find(name) == 0 || name.find(known) == 0) close = known;
      return error = "unknown option '--" + name + "'" + (close.empty() ? " (see --help)" : "; did you mean '--" + close + "'?"),
             false;
    }
    o.given.insert(name);
    if (name == "resume") {
      o.resume = true;
      if (!has_value && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) value = argv[++i], has_value = true;
      if (has_value && value.empty()) return error = "--resume= needs a file name", false;
      o.resume_file = value;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) return error = "--" + name + " needs a value", false;
      value = argv[++i];
    }
    bool ok = true;
    if (name == "epochs") ok = parse_int<int64_t>(value, 0, 1'000'000, o.epochs);
    else if (name == "batch") ok = parse_int<int64_t>(value, 1, int64_t{1} << 20, o.batch);
    else if (name == "seed") ok = parse_int<uint64_t>(value, 0, UINT64_MAX, o.seed);
    else if (name == "threads") ok = parse_int<int>(value, 1, 4096, o.threads);
    else if (name == "team") ok = parse_team(value, o.team);
    else if (name == "max-steps") ok = parse_int<int64_t>(value, 0, INT64_MAX, o.max_steps);
    else if (name == "checkpoint-every") ok = parse_checkpoint_every(value, o.checkpoint_steps, o.checkpoint_minutes);
    else if (name == "data") ok = !value.empty(), o.data = value;
    else if (name == "test") ok = !value.empty(), o.test = value;
    else if (name == "out") ok = !value.empty(), o.out = value;
    else if (name == "lr") {
      char *end = nullptr;
      o.lr = std::strtod(value.c_str(), &end);
      ok = !value.empty() && *end == '\0' && std::isfinite(o.lr) && o.lr > 0;
    }
    if (!ok) {
      const char *want = name == "epochs"      ? "a whole number from 0 to 1000000"
                         : name == "batch"     ? "a whole number from 1 to 1048576"
                         : name == "seed"      ? "a whole number from 0 to 18446744073709551615"
                         : name == "threads"   ? "a whole number from 1 to 4096"
                         : name == "team"      ? "adaptive, fixed or a whole number from 1 to 4096"
                         : name == "max-steps" ? "a whole number, 0 or more"
                         : name == "lr"        ? "a positive number such as 0.001"
                         : name == "checkpoint-every" ? "N steps (0: only at epoch ends) or minutes such as 10m"
                                               : "a non-empty value";
      return error = "bad value '" + value + "' for --" + name + ": expected " + want, false;
    }
  }
  return true;
}

}  // namespace vaec::rt
