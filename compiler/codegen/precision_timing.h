// precision_timing: how long oneDNN takes for one product or convolution in
// f32 and in bf16 on the compiling machine (the machine the trainer is built
// for), counting what bf16 adds at every run: the rounding of both operands
// to bf16, and for a convolution whose bf16 kernel writes a layout kernels
// cannot read, the reorder of its result to one they read; and for an f32
// convolution, how long it takes summed directly and in Winograd's
// algorithm, counting the reorders Winograd's layouts add. Each is timed on
// the calling thread's OpenMP team, the fastest of a few runs taken in turns
// (a busy machine only adds time). Used by assign_conv_layouts
// (convolutions) and choose_precision (products, whose operands are
// rounded and timed one by one), which decide by `faster()`.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "abi/plan.h"

namespace dnnl {
struct engine;
}

namespace vaec {

struct PrecisionTiming {
  std::string f32_impl, bf16_impl;  // bf16_impl empty: oneDNN has no usable bf16 kernel for it
  double f32 = 0, bf16 = 0;         // seconds per run
  double rounding = 0;              // rounding a and b to bf16
  double rounding_a = 0, rounding_b = 0;  // a product's: each operand alone (their sum is `rounding`)
  double reorder_c = 0;             // the bf16 kernel's result to a layout kernels read (0: none needed)
  std::string reorder_c_to;         // that layout

  // bf16 with its extra work at least 10 % faster than f32; a product's
  // operand an earlier bf16 product has rounded already (its copy shared:
  // share_rounding.h) costs it nothing.
  bool faster(bool a_shared = false, bool b_shared = false) const {
    const double round = rounding - (a_shared ? rounding_a : 0) - (b_shared ? rounding_b : 0);
    return !bf16_impl.empty() && bf16 + round + reorder_c < 0.9 * f32;
  }
  // "bf16 (f32 IMPL T; bf16 IMPL T + T rounding a and b)", as the plan's
  // notes say it; with a shared operand "+ T rounding b (a rounded for an
  // earlier product)", with both "(a and b rounded for earlier products)".
  std::string note(bool bf16_chosen, bool a_shared = false, bool b_shared = false) const;
  void not_timed(const std::string &why) { *this = {}, f32_impl = "(not timed: " + why + ")"; }
};

// c = a x b (+ bias, post-op) with a [m,k] and b [k,n], transposed as told;
// a and b in bf16 as the executor rounds them (abi/bf16_rounding.h).
PrecisionTiming time_product(const dnnl::engine &engine, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias,
                             const std::string &post);

// A Conv step as `f32` has it against the same step as `bf16` has it (bf16
// set, its own layouts); with `reorder_c_to` (a layout), bf16's result is
// reordered to it before kernels read it. dims at the compiled batch.
PrecisionTiming time_conv(const dnnl::engine &engine, const plan::Step &f32, const plan::Step &bf16,
                          const std::string &reorder_c_to);

struct AlgorithmTiming {
  enum Choice { Direct, Winograd, Own };
  std::string direct_impl, winograd_impl;  // winograd_impl empty: oneDNN's not timed (no kernel for it)
  double direct = 0, winograd = 0;         // seconds per run
  double reorders = 0;  // operands Winograd wants in other layouts than the direct kernel, reordered
  // vaec's own Winograd (abi/own_winograd.h), 0 when not timed, and its reorders.
  double own = 0, own_reorders = 0;
  // A weight gradient's own kernel run beside its layer's own input
  // gradient, one thread each (side_by_side.h): the time the pair takes
  // over the input gradient's alone on all threads; 0 when not timed.
  double own_beside = 0;

  // The fastest algorithm with its reorders, where it is at least 10 %
  // faster than the direct sum; Direct otherwise.
  Choice choice() const;
  bool faster() const { return choice() != Direct; }
  // "f32 winograd (direct IMPL T; winograd IMPL T + T reordering operands to
  // its layouts; own F(4x4,3x3) T)", as the plan's notes say it.
  std::string note(Choice chosen) const;
  void not_timed(const std::string &why) { *this = {}, direct_impl = "(not timed: " + why + ")"; }
};

// An f32 Conv step summed directly (`direct`, as the plan would have it)
// against the same step in oneDNN's Winograd algorithm (`winograd`, when not
// null: winograd set, its own layouts) and in vaec's own (`own`, when not
// null: own_winograd set, its layouts); where an operand's layouts differ,
// the reorders from direct's layout to the algorithm's (a and b) or back (c)
// count for the algorithm. Throws dnnl::error when oneDNN refuses one.
// With `beside` and `own` a conv2d_bwd_weights step, also own_beside.
AlgorithmTiming time_conv_algorithms(const dnnl::engine &engine, const plan::Step &direct,
                                     const plan::Step *winograd, const plan::Step *own, bool beside = false);

// A Matmul step's first call as the executor makes it (slice 0 on one
// thread when cut by rows or columns at `threads`, else the whole product on
// `threads`), as it is and `swapped` (plan.h: c^T = op(b)^T op(a)^T, then
// onednn::unswap writes c with the bias and post-op); m, n, k at the compiled batch.
struct SwapTiming {
  std::string impl, swapped_impl;
  int64_t m = 0, n = 0, k = 0;  // the call's
  double as_is = 0, swapped = 0;  // seconds per run, 0 when not timed

  // Swapped, transposition included, at least 15 % faster.
  bool faster() const { return as_is > 0 && swapped < 0.85 * as_is; }
  // "as oneDNN runs its call [m,k]x[k,n] on IMPL in T and swapped on IMPL
  // in T (transposition included)", as the plan's notes say it.
  std::string note() const;
  void not_timed(const std::string &why) { *this = {}, impl = "(not timed: " + why + ")"; }
};
// Fills impl and swapped_impl; times both only when they differ and the call
// has at least `min_macs` multiply-adds.
SwapTiming time_swap(const dnnl::engine &engine, const plan::Step &s, int64_t m, int64_t n, int64_t k, int threads,
                     int64_t min_macs);

// A Matmul step as the executor runs it in oneDNN (the whole product on
// `threads`, or its row or column slices, one thread each, at once) against
// vaec's own thin loops (abi/thin_product.h) on `threads`; m, n, k at the
// compiled batch.
struct ThinTiming {
  std::string impl, thin_impl;
  int slices = 0;               // oneDNN's slices (0: the whole product)
  double onednn = 0, thin = 0;  // seconds per run, 0 when not timed

  // The thin loops at least 10 % faster.
  bool faster() const { return onednn > 0 && thin > 0 && thin < 0.9 * onednn; }
  // "own thin (outer) T; oneDNN IMPL T (2 column slices)", as the plan's notes say it.
  std::string note() const;
  void not_timed(const std::string &why) { *this = {}, impl = "(not timed: " + why + ")"; }
};
ThinTiming time_thin(const dnnl::engine &engine, const plan::Step &s, int64_t m, int64_t n, int64_t k, int threads);

// Timings by step text: the programs share most of their steps. An exception
// while timing leaves a timing that says why and chooses nothing.
template <typename Timing>
class Timings {
 public:
  template <typename F>
  const Timing &get(const std::string &key, F &&time) {
    auto it = timings_.find(key);
    if (it != timings_.end()) return it->second;
    Timing t;
    try {
      t = time();
    } catch (const std::exception &e) {  // the f32 step as the plan has it: the trainer makes it, or says why
      t.not_timed(e.what());
    }
    return timings_.emplace(key, t).first->second;
  }

 private:
  std::map<std::string, Timing> timings_;
};
using PrecisionTimings = Timings<PrecisionTiming>;
using AlgorithmTimings = Timings<AlgorithmTiming>;
using SwapTimings = Timings<SwapTiming>;
using ThinTimings = Timings<ThinTiming>;

}  // namespace vaec
