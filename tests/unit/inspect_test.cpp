// The inspection programs against the f64 interpreter: the -ELBO the
// trainer's `eval` reports (runtime/inspect/model_parts.h: encode, the eval
// noise, nll, the analytic KL) equals the interpreter's on the same graphs,
// images, parameters and noise, and, for a model whose `total` is the -ELBO,
// the interpreter's value of the model's own eval graph. Also: the plan text
// with inspection programs round-trips.
#include <gtest/gtest.h>

#include <cmath>

#include "codegen/jit.h"
#include "codegen/pipeline.h"
#include "exec/executor.h"
#include "interp/interpreter.h"
#include "inspect/model_parts.h"
#include "passes/inspection_graphs.h"
#include "passes/pipeline.h"
#include "abi/philox.h"
#include "test_util.h"

using namespace vaec;

namespace {

struct Compiled {
  Graph train, eval;
  InspectionGraphs parts;
  LoweredModel lowered;
  std::unique_ptr<KernelJit> jit;
  std::vector<vaec_kernel_entry> table;
};

std::unique_ptr<Compiled> compile(const std::string &path, int64_t batch) {
  std::string text = test::read_source_file(path);
  SourceManager sm;
  Diagnostics d(&sm);
  auto m = load_model(path, text, d, LoadOptions{batch});
  if (!m) return nullptr;
  auto c = std::make_unique<Compiled>();
  c->train = run_pipeline(m->graph, PipelineOptions{});
  PipelineOptions forward;
  forward.stop_after = "forward";
  c->eval = run_pipeline(m->graph, forward);
  c->parts = inspection_graphs(m->graph);
  std::vector<InspectionProgram> programs;
  for (auto [name, g] : {std::pair{"encode", &c->parts.encode}, {"decode", &c->parts.decode}, {"nll", &c->parts.nll}}) {
    if (g->nodes.empty()) return nullptr;
    *g = run_pipeline(*g, forward);
    programs.push_back({name, g, c->parts.latent});
  }
  c->lowered = run_codegen(c->train, c->eval, {{"recon", "sum"}, {"kl", "sum"}, {"total", "sum"}}, programs, CodegenOptions{});
  c->lowered.plan.recon = c->parts.recon;
  std::string error;
  c->jit = KernelJit::create(c->lowered.kernels, error);
  EXPECT_TRUE(c->jit) << error;
  if (!c->jit) return nullptr;
  for (const FusedKernel &k : c->lowered.kernels) c->table.push_back({k.name.c_str(), c->jit->lookup(k.name)});
  c->table.push_back({nullptr, nullptr});
  return c;
}

// Binds inputs (by name) and the executor's parameters for interpreting `g`.
Bindings bind(const Graph &g, const plan::Plan &p, rt::Executor &ex, const std::map<std::string, Tensor> &inputs) {
  Bindings b;
  for (const Node &n : g.nodes) {
    if (n.op == Op::Input) b.values[n.name] = inputs.at(n.name);
    if (n.op != Op::Param) continue;
    for (size_t qi = 0; qi < p.params.size(); ++qi)
      if (p.params[qi].name == n.name) {
        Tensor t{n.dims, std::vector<double>(checked_elements(n.dims))};
        const std::vector<float> w = ex.plain_param(qi);
        for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = w[k];
        b.values[n.name] = t;
      }
  }
  return b;
}

const Tensor &output(const Graph &g, const std::vector<Tensor> &values, const std::string &name) {
  for (const auto &[n, idx] : g.outputs)
    if (n == name) return values[idx];
  throw std::runtime_error("no output " + name);
}

void expect_elbo_matches(const std::string &path, bool total_is_elbo) {
  constexpr int64_t kBatch = 6;
  constexpr uint64_t kSeed = 17;
  auto c = compile(path, kBatch);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->lowered.plan;
  rt::Executor ex(p, c->table.data(), 2, kSeed);
  ex.init_params(kSeed);
  std::string error;
  const std::vector<uint8_t> images = test::idx_test_images("data/mnist", error);
  ASSERT_FALSE(images.empty()) << error;
  const int64_t row = p.encode.input_row;
  const std::vector<float> rows = test::pixel_rows(images, 0, kBatch * row);
  rt::ModelParts parts(p, ex);
  const rt::ModelParts::Elbo got = parts.elbo(rows.data(), kBatch, kSeed);

  // The interpreter: encode, z = loc + scale * eps with the eval noise, nll, KL.
  const Node *xn = nullptr;
  for (const Node &n : c->parts.encode.nodes)
    if (n.op == Op::Input) xn = &n;
  Tensor x{xn->dims, std::vector<double>(kBatch * row)};
  for (int64_t k = 0; k < kBatch * row; ++k) x.data[k] = rows[k];
  auto enc = interpret(c->parts.encode, bind(c->parts.encode, p, ex, {{xn->name, x}}), error);
  ASSERT_TRUE(enc) << error;
  const Tensor &loc = output(c->parts.encode, *enc, "z_loc"), &scale = output(c->parts.encode, *enc, "z_scale");
  Tensor z{loc.dims, std::vector<double>(loc.data.size())};
  for (size_t k = 0; k < z.data.size(); ++k)
    z.data[k] = loc.data[k] + scale.data[k] * philox_normal(kSeed, rt::kEvalStepBase, 0, k);
  auto nll = interpret(c->parts.nll, bind(c->parts.nll, p, ex, {{xn->name, x}, {c->parts.latent, z}}), error);
  ASSERT_TRUE(nll) << error;
  const Tensor &want_nll = output(c->parts.nll, *nll, "nll");
  const int64_t L = loc.dims[1];
  double want_total = 0;
  for (int64_t e = 0; e < kBatch; ++e) {
    double kl = 0;
    for (int64_t j = 0; j < L; ++j) {
      const double m = loc.data[e * L + j], s = scale.data[e * L + j];
      kl += 0.5 * (m * m + s * s - 1) - std::log(s);
    }
    const double recon = -parts.log_likelihood(want_nll.data[e]);
    EXPECT_NEAR(got.recon[e], recon, 1e-5 * std::fabs(recon)) << path << " example " << e;
    EXPECT_NEAR(got.kl[e], kl, 1e-4 * std::max(1.0, kl)) << path << " example " << e;
    want_total += recon + kl;
  }
  if (!total_is_elbo) return;
  // The model's own eval graph, interpreted with the same noise: its total
  // (summed over the batch) is the -ELBO.
  Bindings b = bind(c->eval, p, ex, {{xn->name, x}});
  for (const Node &n : c->eval.nodes)
    if (n.op == Op::Normal) {
      Tensor t{n.dims, std::vector<double>(checked_elements(n.dims))};
      for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = philox_normal(kSeed, rt::kEvalStepBase, 0, k);
      b.values[n.name] = t;
    }
  auto ev = interpret(c->eval, b, error);
  ASSERT_TRUE(ev) << error;
  EXPECT_NEAR(output(c->eval, *ev, "total").data[0], want_total, 1e-9 * want_total);
}

TEST(Inspect, MlpElboMatchesTheInterpreter) { expect_elbo_matches("models/mnist_mlp.yaml", true); }
TEST(Inspect, GaussianDecoderElboMatchesTheInterpreter) { expect_elbo_matches("examples/gaussian_decoder.yaml", false); }

TEST(Inspect, DecodeMatchesTheInterpreter) {
  auto c = compile("models/mnist_latent2.yaml", 5);
  ASSERT_TRUE(c);
  const plan::Plan &p = c->lowered.plan;
  rt::Executor ex(p, c->table.data(), 2, 3);
  ex.init_params(3);
  rt::ModelParts parts(p, ex);
  std::vector<float> z(7 * 2);  // more than one batch: the last is padded
  for (size_t k = 0; k < z.size(); ++k) z[k] = static_cast<float>(philox_normal(1, 0, 0, k));
  const rt::Rows got = parts.decode(z.data(), 7);
  ASSERT_EQ(got.row, 784);
  std::string error;
  for (int64_t first = 0; first < 7; first += 5) {
    Tensor zt{{5, 2}, std::vector<double>(10)};
    for (int64_t k = 0; k < 10; ++k) zt.data[k] = z[std::min<int64_t>(first * 2 + k, 13)];
    auto v = interpret(c->parts.decode, bind(c->parts.decode, p, ex, {{c->parts.latent, zt}}), error);
    ASSERT_TRUE(v) << error;
    const Tensor &mean = output(c->parts.decode, *v, "mean");
    for (int64_t e = 0; e < std::min<int64_t>(5, 7 - first); ++e)
      for (int64_t k = 0; k < 784; ++k) ASSERT_NEAR(got.at(first + e)[k], mean.data[e * 784 + k], 1e-5);
  }
}

TEST(Inspect, PlanWithInspectionProgramsRoundTrips) {
  auto c = compile("models/mnist_mlp.yaml", 4);
  ASSERT_TRUE(c);
  const std::string text = plan::format_plan(c->lowered.plan);
  plan::Plan back;
  std::string error;
  ASSERT_TRUE(plan::parse_plan(text, back, error)) << error;
  EXPECT_EQ(plan::format_plan(back), text);
  EXPECT_TRUE(back.decode.present());
  EXPECT_EQ(back.decode.latent_row, 20);
  ASSERT_NE(back.encode.output("z_scale"), nullptr);
  EXPECT_EQ(back.encode.output("z_scale")->row, 20);
  EXPECT_EQ(back.recon, "bce");
  // An output whose buffer does not exist, and an output outside a program.
  std::string bad = text;
  bad.replace(bad.find("output mean "), 12, "output mean 99999 ");
  EXPECT_FALSE(plan::parse_plan(bad, back, error));
  EXPECT_NE(error.find("output mean"), std::string::npos) << error;
  plan::Plan again;
  EXPECT_FALSE(plan::parse_plan("output mean 1 784\n" + text, again, error));
  EXPECT_NE(error.find("step outside a program"), std::string::npos) << error;
}

}  // namespace
