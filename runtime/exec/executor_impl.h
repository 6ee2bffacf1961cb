// The executor's insides (exec/executor.h has the contract), shared by its
// files: executor.cpp (start-up and the step loop), products.cpp (oneDNN
// products, convolutions and reorders), zero_column_products.cpp (products
// that leave out zero columns of image data), updates.cpp (the optimizer
// and the gate) and profile.cpp. Nothing else includes it.
#pragma once

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <chrono>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "abi/onednn_conv.h"
#include "abi/onednn_matmul.h"
#include "abi/own_winograd.h"
#include "abi/sparse_product.h"
#include "abi/thin_product.h"
#include "exec/executor.h"
#include "exec/step_times.h"
#include "exec/zero_columns.h"

namespace vaec::rt {
namespace exec {

using plan::Buffer;
using plan::DType;
using plan::Plan;
using plan::Step;

constexpr size_t kAlign = 64;        // arena, scratch and every scratch copy start on a cache line
constexpr size_t kAlignFloats = kAlign / sizeof(float);
constexpr int64_t kParallelMinElements = 1 << 14;

inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<std::byte, FreeDeleter>;

// Blocks of kHugeFrom bytes and more (the arena, oneDNN's scratchpad) are
// laid on 2 MiB pages where the kernel grants them (transparent huge pages
// in `madvise` mode): a step walks all of its arena, which in 4 KiB pages
// is more than the TLB holds. At most 2 MiB more memory per block.
constexpr size_t kHugePage = size_t(2) << 20, kHugeFrom = size_t(4) << 20;

inline AlignedBytes allocate_zeroed(size_t bytes) {
  const bool huge = bytes >= kHugeFrom;
  const size_t align = huge ? kHugePage : kAlign;
  const size_t size = round_up(std::max<size_t>(bytes, 1), align);
  void *p = std::aligned_alloc(align, size);
  if (p && huge) ::madvise(p, size, MADV_HUGEPAGE);  // before the pages are touched; refused: 4 KiB pages
  if (!p) throw std::runtime_error("cannot allocate " + std::to_string(size) + " bytes");
  std::memset(p, 0, size);
  return AlignedBytes(static_cast<std::byte *>(p));
}

[[noreturn]] inline void fail(const std::string &message) { throw std::runtime_error(message); }

// --- prepared steps: everything a step needs at run time, resolved once ---

struct ZeroCall {
  void *data = nullptr;
  size_t bytes = 0;
};

struct MatmulPart {
  dnnl::matmul primitive;
  std::unordered_map<int, dnnl::memory> args;
};

// A product with image data that leaves out the data's all-zero columns
// (plan Step::zeros); prepared by prepare_skip, run by run_skipping. Inner: the data is a [m, k] and its columns are the inner
// dimension, so a' [m, kp] and b' [n, kp] (b stored [n, k]) keep the nonzero
// ones and c is written as usual. Outer: the data is b [k, n] and its
// columns are c's, so c' = op(a) b' [m, np] is computed and expanded into c
// with zero columns. kp, np: the kept columns rounded up to 16, one variant
// (oneDNN primitives) per such count, created when first needed.
// The kept (not all-zero) columns of one image-data buffer, found by the
// first product that needs them in a run of its program and reused by the
// others (valid while epoch == Impl::data_epoch).
struct DataColumns {
  const std::byte *data = nullptr;  // row-major [rows, cols]
  bool bf16 = false;            // of bf16 values (a bf16 product's rounded copy), else f32
  int64_t rows = 0, cols = 0;
  int64_t limit = 0;            // more kept columns than this: no product leaves any out
  uint64_t epoch = 0;
  std::vector<uint32_t> acc;    // or_columns per thread: threads * cols
  bool too_many = false;        // more than `limit` kept (then `kept` is not computed)
  KeptColumns kept;
};

// The nonzero entries of one data buffer (plan Step::Sparse), listed by
// rows or by columns by the first sparse product that needs them in a run
// of its program and reused by the others (valid while their epoch is
// Impl::data_epoch).
struct SparseData {
  const float *data = nullptr;  // row-major [rows, cols]
  int64_t rows = 0, cols = 0;
  onednn::SparseLists by_rows, by_columns;
  uint64_t rows_epoch = 0, columns_epoch = 0;
};

// A `sparse` step, prepared by prepare_sparse and run by run_sparse:
// c = a b over a's lists by rows, or c = a^T b (ta) over its lists by
// columns; the step's whole product when the data is denser than
// plan::kSparseShare.
struct SparseCall {
  SparseData *data = nullptr;
  bool by_rows = true;
  const float *b = nullptr, *bias = nullptr;
  float *c = nullptr;
  int64_t m = 0, n = 0;
  int post = 0;
  // By rows on several threads: thread t sums the entries of its slice of
  // b's rows (in step with the optimizer's shares of a weight b: each thread
  // reads the rows it updates) into c (t = 0) or partial[t - 1], m * n
  // floats each; then onednn::add_rows.
  AlignedBytes partial;
  std::vector<float *> partials;
  int64_t runs = 0, sparse_runs = 0, nonzeros = 0;  // runs, runs over the lists, all runs' nonzero entries
};

struct SkipZeros {
  bool inner = true;
  bool bf16 = false;            // a bf16 step: its operands, a', b' and units' a' are bf16 (c, c' f32)
  Step step;                    // the plan step: operands, sizes, bias, post-op
  DataColumns *columns = nullptr;  // null: the data's columns all stay (units only)
  int64_t limit = 0;            // padded kept columns above this: run the whole product
  int parts = 1;                // the step's slices: inner, of columns; outer, of rows (split_matmul)
  float *first = nullptr;       // inner: a'; outer: b'  (shared scratch, sized for `limit`)
  float *second = nullptr;      // inner: b'; outer: c'
  struct Variant {
    std::vector<MatmulPart> parts;
    size_t pad_stride = 0;      // part p's oneDNN scratchpad starts at byte p * pad_stride of `pad`
  };
  // By padded kept columns; with units left out, by unit_key(units, columns).
  std::map<int64_t, Variant> variants;
  AlignedBytes pad;
  size_t pad_bytes = 0;
  int64_t runs = 0, skipped = 0, kept = 0;  // runs, runs that left columns out, their kept columns
  // Units (Step::zero_units): c = a^T b with a [k, m]; a's all-zero
  // columns, found each run, are zero rows of c. The run computes
  // c' = a'^T b [mp, np] from a' [k, mp] (a's kept columns; b the data, or
  // its kept columns b' too when `columns`) and spreads c' into c's rows.
  bool units = false;
  int64_t unit_limit = 0;            // padded kept units above this: every row is computed
  std::vector<uint32_t> unit_acc;    // or_columns per chunk: threads * m
  KeptColumns kept_units;
  float *a_units = nullptr;          // a' [k, unit_limit]   (shared scratch)
  float *c_units = nullptr;          // c' [unit_limit, n]
  int64_t unit_skipped = 0, units_kept = 0;  // runs that left units out, their kept units
  static int64_t unit_key(int64_t mp, int64_t np) { return (mp << 32) | np; }
};

// A oneDNN reorder: a bf16 step's operand rounded from its f32 buffer into
// a bf16 copy (MatmulCall, PrimitiveCall: run before the step's own
// primitive), or a Reorder step's layout change. oneDNN fixes a reorder's
// thread count when it is made, as a primitive's, so it is made once per
// team size and run by the current team's (run_reorder): made for the
// plan's threads, it kept waking a second thread beside a busy program
// whatever the team. Its values do not depend on the thread count.
struct TeamReorder {
  std::vector<dnnl::reorder> made_for;  // [t - 1]: made for t threads
  std::unordered_map<int, dnnl::memory> args;
};

struct MatmulCall {
  MatmulPart whole;
  // When not empty (a `columns` step), the step runs as these column
  // slices instead, one per thread, each a one-thread oneDNN call; part p
  // uses the scratchpad from byte p * scratchpad_stride on.
  using Part = MatmulPart;
  std::vector<Part> parts;
  size_t scratchpad_stride = 0;
  std::unique_ptr<SkipZeros> skip;  // see SkipZeros
  std::unique_ptr<SparseCall> sparse;  // see SparseCall
  // A `bf16` step: a and b are first rounded into copies in the same layout
  // (2-byte elements, in the executor's bf16_scratch, which every bf16 step
  // shares), which the product (whole or parts) reads.
  std::vector<TeamReorder> reorders;
  std::byte *bf16_a = nullptr, *bf16_b = nullptr;
  // A `k-slices` step: parts 1.. write their sums here, m * n floats each,
  // which run_whole then adds into c (m * n floats) in part order.
  AlignedBytes partial_sums;
  float *c = nullptr;
  int64_t c_elements = 0;
  // Then c = post(c + bias), c's rows c_columns long (post: post_code).
  const float *k_bias = nullptr;
  int64_t c_columns = 0;
  int k_post = 0;
  // A `swapped` step: the whole product's (or part p's) c^T lands in
  // swap_scratch at `ct`, then onednn::unswap writes its [m, n] of c.
  struct Unswap {
    const float *ct = nullptr;
    int64_t m = 0, n = 0, ldc = 0;
    float *c = nullptr;
    const float *bias = nullptr;
  };
  std::vector<Unswap> unswaps;
  AlignedBytes swap_scratch;
  std::string post;
  // A `thin` step runs these loops instead of oneDNN, on its operands in the
  // arena and the shared scratchpad.
  std::shared_ptr<const onednn::ThinProduct> thin;
  const float *a = nullptr, *b = nullptr, *bias = nullptr;
};

// A kernel over [0, domain0) cut into `chunks` contiguous row ranges. Chunk c
// calls fn with args[c * arity ...], whose accumulated positions point into
// chunk c's scratch copy (unless chunks == 1: then they point to the real
// buffers). Results depend on the chunk count, never on which OpenMP thread
// runs a chunk, so a smaller team than asked for changes nothing.
struct KernelCall {
  vaec_kernel_fn fn = nullptr;
  int64_t domain0 = 1;
  int64_t rows_per_example = 0;  // c when domain0 is c * batch (else 0): rng[2] = c * the run's row0
  int chunks = 1;
  size_t arity = 0;
  std::vector<void *> args;  // chunks * arity pointers
  struct Accumulated {
    float *real;
    int64_t elements;
    size_t scratch_offset;  // in floats, within each chunk's scratch copy
    plan::Step::Combine combine;
  };
  std::vector<Accumulated> acc;
};

// A oneDNN primitive with its arguments bound to arena memory: Conv and
// Reorder steps.
struct PrimitiveCall {
  dnnl::primitive primitive;  // none for a Reorder step: its reorder is reorders[0]
  std::unordered_map<int, dnnl::memory> args;
  // Run first: a bf16 Conv's roundings of a and b into `rounded`; a
  // Reorder step's reorder.
  std::vector<TeamReorder> reorders;
  AlignedBytes rounded;
  // An own-winograd Conv runs this instead of a primitive, on its operands
  // in the arena and the shared scratchpad.
  std::shared_ptr<const onednn::OwnWinograd> own;
  const float *a = nullptr, *b = nullptr, *bias = nullptr;
  float *c = nullptr;
  int64_t bytes[3][2] = {};  // own: a's, b's and c's byte ranges in the arena
  // A `side-by-side` step runs the next one beside it (run_step), which then
  // finds `ran_early` set and skips its turn; the next one's scratch starts
  // `scratch_offset` bytes into the shared scratchpad, after this one's.
  bool beside_next = false, ran_early = false;
  size_t scratch_offset = 0;
  // A `batch-slices` Conv: slice p, images share(batch, p, slices), in a
  // primitive made for one thread, its scratchpad at p * slice_pad of the
  // shared one. A weight gradient's slices p >= 1 write partial sums
  // (slice p - 1 of `partial`), added to c (`c_floats`) in slice order.
  // A bf16 step's slice first rounds its images of a and b (all of the
  // weights) into `rounded`, in the layouts oneDNN chose for the slice.
  struct Slice {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
    std::vector<TeamReorder> reorders;  // made for one thread
    AlignedBytes rounded;
  };
  std::vector<Slice> slices;
  size_t slice_pad = 0;
  AlignedBytes partial;
  float *c_sum = nullptr;
  int64_t c_floats = 0;
};

// A Reorder of plain f32 into a plain bf16 buffer: the executor's own
// rounding (exec/bf16_rounding.h), cut into the plan's thread count of
// chunks that any team runs.
struct RoundCall {
  const float *src = nullptr;
  uint16_t *dst = nullptr;
  int64_t n = 0;
};

// Floats [begin, end) of the parameter (gradient, state) regions, on 64-byte
// lines.
struct Range {
  int64_t begin, end;
};

// A Gate step: the losses and the gradients in `checked` must be finite,
// and each bounded product c = a b of inner size k must have
// k max|a| max|b| far below FLT_MAX (then c is finite whatever the
// summation order).
struct GateCall {
  std::vector<int> losses;        // scalar buffers
  std::vector<Range> checked;
  struct Operand {
    const void *values;
    int64_t elements;
    bool bf16;                    // bfloat16 values (a bf16 product's rounded copy)
  };
  std::vector<Operand> operands;  // each bounded operand once
  struct Bound {
    int a, b;                     // indices into operands
    int64_t k;
  };
  std::vector<Bound> bounds;
  std::vector<float> max_abs_of, partial_max;  // per operand; per chunk (operands + 1 flag)
};

// An Optimize step: every parameter, checked (`all`), or `ranges`.
struct UpdateCall {
  bool all = false;
  std::vector<Range> ranges;
};

// One of these, as `kind` says.
struct PreparedStep {
  Step::Kind kind;
  bool writes_data = false;  // a kernel reading the program's raw images: it (re)writes image data
  ZeroCall zero{};
  MatmulCall matmul{};
  KernelCall kernel{};
  PrimitiveCall call{};
  RoundCall round{};
  GateCall gate{};
  UpdateCall update{};
};


// A logical [rows, cols] f32 matrix stored row-major, or, when `transposed`,
// stored as its [cols, rows] transpose (so strides {1, rows}): oneDNN reads
// either layout directly, without a copy.
// oneDNN fixes a primitive's thread count (and may size its scratchpad by
// it) when the primitive is made: those made in this scope are made for
// `threads` threads, whatever team runs when they are made.
struct MadeFor {
  const int before = omp_get_max_threads();
  explicit MadeFor(int threads) { omp_set_num_threads(threads); }
  ~MadeFor() { omp_set_num_threads(before); }
  MadeFor(const MadeFor &) = delete;
  MadeFor &operator=(const MadeFor &) = delete;
};

using onednn::matrix_desc;

// Share c of [0, n) cut into `chunks` shares at multiples of `unit` (the
// last share takes the remainder): the optimizer's and the gate's shares of
// a float range (unit: a 64-byte line); split products' slices are
// onednn::slice_share's.
// Whether byte ranges [x[0], x[1]) and [y[0], y[1]) share a byte.
inline bool overlap(const int64_t *x, const int64_t *y) { return x[0] < y[1] && y[0] < x[1]; }

inline std::pair<int64_t, int64_t> share(int64_t n, int c, int chunks, int64_t unit = kAlignFloats) {
  auto cut = [&](int i) { return i == chunks ? n : n * i / chunks / unit * unit; };
  return {cut(c), cut(c + 1)};
}

// The step whose regions --profile is timing, on the thread running the
// program; null when not profiling.
inline thread_local StepTimes *timed_step = nullptr;
struct TimingRegions {  // sets timed_step for a scope
  explicit TimingRegions(StepTimes *t) { timed_step = t; }
  ~TimingRegions() { timed_step = nullptr; }
  TimingRegions(const TimingRegions &) = delete;
  TimingRegions &operator=(const TimingRegions &) = delete;
};

// body(thread, threads) on every thread of one OpenMP parallel region of
// `team` threads (body may hold `#pragma omp barrier`). Under --profile it
// adds the region's wall time and each thread's time in body to timed_step.
template <class F>
void parallel(int team, F &&body) {
  StepTimes *timed = timed_step;
  if (!timed) {
#pragma omp parallel num_threads(team)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
  using Clock = std::chrono::steady_clock;
  std::vector<double> busy(static_cast<size_t>(team));
  int threads = 1;
  const Clock::time_point begin = Clock::now();
#pragma omp parallel num_threads(team)
  {
    const Clock::time_point start = Clock::now();
    const int me = omp_get_thread_num();
    if (me == 0) threads = omp_get_num_threads();
    body(me, omp_get_num_threads());
    busy[static_cast<size_t>(me)] = std::chrono::duration<double>(Clock::now() - start).count();
  }
  double worked = 0;
  for (double b : busy) worked += b;
  timed->add_region(std::chrono::duration<double>(Clock::now() - begin).count(), threads, worked);
}

// f(c) for every chunk c in [0, chunks): on the calling thread when there is
// one, else in one parallel region (a smaller team than asked for runs
// several chunks per thread).
template <class F>
void for_chunks(int chunks, int team, F &&f) {
  if (chunks == 1 || team == 1) {
    for (int c = 0; c < chunks; ++c) f(c);
    return;
  }
  parallel(std::min(chunks, team), [&](int me, int size) {
    for (int c = me; c < chunks; c += size) f(c);
  });
}

}  // namespace exec

// The executor's two files use the names above unqualified.
using namespace exec;

struct Executor::Impl {
  Plan plan;                      // at the layout batch: every buffer's offset and largest size
  const Plan *generic = nullptr;  // the plan as given (batch extents unresolved); during start-up only
  int64_t row0 = 0;               // the first example of the run's batch in a larger batch (dist/)
  std::deque<Plan> at_batches;    // the plan at each batch a program runs at (steps point into them)
  int64_t layout_batch = 1;
  int threads;                    // the plan's chunks: results depend on this only
  int team;                       // the threads that run them now (1..threads)
  uint64_t seed;
  AlignedBytes arena;
  AlignedBytes scratch;           // chunk c's copies start at c * scratch_stride floats
  size_t scratch_stride = 0;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  AlignedBytes dnnl_scratchpad;   // shared by all matmuls: they never run concurrently
  size_t dnnl_scratchpad_bytes = 0;
  // By key(name, batch): every program of the plan at every batch it runs at.
  std::map<std::string, std::vector<PreparedStep>> programs;
  static std::string key(const std::string &program, int64_t batch) { return program + "@" + std::to_string(batch); }
  KernelCall optimizer;
  enum class Optimizer { Adam, AdamW, Other } optimizer_kind = Optimizer::Other;
  double weight_decay = 0;  // adamw's
  double clip_norm = 0;     // config clip_grad_norm, or 0
  int64_t hyper_values = 0;
  float grad_scale = 1.0f;  // this step's min(1, clip_norm / |g|)
  double last_grad_norm = 0;
  double beta1 = 0, beta2 = 0;
  std::vector<MatmulInfo> matmuls;
  std::vector<ConvInfo> convs;
  // --profile: the times of each step of each program (step_times.h),
  // printed to stderr when the executor is destroyed.
  bool profiling = false;
  std::map<std::string, std::vector<StepTimes>> profile;
  double optimizer_seconds = 0;
  int64_t optimizer_calls = 0;
  void print_profile() const;
  // By buffer: an input whose bf16 copy (Program::input_copy) the caller
  // wrote for the next run (input_rows(); f32() of the input takes that back).
  std::vector<char> copy_written;
  void round_input(const plan::Program &program, int64_t batch);

  Impl(const Plan &generic, const vaec_kernel_entry *kernels, int threads, uint64_t seed, const Batches &batches);

  std::byte *address(int buffer) const { return arena.get() + plan.buffers[buffer].offset; }
  float *floats(int buffer) const { return reinterpret_cast<float *>(address(buffer)); }

  void check_buffer(int buffer, DType type, int64_t elements, const std::string &what) const;
  // A bf16 copy a Reorder step rounded (compiler/codegen/share_rounding.h).
  bool bf16_buffer(int buffer) const {
    return buffer >= 0 && buffer < static_cast<int>(plan.buffers.size()) && plan.buffers[buffer].type == DType::BF16;
  }
  vaec_kernel_fn find_kernel(const vaec_kernel_entry *kernels, const std::string &name) const;
  std::vector<PreparedStep> prepare(const plan::Program &program, const vaec_kernel_entry *kernels, const Plan &sized);
  // Every parameter updated exactly once; updates after a gate only of
  // parameters it checks or bounds.
  void check_updates(const plan::Program &program) const;
  KernelCall prepare_kernel(vaec_kernel_fn fn, const std::vector<int> &args, const std::vector<int> &accumulate,
                            const std::vector<plan::Step::Combine> &combine,
                            int64_t domain0, bool rows, const Plan &sized);
  // A oneDNN matmul c = a b (+ bias, null for none) with post-op `post` over
  // the given memory; its scratchpad, if it needs one (`pad` is raised to
  // its size, rounded up to a line), is bound later (bind_parts). Throws
  // dnnl::error when oneDNN declines; `impl` gets its implementation's name.
  MatmulPart matmul_part(const dnnl::memory::desc &a, void *pa, const dnnl::memory::desc &b, void *pb,
                         const dnnl::memory::desc &c, void *pc, const dnnl::memory::desc *bias, void *pbias,
                         const std::string &post, const std::string &at, size_t &pad, std::string *impl = nullptr);
  // A part's scratchpad at `at`; part p of `parts` at base + p * stride.
  static void bind_pad(MatmulPart &part, std::byte *at);
  static void bind_parts(std::vector<MatmulPart> &parts, std::byte *base, size_t stride);
  MatmulCall prepare_matmul(const Step &s, const std::string &program, size_t index);
  void split_matmul(const Step &s, MatmulCall &call);
  void prepare_skip(const Step &s, MatmulCall &call);
  void prepare_sparse(const Step &s, MatmulCall &call, const std::string &at);
  GateCall prepare_gate(const plan::Program &program, size_t index, const std::string &at);
  UpdateCall prepare_update(const plan::Program &program, size_t index, const std::string &at);
  // The floats of the parameters `params`, as few line-aligned ranges as cover them.
  std::vector<Range> param_ranges(const std::vector<int> &params) const;
  SkipZeros::Variant &skip_variant(SkipZeros &z, int64_t padded);
  SkipZeros::Variant &unit_variant(SkipZeros &z, int64_t mp, int64_t np);
  // Makes (once) the variant of `key` from the parts `build` adds.
  template <class Build>
  SkipZeros::Variant &variant(SkipZeros &z, int64_t key, Build &&build);
  void bind_skip_scratch();
  void run_skipping(MatmulCall &m);
  void run_sparse(MatmulCall &m);
  // d's lists in this run (listed now when stale).
  const onednn::SparseLists &lists_of(SparseData &d, bool by_rows);
  std::vector<std::unique_ptr<SparseData>> sparse_data;
  // The kept units of z's a in this run, or null when more than z.unit_limit.
  const KeptColumns *kept_units_of(SkipZeros &z);
  void run_units(MatmulCall &m, const KeptColumns *columns, const KeptColumns &units);
  void run_parts(SkipZeros::Variant &v);
  AlignedBytes skip_scratch;      // a' and b' (or b' and c'), then the units' a' and c', of the skipping step
  AlignedBytes bf16_scratch;      // the rounded a and b of the bf16 step that runs (MatmulCall)
  std::vector<std::unique_ptr<DataColumns>> data_columns;
  uint64_t data_epoch = 1;        // +1 whenever image data may have changed: every DataColumns is stale
  // The first region of skip_scratch holds this data's kept columns, packed
  // in data_epoch packed_epoch (the forward product and the weight gradient
  // of a layer over the images pack the same matrix: the second reuses it).
  const DataColumns *packed_data = nullptr;
  uint64_t packed_epoch = 0;
  // The kept columns of d's data in this run, or null when there are more
  // than d.limit of them.
  const KeptColumns *kept_columns_of(DataColumns &d);
  PrimitiveCall prepare_conv(const Step &s, const std::string &at);
  void prepare_conv_slices(const Step &s, const onednn::ConvPrimitive &whole, PrimitiveCall &call,
                           const std::string &what);
  void run_conv_slices(PrimitiveCall &call);
  // c[i] += slice p's partial[(p - 1) * n + i] for p = 1 .. parts - 1, in
  // slice order (k-slices, a weight gradient's batch slices): the same bits
  // on any team; then, with a bias or post-op (k-slices), c[i] = post(c[i] +
  // bias[i % columns]).
  void add_partial_sums(float *c, int64_t n, const std::byte *partial, int parts, const float *bias = nullptr,
                        int64_t columns = 0, int post = 0);
  PrimitiveCall prepare_own_winograd(const Step &s, const std::string &what, const std::string &at);
  PrimitiveCall prepare_reorder(const Step &s, const std::string &at);
  // A plain f32 -> plain bf16 Reorder, whose rounding the executor runs itself.
  bool plain_rounding(const Step &s) const;
  RoundCall prepare_round(const Step &s, const std::string &at);
  void check_desc(int buffer, const dnnl::memory::desc &desc, const std::string &what) const;
  void bind_dnnl_scratchpad();
  void warm_up_matmuls();
  // The reorder of `from` (in `from_desc`) into `to` (in `to_desc`: a
  // layout change, or a rounding to bf16), made for each team size up to
  // `up_to` (0: the plan's threads; TeamReorder).
  TeamReorder make_reorder(const dnnl::memory::desc &from_desc, void *from, const dnnl::memory::desc &to_desc,
                           void *to, int up_to = 0);
  // Runs r as made for the current team.
  void run_reorder(TeamReorder &r);
  void prepare_optimizer(const vaec_kernel_entry *kernels);
  std::vector<PreparedStep> &steps_of(const plan::Program &program, int64_t batch);
  // Writes `batch` to the plan's batch_value buffer, when it has one.
  void set_batch(int64_t batch);

  void run_kernel(const KernelCall &k, uint64_t step);
  void run_round(const RoundCall &r);
  void run_matmul(MatmulCall &m);
  void run_whole(MatmulCall &m);
  // What a training step's gate and updates share (train_step).
  struct Training {
    double lr;
    std::function<bool()> losses_finite;
    bool gated = false, gate_failed = false, updated = false, applied = false;
  };
  void run_step(const plan::Program &program, std::vector<PreparedStep> &steps, size_t i, uint64_t step,
                Training *train);

  // The optimizer kernel over `ranges`, each split among the threads on
  // 64-byte lines, in one parallel region.
  void update_ranges(const Range *ranges, size_t count, uint64_t t);
  // Whether a gate passes: its losses and checked gradients finite, its
  // bounds far below FLT_MAX.
  bool gate_passes(GateCall &g);
  void write_hyper(uint64_t t, double lr);
  bool update_all(uint64_t t, double lr, bool check);
  void count_optimizer(std::chrono::steady_clock::time_point start, bool call = true) {
    if (!profiling) return;
    optimizer_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    optimizer_calls += call;
  }
};

}  // namespace vaec::rt
