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
  // Gradient clipping by global norm: the runtime writes min(1, c / |g|) as
  // the last hyper value and the kernel scales each gradient by it.
  const bool clip = g.config_value("clip_grad_norm") != nullptr;
  FusedKernel k;
  k.name = "optimizer_" + name;
  k.domain = {param_count};
  KernelWriter w(k);
  const int P = 0, G = 1, H = 2;  // buffers: params, grads, hyper values, then state
  int base = 0;                   // the optimizer's own hyper values
  if (name == "adam") base = 2, state = 2;
  else if (name == "adamw") base = 3, state = 2;
  else if (name == "rmsprop") base = 1, state = 1;
  else if (name == "sgd") base = 1, state = config_f64(g, "momentum") != 0 ? 1 : 0;
  else throw InternalError("unknown optimizer " + name);
  hyper = base + (clip ? 1 : 0);
  const int S = H + hyper;  // the first state buffer
  k.args.assign(static_cast<size_t>(S + state), BufferType::F32);
  int p = w.load(P), grad = w.load(G);
  if (clip) grad = w.mul(grad, w.load(H + base, true));
  if (name == "adam" || name == "adamw") {
    // adamw: p * (1 - lr * weight_decay) first, as PyTorch's AdamW; the
    // runtime writes that factor as the third hyper value (it follows the
    // learning-rate schedule).
    const int M = S, V = S + 1;
    int m = w.blend(w.load(M), config_f64(g, "beta1"), grad);
    int v = w.blend(w.load(V), config_f64(g, "beta2"), w.mul(grad, grad));
    int denom = w.add(w.mul(w.apply(Op::Sqrt, v), w.load(H + 1, true)), w.constant(config_f64(g, "eps")));
    int step = w.apply(Op::Div, w.mul(w.load(H, true), m), denom);
    int kept = name == "adamw" ? w.mul(p, w.load(H + 2, true)) : p;
    w.store(w.apply(Op::Sub, kept, step), P);
    w.store(m, M);
    w.store(v, V);
  } else if (name == "rmsprop") {
    const int V = S;
    int v = w.blend(w.load(V), config_f64(g, "rho"), w.mul(grad, grad));
    int denom = w.add(w.apply(Op::Sqrt, v), w.constant(config_f64(g, "eps")));
    w.store(w.apply(Op::Sub, p, w.apply(Op::Div, w.mul(w.load(H, true), grad), denom)), P);
    w.store(v, V);
  } else {  // sgd
    int direction = grad;
    if (state) {
      direction = w.add(w.mul(w.constant(config_f64(g, "momentum")), w.load(S)), grad);
      w.store(direction, S);
    }
    w.store(w.apply(Op::Sub, p, w.mul(w.load(H, true), direction)), P);
  }
  return k;
}

}  // namespace vaec
