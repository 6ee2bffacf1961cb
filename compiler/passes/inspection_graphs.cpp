// The encode, decode and nll graphs of a model (contract in inspection_graphs.h).
// Each is a copy of the model with other outputs (and, for decode and nll,
// the sampler's result turned into an input); dead code elimination later
// keeps only what the outputs need, so the layers keep their names,
// parameters and locations.
#include "passes/inspection_graphs.h"

#include "ir/builder.h"

namespace vaec {
namespace {

bool depends_on_noise(const Graph &g, int node) {
  std::vector<int> stack{node};
  std::vector<bool> seen(g.nodes.size(), false);
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (seen[n]) continue;
    seen[n] = true;
    if (g.nodes[n].op == Op::Normal) return true;
    for (int o : g.nodes[n].operands) stack.push_back(o);
  }
  return false;
}

}  // namespace

InspectionGraphs inspection_graphs(const Graph &model) {
  InspectionGraphs out;
  // The examples' input; a label input (label(K)) stays an input of every
  // program that reads it (the runtime fills it).
  const AttrValue *label = model.config_value("label_input");
  const std::string *label_name = label ? std::get_if<std::string>(label) : nullptr;
  int input = -1, inputs = 0;
  for (size_t i = 0; i < model.nodes.size(); ++i)
    if (model.nodes[i].op == Op::Input && !(label_name && model.nodes[i].name == *label_name))
      input = static_cast<int>(i), ++inputs;
  // The sampler's result: the one sampler value the decoder reads.
  int z = -1;
  bool several = false;
  std::vector<int> encoded;  // encoder values the sampler reads, in graph order
  std::vector<bool> is_encoded(model.nodes.size(), false);
  for (const Node &n : model.nodes) {
    for (int o : n.operands) {
      const Node &from = model.nodes[o];
      if (n.section == "decoder" && from.section == "sampler") {
        several = several || (z >= 0 && z != o);
        z = o;
      }
      if (n.section == "sampler" && from.section == "encoder" && !is_encoded[o]) is_encoded[o] = true;
    }
  }
  for (size_t i = 0; i < model.nodes.size(); ++i)
    if (is_encoded[i]) encoded.push_back(static_cast<int>(i));
  if (inputs != 1) {
    out.encode_why_not = out.decode_why_not = "the model has " + std::to_string(inputs) + " inputs, not one";
    return out;
  }
  if (z < 0 || several) {
    out.encode_why_not = out.decode_why_not =
        z < 0 ? "the decoder reads nothing from the sampler" : "the decoder reads more than one sampler value";
    return out;
  }
  const int64_t batch = model.nodes[input].dims[0];

  // encode: the encoder's values, and q(z|x)'s location and scale when z = loc + scale * normal().
  if (encoded.empty()) {
    out.encode_why_not = "the sampler reads nothing from the encoder";
  } else {
    out.encode = model;
    out.encode.config.emplace_back("program", std::string("encode"));
    out.encode.outputs.clear();
    for (int e : encoded) out.encode.outputs.emplace_back(model.nodes[e].name, e);
    const Node &zn = model.nodes[z];
    if (zn.op == Op::Add) {
      for (int side = 0; side < 2; ++side) {
        int loc = zn.operands[1 - side], noisy = zn.operands[side];
        const Node &m = model.nodes[noisy];
        if (depends_on_noise(model, loc) || m.op != Op::Mul) continue;
        for (int f = 0; f < 2; ++f) {
          int scale = m.operands[1 - f], noise = m.operands[f];
          if (model.nodes[noise].op != Op::Normal || depends_on_noise(model, scale)) continue;
          if (model.nodes[loc].dims != zn.dims || model.nodes[noise].dims != zn.dims) continue;
          out.encode.outputs.emplace_back("z_loc", loc);
          if (model.nodes[scale].dims != zn.dims) {  // a broadcast scale: make it per example
            Builder b(out.encode);
            b.loc = zn.loc;
            b.section = "sampler";
            b.prefix = "z_scale";
            scale = b.mul(scale, b.constant(1.0, zn.dims));
          }
          out.encode.outputs.emplace_back("z_scale", scale);
          side = 2;
          break;
        }
      }
    }
  }

  // The reconstruction term: an element-wise bce, bce_logits or mse of the
  // losses that reads the images.
  // The images, or the images given a sample axis of 1 (a model lowered
  // with one of its samples: load_model's one_sample).
  auto is_images = [&](int n) {
    const Node &v = model.nodes[n];
    return n == input || (v.op == Op::Reshape && v.operands[0] == input);
  };
  int recon = -1;
  for (size_t i = 0; i < model.nodes.size() && recon < 0; ++i) {
    const Node &n = model.nodes[i];
    if (n.section != "losses" || (n.op != Op::Bce && n.op != Op::BceLogits && n.op != Op::Mse)) continue;
    if (is_images(n.operands[1]) || (n.op == Op::Mse && is_images(n.operands[0]))) recon = static_cast<int>(i);
  }
  if (recon < 0) {
    out.decode_why_not = "no loss is bce(p, x), bce_logits(l, x) or mse(p, x) of the input x";
    return out;
  }
  const Node &r = model.nodes[recon];
  const int mean = is_images(r.operands[0]) && r.op == Op::Mse ? r.operands[1] : r.operands[0];
  // Per example, the mean holds one value per pixel (in whichever shape).
  if (checked_elements(model.nodes[mean].dims) != checked_elements(model.nodes[input].dims) ||
      model.nodes[mean].dims[0] != batch) {
    out.decode_why_not = "the reconstruction term's operands differ in shape";
    return out;
  }
  out.recon = std::string(op_name(r.op));
  out.latent = model.nodes[z].name;

  // decode and nll: z becomes an input.
  Graph cut = model;
  Node &zi = cut.nodes[z];
  zi.op = Op::Input;
  zi.operands.clear();
  zi.attrs.clear();
  zi.section = "latent";
  out.decode = cut;
  out.decode.config.emplace_back("program", std::string("decode"));
  out.decode.outputs.clear();
  int decoded = mean;
  if (r.op == Op::BceLogits) {
    Builder b(out.decode);
    b.loc = r.loc;
    b.section = "decoder";
    b.prefix = "mean";
    decoded = b.unary(Op::Sigmoid, mean);
  }
  out.decode.outputs.emplace_back("mean", decoded);

  out.nll = cut;
  out.nll.config.emplace_back("program", std::string("nll"));
  out.nll.outputs.clear();
  Builder b(out.nll);
  b.loc = r.loc;
  b.section = "losses";
  b.prefix = "nll";
  std::vector<int64_t> axes;
  for (size_t a = 1; a < r.dims.size(); ++a) axes.push_back(static_cast<int64_t>(a));
  int nll = axes.empty() ? recon : b.sum(recon, axes);
  out.nll.outputs.emplace_back("nll", nll);
  return out;
}

}  // namespace vaec
