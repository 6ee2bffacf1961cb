// The plan: what `vaec compile` tells the generated trainer to do, and the
// ABI between compiler/ and runtime/. The compiler writes it as text
// (format_plan); the trainer embeds that text and parses it at start-up
// (parse_plan). Everything else the trainer needs comes from the compiled
// kernels, which it finds by name in the kernel table of its object file:
//
//   extern "C" const char vaec_plan_text[];          // this plan, as text
//   extern "C" const vaec_kernel_entry vaec_kernels[]; // {name, fn}..., {nullptr, nullptr}
//
// with fn of type vaec_kernel_fn (see compiler/codegen/kernel.h for what a
// kernel computes and how it is called). Nothing else: a trainer runs any
// batch with the same plan and kernels (below, "Any batch").
//
// Text (one item per line, fields separated by spaces, buffers by index):
//   vaec-plan 2 | model NAME | config KEY VALUE | arena BYTES | batch_value BUFFER | epoch_value BUFFER
//   buffer NAME f32|u8 ELEMENTS OFFSET
//   param NAME BUFFER GRAD_BUFFER INIT_BOUND|=1 DIM...
//   param_layout PARAM DIMS FROM_LAYOUT LAYOUT     (optional: PARAM stored in LAYOUT, see Param)
//   regions PARAM_COUNT PARAM_REGION GRAD_REGION HYPER | state BUFFER
//   stats STAT_COUNT STAT_REGION | stat NAME BUFFER INIT DIM...
//   optimizer KERNEL ARG... | loss_scaling LOSS sum|mean|batch | recon bce|bce_logits|mse
//   program train|eval|encode|decode|nll BATCH INPUT INPUT_ROW     (INPUT -1: none)
//     input_copy BUFFER            (optional: the input's bf16 copy, below)
//     latent BUFFER ROW            (optional: the program's f32 latents)
//     labels BUFFER CLASSES        (optional: the data's labels, one-hot f32 rows)
//     condition NAME BUFFER ROW    (any number: the data's array NAME, f32 rows)
//     loss NAME BUFFER | output NAME BUFFER ROW
//     kernel NAME DOMAIN0 rows|one USES_RNG args B... acc POS[:max|:min]... where LOC
//     matmul A B C BIAS M N K TA TB POST whole|columns|rows|k-slices -|inner|outer|units|outer+units
//       [bf16] [swapped|thin] where LOC | zero C where LOC
//     conv OP A B C BIAS POST DIMS_A DIMS_B DIMS_C STRIDE PAD LAYOUT_A LAYOUT_B LAYOUT_C
//       [bf16|winograd|own-winograd [side-by-side]] [batch-slices] where LOC
//     reorder A C DIMS LAYOUT_A LAYOUT_C where LOC
//     gate check PARAM... bound STEP... where LOC     (train only; PARAM, STEP: indices)
//     optimize all where LOC | optimize params PARAM... where LOC   (train only)
//   end
// train and eval are always there; the inspection programs only when the
// compiler could cut them from the model. format_plan(parse_plan(t)) == t.
//
// Any batch. A plan runs at any batch B: ARENA BYTES, ELEMENTS and OFFSET
// are linear in B, written `a`, `b*B` or `a+b*B` (a, b >= 0), and the
// extents that are the batch (a kernel's DOMAIN0, a matmul's M or K, the
// first of a convolution's or reorder's DIMS) are written `B`, or `c*B` for
// c rows per example (c samples of each, normal_like(t, samples=c)). A runtime
// lays the arena out once for the largest batch it will run (at_batch's
// layout_batch) and runs smaller batches on the first rows of each buffer.
// Before a program runs, the runtime writes the run's batch, as a float, to
// buffer batch_value (-1: the plan never reads it), which batch_size() reads.
// Likewise epoch_value holds the training progress in epochs, which epoch()
// reads: (t - 1) / S at training step t (from 1) with S steps an epoch, and
// t / S when the eval program scores the model after t steps.
//
// Memory: one arena of `arena_bytes`, 64-byte aligned. Every buffer is a
// byte range of it. Parameters, their gradients and optimizer state are
// each one contiguous region in the same order (so the optimizer is one
// kernel over `param_count` elements); each parameter starts on a 64-byte
// line, so a region may hold a few padding floats between parameters, which
// are 0 and stay 0 (parameter_elements() counts the parameters alone). The
// other buffers are planned by liveness and may share bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

extern "C" {
typedef void (*vaec_kernel_fn)(void *const *buffers, int64_t begin, int64_t end, const uint64_t *rng);
struct vaec_kernel_entry {
  const char *name;
  vaec_kernel_fn fn;
};
}

namespace vaec::plan {

// bf16: bfloat16 copies of f32 values for bf16 products (a Reorder step
// rounds them, to nearest even, or the kernel that computes them stores them
// rounded; compiler/codegen/share_rounding.h). One copy lives outside the
// steps: Program::input_copy, which whoever writes the input writes too.
enum class DType : uint8_t { F32, U8, BF16 };
inline int64_t dtype_bytes(DType t) { return t == DType::U8 ? 1 : t == DType::BF16 ? 2 : 4; }
inline const char *dtype_name(DType t) { return t == DType::U8 ? "u8" : t == DType::BF16 ? "bf16" : "f32"; }

// An extent that is the run's batch (Step::domain0, m, n, k, dims_*[0]);
// -c is c times the batch (c samples per example, rows of [B*c, ...]).
inline constexpr int64_t kBatch = -1;
inline constexpr int64_t batch_times(int64_t c) { return -c; }

struct Buffer {
  std::string name;
  DType type = DType::F32;
  int64_t elements = 0;
  int64_t offset = 0;  // bytes from the arena's start
  // Per example of the batch: elements + row * B elements at byte offset
  // + row_offset * B.
  int64_t row = 0, row_offset = 0;
};

// A `sparse` product runs on the nonzero entries of a batch's data when at
// most this share of them are nonzero (the whole product otherwise): below
// it the lists' loops were faster than oneDNN's whole product (docs/
// BENCHMARKS.md); vaec compile makes no product sparse for data above it.
constexpr double kSparseShare = 0.3;

struct Param {
  std::string name;  // as in the YAML-derived IR, e.g. "h.w"
  int buffer = -1;   // its values; the gradient buffer is grad_buffer
  int grad_buffer = -1;
  std::vector<int64_t> dims;
  double init_bound = 0;  // U(-bound, bound), PyTorch's default
  bool init_ones = false; // 1 everywhere instead (batchnorm's scale); written `=1` for the bound
  // Stored in a convolution's layout (compiler/codegen/store_params_in_layouts.h):
  // its buffer, gradient and optimizer state hold what a reorder from
  // `stored_from` (its plain order) to `stored_layout` over oneDNN dims
  // `stored_dims` makes (abi/onednn_conv.h's layout text). Empty: plain.
  // Initialisation and checkpoints stay in plain order (abi/param_layouts.h).
  std::vector<int64_t> stored_dims;
  std::string stored_from, stored_layout;
};

// A statistic the train program keeps across steps (batchnorm's running mean
// and variance): not learned, starts at `init`, in the checkpoint. The
// train program's last steps write its next value into `buffer`; eval and
// inspection programs read it.
struct Stat {
  std::string name;
  int buffer = -1;
  double init = 0;
  std::vector<int64_t> dims;
};

// One step of a program.
struct Step {
  enum Kind : uint8_t {
    Kernel,  // call kernel `kernel` over `domain0` rows with `args` buffers
    Matmul,  // c = op(a) op(b) (+ bias[n]) then post-op, oneDNN matmul
    Zero,    // fill buffer `c` with zeros
    Conv,    // oneDNN (de)convolution `conv` (an IR op name): c = conv(a, b [, bias]) then post-op
    Reorder, // c = a, converted from layout `layout_a` to `layout_c` (oneDNN reorder)
    Gate,    // train: the finiteness gate before the updates that follow it (below)
    Optimize,// train: the optimizer over every parameter, checked, or over `params` after a gate
  } kind = Kernel;
  // Kernel
  std::string kernel;
  std::vector<int> args;        // buffer per kernel argument
  std::vector<int> accumulate;  // argument positions the kernel reduces into
  // Per accumulate position: how (sum, max, min). Chunk copies start at the
  // op's identity (0, -inf, +inf) and are combined with it.
  enum class Combine : uint8_t { Add, Max, Min };
  std::vector<Combine> combine;
  int64_t domain0 = 1;          // extent of the kernel's first domain axis (1 for rank 0)
  bool rows = false;            // split [0, domain0) among the threads (`rows`), or run on the
                                // calling thread (`one`): the compiler's choice from the
                                // kernel's work (compiler/codegen/kernel.h, kernel_work)
  bool uses_rng = false;
  // Multiply-adds per row when the kernel is a convolution (`macs N`, a
  // direct convolution's: compiler/codegen/direct_conv.h), for program_flops.
  int64_t macs = 0;
  // Matmul: a [m,k] (or [k,m] if ta), b [k,n] (or [n,k] if tb), c [m,n]
  int a = -1, b = -1, c = -1, bias = -1;
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false;
  std::string post;             // "", "relu" or "sigmoid"
  // How the product runs. `whole`: one oneDNN call on all threads;
  // `columns` (`rows`): as one slice of c's columns (rows) per thread, cut at
  // multiples of 16, each a one-thread oneDNN call, so the result does not
  // depend on how many threads run the slices. `k-slices` (KSlices): as one
  // slice of the inner dimension k per thread (cut as rows and columns are),
  // each a one-thread oneDNN call, the first writing c and the others
  // scratch of their own, then c += each in slice order, every element in
  // that order on any team, then c = post(c + bias); no sigmoid, zero
  // columns or units. Each thread then reads only its rows of b (or, b
  // transposed, its share of each row). `zeros`: leaves out the all-zero columns of the batch's image
  // data, found when the program runs: Inner, a (not transposed, the data)
  // times b transposed, whose zero columns drop out of the inner dimension;
  // Outer, op(a) times b (the data, not transposed, no bias or post-op),
  // whose zero columns are zero columns of c. `zero_units` (the text's
  // `units`, alone or as `outer+units`): c = a^T b, a [k, m] a gradient at a
  // layer's m units and b the image data, not transposed, no bias or
  // post-op; a's all-zero columns (units no example of the batch
  // activates), found when the step runs, are zero rows of c. Sparse (f32,
  // whole, b not transposed): a is the batch's data, most of its entries
  // 0; each run lists its nonzero entries and multiplies only those
  // (abi/sparse_product.h), c = a b by a's rows or c = a^T b by its
  // columns, or runs the whole product when more than kSparseShare of the
  // entries are nonzero. See runtime/README.md.
  enum Split : uint8_t { Whole, Columns, Rows, KSlices } split = Whole;
  enum Zeros : uint8_t { Keep, Inner, Outer, Sparse } zeros = Keep;
  bool zero_units = false;
  // Matmul and Conv `bf16`: a and b are rounded to bfloat16 for the product
  // or convolution (into copies of their own, a Conv's in the layouts oneDNN
  // wants for them); c, the bias and the accumulation stay float. A Matmul
  // that also leaves out zero columns or units reads bf16 buffers (rounded
  // copies: Reorder steps' or kernels') as a and b.
  bool bf16 = false;
  // Matmul `swapped` (f32; whole, columns or rows; no zero columns or units):
  // each call (the whole product or a slice) computes its c^T = op(b)^T
  // op(a)^T into scratch, then writes c = post(that^T + bias) itself, on the
  // same thread; for the products oneDNN runs faster that way round
  // (compiler/codegen/swap_products.h).
  bool swapped = false;
  // Matmul `thin` (f32, whole; no zero columns or units): vaec's own loops
  // for a product with an inner dimension or column count of at most 4
  // (abi/thin_product.h), on the team, instead of oneDNN; for the products
  // they run faster (compiler/codegen/thin_products.h).
  bool thin = false;
  // Conv `winograd` (an f32 conv2d step with a 3x3 window and stride 1):
  // oneDNN's Winograd algorithm, F(4x4, 3x3), instead of the direct sum.
  // It agrees with the direct sum to f32 rounding, not bit for bit: its
  // transforms add rounding steps of their own.
  bool winograd = false;
  // Conv `own-winograd` (an f32 conv2d, conv2d_bwd_data or conv2d_bwd_weights
  // step with a 3x3 window, stride 1, padding 1 and channels in multiples of
  // 16): vaec's own Winograd F(4x4, 3x3) (abi/own_winograd.h), activations in
  // nChw16c and weights plain; agrees with the direct sum to f32 rounding.
  bool own_winograd = false;
  // Conv `side-by-side` (an own-winograd conv2d_bwd_data step followed by an
  // own-winograd conv2d_bwd_weights step): the two run at once, one thread
  // each, when the run has two threads (else one after the other;
  // the same bits either way: own Winograd's results depend on no thread
  // count). See compiler/codegen/side_by_side.h.
  bool side_by_side = false;
  // Conv `batch-slices` (a oneDNN convolution, f32 or bf16, not
  // own-winograd): one slice of the batch per thread, each in a primitive
  // made for one thread (a bf16 slice first rounds its own images), so any
  // team runs them (oneDNN fixes a primitive's thread count when it is
  // made); a weight gradient adds its slices' sums in slice order. See
  // compiler/codegen/batch_slices.h.
  bool batch_slices = false;
  // Gate: the parameters whose gradients are checked here (every one not
  // updated by an Optimize step after the gate) and the Matmul steps after
  // it whose products are bounded (each writes the gradient of a parameter
  // an Optimize step after it updates). Optimize: `params` to update, or
  // every parameter, all or nothing, when `all`.
  std::vector<int> params, bound;
  bool all = false;
  // Conv: the IR op (conv2d, conv2d_bwd_data, conv2d_bwd_weights,
  // conv2d_transpose, conv2d_transpose_bwd_data, conv2d_transpose_bwd_weights)
  // with the IR's operand order and semantics (compiler/ir/ops.def): a and b
  // are its two tensor operands, c its result, bias (forward ops) its third
  // operand, dims_* their IR shapes, stride {h, w}, pad {top, left, bottom,
  // right}. Reorder: dims_a is the tensor's shape.
  std::string conv;
  std::vector<int64_t> dims_a, dims_b, dims_c, stride, pad;
  // How a, b and c are laid out in their buffers: "plain" (row-major in the
  // IR's dimension order) or a oneDNN blocked layout the compiler chose for
  // this machine, written as abi/onednn_conv.h defines.
  std::string layout_a = "plain", layout_b = "plain", layout_c = "plain";
  std::string where;            // file:line:col of the op, for messages
};

// A value an inspection program hands back: `row` f32 per example, [batch, row]
// row-major in `buffer`.
struct Output {
  std::string name;
  int buffer = -1;
  int64_t row = 0;
};

// A program runs on `batch` examples. Its inputs are examples (`input`, f32
// rows the runtime writes after the data transform of the plan's config:
// data/feed.h; hand-made plans may take raw u8 bytes instead) and/or latents (`latent`, f32 the runtime writes), each -1 when the
// program has none. train and eval report scalar `losses`; the inspection
// programs hand back `outputs` instead:
//   encode  images -> every encoder tensor the sampler reads, by its YAML
//           name (e.g. mu, logvar), and, when the sampler is
//           z = loc + scale * normal(), z_loc and z_scale (q(z|x) = N(loc, scale^2))
//   decode  latents z -> mean, the decoder's mean image (sigmoid of the logits
//           for bce_logits; the first operand of bce or mse)
//   nll     latents z and images -> nll, the reconstruction term summed over
//           each example's pixels (plan.recon says which term)
//   logw    images -> logw = log p(x|z) + log p(z) - log q(z|x) and loglik =
//           log p(x|z) per example, z drawn by the program's own noise: for
//           models that declare their densities (instead of nll; plan.recon
//           is then the declared likelihood: bernoulli_logits, bernoulli or
//           normal)
// A plan lacks an inspection program (batch 0, not in the text) when the
// model's sampler or reconstruction loss does not have the form it needs.
struct Program {
  std::string name;         // "train", "eval", "encode", "decode", "nll" or "logw"
  int64_t batch = 0;
  int input = -1;           // f32 (or u8) buffer of [batch, 784...] examples, or -1
  int64_t input_row = 0;    // elements per example
  int latent = -1;          // f32 buffer of [batch, latent_row] latents, or -1
  int64_t latent_row = 0;
  int labels = -1;          // f32 buffer of [batch, label_classes] one-hot labels, or -1
  int64_t label_classes = 0;
  // bf16 buffer of [batch, input_row]: the input rounded (abi/bf16_rounding.h),
  // which the program's steps read and never write; or -1. The runtime
  // writes it with the input: the data feed rounds each row it writes, and
  // a run whose caller wrote only the f32 rows rounds them first.
  int input_copy = -1;
  // Condition inputs (the model's inputs after the examples): the data's
  // array of that name, `row` f32 per example, [batch, row] in `buffer`.
  struct Condition {
    std::string name;
    int buffer = -1;
    int64_t row = 0;
  };
  std::vector<Condition> conditions;
  std::vector<std::pair<std::string, int>> losses;  // name -> scalar f32 buffer
  std::vector<Output> outputs;
  // train, for data-parallel runs (runtime/dist/): the gradients of
  // `params` are final once step `after` has run, so their sum over the
  // ranks may start there (compiler/codegen/plan_buckets.h). Every parameter
  // is in exactly one bucket. With more than one rank, gates and `optimize
  // params` steps wait: one `optimize all` runs after every bucket's sum.
  struct Bucket {
    int after = -1;
    std::vector<int> params;
  };
  std::vector<Bucket> buckets;
  std::vector<Step> steps;
  bool present() const { return batch > 0; }
  const Output *output(const std::string &n) const {
    for (const Output &o : outputs)
      if (o.name == n) return &o;
    return nullptr;
  }
};

struct Plan {
  int version = 2;
  std::string model;
  std::map<std::string, std::string> config;  // batch, data, epochs, optimizer, lr, ..., seed
  // Why the compiler chose what it did where the machine decided it (`note`
  // lines, e.g. each product's precision with its measured times).
  std::vector<std::string> notes;
  int64_t arena_bytes = 0, arena_row = 0;    // arena_bytes + arena_row * B
  int batch_value = -1;                      // f32 buffer of the run's batch, or -1
  int epoch_value = -1;                      // f32 buffer of the training progress in epochs, or -1
  std::vector<Buffer> buffers;
  std::vector<Param> params;
  int64_t param_count = 0;                   // floats per region, padding included
  int param_region = -1, grad_region = -1;   // buffers spanning all params / all grads
  std::vector<int> state_regions;            // optimizer state, each param_count floats
  std::vector<Stat> stats;                   // each in stat_region, in this order, 16-float aligned
  int64_t stat_count = 0;                    // floats of stat_region, padding included
  int stat_region = -1;
  // Per-step optimizer scalars the runtime writes before the optimizer
  // kernel: adam {lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t)}, adamw the same
  // and 1 - lr * weight_decay, rmsprop {lr}, and with config clip_grad_norm C
  // a last value min(1, C / |g|), |g| the norm of all gradients,
  // sgd {lr}; t counts steps from 1. Other hyper-parameters are constants
  // compiled into the kernel. `hyper` is the first of one 1-float buffer per
  // value, at consecutive float offsets, so the runtime writes the values as
  // consecutive floats from f32(hyper) on (the kernel reads each through its
  // own buffer argument).
  int hyper = -1;
  std::string optimizer_kernel;              // kernel over param_count elements
  std::vector<int> optimizer_args;
  // How each loss scales with the batch, for per-example reports: "sum" (it
  // adds up examples: report sum over batches / examples), "mean" (it averages
  // them: report sum over batches * batch / examples) or "batch" (neither:
  // report the mean over batches). The compiler finds out by evaluating the
  // loss on a batch and on the same batch twice.
  std::map<std::string, std::string> loss_scaling;
  // The reconstruction term nll sums: "bce", "bce_logits" or "mse" (empty
  // without an nll program).
  std::string recon;
  Program train, eval;
  Program encode, decode, nll, logw;  // inspection programs, when present()
  std::vector<const Program *> programs() const { return {&train, &eval, &encode, &decode, &nll, &logw}; }
  std::vector<Program *> programs() { return {&train, &eval, &encode, &decode, &nll, &logw}; }
  // The program of that name (train, eval, encode, decode or nll), or null.
  Program *program(const std::string &name) {
    return name == "train" ? &train : name == "eval" ? &eval : name == "encode" ? &encode
         : name == "decode" ? &decode : name == "nll" ? &nll : name == "logw" ? &logw : nullptr;
  }
  const Program *program(const std::string &name) const { return const_cast<Plan *>(this)->program(name); }
};

// The number of parameters (the sum of their elements, without the regions'
// padding).
int64_t parameter_elements(const Plan &p);

// The nominal floating-point operations of one run of `prog` at `batch`
// examples: 2mnk per product, 2 |w| N (the smaller activation's H W) per
// convolution, each counted whole (zero columns left out by `zeros` still
// count), 2 macs per row for kernels that are convolutions; other kernels,
// reorders and the optimizer are not counted.
double program_flops(const Program &prog, int64_t batch);

// Every buffer a step reads or writes (kernel arguments, library operands and
// results), for diagnosis; writes are not told apart from reads.
std::vector<int> step_buffers(const Step &s);

// "1,2,3" (with sep ',') -> {1, 2, 3}; false on anything else, including an
// empty text or a trailing separator.
bool parse_int_list(const std::string &text, char sep, std::vector<int64_t> &out);

// The plan at batch `batch` with its arena laid out for `layout_batch` (>=
// batch): every extent kBatch is `batch`, every buffer has `batch`'s
// elements at layout_batch's offset (row and row_offset become 0), and the
// arena is layout_batch's. Programs' batches become `batch`.
Plan at_batch(const Plan &p, int64_t batch, int64_t layout_batch);

// An extent at a batch: v, or c * batch when v is batch_times(c).
inline int64_t extent(int64_t v, int64_t batch) { return v < 0 ? -v * batch : v; }
// A Conv step's op writes a weight gradient (c is the weight; a and b the
// activations, batch first).
inline bool is_weight_gradient(const std::string &conv) {
  return conv == "conv2d_bwd_weights" || conv == "conv2d_transpose_bwd_weights";
}

std::string format_plan(const Plan &p);
// Parses plan text; returns false with a message on malformed input.
bool parse_plan(const std::string &text, Plan &out, std::string &error);

}  // namespace vaec::plan
