// The plan executor (contract in executor.h): start-up checks and set-up,
// then the step loop, the threaded kernel calls and the optimizer. Its
// insides are in executor_impl.h; the products that leave out zero columns
// of image data in zero_column_products.cpp.
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
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "exec/finite.h"
#include "exec/executor_impl.h"
#include "abi/onednn_conv.h"
#include "abi/param_layouts.h"

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

Executor::Impl::Impl(const Plan &generic, const vaec_kernel_entry *kernels, int threads, uint64_t seed,
                     const Batches &batches)
    : threads(threads), team(threads), seed(seed) {
  // The batches each program runs at; the arena is laid out for the largest.
  std::map<std::string, std::set<int64_t>> sizes;
  for (const plan::Program *prog : generic.programs()) {
    if (prog != &generic.train && prog != &generic.eval && !prog->present()) continue;
    if (prog->batch < 1) fail("program " + prog->name + ": batch " + std::to_string(prog->batch) + " is not positive");
    auto it = batches.find(prog->name);
    if (it == batches.end()) {
      sizes[prog->name].insert(prog->batch);
    } else {
      for (int64_t b : it->second) {
        if (b < 1 || b > (int64_t{1} << 24)) fail("program " + prog->name + ": batch " + std::to_string(b) + " is out of range");
        sizes[prog->name].insert(b);
      }
      if (sizes[prog->name].empty()) continue;  // listed without batches: never run
    }
    layout_batch = std::max(layout_batch, *sizes[prog->name].rbegin());
  }
  const __int128 arena_bytes = __int128(generic.arena_bytes) + __int128(generic.arena_row) * layout_batch;
  if (generic.arena_bytes < 0 || generic.arena_row < 0 || arena_bytes > (__int128(1) << 40))
    fail("plan arena of " + std::to_string(static_cast<long long>(arena_bytes)) + " bytes at batch " +
         std::to_string(layout_batch) + " is out of range");
  plan = plan::at_batch(generic, layout_batch, layout_batch);
  const Plan &p = plan;
  arena = allocate_zeroed(static_cast<size_t>(p.arena_bytes));
  for (const plan::Program *prog : p.programs())
    for (const Step &s : prog->steps)
      if (s.kind == Step::Kernel) scratch_stride = std::max(scratch_stride, scratch_floats(p, s));
  if (threads > 1 && scratch_stride > 0)
    scratch = allocate_zeroed(static_cast<size_t>(threads) * scratch_stride * sizeof(float));
  size_t bf16_bytes = 0;  // at the layout batch, the largest
  for (const plan::Program *prog : p.programs())
    for (const Step &s : prog->steps)
      if (s.kind == Step::Matmul && s.bf16 && s.m > 0 && s.n > 0 && s.k > 0 && !(bf16_buffer(s.a) && bf16_buffer(s.b)))
        bf16_bytes = std::max(bf16_bytes, round_up(static_cast<size_t>(s.m * s.k) * 2, kAlign) +
                                              round_up(static_cast<size_t>(s.k * s.n) * 2, kAlign));
  if (bf16_bytes > 0) bf16_scratch = allocate_zeroed(bf16_bytes);
  copy_written.assign(p.buffers.size(), 0);
  prepare_optimizer(kernels);  // before the programs: gates and updates take its thread shares
  this->generic = &generic;
  for (const auto &[name, set] : sizes)
    for (int64_t b : set) {
      at_batches.push_back(plan::at_batch(generic, b, layout_batch));
      const Plan &sized = at_batches.back();
      for (const plan::Program *prog : sized.programs())
        if (prog->name == name) programs[key(name, b)] = prepare(*prog, kernels, sized);
    }
  this->generic = nullptr;
  bind_dnnl_scratchpad();
  bind_skip_scratch();
  warm_up_matmuls();
  if (p.param_count > 0 && p.train.present() &&
      std::none_of(p.train.steps.begin(), p.train.steps.end(), [](const Step &s) { return s.kind == Step::Optimize; }))
    fail("the train program never updates the parameters (no optimize step)");
  if (const std::string why = onednn::check_param_layouts(p); !why.empty()) fail("plan: " + why);
}

void Executor::set_epoch(double epoch) {
  if (plan_.epoch_value >= 0) *impl_->floats(plan_.epoch_value) = static_cast<float>(epoch);
}

void Executor::Impl::set_batch(int64_t batch) {
  if (plan.batch_value >= 0) *floats(plan.batch_value) = static_cast<float>(batch);
}

void Executor::Impl::check_buffer(int buffer, DType type, int64_t elements, const std::string &what) const {
  if (buffer < 0 || buffer >= static_cast<int>(plan.buffers.size())) fail(what + ": no buffer " + std::to_string(buffer));
  const Buffer &b = plan.buffers[buffer];
  if (b.type != type) fail(what + ": buffer " + b.name + " is not " + plan::dtype_name(type));
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

// `program` is `sized`'s, the plan at the batch it runs at: its buffers have
// that batch's sizes (and the layout batch's offsets, as `plan`'s).
std::vector<PreparedStep> Executor::Impl::prepare(const plan::Program &program, const vaec_kernel_entry *kernels,
                                                  const Plan &sized) {
  const std::string in = "program " + program.name;
  if (program.batch < 1) fail(in + ": batch " + std::to_string(program.batch) + " is not positive");
  // Inputs are the f32 rows the runtime writes (u8 bytes in hand-made plans).
  const bool f32_input = program.input >= 0 && program.input < static_cast<int>(plan.buffers.size()) &&
                         plan.buffers[program.input].type == DType::F32;
  if (program.input >= 0 || program.latent < 0)
    check_buffer(program.input, f32_input ? DType::F32 : DType::U8, program.batch * program.input_row, in + " input");
  if (program.input_copy >= 0) {
    if (!f32_input) fail(in + ": a bf16 copy of an input that is not f32");
    check_buffer(program.input_copy, DType::BF16, program.batch * program.input_row, in + " input copy");
  }
  if (program.latent >= 0) check_buffer(program.latent, DType::F32, program.batch * program.latent_row, in + " latent");
  if (program.labels >= 0)
    check_buffer(program.labels, DType::F32, program.batch * program.label_classes, in + " labels");
  for (const auto &[name, buffer] : program.losses) check_buffer(buffer, DType::F32, 1, in + " loss " + name);
  for (const plan::Output &o : program.outputs)
    check_buffer(o.buffer, DType::F32, program.batch * o.row, in + " output " + o.name);
  // A kernel reading the program's u8 images (a hand-made plan's) (re)writes its image data:
  // zero-column products find the kept columns anew after it.
  auto reads_images = [&](const Step &s) {
    return s.kind == Step::Kernel && program.input >= 0 &&
           std::find(s.args.begin(), s.args.end(), program.input) != s.args.end();
  };
  std::vector<PreparedStep> steps;
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const Step &s = program.steps[i];
    const std::string at = in + " step " + std::to_string(i) + (s.where.empty() ? "" : " (" + s.where + ")");
    switch (s.kind) {
    case Step::Zero: {
      if (s.c < 0 || s.c >= static_cast<int>(plan.buffers.size())) fail(at + ": zero of no buffer");
      const Buffer &b = sized.buffers[s.c];
      steps.push_back({.kind = Step::Zero,
                       .zero = {address(s.c), static_cast<size_t>(b.elements) * dtype_bytes(b.type)}});
      break;
    }
    case Step::Matmul: steps.push_back({.kind = Step::Matmul, .matmul = prepare_matmul(s, program.name, i)}); break;
    case Step::Gate:
    case Step::Optimize:
      if (program.name != "train") fail(at + ": a gate or an update outside the train program");
      if (s.kind == Step::Gate) steps.push_back({.kind = s.kind, .gate = prepare_gate(program, i, at)});
      else steps.push_back({.kind = s.kind, .update = prepare_update(program, i, at)});
      break;
    case Step::Conv: steps.push_back({.kind = Step::Conv, .call = prepare_conv(s, at)}); break;
    case Step::Reorder:
      if (plain_rounding(s)) steps.push_back({.kind = Step::Reorder, .round = prepare_round(s, at)});
      else steps.push_back({.kind = Step::Reorder, .call = prepare_reorder(s, at)});
      break;
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
                       .kernel = prepare_kernel(find_kernel(kernels, s.kernel), s.args, s.accumulate, s.combine, s.domain0,
                                                s.rows, sized)});
      const int64_t extent = generic->program(program.name)->steps[i].domain0;
      steps.back().kernel.rows_per_example = extent < 0 ? -extent : 0;
      break;
    }
    }
  }
  // Side-by-side pairs: neither step writes what the other reads or writes,
  // and the second's scratch follows the first's.
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!program.steps[i].side_by_side) continue;
    const std::string at = in + " step " + std::to_string(i) + " (side-by-side)";
    if (i + 1 >= steps.size() || !steps[i].call.own || !steps[i + 1].call.own)
      fail(at + ": needs two own-winograd steps");
    PrimitiveCall &first = steps[i].call, &second = steps[i + 1].call;
    for (int k = 0; k < 3; ++k)
      if (overlap(first.bytes[2], second.bytes[k]) || overlap(second.bytes[2], first.bytes[k]))
        fail(at + ": one step writes what the other reads or writes");
    first.beside_next = true;
    second.scratch_offset = round_up(first.own->scratch_bytes(), kAlign);
    dnnl_scratchpad_bytes = std::max(dnnl_scratchpad_bytes, second.scratch_offset + second.own->scratch_bytes());
  }
  check_updates(program);
  return steps;
}

KernelCall Executor::Impl::prepare_kernel(vaec_kernel_fn fn, const std::vector<int> &args,
                                          const std::vector<int> &accumulate,
                                          const std::vector<plan::Step::Combine> &combine, int64_t domain0, bool rows,
                                          const Plan &sized) {
  KernelCall k;
  k.fn = fn;
  k.domain0 = domain0;
  k.chunks = rows ? static_cast<int>(std::min<int64_t>(threads, domain0)) : 1;
  k.arity = args.size();
  size_t offset = 0;
  for (size_t j = 0; j < accumulate.size(); ++j) {
    const int pos = accumulate[j];
    k.acc.push_back({floats(args[pos]), sized.buffers[args[pos]].elements, offset,
                     j < combine.size() ? combine[j] : plan::Step::Combine::Add});
    offset += round_up(sized.buffers[args[pos]].elements, kAlignFloats);
  }
  for (int c = 0; c < k.chunks; ++c) {
    for (int b : args) k.args.push_back(address(b));
    if (k.chunks == 1 || accumulate.empty()) continue;
    float *copies = reinterpret_cast<float *>(scratch.get()) + c * scratch_stride;
    for (size_t j = 0; j < accumulate.size(); ++j) k.args[c * k.arity + accumulate[j]] = copies + k.acc[j].scratch_offset;
  }
  return k;
}

// --- execution ---

std::vector<PreparedStep> &Executor::Impl::steps_of(const plan::Program &program, int64_t batch) {
  auto it = programs.find(key(program.name, batch));
  if (it == programs.end())
    fail("program '" + program.name + "' was not prepared for batch " + std::to_string(batch) +
         " (the executor's batches are given when it is made)");
  return it->second;
}

namespace {

using Combine = plan::Step::Combine;

// The value a reduction starts from: 0 for sums, -inf for max, +inf for min.
void fill_identity(float *p, int64_t n, Combine how) {
  if (how == Combine::Add) {
    std::memset(p, 0, n * sizeof(float));
    return;
  }
  std::fill(p, p + n, how == Combine::Max ? -HUGE_VALF : HUGE_VALF);
}

float combine(Combine how, float a, float b) {
  if (how == Combine::Max) return b > a ? b : a;
  if (how == Combine::Min) return b < a ? b : a;
  return a + b;
}

}  // namespace

void Executor::Impl::run_kernel(const KernelCall &k, uint64_t step) {
  const uint64_t rng[3] = {seed, step, uint64_t(row0 * k.rows_per_example)};
  if (k.chunks == 1) {
    for (const auto &a : k.acc) fill_identity(a.real, a.elements, a.combine);
    k.fn(k.args.data(), 0, k.domain0, rng);
    return;
  }
  float *copies = reinterpret_cast<float *>(scratch.get());
  for_chunks(k.chunks, team, [&](int c) {
    for (const auto &a : k.acc) fill_identity(copies + c * scratch_stride + a.scratch_offset, a.elements, a.combine);
    const auto [begin, end] = share(k.domain0, c, k.chunks, 1);
    k.fn(k.args.data() + c * k.arity, begin, end, rng);
  });
  // Each element combines the copies in chunk order, so how elements are
  // split among threads here cannot change a bit of the result.
  for (const auto &a : k.acc) {
    const float *first = copies + a.scratch_offset;
    const int parts = a.elements * k.chunks >= (1 << 16) ? team : 1;
    for_chunks(parts, team, [&](int p) {
      const auto [e0, e1] = share(a.elements, p, parts);
      for (int64_t e = e0; e < e1; ++e) {
        float sum = first[e];
        for (int c = 1; c < k.chunks; ++c) sum = combine(a.combine, sum, first[c * scratch_stride + e]);
        a.real[e] = sum;
      }
    });
  }
}

// Denormal floats (below 2^-126) flush to zero, on this thread and on every
// OpenMP worker, as TensorFlow does by default: Adam's first moments of
// weights whose inputs are almost always 0 (MNIST's border pixels) decay
// into the denormal range, where every multiply is slow, and such values are
// far below the precision of any loss or parameter (docs/BENCHMARKS.md has
// the measurements).
static void flush_denormals(int threads) {
  const unsigned ftz_daz = _MM_FLUSH_ZERO_ON | 0x0040;  // FTZ | DAZ
  _mm_setcsr(_mm_getcsr() | ftz_daz);
#pragma omp parallel num_threads(threads)
  _mm_setcsr(_mm_getcsr() | ftz_daz);
}

Executor::Executor(const Plan &plan, const vaec_kernel_entry *kernels, int threads, uint64_t seed, bool profile,
                   const Batches &batches)
    : plan_(plan), threads_(threads) {
  if (threads < 1) fail("thread count " + std::to_string(threads) + " is not positive");
  // oneDNN's OpenMP runtime takes its team size from the calling thread's
  // default, so this one call sizes matmuls and kernels alike.
  omp_set_num_threads(threads);
  flush_denormals(threads);
  impl_ = std::make_unique<Impl>(plan_, kernels, threads, seed, batches);
  impl_->profiling = profile;
}

void Executor::set_team(int team) {
  impl_->team = std::clamp(team, 1, threads_);
  omp_set_num_threads(impl_->team);
}

int Executor::team() const { return impl_->team; }

void Executor::set_row0(int64_t row0) { impl_->row0 = row0; }

Executor::~Executor() {
  if (impl_ && impl_->profiling) impl_->print_profile();
}

void Executor::init_params(uint64_t seed) {
  for (const plan::Param &q : plan_.params) {
    std::mt19937_64 gen(seed ^ fnv1a64(q.name));
    float *w = f32(q.buffer);
    for (int64_t i = 0, n = plan_.buffers[q.buffer].elements; i < n; ++i) {
      const double u = static_cast<double>(gen() >> 11) * 0x1p-53;  // [0, 1)
      w[i] = q.init_ones ? 1.0f : static_cast<float>(q.init_bound * (2.0 * u - 1.0));
    }
    std::memset(f32(q.grad_buffer), 0, plan_.buffers[q.grad_buffer].elements * sizeof(float));
  }
  // Drawn in plain order, as every plan draws them, then laid out.
  if (plan_.param_region >= 0) onednn::convert_param_layouts(plan_, f32(plan_.param_region), true);
  for (int s : plan_.state_regions) std::memset(f32(s), 0, plan_.param_count * sizeof(float));
  if (plan_.stat_region >= 0) std::memset(f32(plan_.stat_region), 0, plan_.stat_count * sizeof(float));
  for (const plan::Stat &t : plan_.stats) std::fill_n(f32(t.buffer), plan_.buffers[t.buffer].elements, float(t.init));
}

std::vector<float> Executor::plain_param(size_t q, bool gradient) {
  const plan::Param &p = plan_.params.at(q);
  const int b = gradient ? p.grad_buffer : p.buffer;
  std::vector<float> out(plan_.buffers[b].elements);
  onednn::convert_param(p, plan_.buffers[b].elements, f32(b), out.data(), false);
  return out;
}

int64_t Executor::layout_batch() const { return impl_->layout_batch; }

void Executor::run(const plan::Program &program, uint64_t step, int64_t batch) {
  run_steps(program, step, 0, SIZE_MAX, batch);
}

void Executor::run_steps(const plan::Program &program, uint64_t step, size_t first, size_t last, int64_t batch) {
  if (batch == 0) batch = program.batch;
  std::vector<PreparedStep> &steps = impl_->steps_of(program, batch);
  impl_->set_batch(batch);
  impl_->round_input(program, batch);
  ++impl_->data_epoch;  // the caller may have changed anything since the last call
  last = std::min(last, steps.size());
  for (size_t i = first; i < last; ++i) impl_->run_step(program, steps, i, step, nullptr);
}

// The dispatch loop's body: one step. Gates and updates run only in a
// training step (`train`); a gate that fails (a loss or a checked gradient
// not finite, or a bound too large) turns the updates after it off, the
// products still run, and train_step ends as `optimize all` would.
void Executor::Impl::run_step(const plan::Program &program, std::vector<PreparedStep> &steps, size_t i,
                              uint64_t step, Training *train) {
  PreparedStep &s = steps[i];
  if (!train && (s.kind == Step::Gate || s.kind == Step::Optimize)) return;
  if (s.kind == Step::Conv && s.call.ran_early) {  // it ran beside the step before
    s.call.ran_early = false;
    return;
  }
  std::vector<StepTimes> *times = nullptr;
  if (profiling) {
    times = &profile[program.name];
    times->resize(steps.size());
  }
  const TimingRegions timing(times ? &(*times)[i] : nullptr);
  if (s.writes_data) ++data_epoch;
  const auto start = profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  switch (s.kind) {
  case Step::Zero: std::memset(s.zero.data, 0, s.zero.bytes); break;
  case Step::Matmul: run_matmul(s.matmul); break;
  case Step::Reorder:
    if (s.round.dst) {
      run_round(s.round);
      break;
    }
    [[fallthrough]];
  case Step::Conv:
    if (s.call.own) {
      auto run_own = [&](const PrimitiveCall &c) {
        c.own->run(c.a, c.b, c.bias, c.c, dnnl_scratchpad.get() + c.scratch_offset);
      };
      if (s.call.beside_next && team == 2) {
        // One thread each: the kernels' own parallel regions, nested, run
        // on one thread (their bits do not depend on it).
        PrimitiveCall &next = steps[i + 1].call;
#pragma omp parallel num_threads(2)
        {
          omp_set_num_threads(1);
          run_own(omp_get_thread_num() == 0 ? s.call : next);
        }
        next.ran_early = true;
        break;
      }
      run_own(s.call);
      break;
    }
    if (!s.call.slices.empty()) {
      run_conv_slices(s.call);
      break;
    }
    for (TeamReorder &r : s.call.reorders) run_reorder(r);
    if (s.call.primitive) s.call.primitive.execute(stream, s.call.args);
    stream.wait();
    break;
  case Step::Kernel: run_kernel(s.kernel, step); break;
  case Step::Gate:
    train->gated = true;
    train->gate_failed = !gate_passes(s.gate);
    if (!train->gate_failed) write_hyper(step, train->lr);
    count_optimizer(start, false);
    break;
  case Step::Optimize:
    train->updated = true;
    if (s.update.all) {
      train->applied = train->losses_finite() && update_all(step, train->lr, true);
    } else if (!train->gate_failed) {
      update_ranges(s.update.ranges.data(), s.update.ranges.size(), step);
      train->applied = true;
      count_optimizer(start, false);
    }
    break;
  }
  if (times) (*times)[i].add(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

bool Executor::has_gate(const plan::Program &program) const {
  for (const Step &s : program.steps)
    if (s.kind == Step::Gate) return true;
  return false;
}

bool Executor::train_step(const plan::Program &program, uint64_t step, double lr, int64_t batch, GradientSync *sync) {
  Impl &x = *impl_;
  if (batch == 0) batch = program.batch;
  std::vector<PreparedStep> &steps = x.steps_of(program, batch);
  x.set_batch(batch);
  ++x.data_epoch;
  x.round_input(program, batch);
  Impl::Training train{lr, [&] {
    for (const auto &[name, buffer] : program.losses)
      if (!std::isfinite(scalar(buffer))) return false;
    return true;
  }};
  if (sync) {
    for (size_t i = 0; i < steps.size(); ++i) {
      if (steps[i].kind != Step::Gate && steps[i].kind != Step::Optimize) x.run_step(program, steps, i, step, &train);
      for (size_t b = 0; b < program.buckets.size(); ++b)
        if (program.buckets[b].after == static_cast<int>(i)) sync->bucket_final(b);
    }
    sync->finish();
    return train.losses_finite() && x.update_all(step, lr, true);
  }
  for (size_t i = 0; i < steps.size(); ++i) x.run_step(program, steps, i, step, &train);
  if (train.gate_failed) return train.losses_finite() && x.update_all(step, lr, true);
  if (train.gated) x.optimizer_calls++;
  return train.updated ? train.applied : train.losses_finite();  // no parameters: nothing to update
}

float *Executor::f32(int buffer) {
  impl_->check_buffer(buffer, DType::F32, 0, "f32()");
  impl_->copy_written[buffer] = 0;
  return impl_->floats(buffer);
}

Executor::InputRows Executor::input_rows(const plan::Program &program) {
  InputRows rows{f32(program.input), nullptr};
  if (program.input_copy >= 0) {
    rows.bf16 = bf16(program.input_copy);
    impl_->copy_written[program.input] = 1;
  }
  return rows;
}

// The input's bf16 copy, unless the caller wrote it (input_rows()).
void Executor::Impl::round_input(const plan::Program &program, int64_t batch) {
  if (program.input_copy < 0) return;
  if (!std::exchange(copy_written[program.input], 0))
    run_round({floats(program.input), reinterpret_cast<uint16_t *>(address(program.input_copy)), batch * program.input_row});
}

uint8_t *Executor::u8(int buffer) {
  impl_->check_buffer(buffer, DType::U8, 0, "u8()");
  return reinterpret_cast<uint8_t *>(impl_->address(buffer));
}

uint16_t *Executor::bf16(int buffer) {
  impl_->check_buffer(buffer, DType::BF16, 0, "bf16()");
  return reinterpret_cast<uint16_t *>(impl_->address(buffer));
}

float Executor::scalar(int buffer) const {
  impl_->check_buffer(buffer, DType::F32, 1, "scalar()");
  return *impl_->floats(buffer);
}

const std::vector<MatmulInfo> &Executor::matmuls() const { return impl_->matmuls; }

std::pair<int64_t, int64_t> Executor::zero_column_runs(const plan::Program &program, size_t step, bool units) const {
  std::pair<int64_t, int64_t> sum{0, 0};
  for (const auto &[key, steps] : impl_->programs)
    if (key.rfind(program.name + "@", 0) == 0 && step < steps.size() && steps[step].matmul.skip) {
      const SkipZeros &z = *steps[step].matmul.skip;
      sum.first += z.runs, sum.second += units ? z.unit_skipped : z.skipped;
    }
  return sum;
}
std::pair<int64_t, int64_t> Executor::sparse_runs(const plan::Program &program, size_t step) const {
  std::pair<int64_t, int64_t> sum{0, 0};
  for (const auto &[key, steps] : impl_->programs)
    if (key.rfind(program.name + "@", 0) == 0 && step < steps.size() && steps[step].matmul.sparse) {
      const SparseCall &sp = *steps[step].matmul.sparse;
      sum.first += sp.runs, sum.second += sp.sparse_runs;
    }
  return sum;
}
const std::vector<ConvInfo> &Executor::convs() const { return impl_->convs; }

}  // namespace vaec::rt
