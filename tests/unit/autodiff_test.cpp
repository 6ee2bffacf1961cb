// Differentiation: every op of the table has a row in the rule table, every
// gradient rule agrees with finite differences on the f64 interpreter at
// several points, with broadcasting, odd sizes, strides and paddings, and the
// gradients of the bundled image models agree at real images.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include "autodiff/differentiate.h"
#include "autodiff/gradcheck.h"
#include "autodiff/rules.h"
#include "interp/interpreter.h"
#include "ir/builder.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"
#include "test_util.h"

using namespace vaec;

TEST(RuleTable, EveryOpHasARow) {
  for (const OpInfo &info : all_ops()) {
    const OpRule *r = op_rule(info.op);
    ASSERT_NE(r, nullptr) << "op '" << info.name << "' has no row in autodiff/rules.cpp";
    if (!r->grad) {
      EXPECT_TRUE(r->no_gradient_reason && *r->no_gradient_reason) << info.name << ": no gradient and no reason";
      // Only sources, the piecewise-constant step and the random dropout
      // mask (a function of noise only) may lack a gradient.
      EXPECT_TRUE(info.kind == OpKind::Source || info.op == Op::Step || info.op == Op::DropoutMask)
          << "op '" << info.name << "' has no gradient rule";
    }
  }
}

namespace {

// A one-op test graph: each operand a parameter with given values, the loss
// sum(op(...) * r) with r a fixed random input, so every output element of the
// op gets a different weight in the loss.
struct OpCase {
  Op op;
  std::vector<Tensor> operands;  // values of the parameters
  Attrs attrs = {};
  Dims declared = {};            // for ops whose type is declared
  std::vector<bool> differentiable = {};  // per operand; default all
};

std::string check_case(const OpCase &c, uint64_t seed = 3) {
  Graph g;
  g.name = "op";
  g.config = {{"batch", int64_t{1}}};
  Builder b(g);
  b.section = "encoder";
  b.loc = Loc{"case", 1, 1};
  Bindings bind;
  std::vector<int> ins;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    bool diff = c.differentiable.empty() || c.differentiable[i];
    Op src = diff ? Op::Param : Op::Input;
    Attrs a = diff ? Attrs{{"init", std::string("uniform")}, {"bound", 1.0}} : Attrs{};
    int n = b.emit(src, {}, a, &c.operands[i].dims, "p" + std::to_string(i));
    bind.values[g.nodes[n].name] = c.operands[i];
    ins.push_back(n);
  }
  int y = b.emit(c.op, ins, c.attrs, c.declared.empty() && !has_declared_type(c.op) ? nullptr : &c.declared);
  Dims ydims = g.nodes[y].dims;
  int r = b.emit(Op::Input, {}, {}, &ydims, "r");
  Tensor rt{ydims, {}};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t k = 0; k < checked_elements(ydims); ++k) rt.data.push_back(u(rng));
  bind.values["r"] = rt;
  std::vector<int64_t> all;
  for (size_t k = 0; k < ydims.size(); ++k) all.push_back(static_cast<int64_t>(k));
  b.section = "losses";
  int total = b.sum(b.mul(y, r), all);
  g.outputs.emplace_back("total", total);
  Diagnostics d;
  EXPECT_TRUE(verify_graph(g, d));
  Graph train = run_pipeline(g, PipelineOptions{});
  GradcheckOptions o;
  o.samples = 1000;  // every element
  o.tolerance = 1e-6;
  std::ostringstream report;
  GradcheckResult res = gradcheck(g, train, bind, o, report);
  if (!res.error.empty()) return "could not run: " + res.error;
  return res.passed ? "" : report.str();
}

Tensor values(Dims dims, std::vector<double> v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), checked_elements(dims));
  return Tensor{std::move(dims), std::move(v)};
}

Tensor random(Dims dims, double lo, double hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor t{dims, {}};
  for (int64_t k = 0; k < checked_elements(dims); ++k) t.data.push_back(u(rng));
  return t;
}

Attrs conv_attrs(std::vector<int64_t> stride, std::vector<int64_t> pad) {
  return {{"stride", stride}, {"pad", pad}};
}

}  // namespace

TEST(Gradients, UnaryOpsAtSeveralPointsIncludingZero) {
  const std::vector<double> everywhere = {-2.5, -0.7, 0.0, 0.3, 1.9};
  EXPECT_EQ(check_case({Op::Neg, {values({5}, everywhere)}}), "");
  EXPECT_EQ(check_case({Op::Exp, {values({5}, everywhere)}}), "");
  EXPECT_EQ(check_case({Op::Sigmoid, {values({5}, everywhere)}}), "");
  EXPECT_EQ(check_case({Op::Tanh, {values({5}, everywhere)}}), "");
  EXPECT_EQ(check_case({Op::Softplus, {values({5}, everywhere)}}), "");
  // Defined for positive inputs only; relu is not differentiable at 0.
  EXPECT_EQ(check_case({Op::Log, {values({4}, {0.05, 0.5, 1.0, 7.0})}}), "");
  EXPECT_EQ(check_case({Op::Sqrt, {values({4}, {0.05, 0.5, 1.0, 7.0})}}), "");
  EXPECT_EQ(check_case({Op::Relu, {values({4}, {-2.0, -0.1, 0.2, 3.0})}}), "");
  EXPECT_EQ(check_case({Op::Abs, {values({4}, {-2.0, -0.1, 0.2, 3.0})}}), "");  // not at the kink
}

TEST(Gradients, MaximumMinimumAndLeakyRelu) {
  // Away from ties and kinks, with broadcasting on either side.
  Tensor a = values({2, 3}, {-2.0, -0.4, 0.3, 1.2, -1.1, 2.5}), b = values({2, 3}, {-1.0, 0.6, -0.2, 1.9, -1.6, 0.4});
  Tensor row = values({3}, {0.1, -0.5, 1.0}), slope = values({}, {0.2});
  for (Op op : {Op::Maximum, Op::Minimum}) {
    EXPECT_EQ(check_case({op, {a, b}}), "") << op_name(op);
    EXPECT_EQ(check_case({op, {a, row}}), "") << op_name(op) << " [2,3] with [3]";
  }
  EXPECT_EQ(check_case({Op::LeakyRelu, {a, slope}}), "");         // the slope learns too
  EXPECT_EQ(check_case({Op::LeakyRelu, {a, values({3}, {0.01, 0.2, 0.3})}}), "");
}

TEST(Gradients, BinaryOpsWithBroadcasting) {
  Tensor a = random({3, 4}, -2, 2, 1), b = random({3, 4}, -2, 2, 2);
  Tensor row = random({4}, -2, 2, 3), scalar = values({}, {0.7}), col = random({3, 1}, -2, 2, 4);
  for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Mse}) {
    EXPECT_EQ(check_case({op, {a, b}}), "") << op_name(op);
    EXPECT_EQ(check_case({op, {a, row}}), "") << op_name(op) << " [3,4] with [4]";
    EXPECT_EQ(check_case({op, {scalar, a}}), "") << op_name(op) << " [] with [3,4]";
    EXPECT_EQ(check_case({op, {col, row}}), "") << op_name(op) << " [3,1] with [4]";
  }
  // train_value(t, e): training's value t, so the gradient flows to t only.
  EXPECT_EQ(check_case({Op::TrainValue, {a, row}}), "");
  EXPECT_EQ(check_case({Op::TrainValue, {a, b}, {}, {}, {true, false}}), "");
  Tensor away_from_zero = random({3, 4}, 0.5, 2, 5);
  EXPECT_EQ(check_case({Op::Div, {a, away_from_zero}}), "");
  EXPECT_EQ(check_case({Op::Div, {row, away_from_zero}}), "");
  // pow: positive base; exponents below, at and above 1, and broadcast.
  Tensor base = random({3, 4}, 0.3, 2, 6);
  EXPECT_EQ(check_case({Op::Pow, {base, random({3, 4}, -1.5, 2.5, 7)}}), "");
  EXPECT_EQ(check_case({Op::Pow, {base, values({}, {2.0})}}), "");
  EXPECT_EQ(check_case({Op::Pow, {base, values({}, {1.0})}}), "");
  EXPECT_EQ(check_case({Op::Pow, {base, values({}, {-1.0})}}), "");
}

TEST(Gradients, LossOps) {
  // bce(p, x): p inside (0, 1); targets at 0, 1 and in between.
  Tensor p = values({2, 3}, {0.05, 0.3, 0.5, 0.7, 0.95, 0.6});
  Tensor x = values({2, 3}, {0.0, 1.0, 0.25, 1.0, 0.0, 0.5});
  EXPECT_EQ(check_case({Op::Bce, {p, x}}), "");
  EXPECT_EQ(check_case({Op::Bce, {p, x}, {}, {}, {true, false}}), "");  // data target
  // bce_logits at 0 and both signs, large magnitudes included.
  Tensor l = values({2, 3}, {0.0, -3.0, 2.5, 12.0, -9.0, 0.4});
  EXPECT_EQ(check_case({Op::BceLogits, {l, x}}), "");
  EXPECT_EQ(check_case({Op::Mse, {l, x}}), "");
}

TEST(Gradients, ReductionsAndDataMovement) {
  Tensor t = random({2, 3, 4}, -1, 1, 8);
  for (Op op : {Op::Sum, Op::Mean})
    for (std::vector<int64_t> axes : {std::vector<int64_t>{0}, {1}, {2}, {0, 2}, {0, 1, 2}})
      EXPECT_EQ(check_case({op, {t}, {{"axes", axes}}}), "") << op_name(op) << " axes " << dims_str(axes);
  // max/min: random values have no ties; the tie case shares dy evenly.
  for (Op op : {Op::Max, Op::Min})
    for (std::vector<int64_t> axes : {std::vector<int64_t>{1}, {2}, {0, 2}, {0, 1, 2}})
      EXPECT_EQ(check_case({op, {t}, {{"axes", axes}}}), "") << op_name(op) << " axes " << dims_str(axes);
  EXPECT_EQ(check_case({Op::Slice, {t}, {{"axis", int64_t{2}}, {"start", int64_t{1}}}, {2, 3, 2}}), "");
  EXPECT_EQ(check_case({Op::Slice, {t}, {{"axis", int64_t{1}}, {"start", int64_t{2}}}, {2, 1, 4}}), "");
  EXPECT_EQ(check_case({Op::Pad, {t}, {{"axis", int64_t{1}}, {"before", int64_t{2}}}, {2, 6, 4}}), "");
  EXPECT_EQ(check_case({Op::Pad, {t}, {{"axis", int64_t{2}}, {"before", int64_t{0}}}, {2, 3, 7}}), "");
  EXPECT_EQ(check_case({Op::Reshape, {t}, {}, {4, 6}}), "");
  EXPECT_EQ(check_case({Op::Expand, {random({2, 4}, -1, 1, 9)}, {{"axes", std::vector<int64_t>{1}}}, {2, 3, 4}}), "");
}

TEST(Gradients, DenseAndMatmul) {
  EXPECT_EQ(check_case({Op::Dense, {random({3, 5}, -1, 1, 10), random({4, 5}, -1, 1, 11), random({4}, -1, 1, 12)}}), "");
  Tensor a = random({3, 5}, -1, 1, 13), at = random({5, 3}, -1, 1, 14);
  Tensor b = random({5, 2}, -1, 1, 15), bt = random({2, 5}, -1, 1, 16);
  auto mm = [](int64_t ta, int64_t tb) { return Attrs{{"transpose_a", ta}, {"transpose_b", tb}}; };
  EXPECT_EQ(check_case({Op::Matmul, {a, b}, mm(0, 0)}), "");
  EXPECT_EQ(check_case({Op::Matmul, {at, b}, mm(1, 0)}), "");
  EXPECT_EQ(check_case({Op::Matmul, {a, bt}, mm(0, 1)}), "");
  EXPECT_EQ(check_case({Op::Matmul, {at, bt}, mm(1, 1)}), "");
}

TEST(Gradients, ConvolutionsWithStridesPaddingsAndOddSizes) {
  struct Geometry {
    Dims x;
    int64_t out_channels, k;
    std::vector<int64_t> stride, pad;
  };
  const std::vector<Geometry> cases = {
      {{2, 3, 5, 5}, 4, 3, {1, 1}, {1, 1, 1, 1}},   // 'same', stride 1
      {{1, 2, 7, 6}, 3, 3, {2, 2}, {0, 0, 1, 1}},   // Keras 'same' stride 2, odd and even sizes
      {{1, 2, 6, 7}, 2, 2, {2, 1}, {0, 0, 0, 0}},   // 'valid', even kernel, anisotropic stride
      {{2, 1, 5, 4}, 2, 3, {3, 2}, {2, 1, 0, 1}},   // stride larger than the overlap, uneven pads
  };
  uint64_t seed = 20;
  for (const Geometry &c : cases) {
    Dims w = {c.out_channels, c.x[1], c.k, c.k};
    Attrs attrs = conv_attrs(c.stride, c.pad);
    Tensor x = random(c.x, -1, 1, seed++), wt = random(w, -1, 1, seed++), bias = random({c.out_channels}, -1, 1, seed++);
    EXPECT_EQ(check_case({Op::Conv2d, {x, wt, bias}, attrs}), "") << "conv2d " << dims_str(c.x);
    // The adjoints, differentiated in turn.
    std::vector<const Dims *> ins = {&c.x, &w, &bias.dims};
    Dims y = infer_shape(Op::Conv2d, ins, attrs).dims;
    Tensor dy = random(y, -1, 1, seed++);
    EXPECT_EQ(check_case({Op::Conv2dBwdData, {dy, wt}, attrs, c.x}), "") << "bwd data " << dims_str(c.x);
    EXPECT_EQ(check_case({Op::Conv2dBwdWeights, {x, dy}, attrs, w}), "") << "bwd weights " << dims_str(c.x);
  }
  // Transposed convolutions: Keras 'same' (pad end), PyTorch output_padding
  // (negative end pad) and a stride larger than the kernel.
  const std::vector<Geometry> transposed = {
      {{1, 3, 4, 4}, 2, 3, {2, 2}, {0, 0, 1, 1}},
      {{2, 2, 3, 5}, 3, 3, {2, 2}, {1, 1, 0, 0}},
      {{1, 2, 3, 3}, 2, 2, {3, 3}, {0, 0, -1, -1}},
  };
  for (const Geometry &c : transposed) {
    Dims w = {c.x[1], c.out_channels, c.k, c.k};
    Attrs attrs = conv_attrs(c.stride, c.pad);
    Tensor x = random(c.x, -1, 1, seed++), wt = random(w, -1, 1, seed++), bias = random({c.out_channels}, -1, 1, seed++);
    EXPECT_EQ(check_case({Op::Conv2dTranspose, {x, wt, bias}, attrs}), "") << "transpose " << dims_str(c.x);
    std::vector<const Dims *> ins = {&c.x, &w, &bias.dims};
    Dims y = infer_shape(Op::Conv2dTranspose, ins, attrs).dims;
    Tensor dy = random(y, -1, 1, seed++);
    EXPECT_EQ(check_case({Op::Conv2dTransposeBwdData, {dy, wt}, attrs, c.x}), "") << dims_str(c.x);
    EXPECT_EQ(check_case({Op::Conv2dTransposeBwdWeights, {x, dy}, attrs, w}), "") << dims_str(c.x);
  }
}

TEST(Gradients, AreNotAllZeroAndFanOutAccumulates) {
  // y = x * x + exp(x): x is used three times.
  Graph g;
  g.name = "fan";
  g.config = {{"batch", int64_t{1}}};
  Builder b(g);
  b.section = "encoder";
  Dims d = {3};
  int x = b.emit(Op::Param, {}, {{"init", std::string("uniform")}, {"bound", 1.0}}, &d, "x");
  int y = b.add(b.mul(x, x), b.unary(Op::Exp, x));
  g.outputs.emplace_back("total", b.sum(y, {0}));
  Graph t = differentiate(g);
  Bindings bind;
  bind.values["x"] = values({3}, {-1.0, 0.0, 2.0});
  std::string error;
  auto v = interpret(t, bind, error);
  ASSERT_TRUE(v) << error;
  const Tensor &grad = (*v)[t.outputs.back().second];
  for (size_t k = 0; k < 3; ++k) {
    double xv = bind.values["x"].data[k];
    EXPECT_NEAR(grad.data[k], 2 * xv + std::exp(xv), 1e-12);
  }
}

// gradcheck at the first test images (pixels / 255) of each model's data set.
// `vaec gradcheck` binds noise: the compiler does not read data sets, the
// runtime does (data/), and a test may use both.
TEST(Gradcheck, BundledModelsAtRealImages) {
  struct Case {
    const char *model, *data;
    int64_t batch;
    int samples;
  };
  for (const Case &c : {Case{"models/mnist_mlp.yaml", "data/mnist", 2, 6},
                        Case{"models/fashion_mlp.yaml", "data/fashion", 2, 6},
                        Case{"models/mnist_conv.yaml", "data/mnist", 1, 3},
                        Case{"tests/unit/models/conv_odd.yaml", "data/mnist", 2, 3},
                        Case{"tests/unit/models/conv_same_t.yaml", "data/mnist", 2, 3}}) {
    SCOPED_TRACE(c.model);
    std::string text = test::read_source_file(c.model);
    SourceManager sm;
    sm.add(c.model, text);
    Diagnostics diags(&sm);
    std::optional<Model> m = load_model(c.model, text, diags, LoadOptions{c.batch});
    ASSERT_TRUE(m);
    std::string error;
    const std::vector<uint8_t> images = test::idx_test_images(c.data, error);
    ASSERT_FALSE(images.empty()) << error;
    Bindings inputs;
    for (const Node &n : m->graph.nodes) {
      if (n.op != Op::Input) continue;
      Tensor t{n.dims, std::vector<double>(checked_elements(n.dims))};
      ASSERT_LE(t.data.size(), images.size());
      for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = images[k] / 255.0;
      inputs.values[n.name] = std::move(t);
    }
    GradcheckOptions o;
    o.samples = c.samples;
    std::ostringstream report;
    GradcheckResult r = gradcheck(m->graph, run_pipeline(m->graph, PipelineOptions{}), inputs, o, report);
    EXPECT_EQ(r.error, "");
    EXPECT_TRUE(r.passed) << report.str();
  }
}

// A parameter whose true gradient is zero (a bias before subtracting the
// batch mean) is reported as a zero gradient and passes; its f64 noise is
// not a relative error of ~1.
TEST(Gradcheck, ZeroGradientIsReportedNotFailed) {
  const std::string text = R"(model: centred
input: {x: [6]}
encoder:
  c:      dense(x, 3)
  n:      c - mean(c, axis=0)
  mu:     dense(n, 2)
  logvar: dense(n, 2)
sampler:
  z: mu + exp(0.5 * logvar) * normal_like(mu)
decoder:
  p: dense(z, 6, act=sigmoid)
losses:
  total: sum(bce(p, x)) - 0.5 * sum(1 + logvar - mu^2 - exp(logvar))
train: {batch: 4}
)";
  test::Loaded l = test::load(text);
  ASSERT_TRUE(l.model) << l.errors;
  Bindings inputs;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (const Node &n : l.model->graph.nodes)
    if (n.op == Op::Input) {
      Tensor t{n.dims, {}};
      for (int64_t k = 0; k < checked_elements(n.dims); ++k) t.data.push_back(u(rng));
      inputs.values[n.name] = t;
    }
  GradcheckOptions o;
  std::ostringstream report;
  GradcheckResult r = gradcheck(l.model->graph, run_pipeline(l.model->graph, PipelineOptions{}), inputs, o, report);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.passed) << report.str();
  EXPECT_NE(report.str().find("c.b"), std::string::npos) << report.str();
  EXPECT_NE(report.str().find("ok: zero gradient"), std::string::npos) << report.str();
}
