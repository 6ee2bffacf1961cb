// simplify_algebra: rewrites that make the computation cheaper or more
// accurate, each keeping the location of the op it replaces.
//
// Pre: a verified graph. Post: the same outputs, with
//   bce(sigmoid(l), x)        -> bce_logits(l, x)   never log of a saturated sigmoid
//   exp(v) when exp(0.5 * v) was computed before -> s * s, s = that exp
//                                                    (the sampler's std reused by the KL)
//   pow(v, 2) -> v * v,  pow(v, 1) -> v,  pow(v, 0.5) -> sqrt(v)
//   v * 1, 1 * v, v / 1, v + 0, 0 + v, v - 0 -> v   (when no broadcast is lost)
//   neg(neg(v)) -> v,  a + neg(b) -> a - b,  a - neg(b) -> a + b
//   c1 * (c2 * v) -> (c1 * c2) * v                   (constants gathered)
// Ops left without users are removed by eliminate_dead_code, not here.
#include <map>

#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {
namespace {

class Simplifier {
public:
  explicit Simplifier(const Graph &g) : r(g) {}

  Graph run() {
    for (size_t k = 0; k < r.in.nodes.size(); ++k) {
      int i = static_cast<int>(k);
      int result = rewrite(i);
      if (result >= 0) r.replace(i, result);
      else r.copy(i);
      note_exp(i);
    }
    return r.changed ? r.finish() : r.in;
  }

private:
  const Node &N(int new_node) const { return r.out.nodes[new_node]; }
  bool is_const(int v, double c) const {
    return N(v).op == Op::Const && std::get<double>(*N(v).attr("value")) == c;
  }
  bool const_value(int v, double &c) const {
    if (N(v).op != Op::Const) return false;
    c = std::get<double>(*N(v).attr("value"));
    return true;
  }
  // Replacing op i by existing value v is only right when v has i's shape.
  int same_shape(int i, int v) const { return N(v).dims == r.in.nodes[i].dims ? v : -1; }

  // Returns the new value for old node i, or -1 to copy it unchanged.
  int rewrite(int i) {
    const Node &n = r.in.nodes[i];
    auto x = [&](int j) { return r.operand(i, j); };
    switch (n.op) {
    case Op::Bce:
      if (N(x(0)).op == Op::Sigmoid) {
        r.start_replacement(i);
        return r.b.binary(Op::BceLogits, N(x(0)).operands[0], x(1));
      }
      return -1;
    case Op::Exp: {
      auto it = half_exp_.find(x(0));
      if (it == half_exp_.end()) return -1;
      r.start_replacement(i);
      return r.b.mul(it->second, it->second);
    }
    case Op::Pow: {
      double p;
      if (!const_value(x(1), p) || !N(x(1)).dims.empty()) return -1;
      if (p == 1) return same_shape(i, x(0));
      r.start_replacement(i);
      if (p == 2) return r.b.mul(x(0), x(0));
      if (p == 0.5) return r.b.unary(Op::Sqrt, x(0));
      return -1;
    }
    case Op::Mul: {
      if (is_const(x(1), 1)) return same_shape(i, x(0));
      if (is_const(x(0), 1)) return same_shape(i, x(1));
      double c1, c2;
      // c1 * (c2 * v) or c1 * (v * c2), with scalar constants.
      for (int side = 0; side < 2; ++side) {
        int c = x(side), other = x(1 - side);
        if (!const_value(c, c1) || !N(c).dims.empty() || N(other).op != Op::Mul) continue;
        const Node &m = N(other);
        for (int s2 = 0; s2 < 2; ++s2)
          if (const_value(m.operands[s2], c2) && N(m.operands[s2]).dims.empty()) {
            r.start_replacement(i);
            return r.b.mul(r.b.constant(c1 * c2), m.operands[1 - s2]);
          }
      }
      return -1;
    }
    case Op::Div:
      return is_const(x(1), 1) ? same_shape(i, x(0)) : -1;
    case Op::Add:
      if (is_const(x(1), 0)) return same_shape(i, x(0));
      if (is_const(x(0), 0)) return same_shape(i, x(1));
      if (N(x(1)).op == Op::Neg) {
        r.start_replacement(i);
        return r.b.sub(x(0), N(x(1)).operands[0]);
      }
      return -1;
    case Op::Sub:
      if (is_const(x(1), 0)) return same_shape(i, x(0));
      if (N(x(1)).op == Op::Neg) {
        r.start_replacement(i);
        return r.b.add(x(0), N(x(1)).operands[0]);
      }
      return -1;
    case Op::Neg:
      return N(x(0)).op == Op::Neg ? same_shape(i, N(x(0)).operands[0]) : -1;
    default:
      return -1;
    }
  }

  // Remembers exp(0.5 * v) (in either operand order) as the half-exp of v.
  void note_exp(int i) {
    int e = r.map[i];
    if (e < 0 || N(e).op != Op::Exp) return;
    const Node &arg = N(N(e).operands[0]);
    if (arg.op != Op::Mul) return;
    for (int side = 0; side < 2; ++side)
      if (is_const(arg.operands[side], 0.5) && N(arg.operands[side]).dims.empty() &&
          N(arg.operands[1 - side]).dims == N(e).dims)
        half_exp_.emplace(arg.operands[1 - side], e);
  }

  Rebuild r;
  std::map<int, int> half_exp_;  // v -> exp(0.5 * v), both new nodes
};

}  // namespace

Graph simplify_algebra(Graph g) {
  Simplifier s(g);
  return s.run();
}

}  // namespace vaec
