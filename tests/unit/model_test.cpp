// The front end on whole models: parameter counts of the seed models, shapes
// and paddings, training settings, locations carried into the IR.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

using namespace vaec;
using namespace vaec::test;

namespace {

const Node &node(const Graph &g, const std::string &name) {
  for (const Node &n : g.nodes)
    if (n.name == name) return n;
  ADD_FAILURE() << "no node %" << name;
  static Node none;
  return none;
}

int64_t params_in(const Model &m, const std::string &section) {
  int64_t n = 0;
  for (const Node &x : m.graph.nodes)
    if (x.op == Op::Param && x.section == section) n += checked_elements(x.dims);
  return n;
}

}  // namespace

TEST(SeedModels, ParameterCountsMatchTheArticles) {
  auto mlp = load(read_source_file("models/mnist_mlp.yaml"), "models/mnist_mlp.yaml");
  ASSERT_TRUE(mlp.model) << mlp.errors;
  EXPECT_EQ(mlp.model->graph.param_count(), 652824);  // PyTorch examples VAE
  auto conv = load(read_source_file("models/mnist_conv.yaml"), "models/mnist_conv.yaml");
  ASSERT_TRUE(conv.model) << conv.errors;
  EXPECT_EQ(conv.model->graph.param_count(), 550629);  // Keras summary, Deep Learning with Python
  EXPECT_EQ(params_in(*conv.model, "decoder"), 56385);
  auto fashion = load(read_source_file("models/fashion_mlp.yaml"), "models/fashion_mlp.yaml");
  ASSERT_TRUE(fashion.model) << fashion.errors;
  EXPECT_EQ(fashion.model->graph.param_count(), 205604);
  EXPECT_EQ(mlp.errors, "");  // no warnings either
}

TEST(SeedModels, ConvShapesAndKerasPadding) {
  auto conv = load(read_source_file("models/mnist_conv.yaml"), "models/mnist_conv.yaml");
  ASSERT_TRUE(conv.model);
  const Graph &g = conv.model->graph;
  EXPECT_EQ(g.batch(), 16);
  EXPECT_EQ(node(g, "c1").dims, (Dims{16, 32, 28, 28}));
  EXPECT_EQ(node(g, "c2").dims, (Dims{16, 64, 14, 14}));
  EXPECT_EQ(node(g, "d2").dims, (Dims{16, 32, 28, 28}));
  EXPECT_EQ(node(g, "x_hat").dims, (Dims{16, 1, 28, 28}));
  // Stride-2 'same' pads bottom/right only, as TensorFlow does.
  const Node &c2 = g.nodes[node(g, "c2").operands[0]];
  EXPECT_EQ(c2.op, Op::Conv2d);
  EXPECT_EQ(std::get<std::vector<int64_t>>(*c2.attr("pad")), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(node(g, "c2.w").dims, (Dims{64, 32, 3, 3}));
  // Transposed conv weight is [in, out, kh, kw] as in PyTorch. The model asks
  // for Keras's initialisation: glorot_uniform over (in + out) * kh * kw, and
  // zero biases.
  const Node &w = node(g, "d2.w");
  EXPECT_EQ(w.dims, (Dims{64, 32, 3, 3}));
  EXPECT_DOUBLE_EQ(std::get<double>(*w.attr("bound")), std::sqrt(6.0 / ((64.0 + 32.0) * 9)));
  EXPECT_EQ(std::get<double>(*node(g, "d2.b").attr("bound")), 0.0);
  EXPECT_DOUBLE_EQ(std::get<double>(*node(g, "h.w").attr("bound")), std::sqrt(6.0 / (12544.0 + 32)));
}

TEST(SeedModels, LocationsPointAtTheYaml) {
  auto mlp = load(read_source_file("models/mnist_mlp.yaml"), "models/mnist_mlp.yaml");
  ASSERT_TRUE(mlp.model);
  const Graph &g = mlp.model->graph;
  // "  z: mu + exp(0.5 * logvar) * normal_like(mu)" is line 10.
  EXPECT_EQ(node(g, "z").loc, (Loc{"models/mnist_mlp.yaml", 10, 9}));  // the '+'
  EXPECT_EQ(node(g, "z").section, "sampler");
  EXPECT_EQ(node(g, "h").op, Op::Relu);
  EXPECT_EQ(node(g, "h").loc.col, 29);  // relu in act=relu
  std::vector<std::string> outs;
  for (const auto &[name, idx] : g.outputs) outs.push_back(name);
  EXPECT_EQ(outs, (std::vector<std::string>{"recon", "kl", "total"}));
}

TEST(Frontend, TrainDefaultsAndOverrides) {
  auto m = load(tiny_model() + "train: {optimizer: rmsprop, batch: 7}\n");
  ASSERT_TRUE(m.model) << m.errors;
  const Graph &g = m.model->graph;
  EXPECT_EQ(g.batch(), 7);
  EXPECT_EQ(std::get<std::string>(*g.config_value("optimizer")), "rmsprop");
  EXPECT_DOUBLE_EQ(std::get<double>(*g.config_value("eps")), 1e-7);  // Keras default
  EXPECT_DOUBLE_EQ(std::get<double>(*g.config_value("rho")), 0.9);
  SourceManager sm;
  Diagnostics d(&sm);
  auto o = load_model("t.yaml", tiny_model(), d, LoadOptions{32});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->graph.batch(), 32);
  EXPECT_EQ(node(o->graph, "x").dims, (Dims{32, 4}));
}

// `batch` is the run's batch: batch_size() in the IR, read at run time; a
// number computed from it is that expression over batch_size(). It cannot
// size a layer.
TEST(Frontend, NumbersFoldAndBatchIsAName) {
  auto m = load(tiny_model("  big: dense(mu, 2 * 3 + 1)\n  s: big / (2 * batch)\n",
                           "  total: sum(y) + sum(s)\n"));
  ASSERT_TRUE(m.model) << m.errors;
  EXPECT_EQ(node(m.model->graph, "big").dims, (Dims{128, 7}));
  const Graph &g = m.model->graph;
  const Node &s = node(g, "s");
  EXPECT_EQ(s.op, Op::Div);
  const Node &twice = g.nodes[s.operands[1]];
  ASSERT_EQ(twice.op, Op::Mul);
  EXPECT_EQ(std::get<double>(*g.nodes[twice.operands[0]].attr("value")), 2.0);
  EXPECT_EQ(g.nodes[twice.operands[1]].op, Op::BatchSize);
  auto bad = load(tiny_model("  big: dense(mu, batch)\n"));
  EXPECT_FALSE(bad.model);
  EXPECT_NE(bad.errors.find("units of dense cannot depend on 'batch'"), std::string::npos) << bad.errors;
}

TEST(Frontend, ReshapeInfersMinusOneAndForwardReferencesWork) {
  auto m = load("input: {x: [1, 4, 4]}\nencoder:\n  mu: dense(f, 2)\n  f: flatten(x)\n"
                "decoder:\n  y: reshape(dense(mu, 16), [1, -1, 4])\nlosses:\n  total: mean(bce(y, x))\n");
  ASSERT_TRUE(m.model) << m.errors;
  EXPECT_EQ(node(m.model->graph, "y").dims, (Dims{128, 1, 4, 4}));
  EXPECT_EQ(node(m.model->graph, "f").dims, (Dims{128, 16}));
}

TEST(Frontend, AllErrorsOfAFileAreReportedTogether) {
  auto m = load(tiny_model("  a: dense(mu, 0)\n  b: sigmod(mu)\n  c: mu + q\n"));
  EXPECT_FALSE(m.model);
  EXPECT_NE(m.errors.find("t.yaml:4:16: error: units of dense must be between 1 and"), std::string::npos) << m.errors;
  EXPECT_NE(m.errors.find("t.yaml:5:6: error: unknown function 'sigmod'; did you mean 'sigmoid'?"), std::string::npos)
      << m.errors;
  EXPECT_NE(m.errors.find("t.yaml:6:11: error: undefined tensor 'q'\n"), std::string::npos) << m.errors;
}

TEST(Frontend, UnusedTensorIsAWarningNotAnError) {
  auto m = load(tiny_model("  spare: dense(x, 3)\n"));
  ASSERT_TRUE(m.model) << m.errors;
  EXPECT_NE(m.errors.find("warning: tensor 'spare' does not contribute to any loss"), std::string::npos);
}
