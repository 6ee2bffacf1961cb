// Executes a plan (runtime/plan.h): owns the arena, the compiled kernels and
// the oneDNN primitives, and runs the train/eval programs and the optimizer.
//
// Everything is set up once, in the constructor: the arena is allocated
// (64-byte aligned, zeroed), every kernel name is looked up in the kernel
// table, every buffer index and extent the plan uses is checked against the
// buffers, and one oneDNN matmul primitive is created per Matmul step with
// memory objects wrapping arena pointers. run() then only executes: no
// allocation, no lookup, no copies.
//
// Threads. A Kernel step splits its rows [0, domain0) into one contiguous
// chunk per thread (an OpenMP parallel region; Debian's oneDNN uses the same
// libgomp, so kernels and matmuls share one thread pool and never
// oversubscribe); a kernel whose work is below 16k (the step's `elements`,
// about half a cheap instruction per point: compiler/codegen/kernel.h)
// runs on the calling thread alone. Arguments the plan lists in `accumulate` are sum
// reductions: each thread adds into its own zeroed scratch copy, and after
// the region the real buffer is overwritten with the copies added in thread
// order (0 + s0 + s1 + ...). Such a buffer's previous contents are therefore
// ignored (a Zero step before the kernel is harmless but unnecessary), and the
// result is bitwise reproducible for a fixed thread count. With one chunk
// (one thread, a small or a rank-0 kernel) the kernel adds straight into the
// zeroed real buffer.
//
// Zero columns of the data. A matmul whose operand is image data (an f32
// buffer of a kernel that reads the program's raw images) in one of the two
// forms of a dense layer over it, c = x w^T (+ bias, post-op; the data's
// columns are the inner dimension) or c = op(a) x (they are c's columns),
// leaves out the columns of x that are zero in every row of the batch when
// that keeps at most 7/8 of them: it packs the kept columns into scratch,
// runs oneDNN on the packed operands (primitives per kept count rounded up
// to 16, made when first needed) and, in the second form, writes c's other
// columns as exact zeros. The kept columns are found once per run of a
// program and data buffer (a plan writes a buffer before it reads it and
// never after, so every product of a run sees the same data); runs of
// run_steps and train_step start afresh. The outcome depends on the data
// alone, not on threads or history. VAEC_SKIP_ZERO_COLUMNS=0 turns it off.
//
// Random numbers. Kernels get rng = {seed, step}; draws depend on those and
// the point only (runtime/philox.h), not on the thread split. Philox needs
// step < 2^56; the trainer numbers training steps from 1 and uses
// kEvalStepBase + i for eval batch i, so eval noise never repeats training
// noise and is the same in every epoch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "abi/plan.h"

namespace vaec::rt {

inline constexpr uint64_t kEvalStepBase = uint64_t{1} << 55;

// What oneDNN chose for one Matmul step (for warnings, tests and benchmarks).
struct MatmulInfo {
  std::string program;  // "train" or "eval"
  size_t step = 0;      // index in the program's steps
  int64_t m = 0, n = 0, k = 0;
  std::string impl;     // oneDNN's impl_info_str(), e.g. "brg:avx512_core"
  std::string where;
  int parts = 1;        // > 1: run as that many one-thread column slices (split_matmul)
  bool skips_zero_columns = false;  // leaves out the all-zero columns of its image data
};

// What oneDNN chose for one Conv step.
struct ConvInfo {
  std::string at;    // "program train step 7 (file:line:col)"
  std::string conv;  // the IR op
  std::string impl;
};

class Executor {
 public:
  // Throws std::runtime_error with a readable message when the plan does not
  // fit together (unknown kernel, buffer too small for a matmul, ...) or
  // oneDNN rejects a matmul. `kernels` ends with {nullptr, nullptr}.
  // `threads` >= 1 also becomes OpenMP's default for the calling thread, which
  // is what oneDNN uses. `seed` is rng[0] of every kernel call.
  Executor(const plan::Plan &plan, const vaec_kernel_entry *kernels, int threads, uint64_t seed);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  const plan::Plan &plan() const { return plan_; }
  int threads() const { return threads_; }

  // Fills every parameter with U(-bound, bound) draws and zeroes the gradients
  // and the optimizer state. The draws are reproducible on any platform: a
  // std::mt19937_64 (its output sequence is fixed by the standard) seeded with
  // seed ^ fnv1a64(param name), mapped to [0, 1) by its top 53 bits, so a
  // parameter's values do not depend on the other parameters.
  void init_params(uint64_t seed);

  // Executes `program` (the plan's train or eval program, matched by name)
  // with rng = {seed, step}.
  void run(const plan::Program &program, uint64_t step);
  // Executes steps [first, last) of `program` only (clamped to its length),
  // with the same rng as run(): running [0, i) then [i, n) equals run(). For
  // diagnosis, e.g. finding the first step that writes a non-finite value.
  void run_steps(const plan::Program &program, uint64_t step, size_t first, size_t last);

  // Writes the hyper values for optimizer step t (from 1) and learning rate
  // lr as plan.h defines them (consecutive floats from buffer plan.hyper on),
  // then runs the optimizer kernel over all
  // param_count elements, split among the threads.
  void run_optimizer(uint64_t t, double lr);
  // The same, but only when every gradient (the plan's whole gradient
  // region) is finite: true after the update, false with nothing changed.
  // Each thread scans the gradients of its own share of the update, then
  // (after all threads have) updates that share: the scan runs on every
  // thread and reads gradients the same thread reads again right after
  // (cheaper than all_finite on one thread, ~0.1 ms per mnist_mlp step,
  // followed by run_optimizer).
  bool run_optimizer_if_finite(uint64_t t, double lr);

  // One training step: runs `program` with rng step `step`, then the
  // optimizer's step t = `step` with learning rate lr, all or nothing: when
  // a loss of the program or any gradient is NaN or infinite, nothing of the
  // parameters or the optimizer state changes and the result is false (the
  // losses and gradients are then all computed, for diagnosis). The same
  // values, bit for bit, as run() followed by run_optimizer_if_finite() when
  // every loss is finite; but faster where the plan allows it:
  //
  // The compiler puts the weight-gradient products last (schedule.h). When
  // the train program ends with matmuls that each write one parameter's
  // whole gradient, every other gradient is complete before the first of
  // them (the gate). At the gate the executor checks the losses and those
  // other gradients, and bounds each late product c = a b of inner size k:
  // |c| <= k max|a| max|b| whatever the summation order, so when that is far
  // below FLT_MAX (and a and b are finite) c is finite before it is computed.
  // Then each large late weight (>= 64k floats, with operands no larger than
  // its gradient: k (m + n) <= m n) is updated right after its gradient,
  // while that is still in the cache, and the rest of the parameters after
  // the last one. When the bound fails the step falls back
  // to computing every gradient and checking all of them first.
  bool train_step(const plan::Program &program, uint64_t step, double lr);
  // True when train_step updates some weights right after their gradients
  // in `program` (false: it runs run() and run_optimizer_if_finite()).
  bool fuses_updates(const plan::Program &program) const;

  // Arena views of a buffer; the type must match the plan's.
  float *f32(int buffer);
  uint8_t *u8(int buffer);
  // The value of a scalar f32 buffer (a loss).
  float scalar(int buffer) const;

  const std::vector<MatmulInfo> &matmuls() const;
  // How often matmul step `step` of `program` ran, and in how many of those
  // runs it left out all-zero columns of image data (0, 0 for other steps).
  std::pair<int64_t, int64_t> zero_column_runs(const plan::Program &program, size_t step) const;
  const std::vector<ConvInfo> &convs() const;

 private:
  void write_hyper(uint64_t t, double lr);
  bool update(uint64_t t, double lr, bool check);
  struct Impl;
  plan::Plan plan_;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

// A number of plan.config (e.g. "beta1" -> 0.9); throws std::runtime_error
// naming the key when it is missing or not a number.
double config_number(const plan::Plan &plan, const std::string &key);

}  // namespace vaec::rt
