// Carries out a plan (abi/plan.h): owns the arena, the compiled kernels and
// the oneDNN primitives, and runs the programs step by step. Every choice of
// what runs (which products are column slices, which leave out zero columns
// of the data, where the gate and the updates sit, which kernels split their
// rows among the threads) was made by the compiler and is in the plan text;
// the executor only carries it out, the same whatever its environment says.
// runtime/README.md describes the steps.
//
// Start-up (the constructor) allocates the arena (64-byte aligned, zeroed),
// looks every kernel up, checks every buffer index and extent against the
// buffers, and creates one oneDNN primitive per product, convolution and
// reorder (per column slice, and per kept-column count of a zero-column
// product when a batch first needs it). Running allocates nothing.
//
// Threads: `threads` OpenMP threads, shared with oneDNN (Debian's oneDNN uses
// the same libgomp). A `rows` kernel cuts [0, domain0) into min(threads,
// domain0) contiguous chunks; its accumulated arguments go to per-chunk
// zeroed scratch copies, summed in chunk order afterwards, so results are
// bitwise reproducible for a given thread count. set_team() runs the same
// chunks on fewer threads (each thread takes every team-th chunk): the bits
// stay those of `threads`, since oneDNN's products give the same bits on any
// number of threads (tests/lit/team.test checks whole trainings).
//
// Random numbers: kernels get rng = {seed, step}; draws depend on those and
// the point only (abi/philox.h). Training steps count from 1; the eval
// program's batch i of a pass over the test set uses kEvalStepBase + i.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "abi/plan.h"

namespace vaec::rt {

inline constexpr uint64_t kEvalStepBase = uint64_t{1} << 55;

// What oneDNN chose for one Matmul step (for warnings, tests and benchmarks).
struct MatmulInfo {
  std::string program;
  size_t step = 0;      // index in the program's steps
  int64_t m = 0, n = 0, k = 0;
  std::string impl;     // oneDNN's impl_info_str(), e.g. "brg:avx512_core"
  std::string where;
  int parts = 1;        // > 1: run as that many one-thread column slices
  bool skips_zero_columns = false;
};

// What oneDNN chose for one Conv step.
struct ConvInfo {
  std::string at;    // "program train step 7 (file:line:col)"
  std::string conv;  // the IR op
  std::string impl;
};

// The batches each program will run at, by program name (a program not
// listed runs at its plan batch; one listed without batches never runs). The
// arena is laid out for the largest, and oneDNN primitives are made for each
// at start-up.
using Batches = std::map<std::string, std::vector<int64_t>>;

// Data-parallel training (runtime/dist/): a rank's part in a training step
// beyond its own rows.
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Bucket `b` of the train program's buckets: its gradients are final.
  // Called in step order, each bucket once.
  virtual void bucket_final(size_t b) = 0;
  // After the last step: every bucket summed over the ranks, and the loss
  // buffers hold the whole batch's losses.
  virtual void finish() = 0;
};

class Executor {
 public:
  // Throws std::runtime_error with a readable message when the plan does not
  // fit together (unknown kernel, buffer too small for a product, an update
  // the plan does not guard, ...) or oneDNN rejects a step. `kernels` ends
  // with {nullptr, nullptr}. `threads` >= 1 also becomes OpenMP's default for
  // the calling thread, which is what oneDNN uses. `seed` is rng[0] of every
  // kernel call. With `profile`, the time of every step is printed to stderr
  // when the executor is destroyed. `batches`: see Batches.
  Executor(const plan::Plan &plan, const vaec_kernel_entry *kernels, int threads, uint64_t seed,
           bool profile = false, const Batches &batches = {});
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  const plan::Plan &plan() const { return plan_; }
  // The largest batch this executor runs (its arena's layout).
  int64_t layout_batch() const;
  int threads() const { return threads_; }
  // The runs from now on compute rows [row0, row0 + batch) of a larger batch
  // (a rank's share, runtime/dist/): normal() draws those rows' noise.
  void set_row0(int64_t row0);
  // The threads that run the chunks from now on, clamped to [1, threads()]
  // (oneDNN's calls too); the results do not change.
  void set_team(int team);
  int team() const;

  // Fills every parameter with U(-bound, bound) draws and zeroes the gradients
  // and the optimizer state: a std::mt19937_64 seeded with
  // seed ^ fnv1a64(param name), mapped to [0, 1) by its top 53 bits, so the
  // values are the same on every platform and independent of other parameters.
  void init_params(uint64_t seed);
  // Parameter q's values, or its gradient's, in plain order (the plan may
  // store it in a convolution's layout: abi/param_layouts.h).
  std::vector<float> plain_param(size_t q, bool gradient = false);

  // Computes `program` (matched by name) on `batch` examples (0: its plan
  // batch; one of those given at construction) with rng = {seed, step}:
  // every step but the gate and the updates. Inputs and outputs are the
  // first `batch` rows of their buffers.
  void run(const plan::Program &program, uint64_t step, int64_t batch = 0);
  // The training progress in epochs that the plan's epoch() reads (`epoch`
  // in vae.yaml); it stays until set again. No-op for a plan without one.
  void set_epoch(double epoch);
  // The same for steps [first, last) only (clamped): running [0, i) then
  // [i, n) equals run(). For diagnosis.
  void run_steps(const plan::Program &program, uint64_t step, size_t first, size_t last, int64_t batch = 0);

  // One training step: every step of `program`, the gate and the updates
  // included, with rng step `step`, optimizer step t = `step` and learning
  // rate lr. All or nothing: when a loss or a gradient is NaN or infinite,
  // no parameter and no optimizer state changes and the result is false
  // (the losses and gradients are then all computed, for diagnosis). When a
  // gate fails (a loss, a checked gradient or a bound), the remaining
  // products run and the step ends as `optimize all` would.
  // With `sync` (data-parallel training), gates and `optimize params` steps
  // wait: sync hears of each bucket as its gradients become final and
  // finishes the sums; then one checked `optimize all` runs.
  bool train_step(const plan::Program &program, uint64_t step, double lr, int64_t batch = 0,
                  GradientSync *sync = nullptr);
  // True when `program` has a gate (updates right after gradients).
  bool has_gate(const plan::Program &program) const;

  // The optimizer over every parameter for step t (from 1) and learning
  // rate lr (the hyper values of abi/plan.h first), split among the threads
  // on 64-byte lines; the checked form updates only when every gradient is
  // finite (false, with nothing changed, otherwise).
  void run_optimizer(uint64_t t, double lr);
  bool run_optimizer_if_finite(uint64_t t, double lr);

  // Arena views of a buffer; the type must match the plan's. f32() of a
  // program's input makes the program's next run round the input's bf16
  // copy (Program::input_copy) first.
  float *f32(int buffer);
  uint8_t *u8(int buffer);
  uint16_t *bf16(int buffer);  // bfloat16 bits

  // Where to write `program`'s f32 input rows before its next run, and,
  // when the plan keeps the input's bf16 copy, the copy (each value as
  // abi/bf16_rounding.h rounds it; else bf16 is null). The caller writes
  // both, and the run takes the copy as written (the data feed does this;
  // data/feed.h).
  struct InputRows {
    float *f32 = nullptr;
    uint16_t *bf16 = nullptr;
  };
  InputRows input_rows(const plan::Program &program);
  // The value of a scalar f32 buffer (a loss).
  float scalar(int buffer) const;

  const std::vector<MatmulInfo> &matmuls() const;
  // How often matmul step `step` of `program` ran, and in how many of those
  // runs it left out all-zero columns of image data (with `units`: the rows
  // of units no example activates); 0, 0 for other steps.
  std::pair<int64_t, int64_t> zero_column_runs(const plan::Program &program, size_t step, bool units = false) const;
  // How often `sparse` matmul step `step` of `program` ran, and in how many
  // of those runs over the data's nonzero entries alone; 0, 0 for others.
  std::pair<int64_t, int64_t> sparse_runs(const plan::Program &program, size_t step) const;
  const std::vector<ConvInfo> &convs() const;

 private:
  struct Impl;
  plan::Plan plan_;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

// A number of plan.config (e.g. "beta1" -> 0.9); throws std::runtime_error
// naming the key when it is missing or not a number.
double config_number(const plan::Plan &plan, const std::string &key);

}  // namespace vaec::rt
