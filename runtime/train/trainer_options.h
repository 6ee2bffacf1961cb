// The generated trainer's command line: options, their defaults (from the
// plan's config, i.e. the YAML's train section) and the --help text.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "abi/plan.h"

namespace vaec::rt {

// Options::team besides a thread count: follow the free CPUs
// (train/cpu_share.h), or run on all `threads`.
inline constexpr int kAdaptiveTeam = 0, kFixedTeam = -1;

struct Options {
  int64_t epochs = 10, batch = 0, max_steps = -1;
  uint64_t seed = 1;
  int threads = 1;               // chunks (exec/executor.h)
  int team = kFixedTeam;         // kAdaptiveTeam, kFixedTeam or a thread count
  std::string data, test;   // paths (the plan's data_path and test_path unless given)
  double lr = 1e-3;
  std::string out;          // output directory; empty: the trainer's own directory
  bool resume = false;
  std::string resume_file;  // empty: <out>/checkpoint.bin
  bool quiet = false, help = false, profile = false, drop_last = false;
  // --checkpoint-every: a checkpoint also every N training steps (of the
  // global step count) or every M minutes of training; both 0: at epoch ends only.
  int64_t checkpoint_steps = 0;
  double checkpoint_minutes = 10;
  std::set<std::string> given;  // the options on the command line, e.g. "seed"
};

Options default_options(const plan::Plan &plan);

// Fills `o` from argv (--name value or --name=value; --resume takes a value
// only when the next argument is not an option); false with a message on
// the first bad option.
bool parse_options(int argc, char **argv, Options &o, std::string &error);

std::string usage(const plan::Plan &plan, const Options &defaults);

}  // namespace vaec::rt
