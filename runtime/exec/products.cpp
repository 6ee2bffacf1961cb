// oneDNN products, convolutions and reorders: their primitives, made at
// start-up over arena memory, and running them (contract in executor.h).
#include <algorithm>
#include <array>
#include <optional>
#include <unordered_map>

#include "abi/bf16_rounding.h"
#include "abi/onednn_conv.h"
#include "abi/vector_epilogue.h"
#include "exec/executor_impl.h"
#include "support/text.h"

namespace vaec::rt {

MatmulCall Executor::Impl::prepare_matmul(const Step &s, const std::string &program, size_t index) {
  const std::string at = "matmul " + program + " step " + std::to_string(index) +
                         (s.where.empty() ? "" : " (" + s.where + ")");
  if (s.m < 1 || s.n < 1 || s.k < 1) fail(at + ": empty extent");
  // A bf16 step's a and b may be bf16 copies a Reorder step rounded (shared
  // by the products that read them); f32 ones it rounds itself.
  const bool rounded_a = s.bf16 && bf16_buffer(s.a), rounded_b = s.bf16 && bf16_buffer(s.b);
  check_buffer(s.a, rounded_a ? DType::BF16 : DType::F32, s.m * s.k, at + " a");
  check_buffer(s.b, rounded_b ? DType::BF16 : DType::F32, s.k * s.n, at + " b");
  check_buffer(s.c, DType::F32, s.m * s.n, at + " c");
  if (s.bias >= 0) check_buffer(s.bias, DType::F32, s.n, at + " bias");
  auto overlaps = [&](int x, int64_t x_elems) {
    int64_t x0 = plan.buffers[x].offset, c0 = plan.buffers[s.c].offset, size = dtype_bytes(plan.buffers[x].type);
    return x0 < c0 + s.m * s.n * 4 && c0 < x0 + x_elems * size;
  };
  if (overlaps(s.a, s.m * s.k) || overlaps(s.b, s.k * s.n)) fail(at + ": output overlaps an input");

  MatmulCall call;
  if (s.thin) {
    if (s.bf16 || s.split != Step::Whole || s.zeros != Step::Keep || s.zero_units || s.swapped)
      fail(at + ": 'thin' with bf16, slices, zero columns, units or swapping");
    try {
      call.thin = std::make_shared<const onednn::ThinProduct>(s.m, s.n, s.k, s.ta, s.tb, s.bias >= 0, s.post);
    } catch (const std::runtime_error &e) {
      fail(at + ": " + e.what());
    }
    call.a = floats(s.a), call.b = floats(s.b), call.bias = s.bias >= 0 ? floats(s.bias) : nullptr;
    call.c = floats(s.c);
    dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, call.thin->scratch_bytes());
    matmuls.push_back({program, index, s.m, s.n, s.k, call.thin->impl(), s.where});
    return call;
  }
  void *a = address(s.a), *b = address(s.b);
  const auto type = s.bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  try {
    if (s.bf16) {
      call.bf16_a = rounded_a ? static_cast<std::byte *>(a) : bf16_scratch.get();
      call.bf16_b = rounded_b ? static_cast<std::byte *>(b)
                              : bf16_scratch.get() + round_up(static_cast<size_t>(s.m * s.k) * 2, kAlign);
      if (!rounded_a)
        call.reorders.push_back(
            make_reorder(matrix_desc(s.m, s.k, s.ta), a, matrix_desc(s.m, s.k, s.ta, type), call.bf16_a));
      if (!rounded_b)
        call.reorders.push_back(
            make_reorder(matrix_desc(s.k, s.n, s.tb), b, matrix_desc(s.k, s.n, s.tb, type), call.bf16_b));
      a = call.bf16_a, b = call.bf16_b;
    }
    // Bound to the shared scratchpad once every matmul's size is known.
    const auto bias = matrix_desc(1, s.n, false);
    std::string impl;
    if (s.swapped) {
      if (s.bf16 || s.split == Step::KSlices || s.zeros != Step::Keep || s.zero_units)
        fail(at + ": 'swapped' with bf16, k-slices, zero columns or units");
      // Every part's c^T on its own 16-float lines (see split_matmul).
      call.swap_scratch = allocate_zeroed(static_cast<size_t>(s.m * s.n + 16 * threads) * 4);
      call.post = s.post;
      float *ct = reinterpret_cast<float *>(call.swap_scratch.get());
      call.whole = matmul_part(matrix_desc(s.n, s.k, !s.tb), b, matrix_desc(s.k, s.m, !s.ta), a,
                               matrix_desc(s.n, s.m, false), ct, nullptr, nullptr, "", at, dnnl_scratchpad_bytes,
                               &impl);
      call.unswaps.push_back({ct, s.m, s.n, s.n, floats(s.c), s.bias >= 0 ? floats(s.bias) : nullptr});
    } else {
      call.whole = matmul_part(matrix_desc(s.m, s.k, s.ta, type), a, matrix_desc(s.k, s.n, s.tb, type), b,
                               matrix_desc(s.m, s.n, false), address(s.c), s.bias >= 0 ? &bias : nullptr,
                               s.bias >= 0 ? address(s.bias) : nullptr, s.post, at, dnnl_scratchpad_bytes, &impl);
    }
    matmuls.push_back({program, index, s.m, s.n, s.k, impl, s.where});
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + at + " ([" + std::to_string(s.m) + "," + std::to_string(s.k) + "]x[" +
         std::to_string(s.k) + "," + std::to_string(s.n) + "]): " + e.what());
  }
  if (s.split != Step::Whole) split_matmul(s, call);
  matmuls.back().parts = std::max<int>(1, static_cast<int>(call.parts.size()));
  if (s.zeros == Step::Sparse) prepare_sparse(s, call, at);
  else if (s.zeros != Step::Keep || s.zero_units) prepare_skip(s, call);
  matmuls.back().skips_zero_columns = call.skip != nullptr;
  const std::string &impl = matmuls.back().impl;
  if (impl.rfind("ref", 0) == 0)
    print_message("warning: oneDNN runs the " + at + " [" + std::to_string(s.m) + "," + std::to_string(s.k) + "]x[" +
                  std::to_string(s.k) + "," + std::to_string(s.n) + "] with its reference implementation '" + impl +
                  "', which is slow\n");
  return call;
}

// A `columns` (`rows`) step: slice t computes columns (rows)
// onednn::slice_share of c, as a oneDNN call made for one thread with its own scratchpad: it
// runs on one thread wherever it is called, so the result is the same on
// any team. With place_updates' late updates each thread of a `columns`
// forward product then reads the weight rows its own share of the optimizer
// just wrote. A `k-slices` step: slice t sums over its share of k, into c
// (t = 0) or partial_sums, which run_whole adds up.
void Executor::Impl::split_matmul(const Step &s, MatmulCall &call) {
  const bool by_rows = s.split == Step::Rows, by_k = s.split == Step::KSlices;
  const int slices = onednn::slice_count(by_k ? s.k : by_rows ? s.m : s.n, threads);
  if (slices < 1) return;  // too few rows or columns to cut: the whole product
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32;
  // op(x) of a stored [rows, cols] (or [cols, rows] when transposed) matrix,
  // rows r0.. r0+r and columns c0.. c0+c of it.
  // a and b of a bf16 step: their rounded copies.
  auto view = [&](int buffer, int64_t rows, int64_t cols, bool transposed, int64_t r0, int64_t r, int64_t c0,
                  int64_t c) {
    const dims strides = transposed ? dims{1, rows} : dims{cols, 1};
    const int64_t at = r0 * strides[0] + c0 * strides[1];
    if (s.bf16 && buffer != s.c) {
      std::byte *copy = buffer == s.a ? call.bf16_a : call.bf16_b;
      return std::pair{dnnl::memory::desc(dims{r, c}, dnnl::memory::data_type::bf16, strides),
                       static_cast<void *>(copy + 2 * at)};
    }
    return std::pair{dnnl::memory::desc(dims{r, c}, f32, strides), static_cast<void *>(floats(buffer) + at)};
  };
  // A view's transpose: the same memory, dimensions and strides swapped.
  auto transposed = [](const dnnl::memory::desc &d) {
    const dims shape = d.dims();
    const auto &strides = d.data.format_desc.blocking.strides;
    return dnnl::memory::desc(dims{shape[1], shape[0]}, d.data_type(), dims{strides[1], strides[0]});
  };
  std::vector<MatmulCall::Part> parts;
  std::vector<MatmulCall::Unswap> unswaps;
  int64_t swapped_at = 0;  // floats into swap_scratch
  size_t stride = 0;
  MadeFor one(1);  // each slice runs on one thread wherever it is called
  if (by_k) {
    call.c = floats(s.c);
    call.c_elements = s.m * s.n;
    call.c_columns = s.n;
    call.k_bias = s.bias >= 0 ? floats(s.bias) : nullptr;
    call.k_post = onednn::post_code(s.post);
    call.partial_sums = allocate_zeroed(static_cast<size_t>(slices - 1) * static_cast<size_t>(s.m * s.n) * 4);
  }
  try {
    for (int t = 0; by_k && t < slices; ++t) {
      const auto [k0, k1] = onednn::slice_share(s.k, t, slices);
      const auto [a, pa] = view(s.a, s.m, s.k, s.ta, 0, s.m, k0, k1 - k0);
      const auto [b, pb] = view(s.b, s.k, s.n, s.tb, k0, k1 - k0, 0, s.n);
      const auto [c, pc] = view(s.c, s.m, s.n, false, 0, s.m, 0, s.n);
      void *sums = t == 0 ? pc : reinterpret_cast<float *>(call.partial_sums.get()) + (t - 1) * s.m * s.n;
      parts.push_back(matmul_part(a, pa, b, pb, c, sums, nullptr, nullptr, "", s.where, stride));
    }
    for (int t = 0; !by_k && t < slices; ++t) {
      const auto [x0, x1] = onednn::slice_share(by_rows ? s.m : s.n, t, slices);
      const int64_t m0 = by_rows ? x0 : 0, m = by_rows ? x1 - x0 : s.m;
      const int64_t n0 = by_rows ? 0 : x0, n = by_rows ? s.n : x1 - x0;
      const auto [a, pa] = view(s.a, s.m, s.k, s.ta, m0, m, 0, s.k);
      const auto [b, pb] = view(s.b, s.k, s.n, s.tb, 0, s.k, n0, n);
      const auto [c, pc] = view(s.c, s.m, s.n, false, m0, m, n0, n);
      const auto bias = matrix_desc(1, n, false);
      if (s.swapped) {  // c^T [n, m] = op(b)^T op(a)^T: the same views, transposed
        float *ct = reinterpret_cast<float *>(call.swap_scratch.get()) + swapped_at;
        swapped_at += (n * m + 15) / 16 * 16;
        parts.push_back(matmul_part(transposed(b), pb, transposed(a), pa, matrix_desc(n, m, false), ct, nullptr,
                                    nullptr, "", s.where, stride));
        unswaps.push_back({ct, m, n, s.n, static_cast<float *>(pc), s.bias >= 0 ? floats(s.bias) + n0 : nullptr});
        continue;
      }
      parts.push_back(matmul_part(a, pa, b, pb, c, pc, s.bias >= 0 ? &bias : nullptr,
                                  s.bias >= 0 ? floats(s.bias) + n0 : nullptr, s.post, s.where, stride));
    }
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected a slice of the matmul at " + s.where + ": " + e.what());
  }
  call.parts = std::move(parts);
  if (s.swapped) call.unswaps = std::move(unswaps);
  call.scratchpad_stride = stride;
  dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, stride * call.parts.size());
}

void Executor::Impl::check_desc(int buffer, const dnnl::memory::desc &desc, const std::string &what) const {
  const int64_t bytes = static_cast<int64_t>(desc.get_size());
  const DType type = desc.data_type() == dnnl::memory::data_type::bf16 ? DType::BF16 : DType::F32;
  check_buffer(buffer, type, (bytes + dtype_bytes(type) - 1) / dtype_bytes(type), what);
}

namespace {

// Where a Conv step's operands a, b and c are in the arena: its layouts,
// but a bf16 step's a and b are f32, in the step's f32 layouts (rounded
// into oneDNN's bf16 layouts before the step).
std::array<dnnl::memory::desc, 3> arena_layouts(const onednn::ConvPrimitive &conv, bool bf16) {
  return {bf16 ? conv.f32_inputs[0] : conv.desc[0], bf16 ? conv.f32_inputs[1] : conv.desc[1], conv.desc[2]};
}

}  // namespace

PrimitiveCall Executor::Impl::prepare_conv(const Step &s, const std::string &at) {
  const std::string what = at + ": " + s.conv;
  PrimitiveCall call;
  if (s.own_winograd) return prepare_own_winograd(s, what, at);
  onednn::ConvPrimitive conv;
  try {
    conv = onednn::conv_primitive(s, engine);
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + what + ": " + e.what());
  } catch (const std::runtime_error &e) {
    fail(what + ": " + e.what());
  }
  const int buffers[3] = {s.a, s.b, s.c};
  const std::array<dnnl::memory::desc, 3> stored = arena_layouts(conv, s.bf16);
  // Batch slices round their own images (prepare_conv_slices).
  const bool round_whole = s.bf16 && !s.batch_slices;
  size_t rounded_bytes[2] = {};
  if (round_whole) {
    for (int i = 0; i < 2; ++i) rounded_bytes[i] = round_up(conv.desc[i].get_size(), kAlign);
    call.rounded = allocate_zeroed(rounded_bytes[0] + rounded_bytes[1]);
  }
  for (int i = 0; i < 3; ++i) {
    check_desc(buffers[i], stored[i], what + " operand " + "abc"[i]);
    if (s.bf16 && i < 2 && !round_whole) continue;
    if (i == 2 || !s.bf16) {
      call.args[conv.arg[i]] = dnnl::memory(conv.desc[i], engine, address(buffers[i]));
      continue;
    }
    try {
      call.reorders.push_back(
          make_reorder(stored[i], address(buffers[i]), conv.desc[i], call.rounded.get() + (i ? rounded_bytes[0] : 0)));
      call.args[conv.arg[i]] = call.reorders.back().args.at(DNNL_ARG_TO);
    } catch (const dnnl::error &e) {
      fail("oneDNN cannot round operand " + std::string(1, "ab"[i]) + " of the " + what + " to bf16: " + e.what());
    }
  }
  const int64_t c0 = plan.buffers[s.c].offset, c1 = c0 + static_cast<int64_t>(conv.desc[2].get_size());
  for (int i = 0; i < 2; ++i) {
    const int64_t x0 = plan.buffers[buffers[i]].offset, x1 = x0 + static_cast<int64_t>(stored[i].get_size());
    if (x0 < c1 && c0 < x1) fail(what + ": output overlaps an input");
  }
  if (conv.bias.get_size() > 0) {
    check_desc(s.bias, conv.bias, what + " bias");
    call.args[DNNL_ARG_BIAS] = dnnl::memory(conv.bias, engine, address(s.bias));
  }
  if (size_t need = conv.scratchpad.get_size(); need > 0) {
    call.args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(conv.scratchpad, engine, DNNL_MEMORY_NONE);
    dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, need);
  }
  if (conv.impl.rfind("ref", 0) == 0)
    print_message("warning: oneDNN runs the " + std::string(what) + " with its reference implementation '" + conv.impl +
                  "', which is slow\n");
  convs.push_back({at, s.conv, conv.impl});
  call.primitive = conv.primitive;
  if (s.batch_slices) prepare_conv_slices(s, conv, call, what);
  return call;
}

void Executor::Impl::prepare_conv_slices(const Step &s, const onednn::ConvPrimitive &whole, PrimitiveCall &call,
                                         const std::string &what) {
  if (s.own_winograd) fail(what + ": batch-slices is for oneDNN convolutions");
  const bool weights = plan::is_weight_gradient(s.conv);
  // The operands that hold the batch (dim 0): forward and input gradient a
  // and c, weight gradient a and b.
  const bool batched[3] = {true, weights, !weights};
  const int buffers[3] = {s.a, s.b, s.c};
  const std::array<dnnl::memory::desc, 3> stored = arena_layouts(whole, s.bf16);  // bf16: each slice rounds a and b
  const int64_t batch = s.dims_a[0];
  const int slices = static_cast<int>(std::min<int64_t>(threads, batch));
  if (weights && slices > 1) {
    call.c_floats = static_cast<int64_t>(whole.desc[2].get_size() / sizeof(float));
    call.partial = allocate_zeroed(static_cast<size_t>(slices - 1) * whole.desc[2].get_size());
    call.c_sum = floats(s.c);
  }
  for (int i = 0; i < 3; ++i)  // each image a block of its own, after the one before
    if (batched[i] && !onednn::batch_outermost(stored[i]))
      fail(what + ": batch-slices needs the batch outermost in operand " + "abc"[i] + "'s layout");
  for (int p = 0; p < slices; ++p) {
    const auto [n0, n1] = share(batch, p, slices, 1);
    Step sub = s;
    std::vector<int64_t> *dims[3] = {&sub.dims_a, &sub.dims_b, &sub.dims_c};
    for (int i = 0; i < 3; ++i)
      if (batched[i]) (*dims[i])[0] = n1 - n0;
    PrimitiveCall::Slice &slice = call.slices.emplace_back();
    MadeFor one(1);  // each slice runs on one thread wherever it is called
    onednn::ConvPrimitive conv;
    try {
      conv = onednn::conv_primitive(sub, engine);
    } catch (const dnnl::error &e) {
      fail("oneDNN rejected a slice of the " + what + ": " + e.what());
    }
    if (conv.impl.rfind("ref", 0) == 0 && whole.impl.rfind("ref", 0) != 0)
      print_message("warning: oneDNN runs the slices of the " + what + " with its reference implementation '" +
                    conv.impl + "', which is slow\n");
    slice.primitive = conv.primitive;
    size_t rounded_bytes[2] = {};
    if (s.bf16) {
      for (int i = 0; i < 2; ++i) rounded_bytes[i] = round_up(conv.desc[i].get_size(), kAlign);
      slice.rounded = allocate_zeroed(rounded_bytes[0] + rounded_bytes[1]);
    }
    for (int i = 0; i < 3; ++i) {
      const int64_t image = batched[i] ? stored[i].data.format_desc.blocking.strides[0] : 0;
      std::byte *at = static_cast<std::byte *>(address(buffers[i])) + n0 * image * int64_t(sizeof(float));
      if (i == 2 && weights && p > 0) at = call.partial.get() + (p - 1) * whole.desc[2].get_size();
      if (!s.bf16 || i == 2) {
        slice.args[conv.arg[i]] = dnnl::memory(conv.desc[i], engine, at);
        continue;
      }
      // The slice's images (or all of the weights) rounded into the
      // layout oneDNN chose for the slice, on the slice's thread.
      const dnnl::memory::desc view = batched[i] ? onednn::batch_view(stored[i], n1 - n0) : stored[i];
      try {
        std::byte *to = slice.rounded.get() + (i ? rounded_bytes[0] : 0);
        slice.reorders.push_back(make_reorder(view, at, conv.desc[i], to, 1));
      } catch (const dnnl::error &e) {
        fail("oneDNN cannot round operand " + std::string(1, "ab"[i]) + " of a slice of the " + what + " to bf16: " +
             e.what());
      }
      slice.args[conv.arg[i]] = slice.reorders.back().args.at(DNNL_ARG_TO);
    }
    if (auto it = call.args.find(DNNL_ARG_BIAS); it != call.args.end()) slice.args[DNNL_ARG_BIAS] = it->second;
    if (const size_t need = conv.scratchpad.get_size(); need > 0) {
      slice.args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(conv.scratchpad, engine, DNNL_MEMORY_NONE);
      call.slice_pad = std::max(call.slice_pad, round_up(need, kAlign));
    }
  }
  dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, call.slice_pad * call.slices.size());
}

void Executor::Impl::run_conv_slices(PrimitiveCall &call) {
  for_chunks(static_cast<int>(call.slices.size()), team, [&](int p) {
    for (TeamReorder &r : call.slices[p].reorders) r.made_for[0].execute(stream, r.args);
    call.slices[p].primitive.execute(stream, call.slices[p].args);
  });
  stream.wait();
  if (call.c_sum) add_partial_sums(call.c_sum, call.c_floats, call.partial.get(), static_cast<int>(call.slices.size()));
}

void Executor::Impl::add_partial_sums(float *c, int64_t n, const std::byte *partial, int parts, const float *bias,
                                      int64_t columns, int post) {
  const float *sums = reinterpret_cast<const float *>(partial);
  for_chunks(threads, team, [&](int chunk) {
    const auto [begin, end] = share(n, chunk, threads);
    for (int p = 1; p < parts; ++p) {
      const float *x = sums + (p - 1) * n;
      for (int64_t i = begin; i < end; ++i) c[i] += x[i];
    }
    if (bias || post)
      for (int64_t i = begin; i < end; ++i) c[i] = onednn::post_scalar(c[i] + (bias ? bias[i % columns] : 0.0f), post);
  });
}

PrimitiveCall Executor::Impl::prepare_own_winograd(const Step &s, const std::string &what, const std::string &at) {
  PrimitiveCall call;
  try {
    // Made for the run's chunk count (--threads, the plan's by default): its
    // blocks and partial sums fix the bits, whatever team runs them.
    call.own = std::make_shared<const onednn::OwnWinograd>(s, threads);
  } catch (const std::runtime_error &e) {
    fail(what + ": " + e.what());
  }
  const int buffers[3] = {s.a, s.b, s.c};
  const std::vector<int64_t> *dims[3] = {&s.dims_a, &s.dims_b, &s.dims_c};
  const std::string *layouts[3] = {&s.layout_a, &s.layout_b, &s.layout_c};
  int64_t bytes[3];
  for (int i = 0; i < 3; ++i) {
    const dnnl::memory::desc desc = onednn::layout_desc(*dims[i], *layouts[i]);
    check_desc(buffers[i], desc, what + " operand " + "abc"[i]);
    bytes[i] = static_cast<int64_t>(desc.get_size());
  }
  for (int i = 0; i < 3; ++i)
    call.bytes[i][0] = plan.buffers[buffers[i]].offset, call.bytes[i][1] = call.bytes[i][0] + bytes[i];
  for (int i = 0; i < 2; ++i)
    if (overlap(call.bytes[i], call.bytes[2])) fail(what + ": output overlaps an input");
  if (s.bias >= 0) {
    check_buffer(s.bias, DType::F32, s.dims_c[1], what + " bias");
    call.bias = floats(s.bias);
  }
  call.a = floats(s.a), call.b = floats(s.b), call.c = floats(s.c);
  dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, call.own->scratch_bytes());
  convs.push_back({at, s.conv, onednn::OwnWinograd::impl()});
  return call;
}

PrimitiveCall Executor::Impl::prepare_reorder(const Step &s, const std::string &at) {
  PrimitiveCall call;
  try {
    auto from = onednn::layout_desc(s.dims_a, s.layout_a), to = onednn::layout_desc(s.dims_a, s.layout_c);
    // f32 to f32 (a layout change) or to bf16 (rounding, for bf16 products).
    check_desc(s.a, from, at + ": reorder source");
    if (bf16_buffer(s.c)) to.data.data_type = dnnl_bf16;
    check_desc(s.c, to, at + ": reorder destination");
    call.reorders.push_back(make_reorder(from, address(s.a), to, address(s.c)));
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + at + ": reorder " + s.layout_a + " -> " + s.layout_c + ": " + e.what());
  } catch (const std::runtime_error &e) {
    fail(at + ": reorder: " + e.what());
  }
  return call;
}

bool Executor::Impl::plain_rounding(const Step &s) const {
  return bf16_buffer(s.c) && s.layout_a == "plain" && s.layout_c == "plain";
}

RoundCall Executor::Impl::prepare_round(const Step &s, const std::string &at) {
  // The same checks as a oneDNN reorder's: the source an f32 buffer and the
  // destination a bf16 one, both of the step's shape.
  dnnl::memory::desc from;
  try {
    from = onednn::layout_desc(s.dims_a, s.layout_a);
    auto to = from;
    to.data.data_type = dnnl_bf16;
    check_desc(s.a, from, at + ": reorder source");
    check_desc(s.c, to, at + ": reorder destination");
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + at + ": reorder " + s.layout_a + " -> " + s.layout_c + ": " + e.what());
  } catch (const std::runtime_error &e) {
    fail(at + ": reorder: " + e.what());
  }
  return {reinterpret_cast<const float *>(address(s.a)), reinterpret_cast<uint16_t *>(address(s.c)),
          static_cast<int64_t>(from.get_size() / sizeof(float))};
}

// Chunks of whole 64-byte lines of the destination, the plan's thread count
// of them, so that the chunks of a team never share a line.
void Executor::Impl::run_round(const RoundCall &r) {
  for_chunks(threads, team, [&](int c) {
    const auto [begin, end] = share(r.n, c, threads, 32);
    round_bf16(r.src + begin, r.dst + begin, end - begin);
  });
}

MatmulPart Executor::Impl::matmul_part(const dnnl::memory::desc &a, void *pa, const dnnl::memory::desc &b, void *pb,
                                       const dnnl::memory::desc &c, void *pc, const dnnl::memory::desc *bias,
                                       void *pbias, const std::string &post, const std::string &at, size_t &pad,
                                       std::string *impl) {
  dnnl::matmul::primitive_desc pd;
  try {  // with a user-managed scratchpad
    pd = onednn::matmul_pd(engine, a, b, c, bias, post, true);
  } catch (const std::runtime_error &e) {  // not oneDNN's
    fail(at + ": " + e.what());
  }
  MatmulPart part{dnnl::matmul(pd), {{DNNL_ARG_SRC, dnnl::memory(a, engine, pa)},
                                     {DNNL_ARG_WEIGHTS, dnnl::memory(b, engine, pb)},
                                     {DNNL_ARG_DST, dnnl::memory(c, engine, pc)}}};
  if (bias) part.args[DNNL_ARG_BIAS] = dnnl::memory(*bias, engine, pbias);
  if (size_t need = pd.scratchpad_desc().get_size(); need > 0) {
    part.args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(pd.scratchpad_desc(), engine, DNNL_MEMORY_NONE);
    pad = std::max(pad, round_up(need, kAlign));
  }
  if (impl) *impl = pd.impl_info_str();
  return part;
}

TeamReorder Executor::Impl::make_reorder(const dnnl::memory::desc &from_desc, void *from,
                                         const dnnl::memory::desc &to_desc, void *to, int up_to) {
  dnnl::memory src(from_desc, engine, from), dst(to_desc, engine, to);
  TeamReorder r{{}, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}}};
  for (int t = 1; t <= (up_to ? up_to : threads); ++t) {
    MadeFor made(t);
    r.made_for.emplace_back(src, dst);
  }
  return r;
}

void Executor::Impl::run_reorder(TeamReorder &r) {
  r.made_for[std::clamp(team, 1, static_cast<int>(r.made_for.size())) - 1].execute(stream, r.args);
}

void Executor::Impl::bind_pad(MatmulPart &part, std::byte *at) {
  if (auto it = part.args.find(DNNL_ARG_SCRATCHPAD); it != part.args.end()) it->second.set_data_handle(at);
}

void Executor::Impl::bind_parts(std::vector<MatmulPart> &parts, std::byte *base, size_t stride) {
  for (size_t p = 0; p < parts.size(); ++p) bind_pad(parts[p], base + p * stride);
}

void Executor::Impl::bind_dnnl_scratchpad() {
  if (dnnl_scratchpad_bytes == 0) return;
  dnnl_scratchpad = allocate_zeroed(dnnl_scratchpad_bytes);
  for (auto &[name, steps] : programs)
    for (PreparedStep &s : steps) {
      if (s.kind != Step::Matmul) {
        if (auto it = s.call.args.find(DNNL_ARG_SCRATCHPAD); it != s.call.args.end())
          it->second.set_data_handle(dnnl_scratchpad.get());
        for (size_t p = 0; p < s.call.slices.size(); ++p)
          if (auto it = s.call.slices[p].args.find(DNNL_ARG_SCRATCHPAD); it != s.call.slices[p].args.end())
            it->second.set_data_handle(dnnl_scratchpad.get() + p * s.call.slice_pad);
        continue;
      }
      bind_pad(s.matmul.whole, dnnl_scratchpad.get());
      bind_parts(s.matmul.parts, dnnl_scratchpad.get(), s.matmul.scratchpad_stride);
    }
}

// oneDNN's gemm:jit makes its kernels at a primitive's first run, not when
// the primitive is made: run every product once here, over zeroed stand-ins
// for its operands (the arena is untouched), so that this start-up cost does
// not land in the first training step (docs/BENCHMARKS.md).
void Executor::Impl::warm_up_matmuls() {
  const int operands[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
  auto each_part = [&](auto &&f) {
    for (auto &[name, steps] : programs)
      for (PreparedStep &s : steps) {
        if (s.kind != Step::Matmul || s.matmul.thin) continue;
        if (s.matmul.parts.empty()) f(s.matmul.whole, false);
        for (MatmulPart &part : s.matmul.parts) f(part, true);
      }
  };
  size_t bytes = 0;
  each_part([&](MatmulPart &part, bool) {
    size_t need = 0;
    for (int arg : operands)
      if (auto it = part.args.find(arg); it != part.args.end()) need += round_up(it->second.get_desc().get_size(), kAlign);
    bytes = std::max(bytes, need);
  });
  if (bytes == 0) return;
  AlignedBytes zeros = allocate_zeroed(bytes);
  each_part([&](MatmulPart &part, bool one_thread) {
    std::unordered_map<int, dnnl::memory> args = part.args;
    std::byte *at = zeros.get();
    for (int arg : operands)
      if (auto it = args.find(arg); it != args.end()) {
        const dnnl::memory::desc desc = it->second.get_desc();
        it->second = dnnl::memory(desc, engine, at);
        at += round_up(desc.get_size(), kAlign);
      }
    std::optional<MadeFor> one;  // a slice runs as it will: on one thread
    if (one_thread) one.emplace(1);
    part.primitive.execute(stream, args);
    stream.wait();
  });
}

void Executor::Impl::run_matmul(MatmulCall &m) {
  if (m.thin) {
    // Its pieces, not the team, fix the bits.
    std::byte *scratch = dnnl_scratchpad.get();
    for_chunks(threads, team, [&](int p) { m.thin->run_part(p, threads, m.a, m.b, m.bias, m.c, scratch); });
    for_chunks(threads, team, [&](int p) { m.thin->finish(p, threads, m.bias, m.c, scratch); });
    return;
  }
  if (m.skip) return run_skipping(m);
  if (m.sparse) return run_sparse(m);
  run_whole(m);
}

// The step's product over all of its operands.
void Executor::Impl::run_whole(MatmulCall &m) {
  for (TeamReorder &r : m.reorders) run_reorder(r);
  if (m.parts.empty()) {
    m.whole.primitive.execute(stream, m.whole.args);
    stream.wait();
    if (!m.unswaps.empty()) {
      const MatmulCall::Unswap &u = m.unswaps[0];
      for_chunks(threads, team, [&](int c) {
        const auto [r0, r1] = share(u.m, c, threads);
        onednn::unswap(u.ct, u.m, u.n, r0, r1, u.c, u.ldc, u.bias, m.post);
      });
    }
    return;
  }
  // CPU streams run a primitive on the calling thread: a swapped part's c^T
  // is there for its unswap right after.
  for_chunks(static_cast<int>(m.parts.size()), team, [&](int p) {
    m.parts[p].primitive.execute(stream, m.parts[p].args);
    if (!m.unswaps.empty()) {
      const MatmulCall::Unswap &u = m.unswaps[p];
      onednn::unswap(u.ct, u.m, u.n, 0, u.m, u.c, u.ldc, u.bias, m.post);
    }
  });
  stream.wait();
  if (m.partial_sums || m.k_bias || m.k_post)
    add_partial_sums(m.c, m.c_elements, m.partial_sums.get(), static_cast<int>(m.parts.size()), m.k_bias, m.c_columns,
                     m.k_post);
}

}  // namespace vaec::rt
