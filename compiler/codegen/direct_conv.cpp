// Direct convolutions: the choice, the checks and the f64 reference
// (contract in direct_conv.h; the LLVM code is in llvm_direct_conv.cpp).
#include "codegen/direct_conv.h"

#include <algorithm>
#include <map>

#include "ir/elementwise_f64.h"

namespace vaec {
namespace {

constexpr int64_t kBlock = 16;

// The sides' channel counts and sizes in one place: side 0 is the
// conv-input side I, side 1 the conv-output side O.
struct Sides {
  int64_t ch[2], h[2], w[2];
  bool wide[2];
  explicit Sides(const DirectConv &d)
      : ch{d.C, d.K}, h{d.H, d.OH}, w{d.W, d.OW}, wide{!d.narrow_input, d.narrow_input} {}
  // Element (n, c, y, x) of side s: nChw16c when wide, else plain.
  int64_t index(int s, int64_t n, int64_t c, int64_t y, int64_t x) const {
    if (!wide[s]) return ((n * ch[s] + c) * h[s] + y) * w[s] + x;
    return (((n * (ch[s] / kBlock) + c / kBlock) * h[s] + y) * w[s] + x) * kBlock + c % kBlock;
  }
};

}  // namespace

std::string verify_direct_conv(const DirectConv &d, size_t args) {
  const Sides s(d);
  const int narrow = d.narrow_input ? 0 : 1;
  for (int64_t v : {d.C, d.H, d.W, d.K, d.OH, d.OW, d.KH, d.KW, d.sh, d.sw})
    if (v < 1) return "a direct convolution with an extent or stride below 1";
  if (s.ch[narrow] >= kBlock) return "its narrow side has 16 or more channels";
  if (s.ch[1 - narrow] % kBlock != 0) return "its wide side's channels are not a multiple of 16";
  if (d.pt < 0 || d.pl < 0 || d.pt >= d.KH || d.pl >= d.KW) return "a pad outside [0, taps)";
  if (d.kind == DirectConv::Weights && (d.bias || d.post != Op::Add)) return "a Weights kernel with a bias or post-op";
  if (d.post != Op::Add && d.post != Op::Relu && d.post != Op::Sigmoid) return "a post-op other than relu and sigmoid";
  const int computed = d.kind == DirectConv::Input ? 0 : 1;
  if (d.post == Op::Sigmoid && d.kind != DirectConv::Weights && computed != narrow)
    return "a sigmoid on its wide side";
  const size_t want = d.kind == DirectConv::Weights ? 3 : d.bias ? 4 : 3;
  if (args != want) return "a direct convolution with " + std::to_string(args) + " args, not " + std::to_string(want);
  return "";
}

int direct_conv_result_arg(const DirectConv &d) {
  return d.kind == DirectConv::Weights ? 2 : d.bias ? 3 : 2;
}
int direct_conv_bias_arg(const DirectConv &d) { return d.kind != DirectConv::Weights && d.bias ? 2 : -1; }

std::vector<int64_t> phase_taps(int64_t phase, int64_t taps, int64_t stride, int64_t pad) {
  std::vector<int64_t> reach;
  for (int64_t t = 0; t < taps; ++t)
    if ((phase + pad - t) % stride == 0) reach.push_back(t);
  return reach;
}

int64_t direct_conv_vectors(const DirectConv &d) {
  const int64_t narrow = d.narrow_input ? d.C : d.K, wide = d.narrow_input ? d.K : d.C;
  if (d.kind != DirectConv::Input) return narrow * (wide / kBlock) * d.KH * d.KW;
  // The most of any phase: each phase loads only its own taps' weights.
  auto most_taps = [](int64_t taps, int64_t stride, int64_t pad) {
    size_t most = 0;
    for (int64_t phase = 0; phase < stride; ++phase) most = std::max(most, phase_taps(phase, taps, stride, pad).size());
    return static_cast<int64_t>(most);
  };
  return narrow * (wide / kBlock) * most_taps(d.KH, d.sh, d.pt) * most_taps(d.KW, d.sw, d.pl);
}

int64_t direct_conv_macs(const DirectConv &d) { return d.OH * d.OW * d.KH * d.KW * d.C * d.K; }

std::string direct_conv_text(const DirectConv &d) {
  const char *kind = d.kind == DirectConv::Output ? "output" : d.kind == DirectConv::Input ? "input" : "weights";
  auto side = [](int64_t c, int64_t h, int64_t w, bool wide) {
    return "[" + std::to_string(c) + "," + std::to_string(h) + "," + std::to_string(w) + "]" +
           (wide ? " nChw16c" : " plain");
  };
  std::string s = "direct conv " + std::string(kind) + " in=" + side(d.C, d.H, d.W, !d.narrow_input) +
                  " out=" + side(d.K, d.OH, d.OW, d.narrow_input) + " taps=" + std::to_string(d.KH) + "x" +
                  std::to_string(d.KW) + " stride=" + std::to_string(d.sh) + "," + std::to_string(d.sw) +
                  " pad=" + std::to_string(d.pt) + "," + std::to_string(d.pl);
  if (d.bias) s += " bias";
  if (d.post != Op::Add) s += " post=" + std::string(op_name(d.post));
  return s;
}

void run_direct_conv_reference(const DirectConv &d, void *const *buffers, int64_t begin, int64_t end) {
  const Sides s(d);
  auto f = [&](int arg) { return static_cast<float *>(buffers[arg]); };
  auto weight = [&](int64_t o, int64_t c, int64_t i, int64_t j) { return ((o * d.C + c) * d.KH + i) * d.KW + j; };
  const int result = direct_conv_result_arg(d), bias = direct_conv_bias_arg(d);
  // Every joined pair of example n: fn(input element, weight, output element).
  auto pairs = [&](int64_t n, auto fn) {
    for (int64_t o = 0; o < d.K; ++o)
      for (int64_t c = 0; c < d.C; ++c)
        for (int64_t oh = 0; oh < d.OH; ++oh)
          for (int64_t ow = 0; ow < d.OW; ++ow)
            for (int64_t i = 0; i < d.KH; ++i)
              for (int64_t j = 0; j < d.KW; ++j) {
                const int64_t ih = oh * d.sh - d.pt + i, iw = ow * d.sw - d.pl + j;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                fn(s.index(0, n, c, ih, iw), weight(o, c, i, j), s.index(1, n, o, oh, ow), o, c);
              }
  };
  if (d.kind == DirectConv::Weights) {
    std::vector<double> sum(static_cast<size_t>(d.K * d.C * d.KH * d.KW), 0.0);
    for (int64_t n = begin; n < end; ++n)
      pairs(n, [&](int64_t xi, int64_t wi, int64_t yi, int64_t, int64_t) {
        sum[wi] += double(f(0)[xi]) * double(f(1)[yi]);
      });
    for (size_t e = 0; e < sum.size(); ++e) f(2)[e] = static_cast<float>(f(2)[e] + sum[e]);
    return;
  }
  const bool to_output = d.kind == DirectConv::Output;
  const int side = to_output ? 1 : 0;
  const ElementFormula post = d.post == Op::Add ? nullptr : element_formula(d.post);
  for (int64_t n = begin; n < end; ++n) {
    std::map<int64_t, double> sum;  // element -> value
    for (int64_t c = 0; c < s.ch[side]; ++c)
      for (int64_t y = 0; y < s.h[side]; ++y)
        for (int64_t x = 0; x < s.w[side]; ++x) sum[s.index(side, n, c, y, x)] = bias >= 0 ? f(bias)[c] : 0.0;
    pairs(n, [&](int64_t xi, int64_t wi, int64_t yi, int64_t, int64_t) {
      if (to_output) sum[yi] += double(f(0)[xi]) * double(f(1)[wi]);
      else sum[xi] += double(f(0)[yi]) * double(f(1)[wi]);
    });
    for (const auto &[at, v] : sum) f(result)[at] = static_cast<float>(post ? post(v, 0.0) : v);
  }
}

}  // namespace vaec
