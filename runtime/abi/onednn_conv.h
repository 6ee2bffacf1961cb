// How a plan's Conv and Reorder steps map to oneDNN: part of the ABI between
// compiler/ and runtime/ (runtime/README.md), used by both. `vaec compile`
// asks oneDNN, through conv_primitive with "any" layouts, which layouts this
// machine's fastest implementation wants, writes them into the plan and plans
// the reorders; the trainer builds the same primitives with those layouts.
//
// Layout text (plan.h's layout_a/_b/_c):
//   plain                      row-major in the IR's dimension order
//   any                        let oneDNN choose (queries only, never in a plan)
//   blocked:S0,S1,..:B@D,...   oneDNN's blocked format in oneDNN's dimension
//                              order: outer strides S (in elements), then inner
//                              blocks of size B over dimension D, outermost
//                              first ("-" for none). E.g. nChw16c of
//                              [16,32,28,28] is blocked:25088,12544,448,16:16@1.
// oneDNN's dimension order is the IR's except for the weights of the
// conv2d_transpose ops: IR [in, out, kh, kw], oneDNN [out, in, kh, kw].
#pragma once

#include <array>
#include <dnnl.hpp>
#include <string>
#include <vector>

#include "abi/plan.h"

namespace vaec::onednn {

// Operands of a Conv step in plan order: 0 = a, 1 = b, 2 = c.
struct ConvPrimitive {
  dnnl::primitive primitive;
  std::array<int, 3> arg{};                 // DNNL_ARG_* of a, b, c
  std::array<dnnl::memory::desc, 3> desc;   // the layouts the primitive uses
  dnnl::memory::desc bias, scratchpad;
  std::string impl;                         // oneDNN's impl_info_str()
  // A bf16 step: a and b in the step's f32 layouts, which the caller rounds
  // into desc[0] and desc[1] (bf16, in the layouts oneDNN chose).
  std::array<dnnl::memory::desc, 2> f32_inputs;
};

// The memory descriptor of an f32 tensor with IR dims `dims` in `layout`
// ("plain", "any" or blocked text); `weights_of_transpose` swaps the first two
// dims (see above). Throws std::runtime_error on malformed text.
dnnl::memory::desc layout_desc(const std::vector<int64_t> &dims, const std::string &layout,
                               bool weights_of_transpose = false);

// The text of `desc` ("plain" when it equals the plain layout of `dims`), or
// "" when it is not a blocked layout this text can say.
std::string layout_text(const dnnl::memory::desc &desc, const std::vector<int64_t> &dims,
                        bool weights_of_transpose = false);

// A short name for a layout in oneDNN's tag style, for dumps: "plain", or
// the dims from outermost to innermost stride (a = dim 0, upper case when
// blocked) then the inner blocks, e.g. "aBcd16b" (nChw16c), "ABcd16b16a".
std::string layout_name(const std::string &layout);

// The plain (IR row-major) layout of a tensor with IR dims `dims`, written
// in oneDNN's dimension order: "plain", except for the weights of a
// transposed conv (tw), whose first two dims oneDNN swaps.
std::string plain_layout(const std::vector<int64_t> &dims, bool weights_of_transpose);

// Whether operand 0..2 of a Conv step with IR op `conv` is the weights of a
// conv2d_transpose op (oneDNN's dimension order differs from the IR's).
bool is_transpose_weights(const std::string &conv, int operand);

// Creates the oneDNN primitive of Conv step `s` (its dims, stride, pad, post,
// bias if s.bias >= 0, and layouts, which may be "any"; with s.bf16, a and b
// in bf16 in layouts oneDNN chooses; with s.winograd, oneDNN's Winograd
// algorithm). The scratchpad is user-managed. Throws
// std::runtime_error (unknown op, bad fields) or dnnl::error.
ConvPrimitive conv_primitive(const plan::Step &s, const dnnl::engine &engine);

// Whether `desc` holds its dim 0 (a convolution's batch) outermost and
// unblocked, each index a block of its own after the one before: then
// batch_view gives the layout of any run of n consecutive indices.
bool batch_outermost(const dnnl::memory::desc &desc);
// `desc` with dim 0 cut to n (batch_outermost(desc) holds); its strides
// stay, so a view of indices [i, i + n) starts at i * desc's dim-0 stride.
dnnl::memory::desc batch_view(const dnnl::memory::desc &desc, int64_t n);

}  // namespace vaec::onednn
