// The plan's `team adaptive` (compiler/codegen/codegen_options.h): how many
// threads the trainer should run on while other programs share its CPUs.
//
// With libgomp's default wait policy the trainer's threads spin at every
// barrier; beside one busy program the thread everyone waits for sits in a
// run queue and training falls to a few percent of its speed, while bounding
// the spin costs a quarter of the idle speed (docs/BENCHMARKS.md, "A shared
// CPU"). So the trainer keeps libgomp's spin and instead runs the plan's
// chunks on as many threads as there are CPUs the others leave free. The
// chunks, not the threads, decide the bits (exec/executor.h), so this
// changes the speed only.
//
// The others' load is measured once before the first step (after
// kFirstWindow) and then between steps, at most every kWindow
// seconds, as the busy time of the CPUs this process may run on
// (/proc/stat) minus this process's own CPU time.
#pragma once

#include <string>

#include "exec/executor.h"

namespace vaec::rt {

// The team for `free` idle CPUs (CPUs minus the others' load) given the
// current team, in [1, threads]: it shrinks when the free CPUs fall half a
// CPU below the team and grows when they rise three quarters above it, so
// that noise around a boundary does not flip it.
int team_for_free_cpus(double free, int current, int threads);

class CpuShare {
 public:
  static constexpr double kWindow = 0.5;  // seconds between measurements
  // The first measurement's shortest window: training starts on the measured
  // team instead of spending its first window on all threads beside a hog.
  static constexpr double kFirstWindow = 0.1;

  explicit CpuShare(int threads);
  // The team to run from now on (`current` until a window has passed, and
  // always when /proc/stat cannot be read).
  int advise(int current);
  // The team to start on: waits until kFirstWindow has passed since
  // construction, then measures (once; later calls return `current`).
  int advise_first(int current);
  // The others' load over the last window, in CPUs; the CPUs this process may use.
  double others() const { return others_; }
  int cpus() const { return cpus_; }
  bool works() const { return works_; }

 private:
  int measure(int current);  // samples now; the team for the window since the last sample
  bool sample(double &busy_seconds, double &own_seconds, double &wall) const;
  int threads_, cpus_ = 1;
  bool works_ = false, measured_ = false;
  double busy_ = 0, own_ = 0, wall_ = 0, others_ = 0;
  unsigned long long mask_[16] = {};  // the CPUs of the affinity mask, as bits (up to 1,024)
};

// Carries Options::team out for one executor: a fixed team at once, an
// adaptive one between steps.
class Team {
 public:
  Team(Executor &exec, int policy);  // policy: kAdaptiveTeam, kFixedTeam or a count
  // Between steps: the new team, if any, is set; returns a note for the
  // user when it changed (the first few times), else "".
  std::string update();
  // Before the first step: the team from a first short measurement.
  std::string start();

 private:
  Executor &exec_;
  bool adaptive_;
  CpuShare share_;
  int changes_ = 0;
  std::string change(int now);
};

}  // namespace vaec::rt
