// Optimizer kernels (contract in optimizer_kernel.h).
#include "codegen/optimizer_kernel.h"

#include "ir/builder.h"

namespace vaec {
namespace {

class KernelWriter {
public:
  explicit KernelWriter(FusedKernel &k) : k_(k) {}
  int load(int arg, bool scalar = false) {
    KernelInstr l;
    l.kind = KernelInstr::Load;
    l.arg = arg;
    l.strides = {scalar ? 0 : 1};
    return push(l);
  }
  int constant(double v) {
    KernelInstr c;
    c.kind = KernelInstr::Const;
    c.value = v;
    return push(c);
  }
  int apply(Op op, int a, int b = -1) {
    KernelInstr x;
    x.kind = KernelInstr::Apply;
    x.op = op;
    x.a = a;
    x.b = b;
    return push(x);
  }
  int mul(int a, int b) { return apply(Op::Mul, a, b); }
  int add(int a, int b) { return apply(Op::Add, a, b); }
  void store(int instr, int arg) { k_.outputs.push_back({instr, arg, {1}, false}); }
  // decay * s + (1 - decay) * x
  int blend(int s, double decay, int x) { return add(mul(constant(decay), s), mul(constant(1 - decay), x)); }

private:
  int push(KernelInstr i) {
    k_.instrs.push_back(std::move(i));
    return static_cast<int>(k_.instrs.size()) - 1;
  }
  FusedKernel &k_;
};

double config_f64(const Graph &g, const char *key) {
  const AttrValue *v = g.config_value(key);
  if (!v || !std::holds_alternative<double>(*v)) throw InternalError(std::string("optimizer setting ") + key + " missing");
  return std::get<double>(*v);
}

}  // namespace

FusedKernel build_optimizer_kernel(const Graph &g, int64_t param_count, int &hyper, int &state) {
  const AttrValue *opt = g.config_value("optimizer");
  std::string name = opt ? std::get<std::string>(*opt) : "adam";
  FusedKernel k;
  k.name = "optimizer_" + name;
  k.domain = {param_count};
  KernelWriter w(k);
  const int P = 0, G = 1;
  int p = w.load(P), grad = w.load(G);
  if (name == "adam" || name == "adamw") {
    // adamw: p * (1 - lr * weight_decay) first, as PyTorch's AdamW; the
    // runtime writes that factor as a third hyper value (it follows the
    // learning-rate schedule).
    const bool decay = name == "adamw";
    hyper = decay ? 3 : 2, state = 2;
    const int H0 = 2, H1 = 3, M = decay ? 5 : 4, V = M + 1;
    k.args.assign(decay ? 7 : 6, BufferType::F32);
    int m = w.blend(w.load(M), config_f64(g, "beta1"), grad);
    int v = w.blend(w.load(V), config_f64(g, "beta2"), w.mul(grad, grad));
    int denom = w.add(w.mul(w.apply(Op::Sqrt, v), w.load(H1, true)), w.constant(config_f64(g, "eps")));
    int step = w.apply(Op::Div, w.mul(w.load(H0, true), m), denom);
    int kept = decay ? w.mul(p, w.load(4, true)) : p;
    w.store(w.apply(Op::Sub, kept, step), P);
    w.store(m, M);
    w.store(v, V);
  } else if (name == "rmsprop") {
    hyper = 1, state = 1;
    const int H0 = 2, V = 3;
    k.args.assign(4, BufferType::F32);
    int v = w.blend(w.load(V), config_f64(g, "rho"), w.mul(grad, grad));
    int denom = w.add(w.apply(Op::Sqrt, v), w.constant(config_f64(g, "eps")));
    w.store(w.apply(Op::Sub, p, w.apply(Op::Div, w.mul(w.load(H0, true), grad), denom)), P);
    w.store(v, V);
  } else if (name == "sgd") {
    double momentum = config_f64(g, "momentum");
    hyper = 1, state = momentum != 0 ? 1 : 0;
    const int H0 = 2, B = 3;
    k.args.assign(3 + state, BufferType::F32);
    int direction = grad;
    if (state) {
      direction = w.add(w.mul(w.constant(momentum), w.load(B)), grad);
      w.store(direction, B);
    }
    w.store(w.apply(Op::Sub, p, w.mul(w.load(H0, true), direction)), P);
  } else {
    throw InternalError("unknown optimizer " + name);
  }
  return k;
}

}  // namespace vaec
