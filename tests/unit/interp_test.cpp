// The reference interpreter against numbers worked out by hand on a tiny
// model, through the raw graph and through the optimized training graph.
#include <gtest/gtest.h>

#include <cmath>

#include "interp/interpreter.h"
#include "passes/pipeline.h"
#include "test_util.h"

using namespace vaec;

namespace {

// batch 1, x = [1, 0]; mu = 0.5*1 - 0.25*0 + 0.1 = 0.6; logvar = 0.2*1 + 0.3*0 - 0.2 = 0;
// eps = 0.5 so z = 0.6 + exp(0) * 0.5 = 1.1; decoder logits [1.1, -1.1 + 0.1] = [1.1, -1.0].
// recon = -log(sigmoid(1.1)) - log(1 - sigmoid(-1.0)) = log(1 + e^-1.1) + log(1 + e^-1)
//       = 0.2873353... + 0.3132617... = 0.6005970126336535
// kl = -0.5 * (1 + 0 - 0.36 - e^0) = 0.18
const char *kTiny = R"(model: tiny
input: {x: [2]}
encoder:
  mu:     dense(x, 1)
  logvar: dense(x, 1)
sampler:
  z: mu + exp(0.5 * logvar) * normal_like(mu)
decoder:
  y: sigmoid(dense(z, 2))
losses:
  recon: sum(bce(y, x))
  kl:    -0.5 * sum(1 + logvar - mu^2 - exp(logvar))
  total: recon + kl
train: {batch: 1}
)";

Bindings tiny_bindings(const Graph &g) {
  Bindings b;
  b.values["x"] = {{1, 2}, {1.0, 0.0}};
  b.values["mu.w"] = {{1, 2}, {0.5, -0.25}};
  b.values["mu.b"] = {{1}, {0.1}};
  b.values["logvar.w"] = {{1, 2}, {0.2, 0.3}};
  b.values["logvar.b"] = {{1}, {-0.2}};
  b.values["y.w"] = {{2, 1}, {1.0, -1.0}};
  b.values["y.b"] = {{2}, {0.0, 0.1}};
  for (const Node &n : g.nodes)
    if (n.op == Op::Normal) b.values[n.name] = {n.dims, {0.5}};
  return b;
}

double output(const Graph &g, const std::vector<Tensor> &v, const std::string &name) {
  for (const auto &[n, idx] : g.outputs)
    if (n == name) return v[idx].data.at(0);
  ADD_FAILURE() << "no output " << name;
  return NAN;
}

}  // namespace

TEST(Interpreter, TinyModelMatchesHandComputation) {
  auto m = test::load(kTiny);
  ASSERT_TRUE(m.model) << m.errors;
  const Graph &g = m.model->graph;
  std::string error;
  auto v = interpret(g, tiny_bindings(g), error);
  ASSERT_TRUE(v) << error;
  EXPECT_NEAR(output(g, *v, "recon"), 0.6005970126336535, 1e-14);
  EXPECT_NEAR(output(g, *v, "kl"), 0.18, 1e-15);
  EXPECT_NEAR(output(g, *v, "total"), 0.7805970126336534, 1e-14);
  // The optimized training graph (bce_logits, reused exp) computes the same.
  Graph train = run_pipeline(g, PipelineOptions{});
  auto t = interpret(train, tiny_bindings(train), error);
  ASSERT_TRUE(t) << error;
  EXPECT_NEAR(output(train, *t, "total"), 0.7805970126336534, 1e-14);
  // d total / d mu.b = d recon/dz * dz/dmu + d kl/dmu, by hand:
  // d recon / d logits = sigmoid(logits) - x = [0.7502601 - 1, 0.2689414 - 0]
  // d recon / dz = -0.2497399 * 1 + 0.2689414 * (-1) = -0.5186813; d kl / dmu = mu = 0.6
  double s1 = 1 / (1 + std::exp(-1.1)), s2 = 1 / (1 + std::exp(1.0));
  EXPECT_NEAR(output(train, *t, "d.mu.b"), (s1 - 1) - s2 + 0.6, 1e-14);
}

TEST(Interpreter, ReportsMissingInputsAndWrongShapes) {
  auto m = test::load(kTiny);
  ASSERT_TRUE(m.model);
  std::string error;
  EXPECT_FALSE(interpret(m.model->graph, Bindings{}, error));
  EXPECT_EQ(error, "no data bound to input %x");
  Bindings b = tiny_bindings(m.model->graph);
  b.values["mu.b"] = {{2}, {0.0, 0.0}};
  EXPECT_FALSE(interpret(m.model->graph, b, error));
  EXPECT_EQ(error, "value bound to %mu.b has the wrong shape");
}

TEST(Interpreter, SameSeedSameDraws) {
  auto m = test::load(test::read_source_file("models/mnist_mlp.yaml"));
  ASSERT_TRUE(m.model);
  const Node *normal = nullptr;
  for (const Node &n : m.model->graph.nodes)
    if (n.op == Op::Normal) normal = &n;
  ASSERT_TRUE(normal);
  EXPECT_EQ(noise_value(*normal, 7).data, noise_value(*normal, 7).data);
  EXPECT_NE(noise_value(*normal, 7).data, noise_value(*normal, 8).data);
  double mean = 0;
  for (double v : noise_value(*normal, 7).data) mean += v;
  EXPECT_NEAR(mean / 2560, 0.0, 0.1);
}
