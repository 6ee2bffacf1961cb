// Generated code against the f64 interpreter: a whole training step of real
// models (fused LLVM kernels + oneDNN matmuls, run by the runtime's
// executor), the optimizer update, determinism, and the memory plan.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <dnnl.hpp>

#include "abi/bf16_rounding.h"
#include "abi/onednn_conv.h"
#include "abi/own_winograd.h"
#include "codegen/jit.h"
#include "codegen/kernel.h"
#include "codegen/optimizer_kernel.h"
#include "codegen/pipeline.h"
#include "codegen/plan_memory.h"
#include "codegen/precision_timing.h"
#include "codegen/place_updates.h"
#include "codegen/share_rounding.h"
#include "driver/compile_options.h"
#include "exec/executor.h"
#include "interp/interpreter.h"
#include "passes/pipeline.h"
#include "codegen_util.h"
#include "ir/batch_axes.h"
#include "test_util.h"

using namespace vaec;

namespace {

struct Compiled {
  Model model;
  std::unique_ptr<test::JitModel> code;
};

std::unique_ptr<Compiled> compile(const std::string &path, int64_t batch, const CodegenOptions &options = {}) {
  auto c = std::make_unique<Compiled>();
  std::string text = test::read_source_file(path);
  SourceManager sm;
  Diagnostics d(&sm);
  auto m = load_model(path, text, d, LoadOptions{batch});
  EXPECT_TRUE(m);
  if (!m) return nullptr;
  c->model = *m;
  std::string error;
  c->code = test::compile_jit(c->model.graph, error, options);
  EXPECT_TRUE(c->code) << error;
  return c->code ? std::move(c) : nullptr;
}

// mnist_conv with vaec's own Winograd forced onto every step it can run.
std::unique_ptr<Compiled> compile_own_winograd(int64_t batch) {
  CodegenOptions forced;
  forced.force_own_winograd = true;
  return compile("models/mnist_conv.yaml", batch, forced);
}

// Runs one training step with the executor and the same step in the f64
// interpreter, with the executor's parameters and noise bound in both.
struct StepResult {
  std::map<std::string, double> exec_loss, interp_loss;
  // max |a - b| / max|b| over each gradient tensor; a gradient that is 0 in
  // exact arithmetic (a conv's bias before a batch norm: the f64 one is
  // rounding, < 1e-9 of the largest) on the scale of the largest instead
  double worst_grad_error = 0;
  std::string worst_grad;
  double worst_stat_error = 0;  // max |a - b| / max(1, max|b|) over each batch norm statistic's update
  std::string worst_stat;
  double least_cosine = 1;      // the smallest cosine between a gradient and the interpreter's
  std::string least_cosine_grad;
};

// Runs the train program's step `step` on real images: the first test digits.
void run_on_first_digits(rt::Executor &ex, const plan::Plan &p, uint64_t step, int64_t batch) {
  std::string error;
  const std::vector<uint8_t> images = test::idx_test_images("data/mnist", error);
  EXPECT_FALSE(images.empty()) << error;
  const std::vector<float> rows = test::pixel_rows(images, 0, batch * p.train.input_row);
  std::copy(rows.begin(), rows.end(), ex.f32(p.train.input));
  ex.run(p.train, step, batch);
}

// At `run_batch` (0: the compiled batch) the executor runs the plan as it
// is, and the interpreter the training graph re-batched (ir/batch_axes.h).
StepResult step_both(Compiled &c, int threads, uint64_t seed, uint64_t step, int64_t run_batch = 0, float bias = 0) {
  StepResult r;
  const plan::Plan &p = c.code->lowered.plan;
  const int64_t batch = run_batch ? run_batch : p.train.batch;
  std::string why;
  const Graph train = with_batch(c.code->train, batch, why);
  EXPECT_EQ(why, "");
  rt::Executor ex(p, c.code->table.data(), threads, seed, false, {{"train", {batch}}});
  ex.init_params(seed);
  if (bias != 0)
    for (const plan::Param &q : p.params)
      if (q.dims.size() == 1 && q.name.size() > 2 && q.name.compare(q.name.size() - 2, 2, ".b") == 0)
        std::fill(ex.f32(q.buffer), ex.f32(q.buffer) + q.dims[0], bias);
  run_on_first_digits(ex, p, step, batch);

  std::string error;
  Bindings b = test::executor_bindings(train, p, ex, seed, step);
  auto v = interpret(train, b, error);
  EXPECT_TRUE(v) << error;
  if (!v) return r;
  for (const auto &[name, buf] : p.train.losses) r.exec_loss[name] = ex.scalar(buf);
  struct Grad {
    std::string name;
    double diff, scale;
  };
  std::vector<Grad> grads;
  for (const auto &[name, idx] : train.outputs) {
    if (name.rfind("update.", 0) == 0) {  // a statistic's new value, in its stat buffer after the step
      const Tensor &want = (*v)[idx];
      const std::string stat = name.substr(7);
      bool found = false;
      for (const plan::Stat &t : p.stats) {
        if (t.name != stat) continue;
        found = true;
        double scale = 1, diff = 0;
        EXPECT_EQ(size_t(p.buffers[t.buffer].elements), want.data.size()) << name;
        for (size_t k = 0; k < want.data.size() && k < size_t(p.buffers[t.buffer].elements); ++k) {
          scale = std::max(scale, std::fabs(want.data[k]));
          diff = std::max(diff, std::fabs(want.data[k] - ex.f32(t.buffer)[k]));
        }
        if (diff / scale > r.worst_stat_error) r.worst_stat_error = diff / scale, r.worst_stat = name;
      }
      EXPECT_TRUE(found) << name << " has no stat in the plan";
      continue;
    }
    if (name.rfind("d.", 0) != 0) {
      r.interp_loss[name] = (*v)[idx].data[0];
      continue;
    }
    for (size_t qi = 0; qi < p.params.size(); ++qi)
      if (const plan::Param &q = p.params[qi]; "d." + q.name == name) {
        const Tensor &want = (*v)[idx];
        const std::vector<float> grad = ex.plain_param(qi, true);
        double scale = 1e-30, diff = 0, dot = 0, want2 = 1e-300, got2 = 1e-300;
        for (size_t k = 0; k < want.data.size(); ++k) {
          const double got = grad[k];
          scale = std::max(scale, std::fabs(want.data[k]));
          diff = std::max(diff, std::fabs(want.data[k] - got));
          dot += want.data[k] * got, want2 += want.data[k] * want.data[k], got2 += got * got;
        }
        grads.push_back({name, diff, scale});
        if (scale < 1e-9) continue;  // no direction to compare (a gradient that is 0 in exact arithmetic)
        if (const double cos = dot / std::sqrt(want2 * got2); cos < r.least_cosine)
          r.least_cosine = cos, r.least_cosine_grad = name;
      }
  }
  double largest = 1e-30;
  for (const Grad &g : grads) largest = std::max(largest, g.scale);
  for (const Grad &g : grads) {
    const double error = g.diff / (g.scale < 1e-9 * largest ? largest : g.scale);
    if (error > r.worst_grad_error) r.worst_grad_error = error, r.worst_grad = g.name;
  }
  return r;
}

// The executor's losses and gradients on `threads` threads against the
// interpreter's (step_both).
void expect_step_result_matches(const StepResult &r, int threads) {
  ASSERT_FALSE(r.interp_loss.empty());
  for (const auto &[name, want] : r.interp_loss)
    EXPECT_NEAR(r.exec_loss.at(name), want, 2e-5 * std::max(1.0, std::fabs(want))) << name << " on " << threads;
  EXPECT_LT(r.worst_grad_error, 2e-4) << r.worst_grad << " on " << threads << " threads";
}

void expect_compiled_step_matches(Compiled &c, const std::string &model, int64_t run_batch = 0, float bias = 0) {
  for (int threads : {1, 2}) {
    StepResult r = step_both(c, threads, 11, 3, run_batch, bias);
    ASSERT_FALSE(r.interp_loss.empty());
    for (const auto &[name, want] : r.interp_loss)
      EXPECT_NEAR(r.exec_loss[name], want, 2e-5 * std::max(1.0, std::fabs(want)))
          << model << " loss " << name << " with " << threads << " threads";
    EXPECT_LT(r.worst_grad_error, 2e-4) << model << ": " << r.worst_grad << " with " << threads << " threads";
    EXPECT_LT(r.worst_stat_error, 2e-5) << model << ": " << r.worst_stat << " with " << threads << " threads";
  }
}

void expect_step_matches(const std::string &model, int64_t batch, int64_t run_batch = 0) {
  auto c = compile(model, batch);
  ASSERT_TRUE(c);
  expect_compiled_step_matches(*c, model, run_batch);
}

}  // namespace

TEST(Codegen, MlpTrainingStepMatchesTheInterpreter) { expect_step_matches("models/mnist_mlp.yaml", 8); }
// mnist_mlp's input gradient through x_hat's weights runs in slices of k
// (split_products): one per executor thread, so 3 and 4 threads add two and
// three slices' sums into c.
TEST(Codegen, KSlicesMatchTheInterpreterOnMoreThreads) {
  auto c = compile("models/mnist_mlp.yaml", 8);
  ASSERT_TRUE(c);
  int cut = 0;
  for (const plan::Step &s : c->code->lowered.plan.train.steps) cut += s.kind == plan::Step::Matmul && s.split == plan::Step::KSlices;
  ASSERT_EQ(cut, 1);
  for (int threads : {3, 4}) {
    expect_step_result_matches(step_both(*c, threads, 11, 3), threads);
  }
}
// mnist_conv's h (12544 inputs, 32 outputs, relu) runs in slices of k too
// (split_products), its bias and relu added after the slices' sum: on 1, 2
// and 3 threads, one to three slices.
TEST(Codegen, KSlicesWithBiasAndReluMatchTheInterpreter) {
  auto c = compile("models/mnist_conv.yaml", 2);
  ASSERT_TRUE(c);
  int cut = 0;
  for (const plan::Step &s : c->code->lowered.plan.train.steps)
    cut += s.kind == plan::Step::Matmul && s.split == plan::Step::KSlices && s.bias >= 0 && s.post == "relu";
  ASSERT_EQ(cut, 1);
  for (int threads : {1, 2, 3}) {
    expect_step_result_matches(step_both(*c, threads, 11, 3, 0, 0.01f), threads);
  }
}
TEST(Codegen, FashionTrainingStepMatchesTheInterpreter) { expect_step_matches("models/fashion_mlp.yaml", 6); }
TEST(Codegen, AxisReductionsAndSgdMatchTheInterpreter) { expect_step_matches("examples/gaussian_decoder.yaml", 5); }
TEST(Codegen, ConvVaeTrainingStepMatchesTheInterpreter) { expect_step_matches("models/mnist_conv.yaml", 2); }
// Odd channel counts, stride 3, explicit and asymmetric padding, rectangular
// kernels, output_padding (negative end pads), 'same'/'valid' transposed
// convs: each with its backward-data and backward-weights.
TEST(Codegen, OddConvolutionsMatchTheInterpreter) { expect_step_matches("tests/unit/models/conv_odd.yaml", 3); }
// f32 convolutions run in one-thread slices of the batch (batch_slices), one
// per executor thread up to the batch: 3 threads on a batch of 5 cut 2+1+2
// images, 4 on a batch of 3 one image each; a weight gradient adds the
// slices' sums.
TEST(Codegen, BatchSlicesMatchTheInterpreterOnMoreThreads) {
  for (const int64_t batch : {5, 3}) {
    auto c = compile("tests/unit/models/conv_odd.yaml", batch);
    ASSERT_TRUE(c);
    int weights = 0;
    for (const plan::Step &s : c->code->lowered.plan.train.steps)
      weights += s.kind == plan::Step::Conv && s.batch_slices && s.conv.find("_bwd_weights") != std::string::npos;
    ASSERT_GT(weights, 0);
    const int threads = batch == 5 ? 3 : 4;
    expect_step_result_matches(step_both(*c, threads, 11, 3), threads);
  }
}
// bf16 convolutions in batch slices (each slice rounds its own images into
// the layouts oneDNN picks for it) compute what the whole bf16 step does:
// the same losses, and gradients that differ only in the order of a weight
// gradient's sums; and the same bits on a team of one thread as on all
// (the slices, and the reorders made for each team size). Every
// convolution is forced to bf16 (the compiler marks those oneDNN runs
// faster, which depends on the machine).
struct ExecStep {
  std::map<std::string, double> losses;
  std::vector<std::vector<float>> grads;
};
ExecStep exec_step(const plan::Plan &p, const test::JitModel &code, int threads, uint64_t seed, uint64_t step,
                   int team = 0) {
  ExecStep r;
  const int64_t batch = p.train.batch;
  rt::Executor ex(p, code.table.data(), threads, seed, false, {{"train", {batch}}});
  if (team > 0) ex.set_team(team);
  ex.init_params(seed);
  run_on_first_digits(ex, p, step, batch);
  for (const auto &[name, buf] : p.train.losses) r.losses[name] = ex.scalar(buf);
  for (size_t qi = 0; qi < p.params.size(); ++qi) r.grads.push_back(ex.plain_param(qi, true));
  return r;
}
TEST(Codegen, Bf16BatchSlicesComputeTheWholeStep) {
  for (const auto &[model, batch, threads] :
       {std::tuple{"tests/unit/models/conv_odd.yaml", 5, 3}, std::tuple{"models/mnist_conv.yaml", 16, 2}}) {
    auto c = compile(model, batch);
    ASSERT_TRUE(c);
    plan::Plan &p = c->code->lowered.plan;
    int sliced = 0;
    for (plan::Program *prog : p.programs())
      for (plan::Step &s : prog->steps)
        if (s.kind == plan::Step::Conv && !s.own_winograd)
          s.bf16 = true, s.winograd = false, s.batch_slices = true, ++sliced;
    ASSERT_GT(sliced, 0);
    const ExecStep slices = exec_step(p, *c->code, threads, 11, 3);
    const ExecStep one = exec_step(p, *c->code, threads, 11, 3, 1);
    EXPECT_EQ(one.losses, slices.losses) << model << " on a team of one";
    EXPECT_TRUE(one.grads == slices.grads) << model << " on a team of one";
    for (plan::Program *prog : p.programs())
      for (plan::Step &s : prog->steps) s.batch_slices = false;
    const ExecStep whole = exec_step(p, *c->code, threads, 11, 3);
    for (const auto &[name, want] : whole.losses)
      EXPECT_NEAR(slices.losses.at(name), want, 1e-5 * std::max(1.0, std::fabs(want))) << model << " loss " << name;
    ASSERT_EQ(slices.grads.size(), whole.grads.size());
    for (size_t q = 0; q < whole.grads.size(); ++q) {
      double scale = 1e-30, diff = 0;
      for (size_t k = 0; k < whole.grads[q].size(); ++k) {
        scale = std::max(scale, std::fabs(double(whole.grads[q][k])));
        diff = std::max(diff, std::fabs(double(whole.grads[q][k]) - slices.grads[q][k]));
      }
      EXPECT_LT(diff / scale, 1e-4) << model << ": gradient of " << p.params[q].name;
    }
  }
}
TEST(Codegen, TransposedConvolutionsMatchTheInterpreter) {
  expect_step_matches("tests/unit/models/conv_same_t.yaml", 2);
}
// Batch norm after strided convolutions, with the statistics' kernels over
// nChw16c (after a transposed convolution's bias epilogue too), dropout, and
// a transposed convolution to one channel at stride 2 as a direct kernel.
TEST(Codegen, BatchNormDropoutConvVaeMatchesTheInterpreter) {
  expect_step_matches("examples/conv_bn_dropout.yaml", 4);
}
// bf16 products and convolutions (plan Step::bf16; which steps the compiler
// marks depends on the machine, so here every one is): the losses stay within
// bf16's rounding of the f64 interpreter's, the gradients point the same way,
// and the step is not the f32 step.
void expect_bf16_step_close(const std::string &model, int64_t batch) {
  auto c = compile(model, batch);
  ASSERT_TRUE(c);
  int marked = 0;
  for (plan::Program *prog : c->code->lowered.plan.programs())
    for (plan::Step &s : prog->steps)
      if (s.kind == plan::Step::Conv || s.kind == plan::Step::Matmul) s.bf16 = true, s.thin = false, s.batch_slices = false, s.zeros = plan::Step::Keep, s.zero_units = false, ++marked;
  ASSERT_GT(marked, 0);
  const StepResult r = step_both(*c, 2, 11, 3);
  ASSERT_FALSE(r.interp_loss.empty());
  for (const auto &[name, want] : r.interp_loss)
    EXPECT_NEAR(r.exec_loss.at(name), want, 1e-2 * std::max(1.0, std::fabs(want))) << model << " loss " << name;
  // Rounding moves pre-activations by ~2^-9 of their size, which switches a
  // relu near 0 and with it a whole row of a weight gradient: gradients are
  // compared by direction, not element by element.
  EXPECT_GT(r.least_cosine, 0.99) << model << ": " << r.least_cosine_grad;
  EXPECT_GT(r.worst_grad_error, 1e-4) << model << ": as close as f32, so nothing was rounded";
}

TEST(Codegen, Bf16MlpStepStaysWithinRounding) { expect_bf16_step_close("models/mnist_mlp.yaml", 8); }

// share_rounding: bf16 products that read one rounded copy per value give
// the bits of products that round their operands themselves, also where the
// copy is stored rounded by the kernel that computes the value (the output
// layer's gradient, which only bf16 products read).
TEST(Codegen, SharedRoundingGivesTheSameBits) {
  for (const char *model : {"models/mnist_mlp.yaml", "models/fashion_mlp.yaml", "examples/two_level.yaml"}) {
    auto c = compile(model, 8);
    ASSERT_TRUE(c);
    LoweredModel &own = c->code->lowered;
    for (plan::Program *prog : own.plan.programs())
      for (plan::Step &s : prog->steps)
        if (s.kind == plan::Step::Matmul)
          s.bf16 = true, s.thin = false, s.zeros = plan::Step::Keep, s.zero_units = false;
    LoweredModel shared = own;
    shared.options.share_rounding = true;
    share_rounding(shared);
    plan_memory(shared);
    // Every bf16 product now reads bf16 copies, and some copy serves two products.
    std::map<int, int> readers;
    for (const plan::Step &s : shared.plan.train.steps)
      if (s.kind == plan::Step::Matmul) {
        for (int x : {s.a, s.b}) {
          EXPECT_EQ(shared.plan.buffers[x].type, plan::DType::BF16) << model << " " << s.where;
          ++readers[x];
        }
      }
    EXPECT_TRUE(std::any_of(readers.begin(), readers.end(), [](auto &r) { return r.second > 1; })) << model;
    // The images' copy is written with them (Program::input_copy): no step rounds them.
    EXPECT_GE(shared.plan.train.input_copy, 0) << model;
    for (const plan::Step &s : shared.plan.train.steps)
      EXPECT_FALSE(s.kind == plan::Step::Reorder && s.a == shared.plan.train.input) << model << " " << s.where;
    // Kernels store copies: instead of an f32 value (the output layer's
    // gradient, the first layer's) or beside it (two_level's hidden layers,
    // which their relu's gradient reads too).
    int instead = 0, beside = 0;
    for (const FusedKernel &k : shared.kernels)
      for (const KernelOutput &o : k.outputs)
        if (k.args[o.arg] == BufferType::BF16)
          ++(std::any_of(k.outputs.begin(), k.outputs.end(),
                         [&](const KernelOutput &f) { return f.instr == o.instr && k.args[f.arg] == BufferType::F32; })
                 ? beside
                 : instead);
    EXPECT_GE(instead, 2) << model;
    if (std::string(model) == "examples/two_level.yaml") {
      EXPECT_GE(beside, 1) << model;
    }
    std::string jit_error;
    std::unique_ptr<KernelJit> jit = KernelJit::create(shared.kernels, jit_error);
    ASSERT_TRUE(jit) << jit_error;
    const std::vector<vaec_kernel_entry> shared_table = test::kernel_table(*jit, shared.kernels);

    auto gradients = [&](const plan::Plan &p, const vaec_kernel_entry *table, std::map<std::string, float> &losses) {
      rt::Executor ex(p, table, 2, 5, false, {{"train", {8}}});
      ex.init_params(5);
      std::string error;
      const std::vector<float> rows = test::pixel_rows(test::idx_test_images("data/mnist", error), 0, 8 * p.train.input_row);
      std::copy(rows.begin(), rows.end(), ex.f32(p.train.input));
      ex.run(p.train, 3, 8);
      for (const auto &[name, buf] : p.train.losses) losses[name] = ex.scalar(buf);
      std::vector<float> g;
      for (size_t q = 0; q < p.params.size(); ++q) {
        const std::vector<float> x = ex.plain_param(q, true);
        g.insert(g.end(), x.begin(), x.end());
      }
      return g;
    };
    std::map<std::string, float> own_losses, shared_losses;
    const std::vector<float> a = gradients(own.plan, c->code->table.data(), own_losses),
                             b = gradients(shared.plan, shared_table.data(), shared_losses);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << model;
    // A loss a kernel sums in registers may add in another order: a kernel
    // that stores bf16 runs 16 lanes at a time (llvm_kernels.cpp).
    for (const auto &[name, loss] : own_losses) EXPECT_NEAR(shared_losses.at(name), loss, 1e-6 * std::fabs(loss)) << model;
  }
}
// The input's bf16 copy (abi/plan.h's Program::input_copy, the executor's
// input_rows): a run rounds it when the caller wrote the f32 rows only;
// after input_rows() it reads the copy as the caller wrote it (a copy of
// zeros changes the losses, so no step rounded it again); f32() of the input
// after that makes the run round it again.
TEST(Codegen, InputCopyIsWrittenWithTheInput) {
  auto c = compile("models/mnist_mlp.yaml", 8);
  ASSERT_TRUE(c);
  LoweredModel m = c->code->lowered;
  for (plan::Step &s : m.plan.train.steps)
    if (s.kind == plan::Step::Matmul) s.bf16 = true, s.thin = false;
  share_rounding(m);
  plan_memory(m);
  const plan::Program &train = m.plan.train;
  ASSERT_GE(train.input_copy, 0);
  std::string jit_error;
  std::unique_ptr<KernelJit> jit = KernelJit::create(m.kernels, jit_error);
  ASSERT_TRUE(jit) << jit_error;
  const std::vector<vaec_kernel_entry> table = test::kernel_table(*jit, m.kernels);
  rt::Executor ex(m.plan, table.data(), 2, 5, false, {{"train", {8}}});
  ex.init_params(5);
  std::string error;
  const std::vector<float> rows = test::pixel_rows(test::idx_test_images("data/mnist", error), 0, 8 * train.input_row);
  ASSERT_EQ(rows.size(), size_t(8 * train.input_row)) << error;
  auto loss = [&] {
    ex.run(train, 3, 8);
    return ex.scalar(train.losses.front().second);
  };
  std::copy(rows.begin(), rows.end(), ex.f32(train.input));
  const float rounded_by_run = loss();
  rt::Executor::InputRows in = ex.input_rows(train);
  ASSERT_TRUE(in.f32 && in.bf16);
  std::copy(rows.begin(), rows.end(), in.f32);
  rt::round_bf16(rows.data(), in.bf16, int64_t(rows.size()));
  EXPECT_EQ(loss(), rounded_by_run);
  in = ex.input_rows(train);
  std::copy(rows.begin(), rows.end(), in.f32);
  std::fill_n(in.bf16, rows.size(), uint16_t{0});
  EXPECT_NE(loss(), rounded_by_run);
  in = ex.input_rows(train);
  std::fill_n(in.bf16, rows.size(), uint16_t{0});
  ex.f32(train.input);
  EXPECT_EQ(loss(), rounded_by_run);
  EXPECT_EQ(ex.input_rows(m.plan.eval).bf16 != nullptr, m.plan.eval.input_copy >= 0);
}

// choose_precision counts the rounding of an operand an earlier bf16
// product rounded already (its copy shared) as nothing, and the note says
// which operands it rounds.
TEST(PrecisionTiming, SharedOperandsAddNoRounding) {
  PrecisionTiming t;
  t.f32_impl = "f", t.bf16_impl = "h";
  t.f32 = 1e-3, t.bf16 = 0.65e-3, t.rounding_a = 0.2e-3, t.rounding_b = 0.1e-3, t.rounding = 0.3e-3;
  EXPECT_FALSE(t.faster());  // 0.95 ms is not 10 % under 1 ms
  EXPECT_FALSE(t.faster(false, false));
  EXPECT_TRUE(t.faster(true, false));
  EXPECT_TRUE(t.faster(false, true));
  EXPECT_TRUE(t.faster(true, true));
  EXPECT_EQ(t.note(false), "f32 (f32 f 1.000 ms; bf16 h 0.650 ms + 0.300 ms rounding a and b)");
  EXPECT_EQ(t.note(true, true, false), "bf16 (f32 f 1.000 ms; bf16 h 0.650 ms + 0.100 ms rounding b (a rounded for an earlier product))");
  EXPECT_EQ(t.note(true, false, true), "bf16 (f32 f 1.000 ms; bf16 h 0.650 ms + 0.200 ms rounding a (b rounded for an earlier product))");
  EXPECT_EQ(t.note(true, true, true), "bf16 (f32 f 1.000 ms; bf16 h 0.650 ms, a and b rounded for earlier products)");
  t.bf16_impl.clear();  // no bf16 kernel: never faster, shared or not
  EXPECT_FALSE(t.faster(true, true));
}

TEST(Codegen, Bf16ConvStepStaysWithinRounding) { expect_bf16_step_close("models/mnist_conv.yaml", 2); }
// The plan as `--precision bf16` compiles it on this machine: convolutions
// in bf16 with the result layouts their bf16 kernels want (with AMX,
// channels last, reordered into nChw16c for the kernels) and weights
// rounded from the parameters stay within bf16's rounding too.
TEST(Codegen, Bf16ConvAsCompiledStaysWithinRounding) {
  CodegenOptions options;
  options.precision = "bf16";
  auto c = compile("models/mnist_conv.yaml", 16, options);
  ASSERT_TRUE(c);
  int bf16 = 0, channels_last = 0;
  for (const plan::Step &s : c->code->lowered.plan.train.steps)
    if (s.kind == plan::Step::Conv && s.bf16) {
      ++bf16;
      EXPECT_TRUE(s.batch_slices) << "a bf16 " << s.conv << " of an adaptive plan for 2 threads runs whole";
      // A blocked layout without inner blocks ("blocked:STRIDES:-"): channels last.
      channels_last += s.layout_c.size() > 2 && s.layout_c.compare(s.layout_c.size() - 2, 2, ":-") == 0;
    }
  if (bf16 == 0) GTEST_SKIP() << "this machine runs no convolution of mnist_conv faster in bf16";
  std::printf("[ info     ] %d bf16 convolutions, %d with channels-last results\n", bf16, channels_last);
  const StepResult r = step_both(*c, 2, 11, 3);
  ASSERT_FALSE(r.interp_loss.empty());
  for (const auto &[name, want] : r.interp_loss)
    EXPECT_NEAR(r.exec_loss.at(name), want, 1e-2 * std::max(1.0, std::fabs(want))) << name;
  // At batch 16 the first layer's bias gradient, a sum with cancellations,
  // is the least aligned from rounding alone (so it is with every
  // convolution forced to bf16 in f32's layouts); a wrong layout scrambles a
  // gradient far below 0.95.
  EXPECT_GT(r.least_cosine, 0.95) << r.least_cosine_grad;
  EXPECT_GT(r.worst_grad_error, 1e-4) << "as close as f32, so nothing was rounded";
}
TEST(Codegen, Bf16OddConvolutionsStayWithinRounding) { expect_bf16_step_close("tests/unit/models/conv_odd.yaml", 3); }
// Convolutions in Winograd's algorithm (plan Step::winograd) stay within
// the f32 bounds of the interpreter. Forced onto every conv2d and weight
// gradient oneDNN has a Winograd kernel for (at batch 2, where the compiler
// times them slower; their layouts are the direct kernels'), then as
// `--conv-algorithm winograd` compiles them at batch 16, where its timings
// choose them on AVX-512 machines (the input gradients with weights in the
// forward's layout). The biases start at 0.01, not Keras' 0: where a
// window holds only zeros (the digits' background) and the bias is 0, the
// direct sum gives exactly 0, on which relu's gradient is 0, but Winograd's
// transforms leave a rounding residue of either sign there, and relu's
// gradient then passes where a positive one lands.
TEST(Codegen, WinogradConvolutionsMatchTheInterpreter) {
  auto c = compile("models/mnist_conv.yaml", 2);
  ASSERT_TRUE(c);
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  int forced = 0;
  for (plan::Program *prog : c->code->lowered.plan.programs())
    for (plan::Step &s : prog->steps) {
      if (s.kind != plan::Step::Conv || (s.conv != "conv2d" && s.conv != "conv2d_bwd_weights")) continue;
      ASSERT_FALSE(s.winograd) << s.where << ": direct is the default";
      plan::Step at_batch = s;
      for (auto *dims : {&at_batch.dims_a, &at_batch.dims_b, &at_batch.dims_c})
        for (int64_t &d : *dims) d = plan::extent(d, 2);
      at_batch.winograd = true;
      try {
        const onednn::ConvPrimitive w = onednn::conv_primitive(at_batch, engine);
        EXPECT_NE(w.impl.find("wino"), std::string::npos) << w.impl;
      } catch (const dnnl::error &) {
        continue;  // no Winograd kernel for it here
      }
      s.winograd = true, ++forced;
    }
  if (forced == 0) GTEST_SKIP() << "oneDNN has no Winograd kernel for mnist_conv's layers on this machine";
  expect_compiled_step_matches(*c, "mnist_conv, forced", 0, 0.01f);

  CodegenOptions winograd;
  winograd.conv_algorithm = "winograd";
  auto compiled = compile("models/mnist_conv.yaml", 16, winograd);
  ASSERT_TRUE(compiled);
  int chosen = 0;
  for (const plan::Step &s : compiled->code->lowered.plan.train.steps) chosen += s.kind == plan::Step::Conv && s.winograd;
  std::printf("[ info     ] %d convolutions forced into Winograd's algorithm at batch 2, %d chosen at batch 16\n",
              forced, chosen);
  if (chosen > 0) expect_compiled_step_matches(*compiled, "mnist_conv, as compiled", 0, 0.01f);
}
// vaec's own Winograd (plan Step::own_winograd, abi/own_winograd.h) forced
// onto every step it can run, with the layouts, reorders and parameter
// layouts the compiler plans around it: mnist_conv's 64-channel layers,
// forward (bias, relu), input and weight gradients, at the compiled batch
// and at a larger one (several blocks of tiles). Biases start at 0.01 for
// the reason above.
TEST(Codegen, OwnWinogradConvolutionsMatchTheInterpreter) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "own Winograd needs AVX-512";
  auto c = compile_own_winograd(2);
  ASSERT_TRUE(c);
  int own = 0;
  for (const plan::Step &s : c->code->lowered.plan.train.steps) own += s.kind == plan::Step::Conv && s.own_winograd;
  EXPECT_EQ(own, 6) << "c3 and c4: forward, input gradient and weight gradient";
  int pairs = 0;
  for (const plan::Step &s : c->code->lowered.plan.train.steps) pairs += s.side_by_side;
  EXPECT_EQ(pairs, 2) << "c3's and c4's input and weight gradients side by side (two threads: at once; one: in turn)";
  expect_compiled_step_matches(*c, "mnist_conv, own Winograd", 0, 0.01f);
  expect_compiled_step_matches(*c, "mnist_conv, own Winograd at batch 9", 9, 0.01f);
}
// Products computed swapped (plan Step::swapped: c^T = b^T a^T, then c
// written with the bias and post-op), forced onto every product that may be:
// forward products with bias and relu or sigmoid, input and weight
// gradients, whole and in row and column slices, at the compiled batch and
// at others.
TEST(Codegen, SwappedProductsMatchTheInterpreter) {
  CodegenOptions forced;
  forced.force_swap_products = true;
  // (mnist_conv's one forward product with a post-op, h's, runs in slices of k, which are never swapped.)
  for (const char *model : {"models/mnist_mlp.yaml", "models/mnist_conv.yaml", "examples/gaussian_decoder.yaml"}) {
    SCOPED_TRACE(model);
    auto c = compile(model, 8, forced);
    ASSERT_TRUE(c);
    int swapped = 0, sliced = 0, post = 0;
    for (const plan::Step &s : c->code->lowered.plan.train.steps)
      if (s.kind == plan::Step::Matmul && s.swapped)
        ++swapped, sliced += s.split != plan::Step::Whole, post += !s.post.empty();
    EXPECT_GE(swapped, 5);
    EXPECT_GE(sliced, 1);
    EXPECT_GE(post, std::string(model) == "models/mnist_conv.yaml" ? 0 : 1);
    for (int64_t run : {0, 3, 19}) {
      SCOPED_TRACE("run at batch " + std::to_string(run));
      expect_compiled_step_matches(*c, std::string(model) + ", swapped", run, 0.0f);
    }
  }
}
// Products over the data's nonzero entries (plan Step::Sparse), forced:
// mnist_mlp's first layer stored transposed, its forward product (in the
// train and eval programs) and its weight gradient sparse, matching the
// interpreter at the compiled batch and at others, on 1 and 2 threads. A
// batch denser than plan::kSparseShare runs the whole products, and gives
// what the plan without sparse steps gives, up to summation order.
TEST(Codegen, SparseProductsMatchTheInterpreter) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "sparse products need AVX-512";
  CodegenOptions forced;
  forced.force_sparse_data = true;
  auto c = compile("models/mnist_mlp.yaml", 8, forced);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->code->lowered.plan;
  ASSERT_EQ(p.params.at(0).name, "h.w");
  EXPECT_EQ(p.params[0].stored_layout, "blocked:1,400:-");
  for (size_t q = 1; q < p.params.size(); ++q) EXPECT_EQ(p.params[q].stored_layout, "") << p.params[q].name;
  auto sparse_steps = [](const plan::Program &prog) {
    std::vector<size_t> out;
    for (size_t i = 0; i < prog.steps.size(); ++i)
      if (prog.steps[i].kind == plan::Step::Matmul && prog.steps[i].zeros == plan::Step::Sparse) out.push_back(i);
    return out;
  };
  const std::vector<size_t> sparse = sparse_steps(p.train);
  ASSERT_EQ(sparse.size(), 2u);
  EXPECT_EQ(sparse_steps(p.eval).size(), 1u);
  const plan::Step &forward = p.train.steps[sparse[0]], &gradient = p.train.steps[sparse[1]];
  EXPECT_TRUE(!forward.ta && !forward.tb && forward.post == "relu" && forward.bias >= 0 && forward.b == p.params[0].buffer);
  EXPECT_TRUE(gradient.ta && !gradient.tb && gradient.a == p.train.input && gradient.c == p.params[0].grad_buffer &&
              gradient.m == 784 && gradient.n == 400);
  for (int64_t run : {int64_t{0}, int64_t{3}, int64_t{19}}) {
    SCOPED_TRACE("run at batch " + std::to_string(run));
    expect_compiled_step_matches(*c, "models/mnist_mlp.yaml, sparse", run, 0.0f);
  }
  auto whole = compile("models/mnist_mlp.yaml", 8);
  ASSERT_TRUE(whole);
  const plan::Plan &w = whole->code->lowered.plan;
  ASSERT_TRUE(sparse_steps(w.train).empty());
  std::string error;
  const std::vector<uint8_t> images = test::idx_test_images("data/mnist", error);
  ASSERT_FALSE(images.empty()) << error;
  for (int threads : {1, 2}) {
    rt::Executor a(p, c->code->table.data(), threads, 7), b(w, whole->code->table.data(), threads, 7);
    a.init_params(7), b.init_params(7);
    // A dense batch (every pixel lit), then the first test digits.
    std::vector<float> lit(8 * 784);
    for (size_t i = 0; i < lit.size(); ++i) lit[i] = 0.1f + 0.8f * static_cast<float>((i * 37) % 101) / 101.0f;
    const std::vector<float> dense = lit;
    const std::vector<float> digits = test::pixel_rows(images, 0, 8 * 784);
    int64_t runs = 0, on_lists = 0;
    for (const std::vector<float> *rows : {&dense, &digits}) {
      SCOPED_TRACE(std::string(rows == &dense ? "dense" : "digits") + " on " + std::to_string(threads) + " threads");
      std::copy(rows->begin(), rows->end(), a.f32(p.train.input));
      std::copy(rows->begin(), rows->end(), b.f32(w.train.input));
      a.run(p.train, 2), b.run(w.train, 2);
      ++runs, on_lists += rows == &digits;
      EXPECT_EQ(a.sparse_runs(p.train, sparse[0]), std::make_pair(runs, on_lists));
      EXPECT_EQ(a.sparse_runs(p.train, sparse[1]), std::make_pair(runs, on_lists));
      for (size_t q = 0; q < p.params.size(); ++q) {
        const std::vector<float> ga = a.plain_param(q, true), gb = b.plain_param(q, true);
        ASSERT_EQ(ga.size(), gb.size());
        double worst = 0, largest = 1e-30;
        for (size_t i = 0; i < ga.size(); ++i)
          worst = std::max(worst, double(std::fabs(ga[i] - gb[i]))), largest = std::max(largest, double(std::fabs(gb[i])));
        EXPECT_LT(worst / largest, 1e-5) << p.params[q].name;
      }
    }
  }
}
// Products in vaec's own thin loops (plan Step::thin), forced onto every
// product that may be: mnist_conv's latent of 2 read by its decoder's first
// layer (bias and relu; b transposed), its input and weight gradients, and
// mu's and logvar's, at the compiled batch and at others, on 1 and 2 threads.
TEST(Codegen, ThinProductsMatchTheInterpreter) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "thin products need AVX-512";
  CodegenOptions forced;
  forced.force_thin_products = true;
  for (const char *model : {"models/mnist_conv.yaml", "models/mnist_latent2.yaml"}) {
    SCOPED_TRACE(model);
    auto c = compile(model, 8, forced);
    ASSERT_TRUE(c);
    int thin = 0, post = 0;
    for (const plan::Step &s : c->code->lowered.plan.train.steps)
      if (s.kind == plan::Step::Matmul && s.thin) ++thin, post += !s.post.empty();
    EXPECT_GE(thin, 5);
    EXPECT_GE(post, 1);
    // Other batches once: the loops' tails do not depend on the model.
    for (int64_t run : {int64_t{0}, int64_t{3}, int64_t{19}}) {
      if (run > 0 && std::string(model) != "models/mnist_conv.yaml") continue;
      SCOPED_TRACE("run at batch " + std::to_string(run));
      expect_compiled_step_matches(*c, std::string(model) + ", thin", run, 0.0f);
    }
  }
}
// Steps side by side (plan Step::side_by_side) give the bits of the same
// steps one after the other: losses and every gradient, at 2 threads (at
// once) and 1 (in turn), at the compiled batch and another.
TEST(Codegen, SideBySideStepsGiveTheBitsOfOneAfterTheOther) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "own Winograd needs AVX-512";
  auto c = compile_own_winograd(4);
  ASSERT_TRUE(c);
  const plan::Plan &paired = c->code->lowered.plan;
  plan::Plan apart = paired;
  int pairs = 0;
  for (plan::Program *prog : apart.programs())
    for (plan::Step &s : prog->steps) pairs += s.side_by_side, s.side_by_side = false;
  ASSERT_EQ(pairs, 2);
  std::string error;
  const std::vector<uint8_t> images = test::idx_test_images("data/mnist", error);
  ASSERT_FALSE(images.empty()) << error;
  auto results = [&](const plan::Plan &p, int threads, int64_t batch) {
    rt::Executor ex(p, c->code->table.data(), threads, 7, false, {{"train", {batch}}});
    ex.init_params(7);
    const std::vector<float> rows = test::pixel_rows(images, 0, batch * p.train.input_row);
    std::copy(rows.begin(), rows.end(), ex.f32(p.train.input));
    ex.run(p.train, 2, batch);
    std::vector<float> all;
    for (const auto &[name, buf] : p.train.losses) all.push_back(static_cast<float>(ex.scalar(buf)));
    for (size_t q = 0; q < p.params.size(); ++q) {
      const std::vector<float> g = ex.plain_param(q, true);
      all.insert(all.end(), g.begin(), g.end());
    }
    return all;
  };
  for (int64_t batch : {4, 7})
    for (int threads : {1, 2}) {
      const std::vector<float> a = results(paired, threads, batch), b = results(apart, threads, batch);
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
          << "batch " << batch << ", " << threads << " threads";
    }
}
TEST(Codegen, BetaVaeMatchesTheInterpreter) { expect_step_matches("examples/beta_vae.yaml", 3); }
// A plan runs at any batch, smaller or larger than the one it was compiled
// for: `batch` (beta_vae's losses divide by it), a mean over the batch
// (mnist_conv), convolutions in oneDNN's layouts and the gradients' sums
// over the batch follow the run's.
TEST(Codegen, PlansRunAtOtherBatchesAsTheInterpreterSays) {
  for (int64_t run : {3, 11}) {
    SCOPED_TRACE("run at batch " + std::to_string(run));
    expect_step_matches("models/mnist_mlp.yaml", 8, run);
    expect_step_matches("examples/beta_vae.yaml", 8, run);
    expect_step_matches("examples/gaussian_decoder.yaml", 8, run);
  }
  expect_step_matches("models/mnist_conv.yaml", 4, 3);
  expect_step_matches("models/mnist_conv.yaml", 2, 5);
}

TEST(Codegen, SameSeedAndThreadsGiveIdenticalLosses) {
  auto c = compile("models/mnist_mlp.yaml", 16);
  ASSERT_TRUE(c);
  for (int threads : {1, 2}) {
    StepResult a = step_both(*c, threads, 5, 1), b = step_both(*c, threads, 5, 1);
    for (const auto &[name, v] : a.exec_loss) EXPECT_EQ(v, b.exec_loss[name]) << name;
  }
}

// mnist_mlp as compiled for the trainer (batch 128): its weight gradients
// come last, train_step updates its two large weights right after their
// gradients, and three such steps on real images leave parameters and Adam's
// state bit for bit as run() + run_optimizer_if_finite() do, at 1 and 2
// threads. fashion_mlp (batch 512, f32) is not fused: bounding would read more.
TEST(Codegen, TrainStepUpdatesWeightsRightAfterTheirGradientsBitwise) {
  auto c = compile("models/mnist_mlp.yaml", 128);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->code->lowered.plan;
  std::string error;
  const std::vector<uint8_t> images = test::idx_test_images("data/mnist", error);
  ASSERT_FALSE(images.empty()) << error;
  const int64_t bytes = p.train.batch * p.train.input_row;
  auto state = [&](rt::Executor &e) {
    std::vector<float> all;
    for (int r : {p.param_region, p.state_regions[0], p.state_regions[1]})
      all.insert(all.end(), e.f32(r), e.f32(r) + p.param_count);
    return all;
  };
  for (int threads : {1, 2}) {
    rt::Executor fused(p, c->code->table.data(), threads, 3), plain(p, c->code->table.data(), threads, 3);
    EXPECT_TRUE(fused.has_gate(p.train));
    for (rt::Executor *e : {&fused, &plain}) e->init_params(3);
    for (uint64_t step = 1; step <= 3; ++step) {
      const std::vector<float> rows = test::pixel_rows(images, (step - 1) * bytes, bytes);
      for (rt::Executor *e : {&fused, &plain}) std::copy(rows.begin(), rows.end(), e->f32(p.train.input));
      ASSERT_TRUE(fused.train_step(p.train, step, 1e-3));
      plain.run(p.train, step);
      ASSERT_TRUE(plain.run_optimizer_if_finite(step, 1e-3));
      const std::vector<float> a = state(fused), b = state(plain);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "step " << step << ", " << threads << " threads";
    }
  }
  auto fashion = compile("models/fashion_mlp.yaml", 512);
  ASSERT_TRUE(fashion);
  rt::Executor e(fashion->code->lowered.plan, fashion->code->table.data(), 2, 3);
  EXPECT_FALSE(e.has_gate(fashion->code->lowered.plan.train));
}

// place_updates counts bytes: a bf16 product's bound reads 2-byte copies.
// fashion_mlp's two large weight gradients at batch 512 read 512 x 912
// operand elements against Adam's 4 x 100,352 floats an update at the end
// reads again: in f32 that is more (no gate), in bf16 half of it less (both
// weights updated right after their gradients).
TEST(Codegen, Bf16CopiesMakeBoundingCheapEnoughForLateUpdates) {
  CodegenOptions at_end;
  at_end.late_updates = false;
  auto c = compile("models/fashion_mlp.yaml", 512, at_end);
  ASSERT_TRUE(c);
  auto place = [&](bool bf16) {
    plan::Plan p = c->code->lowered.plan;
    ASSERT_EQ(p.train.steps.back().kind, plan::Step::Optimize);
    p.train.steps.pop_back();
    for (plan::Step &s : p.train.steps)
      if (s.kind == plan::Step::Matmul && s.m * s.n >= 100352) s.bf16 = bf16;
    place_updates(p, CodegenOptions{});
    int late = 0;
    for (const plan::Step &s : p.train.steps) late += s.kind == plan::Step::Optimize && !s.all && s.params.size() == 1;
    EXPECT_EQ(late, bf16 ? 2 : 0) << (bf16 ? "bf16" : "f32");
  };
  place(false);
  place(true);
}

// Runs the compiled optimizer of `model` three times with gradients
// grad(k, t) and compares the parameters with `update` applied in f64.
template <class Update>
void expect_optimizer_matches(const std::string &model, double lr, Update update) {
  auto c = compile(model, 1);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->code->lowered.plan;
  rt::Executor ex(p, c->code->table.data(), 2, 1);
  ex.init_params(1);
  const int64_t n = p.param_count;
  float *param = ex.f32(p.param_region), *grad = ex.f32(p.grad_region);
  std::vector<double> want(param, param + n);
  for (uint64_t t = 1; t <= 3; ++t) {
    for (int64_t k = 0; k < n; ++k) grad[k] = static_cast<float>(std::sin(0.001 * k + t));
    ex.run_optimizer(t, lr);
    for (int64_t k = 0; k < n; ++k) want[k] = update(want[k], grad[k], k, t);
  }
  double worst = 0;
  for (int64_t k = 0; k < n; ++k) worst = std::max(worst, std::fabs(param[k] - want[k]));
  EXPECT_LT(worst, 1e-6) << model;
}

TEST(Codegen, AdamUpdateMatchesTheFormula) {
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<double> m, v;
  expect_optimizer_matches("models/mnist_mlp.yaml", lr, [&](double w, double g, int64_t k, uint64_t t) {
    if (m.size() <= static_cast<size_t>(k)) m.resize(k + 1, 0.0), v.resize(k + 1, 0.0);
    m[k] = b1 * m[k] + (1 - b1) * g;
    v[k] = b2 * v[k] + (1 - b2) * g * g;
    double mhat = m[k] / (1 - std::pow(b1, t)), vhat = v[k] / (1 - std::pow(b2, t));
    return w - lr * mhat / (std::sqrt(vhat) + eps);
  });
}

// Keras's RMSprop, as the conv VAE trains: v = rho v + (1 - rho) g^2,
// p -= lr g / (sqrt(v) + eps), with rho 0.9 and eps 1e-7 from the model.
TEST(Codegen, RmspropUpdateMatchesKeras) {
  const double lr = 1e-3, rho = 0.9, eps = 1e-7;
  std::vector<double> v;
  expect_optimizer_matches("models/mnist_conv.yaml", lr, [&](double w, double g, int64_t k, uint64_t) {
    if (v.size() <= static_cast<size_t>(k)) v.resize(k + 1, 0.0);
    v[k] = rho * v[k] + (1 - rho) * g * g;
    return w - lr * g / (std::sqrt(v[k]) + eps);
  });
}

TEST(Codegen, MemoryPlanReusesBytesAndKeepsLiveBuffersApart) {
  auto c = compile("models/mnist_mlp.yaml", 128);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->code->lowered.plan;
  // Parameters, gradients and state are contiguous regions in parameter
  // order, each parameter on the next 64-byte line.
  int64_t offset = p.buffers[p.param_region].offset;
  for (const plan::Param &q : p.params) {
    offset = (offset + 63) / 64 * 64;
    EXPECT_EQ(p.buffers[q.buffer].offset, offset) << q.name;
    EXPECT_EQ(p.buffers[q.grad_buffer].offset - p.buffers[p.grad_region].offset,
              offset - p.buffers[p.param_region].offset);
    offset += p.buffers[q.buffer].elements * 4;
  }
  EXPECT_EQ(p.param_count * 4, offset - p.buffers[p.param_region].offset);
  EXPECT_EQ(plan::parameter_elements(p), 652824);
  EXPECT_EQ(p.param_count, 652848);  // 24 floats of padding
  // Without reuse the temporaries would need more than the arena holds.
  EXPECT_NE(c->code->lowered.memory_report.find("temporaries without reuse"), std::string::npos);
  EXPECT_LT(p.arena_bytes, 20 << 20);
}


// AdamW's kernel is PyTorch's step: p <- p (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps),
// with the runtime's hyper values {lr / (1 - b1^t), 1 / sqrt(1 - b2^t), 1 - lr wd}.
TEST(OptimizerKernel, AdamWDecaysThenSteps) {
  Graph g;
  g.config = {{"optimizer", std::string("adamw")}, {"lr", 1e-2}, {"beta1", 0.9}, {"beta2", 0.999},
              {"eps", 1e-8}, {"weight_decay", 0.1}};
  int hyper = 0, state = 0;
  const FusedKernel k = build_optimizer_kernel(g, 4, hyper, state);
  ASSERT_EQ(hyper, 3);
  ASSERT_EQ(state, 2);
  std::vector<float> p = {1.0f, -2.0f, 0.5f, 0.0f}, grad = {0.3f, -0.1f, 0.0f, 2.0f}, m(4, 0.0f), v(4, 0.0f);
  const std::vector<float> p0 = p;
  const double lr = 1e-2, wd = 0.1, b1 = 0.9, b2 = 0.999, t = 1;
  float h0 = float(lr / (1 - std::pow(b1, t))), h1 = float(1 / std::sqrt(1 - std::pow(b2, t))), h2 = float(1 - lr * wd);
  void *buffers[] = {p.data(), grad.data(), &h0, &h1, &h2, m.data(), v.data()};
  run_kernel_reference(k, buffers, 0, 4, nullptr);
  for (int i = 0; i < 4; ++i) {
    const double mm = (1 - b1) * grad[i], vv = (1 - b2) * double(grad[i]) * grad[i];
    const double want = p0[i] * (1 - lr * wd) - lr * (mm / (1 - b1)) / (std::sqrt(vv / (1 - b2)) + 1e-8);
    EXPECT_NEAR(p[i], want, 1e-6) << i;
  }
}
