// The plan executor (contract in executor.h): start-up checks and set-up,
// then the step loop, the threaded kernel calls and the optimizer. Its
// insides are in executor_impl.h; the products that leave out zero columns
// of image data in executor_zero_columns.cpp.
#include "exec/executor.h"

#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <dnnl.hpp>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "exec/diagnose.h"
#include "exec/executor_impl.h"
#include "abi/onednn_conv.h"

namespace vaec::rt {

namespace {

uint64_t fnv1a64(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Floats of scratch one chunk of step `s` needs: one cache-line-aligned copy
// per accumulated argument. Runs before the checks of prepare(), so it skips
// what they will reject.
size_t scratch_floats(const Plan &p, const Step &s) {
  size_t n = 0;
  for (int pos : s.accumulate) {
    if (pos < 0 || pos >= static_cast<int>(s.args.size())) continue;
    if (int b = s.args[pos]; b >= 0 && b < static_cast<int>(p.buffers.size()))
      n += round_up(std::max<int64_t>(p.buffers[b].elements, 0), kAlignFloats);
  }
  return n;
}

}  // namespace

double config_number(const Plan &plan, const std::string &key) {
  auto it = plan.config.find(key);
  if (it == plan.config.end()) fail("plan config has no '" + key + "'");
  char *end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0') fail("plan config " + key + " = '" + it->second + "' is not a number");
  return v;
}


// --- start-up ---

Executor::Impl::Impl(const Plan &p, const vaec_kernel_entry *kernels, int threads, uint64_t seed)
    : plan(p), threads(threads), seed(seed) {
  if (p.arena_bytes < 0) fail("plan arena size is negative");
  arena = allocate_zeroed(static_cast<size_t>(p.arena_bytes));
  for (const plan::Program *prog : p.programs())
    for (const Step &s : prog->steps)
      if (s.kind == Step::Kernel) scratch_stride = std::max(scratch_stride, scratch_floats(p, s));
  if (threads > 1 && scratch_stride > 0)
    scratch = allocate_zeroed(static_cast<size_t>(threads) * scratch_stride * sizeof(float));
  for (const plan::Program *prog : p.programs())
    if (prog == &p.train || prog == &p.eval || prog->present()) programs[prog->name] = prepare(*prog, kernels);
  bind_dnnl_scratchpad();
  bind_skip_scratch();
  prepare_optimizer(kernels);
  plan_fused_train();
}

// Which late matmuls of the train program may update their weight right
// after them (contract in executor.h, train_step). Everything is checked on
// the plan, so a plan that does not fit just runs unfused:
//  - the late steps: the longest tail of matmuls without bias or post-op,
//    each writing the whole gradient of one parameter, a gradient no other
//    step touches (by byte range);
//  - a weight is updated right after its step when it has >= 64k floats
//    and no later step reads its bytes; the other late steps run before the
//    gate (they only read what earlier steps wrote, and write only their
//    own gradients, so any order of them computes the same values).
void Executor::Impl::plan_fused_train() {
  const plan::Program &tr = plan.train;
  if (plan.param_count == 0 || !tr.present() || tr.steps.empty()) return;
  auto bytes = [&](int b) {
    const Buffer &x = plan.buffers[b];
    return std::pair<int64_t, int64_t>{x.offset, x.offset + x.elements * (x.type == DType::U8 ? 1 : 4)};
  };
  auto overlap = [&](int x, int y) {
    auto [x0, x1] = bytes(x);
    auto [y0, y1] = bytes(y);
    return x0 < y1 && y0 < x1;
  };
  auto touches = [&](size_t i, int buffer) {
    for (int b : plan::step_buffers(tr.steps[i]))
      if (b >= 0 && b < static_cast<int>(plan.buffers.size()) && overlap(b, buffer)) return true;
    return false;
  };
  const int64_t param0 = plan.buffers[plan.param_region].offset, grad0 = plan.buffers[plan.grad_region].offset;
  std::vector<std::pair<size_t, const plan::Param *>> tail;  // (step, its parameter), last first
  for (size_t i = tr.steps.size(); i-- > 0;) {
    const Step &s = tr.steps[i];
    if (s.kind != Step::Matmul || s.bias >= 0 || !s.post.empty()) break;
    const plan::Param *q = nullptr;
    for (const plan::Param &p : plan.params)
      if (p.grad_buffer == s.c) q = &p;
    if (!q || plan.buffers[s.c].elements != s.m * s.n) break;
    if (plan.buffers[q->buffer].offset - param0 != plan.buffers[q->grad_buffer].offset - grad0) break;
    bool alone = true;
    for (size_t j = 0; j < tr.steps.size() && alone; ++j)
      if (j != i && touches(j, s.c)) alone = false;
    if (!alone) break;
    tail.push_back({i, q});
  }
  if (tail.empty()) return;
  std::reverse(tail.begin(), tail.end());
  fused.gate = tail.front().first;
  constexpr int64_t kLine = kAlignFloats, kImmediate = 4 * kParallelMinElements;
  std::vector<Range> updated;
  auto operand = [&](int buffer, int64_t elements) {
    const float *p = floats(buffer);
    for (size_t j = 0; j < fused.bounded.size(); ++j)
      if (fused.bounded[j].first == p && fused.bounded[j].second == elements) return static_cast<int>(j);
    fused.bounded.push_back({p, elements});
    return static_cast<int>(fused.bounded.size()) - 1;
  };
  for (const auto &[i, q] : tail) {
    const Step &s = tr.steps[i];
    const int64_t begin = (plan.buffers[q->buffer].offset - param0) / 4, elements = plan.buffers[q->buffer].elements;
    bool read_later = false;
    for (size_t j = i + 1; j < tr.steps.size(); ++j) read_later = read_later || touches(j, q->buffer);
    // Bounding the product reads its operands (k (m + n) floats) where the
    // full check reads the gradient (m n): fused only where that is no more
    // (mnist_mlp's large weights: 151k against 313k floats; fashion_mlp's at
    // batch 512: 467k against 100k, where fusing made the optimizer 30 %
    // slower).
    const bool cheap_bound = s.k * (s.m + s.n) <= s.m * s.n;
    const bool on_line = (plan.buffers[q->buffer].offset - param0) % static_cast<int64_t>(kAlign) == 0;
    if (elements < kImmediate || read_later || !cheap_bound || !on_line) {
      fused.early.push_back(i);
      continue;
    }
    const Range r{begin, std::min(plan.param_count, (begin + elements + kLine - 1) / kLine * kLine)};
    fused.late.push_back({i, r, operand(s.a, s.m * s.k), operand(s.b, s.k * s.n), s.k, q->name});
    updated.push_back(r);
  }
  if (fused.late.empty()) return;
  std::sort(updated.begin(), updated.end(), [](const Range &x, const Range &y) { return x.begin < y.begin; });
  int64_t at = 0;
  for (const Range &r : updated) {
    if (r.begin > at) fused.rest.push_back({at, r.begin});
    at = std::max(at, r.end);
  }
  if (at < plan.param_count) fused.rest.push_back({at, plan.param_count});
  fused.max_abs_of.resize(fused.bounded.size());
  fused.partial_max.resize(static_cast<size_t>(optimizer.chunks) * (fused.bounded.size() + 1));
  fused.on = true;
}

void Executor::Impl::check_buffer(int buffer, DType type, int64_t elements, const std::string &what) const {
  if (buffer < 0 || buffer >= static_cast<int>(plan.buffers.size())) fail(what + ": no buffer " + std::to_string(buffer));
  const Buffer &b = plan.buffers[buffer];
  if (b.type != type) fail(what + ": buffer " + b.name + " is not " + (type == DType::F32 ? "f32" : "u8"));
  if (b.elements < elements)
    fail(what + ": buffer " + b.name + " has " + std::to_string(b.elements) + " elements, needs " +
         std::to_string(elements));
}

vaec_kernel_fn Executor::Impl::find_kernel(const vaec_kernel_entry *kernels, const std::string &name) const {
  for (const vaec_kernel_entry *e = kernels; e && e->name; ++e)
    if (name == e->name) {
      if (!e->fn) fail("kernel '" + name + "' has a null function in the kernel table");
      return e->fn;
    }
  fail("the plan calls kernel '" + name + "', which is not in the trainer's kernel table "
       "(the plan and the kernels object come from different compilations?)");
}

std::vector<PreparedStep> Executor::Impl::prepare(const plan::Program &program, const vaec_kernel_entry *kernels) {
  const std::string in = "program " + program.name;
  if (program.batch < 1) fail(in + ": batch " + std::to_string(program.batch) + " is not positive");
  if (program.input >= 0 || program.latent < 0)
    check_buffer(program.input, DType::U8, program.batch * program.input_row, in + " input");
  if (program.latent >= 0) check_buffer(program.latent, DType::F32, program.batch * program.latent_row, in + " latent");
  for (const auto &[name, buffer] : program.losses) check_buffer(buffer, DType::F32, 1, in + " loss " + name);
  for (const plan::Output &o : program.outputs)
    check_buffer(o.buffer, DType::F32, program.batch * o.row, in + " output " + o.name);
  // Image data: the f32 buffers of kernels that read the program's raw
  // images (its conversion to intensities), whose all-zero columns matmuls
  // may leave out. Only a hint: run_skipping finds the zero columns anew
  // each run.
  auto reads_images = [&](const Step &s) {
    return s.kind == Step::Kernel && program.input >= 0 &&
           std::find(s.args.begin(), s.args.end(), program.input) != s.args.end();
  };
  std::vector<bool> data(plan.buffers.size());
  for (const Step &s : program.steps)
    if (reads_images(s))
      for (int b : s.args)
        if (b >= 0 && b < static_cast<int>(data.size()) && plan.buffers[b].type == DType::F32) data[b] = true;
  std::vector<PreparedStep> steps;
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const Step &s = program.steps[i];
    const std::string at = in + " step " + std::to_string(i) + (s.where.empty() ? "" : " (" + s.where + ")");
    switch (s.kind) {
    case Step::Zero: {
      if (s.c < 0 || s.c >= static_cast<int>(plan.buffers.size())) fail(at + ": zero of no buffer");
      const Buffer &b = plan.buffers[s.c];
      steps.push_back({.kind = Step::Zero,
                       .zero = {address(s.c), static_cast<size_t>(b.elements) * (b.type == DType::U8 ? 1 : 4)}});
      break;
    }
    case Step::Matmul: steps.push_back({.kind = Step::Matmul, .matmul = prepare_matmul(s, program.name, i, data)}); break;
    case Step::Conv: steps.push_back({.kind = Step::Conv, .call = prepare_conv(s, at)}); break;
    case Step::Reorder: steps.push_back({.kind = Step::Reorder, .call = prepare_reorder(s, at)}); break;
    case Step::Kernel: {
      if (s.domain0 < 1) fail(at + ": kernel " + s.kernel + " has an empty domain");
      for (int b : s.args)
        if (b < 0 || b >= static_cast<int>(plan.buffers.size())) fail(at + ": no buffer " + std::to_string(b));
      for (int pos : s.accumulate) {
        if (pos < 0 || pos >= static_cast<int>(s.args.size())) fail(at + ": no argument " + std::to_string(pos));
        check_buffer(s.args[pos], DType::F32, 1, at + ": accumulated argument");
      }
      steps.push_back({.kind = Step::Kernel,
                       .writes_data = reads_images(s),
                       .kernel = prepare_kernel(find_kernel(kernels, s.kernel), s.args, s.accumulate, s.domain0, s.elements)});
      break;
    }
    }
  }
  return steps;
}

KernelCall Executor::Impl::prepare_kernel(vaec_kernel_fn fn, const std::vector<int> &args,
                                          const std::vector<int> &accumulate, int64_t domain0,
                                          int64_t elements) {
  KernelCall k;
  k.fn = fn;
  k.domain0 = domain0;
  // Below ~16k of work a kernel takes about as long as waking a second
  // thread, so small kernels run on the calling thread alone. (Also the
  // optimizer's and the gate's threshold, in floats.)
  k.chunks = elements < kParallelMinElements ? 1 : static_cast<int>(std::min<int64_t>(threads, domain0));
  k.arity = args.size();
  size_t offset = 0;
  for (int pos : accumulate) {
    k.acc.push_back({floats(args[pos]), plan.buffers[args[pos]].elements, offset});
    offset += round_up(plan.buffers[args[pos]].elements, kAlignFloats);
  }
  for (int c = 0; c < k.chunks; ++c) {
    for (int b : args) k.args.push_back(address(b));
    if (k.chunks == 1 || accumulate.empty()) continue;
    float *copies = reinterpret_cast<float *>(scratch.get()) + c * scratch_stride;
    for (size_t j = 0; j < accumulate.size(); ++j) k.args[c * k.arity + accumulate[j]] = copies + k.acc[j].scratch_offset;
  }
  return k;
}

// A user-managed scratchpad and the step's post-op, if any.
dnnl::primitive_attr Executor::Impl::matmul_attr(const std::string &post, const std::string &at) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post.empty()) {
    dnnl::algorithm alg;
    if (post == "relu") alg = dnnl::algorithm::eltwise_relu;
    else if (post == "sigmoid") alg = dnnl::algorithm::eltwise_logistic;
    else fail(at + ": unknown post-op '" + post + "'");
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, alg, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

MatmulCall Executor::Impl::prepare_matmul(const Step &s, const std::string &program, size_t index,
                                          const std::vector<bool> &data) {
  const std::string at = "matmul " + program + " step " + std::to_string(index) +
                         (s.where.empty() ? "" : " (" + s.where + ")");
  if (s.m < 1 || s.n < 1 || s.k < 1) fail(at + ": empty extent");
  check_buffer(s.a, DType::F32, s.m * s.k, at + " a");
  check_buffer(s.b, DType::F32, s.k * s.n, at + " b");
  check_buffer(s.c, DType::F32, s.m * s.n, at + " c");
  if (s.bias >= 0) check_buffer(s.bias, DType::F32, s.n, at + " bias");
  auto overlaps = [&](int x, int64_t x_elems) {
    int64_t x0 = plan.buffers[x].offset, c0 = plan.buffers[s.c].offset;
    return x0 < c0 + s.m * s.n * 4 && c0 < x0 + x_elems * 4;
  };
  if (overlaps(s.a, s.m * s.k) || overlaps(s.b, s.k * s.n)) fail(at + ": output overlaps an input");

  MatmulCall call;
  try {
    // Bound to the shared scratchpad once every matmul's size is known.
    const auto bias = matrix_desc(1, s.n, false);
    std::string impl;
    call.whole = matmul_part(matrix_desc(s.m, s.k, s.ta), address(s.a), matrix_desc(s.k, s.n, s.tb), address(s.b),
                             matrix_desc(s.m, s.n, false), address(s.c), s.bias >= 0 ? &bias : nullptr,
                             s.bias >= 0 ? address(s.bias) : nullptr, s.post, at, dnnl_scratchpad_bytes, &impl);
    matmuls.push_back({program, index, s.m, s.n, s.k, impl, s.where});
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + at + " ([" + std::to_string(s.m) + "," + std::to_string(s.k) + "]x[" +
         std::to_string(s.k) + "," + std::to_string(s.n) + "]): " + e.what());
  }
  split_matmul(s, call);
  matmuls.back().parts = std::max<int>(1, static_cast<int>(call.parts.size()));
  prepare_skip(s, call, data);
  matmuls.back().skips_zero_columns = call.skip != nullptr;
  const std::string &impl = matmuls.back().impl;
  if (impl.rfind("ref", 0) == 0)
    std::cerr << "warning: oneDNN runs the " << at << " [" << s.m << "," << s.k << "]x[" << s.k << "," << s.n
              << "] with its reference implementation '" << impl << "', which is slow\n";
  return call;
}

// A product whose weights b are a parameter of >= 1 MiB stored [n, k] (tb:
// a dense layer's forward pass), with >= 64 columns per thread and more
// columns than rows (m < n), runs as one column slice per thread: thread t
// computes columns [n t / T, n (t + 1) / T), cut on 16s so that each slice of
// c starts on a 64-byte line (cutting exactly at the optimizer's boundary
// instead was 1.4 % slower), from rows of the weights that are, to within a
// few, the ones its own share of the optimizer updated last (train_step
// updates each large weight in one contiguous share per thread). The slices
// then read their weights from their own core's cache instead of the other's:
// mnist_mlp's step, measured in a loop of its five large products and Adam,
// took 5-6 % less, and the trainer ran 3.5-5.7 % faster (interleaved runs).
// Each slice reads all of a, though, where oneDNN's own split of the rows
// reads half of it and all of b: with m >= n that costs more than it saves.
// And weights that fit a core's cache several times over gain nothing from
// locality: fashion_mlp (batch 512, 784-128-10) trained 7.6 % slower with
// both its large products split and 6.8 % slower with only the decoder's
// (m = 512, n = 784, 400 KB of weights), so neither is. A slice is a
// one-thread oneDNN call (oneDNN runs single-threaded inside an OpenMP
// parallel region), so each needs its own scratchpad.
void Executor::Impl::split_matmul(const Step &s, MatmulCall &call) {
  constexpr int64_t kMinColumns = 64, kMinWeights = 1 << 18;  // 1 MiB
  static const bool off = [] {
    const char *v = std::getenv("VAEC_SPLIT_MATMULS");
    return v && std::string(v) == "0";
  }();
  if (off || threads < 2 || !s.tb || s.ta || plan.param_count == 0 || s.n < threads * kMinColumns ||
      s.n * s.k < kMinWeights || s.m >= s.n)
    return;
  const Buffer &weights = plan.buffers[s.b], &region = plan.buffers[plan.param_region];
  if (weights.offset < region.offset || weights.offset + s.n * s.k * 4 > region.offset + plan.param_count * 4) return;
  std::vector<MatmulCall::Part> parts;
  size_t stride = 0;
  try {
    for (int t = 0; t < threads; ++t) {
      const auto [n0, n1] = share(s.n, t, threads, 16);
      const int64_t n = n1 - n0;
      using dims = dnnl::memory::dims;
      auto b = dnnl::memory::desc(dims{s.k, n}, dnnl::memory::data_type::f32, dims{1, s.k});  // rows n0.. of [n, k]
      auto c = dnnl::memory::desc(dims{s.m, n}, dnnl::memory::data_type::f32, dims{s.n, 1});  // columns n0.. of c
      auto bias = matrix_desc(1, n, false);
      parts.push_back(matmul_part(matrix_desc(s.m, s.k, false), address(s.a), b, floats(s.b) + n0 * s.k, c,
                                  floats(s.c) + n0, s.bias >= 0 ? &bias : nullptr,
                                  s.bias >= 0 ? floats(s.bias) + n0 : nullptr, s.post, s.where, stride));
    }
  } catch (const dnnl::error &) {
    return;  // oneDNN declined a slice: the step runs whole
  }
  call.parts = std::move(parts);
  call.scratchpad_stride = stride;
  dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, stride * call.parts.size());
}

void Executor::Impl::check_desc(int buffer, const dnnl::memory::desc &desc, const std::string &what) const {
  const int64_t bytes = static_cast<int64_t>(desc.get_size());
  check_buffer(buffer, DType::F32, (bytes + 3) / 4, what);
}

PrimitiveCall Executor::Impl::prepare_conv(const Step &s, const std::string &at) {
  const std::string what = at + ": " + s.conv;
  PrimitiveCall call;
  onednn::ConvPrimitive conv;
  try {
    conv = onednn::conv_primitive(s, engine);
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + what + ": " + e.what());
  } catch (const std::runtime_error &e) {
    fail(what + ": " + e.what());
  }
  const int buffers[3] = {s.a, s.b, s.c};
  for (int i = 0; i < 3; ++i) {
    check_desc(buffers[i], conv.desc[i], what + " operand " + "abc"[i]);
    call.args[conv.arg[i]] = dnnl::memory(conv.desc[i], engine, address(buffers[i]));
  }
  const int64_t c0 = plan.buffers[s.c].offset, c1 = c0 + static_cast<int64_t>(conv.desc[2].get_size());
  for (int i = 0; i < 2; ++i) {
    const int64_t x0 = plan.buffers[buffers[i]].offset, x1 = x0 + static_cast<int64_t>(conv.desc[i].get_size());
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
    std::cerr << "warning: oneDNN runs the " << what << " with its reference implementation '" << conv.impl
              << "', which is slow\n";
  convs.push_back({at, s.conv, conv.impl});
  call.primitive = conv.primitive;
  return call;
}

PrimitiveCall Executor::Impl::prepare_reorder(const Step &s, const std::string &at) {
  PrimitiveCall call;
  try {
    auto from = onednn::layout_desc(s.dims_a, s.layout_a), to = onednn::layout_desc(s.dims_a, s.layout_c);
    check_desc(s.a, from, at + ": reorder source");
    check_desc(s.c, to, at + ": reorder destination");
    dnnl::memory src(from, engine, address(s.a)), dst(to, engine, address(s.c));
    call.primitive = dnnl::reorder(src, dst);
    call.args = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
  } catch (const dnnl::error &e) {
    fail("oneDNN rejected the " + at + ": reorder " + s.layout_a + " -> " + s.layout_c + ": " + e.what());
  } catch (const std::runtime_error &e) {
    fail(at + ": reorder: " + e.what());
  }
  return call;
}

MatmulPart Executor::Impl::matmul_part(const dnnl::memory::desc &a, void *pa, const dnnl::memory::desc &b, void *pb,
                                       const dnnl::memory::desc &c, void *pc, const dnnl::memory::desc *bias,
                                       void *pbias, const std::string &post, const std::string &at, size_t &pad,
                                       std::string *impl) {
  auto desc = bias ? dnnl::matmul::desc(a, b, *bias, c) : dnnl::matmul::desc(a, b, c);
  dnnl::matmul::primitive_desc pd(desc, matmul_attr(post, at), engine);
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
        continue;
      }
      bind_pad(s.matmul.whole, dnnl_scratchpad.get());
      bind_parts(s.matmul.parts, dnnl_scratchpad.get(), s.matmul.scratchpad_stride);
    }
}

void Executor::Impl::prepare_optimizer(const vaec_kernel_entry *kernels) {
  if (plan.param_count == 0) return;
  if (plan.param_count < 0) fail("plan param_count is negative");
  auto region = [&](int b, const std::string &what) { check_buffer(b, DType::F32, plan.param_count, what); };
  region(plan.param_region, "parameter region");
  region(plan.grad_region, "gradient region");
  for (int s : plan.state_regions) region(s, "optimizer state region");
  for (const plan::Param &q : plan.params) {
    int64_t n = 1;
    for (int64_t d : q.dims) n *= d;
    check_buffer(q.buffer, DType::F32, n, "param " + q.name);
    check_buffer(q.grad_buffer, DType::F32, n, "gradient of " + q.name);
  }
  auto name = plan.config.find("optimizer");
  if (name == plan.config.end()) fail("plan config has no optimizer");
  if (name->second == "adam") {
    optimizer_kind = Optimizer::Adam;
    beta1 = config_number(plan, "beta1");
    beta2 = config_number(plan, "beta2");
  } else if (name->second != "rmsprop" && name->second != "sgd") {
    fail("unknown optimizer '" + name->second + "' in the plan");
  }
  // The hyper values are consecutive floats from buffer `hyper` on: the
  // compiler declares one 1-element buffer per value (hyper.0, hyper.1).
  const int64_t values = optimizer_kind == Optimizer::Adam ? 2 : 1;
  check_buffer(plan.hyper, DType::F32, 1, "optimizer hyper-parameters");
  if (plan.buffers[plan.hyper].offset + values * 4 > plan.arena_bytes)
    fail("the optimizer's " + std::to_string(values) + " hyper-parameters run past the arena's end");
  if (plan.optimizer_kernel.empty()) fail("the plan has parameters but no optimizer kernel");
  optimizer = prepare_kernel(find_kernel(kernels, plan.optimizer_kernel), plan.optimizer_args, {}, plan.param_count, plan.param_count);
}

// --- execution ---

std::vector<PreparedStep> &Executor::Impl::steps_of(const plan::Program &program) {
  auto it = programs.find(program.name);
  if (it == programs.end()) fail("the plan has no program '" + program.name + "'");
  return it->second;
}

void Executor::Impl::run_kernel(const KernelCall &k, uint64_t step) {
  const uint64_t rng[2] = {seed, step};
  if (k.chunks == 1) {
    for (const auto &a : k.acc) std::memset(a.real, 0, a.elements * sizeof(float));
    k.fn(k.args.data(), 0, k.domain0, rng);
    return;
  }
  float *copies = reinterpret_cast<float *>(scratch.get());
  for_chunks(k.chunks, [&](int c) {
    for (const auto &a : k.acc)
      std::memset(copies + c * scratch_stride + a.scratch_offset, 0, a.elements * sizeof(float));
    const auto [begin, end] = share(k.domain0, c, k.chunks, 1);
    k.fn(k.args.data() + c * k.arity, begin, end, rng);
  });
  // Each element sums the copies in chunk order, so how elements are split
  // among threads here cannot change a bit of the result.
  for (const auto &a : k.acc) {
    const float *first = copies + a.scratch_offset;
#pragma omp parallel for num_threads(threads) schedule(static) if (a.elements * k.chunks >= (1 << 16))
    for (int64_t e = 0; e < a.elements; ++e) {
      float sum = 0.0f;
      for (int c = 0; c < k.chunks; ++c) sum += first[c * scratch_stride + e];
      a.real[e] = sum;
    }
  }
}

void Executor::Impl::run_matmul(MatmulCall &m) {
  if (m.skip) return run_skipping(m);
  run_whole(m);
}

// The step's product over all of its operands.
void Executor::Impl::run_whole(MatmulCall &m) {
  if (m.parts.empty()) {
    m.whole.primitive.execute(stream, m.whole.args);
    stream.wait();
    return;
  }
  for_chunks(static_cast<int>(m.parts.size()), [&](int p) { m.parts[p].primitive.execute(stream, m.parts[p].args); });
  stream.wait();
}

// Denormal floats (below 2^-126) flush to zero, on this thread and on every
// OpenMP worker, as TensorFlow does by default. Without it Adam slows down
// as training goes on: the first moments of weights whose inputs are almost
// always 0 (MNIST's border pixels) decay by beta1 each step into the
// denormal range, where every multiply takes ~100 cycles; measured on
// mnist_mlp, the optimizer went from 0.41 ms per step after 200 steps to
// 0.94 ms after 3,000. Values that small are far below the precision of
// any loss or parameter here: PyTorch's 10-epoch mnist_mlp losses are
// bit-identical with and without torch.set_flush_denormal(True).
static void flush_denormals(int threads) {
  const unsigned ftz_daz = _MM_FLUSH_ZERO_ON | 0x0040;  // FTZ | DAZ
  _mm_setcsr(_mm_getcsr() | ftz_daz);
#pragma omp parallel num_threads(threads)
  _mm_setcsr(_mm_getcsr() | ftz_daz);
}

Executor::Executor(const Plan &plan, const vaec_kernel_entry *kernels, int threads, uint64_t seed)
    : plan_(plan), threads_(threads) {
  if (threads < 1) fail("thread count " + std::to_string(threads) + " is not positive");
  // oneDNN's OpenMP runtime takes its team size from the calling thread's
  // default, so this one call sizes matmuls and kernels alike.
  omp_set_num_threads(threads);
  flush_denormals(threads);
  impl_ = std::make_unique<Impl>(plan_, kernels, threads, seed);
  const char *profile = std::getenv("VAEC_PROFILE");
  impl_->profiling = profile && *profile && std::string(profile) != "0";
}

Executor::~Executor() {
  if (impl_ && impl_->profiling) impl_->print_profile();
}

void Executor::init_params(uint64_t seed) {
  for (const plan::Param &q : plan_.params) {
    std::mt19937_64 gen(seed ^ fnv1a64(q.name));
    float *w = f32(q.buffer);
    for (int64_t i = 0, n = plan_.buffers[q.buffer].elements; i < n; ++i) {
      const double u = static_cast<double>(gen() >> 11) * 0x1p-53;  // [0, 1)
      w[i] = static_cast<float>(q.init_bound * (2.0 * u - 1.0));
    }
    std::memset(f32(q.grad_buffer), 0, plan_.buffers[q.grad_buffer].elements * sizeof(float));
  }
  for (int s : plan_.state_regions) std::memset(f32(s), 0, plan_.param_count * sizeof(float));
}

void Executor::run(const plan::Program &program, uint64_t step) { run_steps(program, step, 0, SIZE_MAX); }

void Executor::run_steps(const plan::Program &program, uint64_t step, size_t first, size_t last) {
  std::vector<PreparedStep> &steps = impl_->steps_of(program);
  ++impl_->data_epoch;  // the caller may have changed anything since the last call
  last = std::min(last, steps.size());
  for (size_t i = first; i < last; ++i) impl_->run_step(program, steps, i, step);
}

void Executor::Impl::run_step(const plan::Program &program, std::vector<PreparedStep> &steps, size_t i,
                              uint64_t step) {
  std::vector<std::pair<double, int64_t>> *times = nullptr;
  if (profiling) {
    times = &profile[program.name];
    times->resize(steps.size());
  }
  PreparedStep &s = steps[i];
  if (s.writes_data) ++data_epoch;
  const auto start = times ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  switch (s.kind) {
  case Step::Zero: std::memset(s.zero.data, 0, s.zero.bytes); break;
  case Step::Matmul: run_matmul(s.matmul); break;
  case Step::Conv:
  case Step::Reorder:
    s.call.primitive.execute(stream, s.call.args);
    stream.wait();
    break;
  case Step::Kernel: run_kernel(s.kernel, step); break;
  }
  if (times) {
    (*times)[i].first += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    (*times)[i].second++;
  }
}

bool Executor::fuses_updates(const plan::Program &program) const {
  return impl_->fused.on && program.name == plan_.train.name;
}

bool Executor::train_step(const plan::Program &program, uint64_t step, double lr) {
  auto losses_finite = [&] {
    for (const auto &[name, buffer] : program.losses)
      if (!std::isfinite(scalar(buffer))) return false;
    return true;
  };
  if (!fuses_updates(program)) {
    run(program, step);
    return losses_finite() && run_optimizer_if_finite(step, lr);
  }
  Impl &x = *impl_;
  std::vector<PreparedStep> &steps = x.steps_of(program);
  ++x.data_epoch;
  for (size_t i = 0; i < x.fused.gate; ++i) x.run_step(program, steps, i, step);
  for (size_t i : x.fused.early) x.run_step(program, steps, i, step);
  auto start = std::chrono::steady_clock::now();
  const bool rest_finite = x.gate_scan();
  const std::vector<float> &max_abs_of = x.fused.max_abs_of;
  // |c| <= k max|a| max|b| (1 + 2^-24)^k for any summation order: with k
  // below 2^22 the last factor is below 1.3, so this bound keeps c finite.
  bool bounded = rest_finite;
  for (const Impl::LateGradient &l : x.fused.late) {
    const double bound = static_cast<double>(l.k) * max_abs_of[l.a] * max_abs_of[l.b];
    bounded = bounded && l.k < (int64_t{1} << 22) && bound <= 0.25 * std::numeric_limits<float>::max();
  }
  x.count_optimizer(start, false);
  if (!rest_finite || !bounded || !losses_finite()) {
    for (const Impl::LateGradient &l : x.fused.late) x.run_step(program, steps, l.step, step);
    return losses_finite() && rest_finite && run_optimizer_if_finite(step, lr);
  }
  write_hyper(step, lr);
  for (const Impl::LateGradient &l : x.fused.late) {
    x.run_step(program, steps, l.step, step);
    start = std::chrono::steady_clock::now();
    x.update_ranges(&l.range, 1, step);
    x.count_optimizer(start, false);
  }
  start = std::chrono::steady_clock::now();
  x.update_ranges(x.fused.rest.data(), x.fused.rest.size(), step);
  x.count_optimizer(start, false);
  x.optimizer_calls++;
  return true;
}

bool Executor::Impl::gate_scan() {
  const float *grads = floats(plan.grad_region);
  const size_t n = fused.bounded.size();
  const int chunks = optimizer.chunks;
  // Per chunk: n maxima, then one "rest finite" flag (0, or +inf if not).
  std::vector<float> &partial = fused.partial_max;
  std::fill(partial.begin(), partial.end(), 0.0f);
  for_chunks(chunks, [&](int c) {
    float *mine = partial.data() + static_cast<size_t>(c) * (n + 1);
    for (size_t j = 0; j < n; ++j) {
      auto [b, e] = share(fused.bounded[j].second, c, chunks);
      mine[j] = max_abs(fused.bounded[j].first + b, e - b);
    }
    for (const Range &r : fused.rest) {
      auto [b, e] = share(r.end - r.begin, c, chunks);
      if (!all_finite(grads + r.begin + b, e - b)) mine[n] = INFINITY;
    }
  });
  std::fill(fused.max_abs_of.begin(), fused.max_abs_of.end(), 0.0f);
  bool finite = true;
  for (int c = 0; c < chunks; ++c) {
    const float *p = partial.data() + static_cast<size_t>(c) * (n + 1);
    for (size_t j = 0; j < n; ++j) fused.max_abs_of[j] = std::max(fused.max_abs_of[j], p[j]);
    finite = finite && p[n] == 0.0f;
  }
  return finite;
}

void Executor::Impl::update_ranges(const Range *ranges, size_t count, uint64_t t) {
  const KernelCall &k = optimizer;
  const uint64_t rng[2] = {seed, t};
  for_chunks(k.chunks, [&](int c) {
    for (size_t i = 0; i < count; ++i) {
      auto [b, e] = share(ranges[i].end - ranges[i].begin, c, k.chunks);
      if (b < e) k.fn(k.args.data() + c * k.arity, ranges[i].begin + b, ranges[i].begin + e, rng);
    }
  });
}

void Executor::Impl::print_profile() const {
  for (const auto &[name, times] : profile) {
    const plan::Program &prog = name == "train" ? plan.train : plan.eval;
    double total = 0;
    std::map<std::string, double> by_kind;
    for (size_t i = 0; i < times.size(); ++i) total += times[i].first;
    if (total <= 0) continue;
    std::fprintf(stderr, "profile of program %s (%lld runs): %.3f ms per run\n", name.c_str(),
                 static_cast<long long>(times.empty() ? 0 : times[0].second), 1e3 * total / std::max<int64_t>(1, times[0].second));
    static const char *kinds[] = {"kernel", "matmul", "zero", "conv", "reorder"};
    const std::vector<PreparedStep> &prepared = programs.at(name);
    for (size_t i = 0; i < times.size(); ++i) {
      const Step &s = prog.steps[i];
      const std::string kind = kinds[s.kind];
      by_kind[kind] += times[i].first;
      const double ms = 1e3 * times[i].first / std::max<int64_t>(1, times[i].second);
      std::string how;  // what the executor does beyond the plan step
      if (s.kind == Step::Matmul && !prepared[i].matmul.parts.empty())
        how = "  (" + std::to_string(prepared[i].matmul.parts.size()) + " column slices, one per thread)";
      if (const SkipZeros *z = s.kind == Step::Matmul ? prepared[i].matmul.skip.get() : nullptr; z && z->runs > 0) {
        char text[160];
        std::snprintf(text, sizeof text, "  (left out %.0f of %lld all-zero data columns in %lld of %lld runs)",
                      z->skipped ? double(z->skipped * z->columns->cols - z->kept) / double(z->skipped) : 0.0,
                      static_cast<long long>(z->columns->cols), static_cast<long long>(z->skipped),
                      static_cast<long long>(z->runs));
        how += text;
      }
      if (name == plan.train.name && fused.on)
        for (const LateGradient &l : fused.late)
          if (l.step == i) how += "  (then updates " + l.param + ")";
      std::fprintf(stderr, "  %4zu %-8s %8.3f ms %5.1f%%  %s %s%s\n", i, kind.c_str(), ms, 100 * times[i].first / total,
                   s.kind == Step::Kernel ? s.kernel.c_str() : s.kind == Step::Conv ? s.conv.c_str() : "",
                   s.where.c_str(), how.c_str());
    }
    for (const auto &[kind, t] : by_kind)
      std::fprintf(stderr, "  total %-8s %5.1f%%\n", kind.c_str(), 100 * t / total);
  }
  if (optimizer_calls > 0)
    std::fprintf(stderr, "optimizer: %.3f ms per step%s\n", 1e3 * optimizer_seconds / optimizer_calls,
                 fused.on ? " (the gate's checks, the updates right after gradients and the rest's)" : "");
}

void Executor::run_optimizer(uint64_t t, double lr) { update(t, lr, false); }

bool Executor::run_optimizer_if_finite(uint64_t t, double lr) { return update(t, lr, true); }

// One parallel region: with `check`, each thread first scans the gradients
// of its own share; then, after a barrier, every thread updates its share,
// unless some thread found a NaN or an infinity. The shares are cut
// on 64-byte lines (16 floats), so no thread's vector loads and stores
// straddle two lines.
bool Executor::update(uint64_t t, double lr, bool check) {
  if (plan_.param_count == 0) return true;
  write_hyper(t, lr);
  const auto start = std::chrono::steady_clock::now();
  const KernelCall &k = impl_->optimizer;
  const float *grads = f32(plan_.grad_region);
  const uint64_t rng[2] = {impl_->seed, t};
  auto finite = [&](int64_t begin, int64_t end) { return all_finite(grads + begin, end - begin); };
  auto range = [&](int c, int64_t &begin, int64_t &end) { std::tie(begin, end) = share(k.domain0, c, k.chunks); };
  bool ok = true;
  if (k.chunks == 1) {
    ok = !check || finite(0, k.domain0);
    if (ok) k.fn(k.args.data(), 0, k.domain0, rng);
  } else {
    std::atomic<bool> bad{false};
#pragma omp parallel num_threads(k.chunks)
    {
      const int team = omp_get_num_threads();
      int64_t begin, end;
      if (check) {
        for (int c = omp_get_thread_num(); c < k.chunks; c += team) {
          range(c, begin, end);
          if (!finite(begin, end)) bad.store(true, std::memory_order_relaxed);
        }
#pragma omp barrier
      }
      if (!bad.load(std::memory_order_relaxed))
        for (int c = omp_get_thread_num(); c < k.chunks; c += team) {
          range(c, begin, end);
          k.fn(k.args.data() + c * k.arity, begin, end, rng);
        }
    }
    ok = !bad.load();
  }
  impl_->count_optimizer(start);
  return ok;
}

void Executor::write_hyper(uint64_t t, double lr) {
  float *hyper = f32(plan_.hyper);
  if (impl_->optimizer_kind == Impl::Optimizer::Adam) {
    const double n = static_cast<double>(t);
    hyper[0] = static_cast<float>(lr / (1.0 - std::pow(impl_->beta1, n)));
    hyper[1] = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(impl_->beta2, n)));
  } else {
    hyper[0] = static_cast<float>(lr);
  }
}

float *Executor::f32(int buffer) {
  impl_->check_buffer(buffer, DType::F32, 0, "f32()");
  return impl_->floats(buffer);
}

uint8_t *Executor::u8(int buffer) {
  impl_->check_buffer(buffer, DType::U8, 0, "u8()");
  return reinterpret_cast<uint8_t *>(impl_->address(buffer));
}

float Executor::scalar(int buffer) const {
  impl_->check_buffer(buffer, DType::F32, 1, "scalar()");
  return *impl_->floats(buffer);
}

const std::vector<MatmulInfo> &Executor::matmuls() const { return impl_->matmuls; }

std::pair<int64_t, int64_t> Executor::zero_column_runs(const plan::Program &program, size_t step) const {
  auto it = impl_->programs.find(program.name);
  if (it == impl_->programs.end() || step >= it->second.size() || !it->second[step].matmul.skip) return {0, 0};
  const SkipZeros &z = *it->second[step].matmul.skip;
  return {z.runs, z.skipped};
}
const std::vector<ConvInfo> &Executor::convs() const { return impl_->convs; }

}  // namespace vaec::rt
