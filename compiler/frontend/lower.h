// Lowering of model expressions to graph IR nodes. The builder owns the graph
// under construction, the tensor table (for names, forward references and
// cycle detection) and per-tensor bookkeeping for `vaec summary`.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "frontend/expr.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

struct TensorDef {
  std::string name;
  std::string section;
  Loc loc;          // of the key
  Expr expr;
  bool parsed = false;
  enum State { Todo, Busy, Done, Failed } state = Todo;
  int node = -1;    // result node when Done (a distribution's: its loc or logits)
  int dist = -1;    // GraphBuilder::dists index when the tensor is a distribution
  std::string op;   // description for the summary ("dense+relu")
};

// A distribution a model declares (frontend/distributions.cpp): its
// parameters as nodes. normal: loc, scale (log_scale when known exactly,
// e.g. 0.5 * logvar); bernoulli: logits or probs.
struct Dist {
  enum Family { Normal, Bernoulli } family = Normal;
  int loc = -1, scale = -1, log_scale = -1;
  int logits = -1, probs = -1;
  std::string text;  // as written, for messages
};

// Value of an expression while lowering: a tensor (node index) or a number
// known at compile time (literals, `batch`, arithmetic on them).
struct Val {
  enum Kind { Bad, Num, Tensor, Distribution } kind = Bad;
  double num = 0;
  bool is_int = false;
  int node = -1;
  // A number computed from `batch` (its value at the compiled batch): as a
  // tensor it is `expr` over batch_size(), which the plan reads at run time.
  bool batch = false;
  const Expr *expr = nullptr;
  static Val bad() { return {}; }
  static Val number(double v, bool i, const Expr *e = nullptr, bool batch = false) { return {Num, v, i, -1, batch, e}; }
  static Val tensor(int n) { return n < 0 ? bad() : Val{Tensor, 0, false, n}; }  // emit failed: bad
  int dist = -1;  // Distribution: GraphBuilder::dists index
  static Val distribution(int d) {
    Val v;
    v.kind = Distribution;
    v.dist = d;
    return v;
  }
};

class GraphBuilder {
public:
  GraphBuilder(Graph &g, Diagnostics &d, int64_t batch) : g_(g), diags_(d), batch_(batch) {}

  // Tensors in definition order; names are unique (checked by the caller).
  std::vector<TensorDef> tensors;
  std::map<std::string, int> tensor_index;
  std::map<int, std::string> param_owner;  // param node -> tensor that created it
  // Set when a section could not be read: an unknown name is then most likely
  // defined there, and is not reported again.
  bool names_incomplete = false;
  // train.init: keras (see add_param); PyTorch's initialisation otherwise.
  bool keras_init = false;
  // Lower normal_like(t, samples=k) with one sample: the model the
  // inspection programs are cut from.
  bool one_sample = false;
  // Statistics the train program updates (batchnorm's running mean and
  // variance): the stat node's name and its next value.
  std::vector<std::pair<std::string, int>> updates;
  // Section and name stem of nodes made outside any tensor's definition.
  std::string outside_section = "inputs", outside_name = "t";
  // Declared distributions and what the model does with them: z =
  // rsample(q), log_prob(d, value), kl(q, p). load_model reads the
  // likelihood, posteriors and priors off them (model.cpp, declare_densities).
  std::vector<Dist> dists;
  struct Draw { int z, q; };
  struct LogProb { int dist, value; };
  struct KlTerm { int q, p; };
  std::vector<Draw> draws;
  std::vector<LogProb> log_probs;
  std::vector<KlTerm> kls;
  // log_prob(d, value) summed over every axis but the batch (and samples).
  int log_density(int dist, int value, const Loc &loc);
  // op(a, b) for a binary op; a sum over axis 1 for Op::Sum (b unused).
  int binary(Op op, int a, int b, const Loc &loc) {
    if (a < 0) return -1;
    if (op == Op::Sum) return emit(Op::Sum, {a}, {{"axes", std::vector<int64_t>{1}}}, loc);
    return b < 0 ? -1 : emit(op, {a, b}, {}, loc);
  }
  // The k of normal_like(..., samples=k), 0 when none.
  int64_t samples() const { return samples_; }

  // Adds an `input` node; `length` is that of the name, for the underline.
  int add_input(const std::string &name, const Dims &per_example, const Loc &loc, int length = 1);
  // Lowers tensor `i` (and, on demand, what it refers to). Returns the node or -1.
  int lower_tensor(int i);
  // Makes `v` a tensor node (numbers become scalar consts).
  int as_node(const Val &v, const Loc &loc);

  int64_t batch() const { return batch_; }

private:
  Val eval(const Expr &e);
  Val eval_name(const Expr &e);
  Val eval_binary(const Expr &e);
  Val eval_call(const Expr &e);
  Val call_layer(const Expr &e);
  // The nodes of a number that depends on `batch`: its expression over
  // batch_size().
  int batch_number(const Expr &e);
  int emit(Op op, std::vector<int> operands, Attrs attrs, const Loc &loc, Dims declared = {},
           const std::string &what = "", std::string name = "");
  // A weight ("w") or bias ("b") of the current layer, initialised like
  // PyTorch (U(+-1/sqrt(fan_in)) for both) or, with keras_init, like Keras
  // (glorot_uniform weights U(+-sqrt(6/(fan_in+fan_out))), zero biases).
  int add_param(const std::string &suffix, const Dims &dims, int64_t fan_in, int64_t fan_out, const Loc &loc);
  Val eval_param(const Expr &e);
  Val batchnorm(const Expr &e, int x);
  // distributions.cpp: normal, bernoulli, rsample, log_prob, kl.
  Val eval_distribution_call(const Expr &e);
  int elementwise_log_prob(const Dist &d, int value, const Loc &loc);
  // normal() noise like `x`, with `samples` (> 0) draws per example on a new axis 1.
  int draw_normal(const Dims &x, int64_t samples, const Loc &loc, const Expr *samples_expr, const std::string &what);
  int apply_act(const Expr &call, int node);
  // tensor_ops.cpp: clip, concat, slice, logsumexp and their helpers.
  Val eval_tensor_function(const Expr &e);
  bool int_value(const Expr &a, const std::string &what, int64_t &out);
  bool feature_axis(const Expr &call, int node, int64_t &axis);
  bool tensor_args(const Expr &e, std::vector<int> &out);
  bool only_kwargs(const Expr &e, const std::vector<std::string> &allowed);
  // `node`, given an axis of 1 after the batch for each axis `other` has
  // more, when both are per example (samples meet their example's values).
  int align_samples(int node, int other);
  std::string fresh_name();

  Graph &g_;
  Diagnostics &diags_;
  int64_t batch_;
  int counter_ = 0;
  int64_t samples_ = 0;  // k of samples=k
  int64_t axis_k_ = 0;    // the extent of the sample axis: k, or 1 with one_sample
  // Nodes of shape [batch, k, ...] with k samples per example: made from
  // normal_like(..., samples=k) and keeping axis 1.
  std::map<int, bool> sampled_;
  bool is_sampled(int node) const {
    auto it = sampled_.find(node);
    return it != sampled_.end() && it->second;
  }
  std::vector<int> stack_;  // tensors being lowered, innermost last
  static constexpr size_t kMaxForwardChain = 256;
  bool chain_reported_ = false;
  std::map<std::string, int> layer_count_;  // per tensor, for unique param names
};

// Layer calls: name, positional argument count, usage line, keyword names.
struct LayerSpec {
  std::string name;
  int args;
  std::string usage;
  std::vector<std::string> kwargs;
};
const std::vector<LayerSpec> &layer_specs();
// Activations accepted by act=: every unary table op but neg, plus linear/none.
std::vector<std::string> activation_names();

// Reads the likelihood, the latents' posteriors and priors off the
// distributions the model declares and, when they describe the model, adds
// what the inspection programs need to `g` (config declared_*, outputs
// inspect.logw and inspect.loglik: declared.cpp). False (with config
// declared_why_not when the model uses distributions) otherwise.
bool declare_densities(GraphBuilder &b, Graph &g, const std::string &input_name);

// normal, bernoulli, rsample, log_prob, kl: distributions as values.
const std::vector<std::string> &distribution_function_names();

// clip, concat, slice, logsumexp: functions built from several table ops.
const std::vector<std::string> &tensor_function_names();

// Names callable in expressions (layers and table ops), for "did you mean".
std::vector<std::string> callable_names();

}  // namespace vaec
