// The encode, decode and nll graphs of a model (contract in inspection_graphs.h).
// Each is a copy of the model with other outputs (and, for decode and nll,
// the sampler's result turned into an input); dead code elimination later
// keeps only what the outputs need, so the layers keep their names,
// parameters and locations.
#include "passes/inspection_graphs.h"

#include <functional>

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

int node_named(const Graph &g, const AttrValue *name) {
  const std::string *s = name ? std::get_if<std::string>(name) : nullptr;
  if (!s) return -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == *s) return static_cast<int>(i);
  return -1;
}

// `v` as a per-example value of `dims` (a broadcast one times ones).
int per_example(Graph &g, int v, const Dims &dims, const std::string &prefix) {
  if (g.nodes[v].dims == dims) return v;
  Builder b(g);
  b.loc = g.nodes[v].loc;
  b.section = g.nodes[v].section;
  b.prefix = prefix;
  return b.mul(v, b.constant(1.0, dims));
}

// Replaces each latent z of `pairs` ("z1=loc1,z3=loc3") by a view of that
// mean (a reshape keeps its name and uses); the reason when one does not fit.
std::string at_means(Graph &g, const AttrValue *pairs, const std::string &which) {
  std::string rest = pairs && std::get_if<std::string>(pairs) ? *std::get_if<std::string>(pairs) : "";
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    const AttrValue name = item.substr(0, eq), mean = eq == std::string::npos ? "" : item.substr(eq + 1);
    const int z = node_named(g, &name), m = node_named(g, &mean);
    if (z < 0 || m < 0 || checked_elements(g.nodes[z].dims) != checked_elements(g.nodes[m].dims))
      return "latent '" + std::get<std::string>(name) + "' cannot be taken at its " + which + "'s mean";
    g.nodes[z].op = Op::Reshape;
    g.nodes[z].operands = {m};
    g.nodes[z].attrs.clear();
  }
  return "";
}

// `g` with its nodes in an order where each follows its operands (stable:
// the old order where it is free), after at_means made a latent a view of a
// mean defined later.
Graph operands_first(const Graph &g) {
  std::vector<int> order, state(g.nodes.size(), 0);
  std::function<void(int)> visit = [&](int n) {
    if (state[n]) return;
    state[n] = 1;
    for (int o : g.nodes[n].operands) visit(o);
    order.push_back(n);
  };
  for (size_t n = 0; n < g.nodes.size(); ++n) visit(static_cast<int>(n));
  std::vector<int> at(g.nodes.size());
  for (size_t k = 0; k < order.size(); ++k) at[order[k]] = static_cast<int>(k);
  Graph out = g;
  for (size_t k = 0; k < order.size(); ++k) {
    out.nodes[k] = g.nodes[order[k]];
    for (int &o : out.nodes[k].operands) o = at[o];
  }
  for (auto &[name, idx] : out.outputs) idx = at[idx];
  return out;
}

// The declared path (see inspection_graphs.h); `encoded` the encoder
// values the sampler reads.
void declared_graphs(const Graph &model, int input, const std::vector<int> &encoded, InspectionGraphs &out) {
  const int z = node_named(model, model.config_value("declared_latent"));
  const int loc = node_named(model, model.config_value("declared_loc"));
  const int scale = node_named(model, model.config_value("declared_scale"));
  const int mean = node_named(model, model.config_value("declared_mean"));
  const AttrValue *family = model.config_value("declared_likelihood");
  if (z < 0 || loc < 0 || scale < 0 || mean < 0 || !family) {
    out.encode_why_not = out.decode_why_not = "a declared distribution's parameter was simplified away";
    return;
  }
  if (checked_elements(model.nodes[loc].dims) != checked_elements(model.nodes[z].dims)) {
    out.encode_why_not = out.decode_why_not = "the latent's posterior is not one value per latent";
    return;
  }
  out.encode = model;
  if (std::string why = at_means(out.encode, model.config_value("declared_posteriors"), "posterior"); !why.empty()) {
    out.encode = Graph{};
    out.encode_why_not = out.decode_why_not = why;
    return;
  }
  out.encode.config.emplace_back("program", std::string("encode"));
  out.encode.outputs.clear();
  for (int e : encoded) out.encode.outputs.emplace_back(model.nodes[e].name, e);
  out.encode.outputs.emplace_back("z_loc", loc);
  out.encode.outputs.emplace_back("z_scale", per_example(out.encode, scale, model.nodes[loc].dims, "z_scale"));
  out.encode = operands_first(out.encode);

  // decode: the top latent an input, the others at their prior's mean.
  Graph cut = model;
  cut.outputs.clear();
  Node &zi = cut.nodes[z];
  zi.op = Op::Input;
  zi.operands.clear();
  zi.attrs.clear();
  zi.section = "latent";
  if (std::string why = at_means(cut, model.config_value("declared_below"), "prior"); !why.empty()) {
    out.decode_why_not = why;
    return;
  }
  out.decode = cut;
  out.decode.config.emplace_back("program", std::string("decode"));
  int decoded = mean;
  if (std::get<std::string>(*family) == "bernoulli_logits") {
    Builder b(out.decode);
    b.loc = model.nodes[mean].loc;
    b.section = "decoder";
    b.prefix = "mean";
    decoded = b.unary(Op::Sigmoid, mean);
  }
  if (checked_elements(out.decode.nodes[decoded].dims) != checked_elements(model.nodes[input].dims)) {
    out.decode = Graph{};
    out.decode_why_not = "the likelihood's mean is not one value per pixel";
    return;
  }
  out.decode.outputs.emplace_back("mean", decoded);
  out.decode = operands_first(out.decode);

  // logw: the model itself, reporting its log weights.
  out.logw = model;
  out.logw.config.emplace_back("program", std::string("logw"));
  out.logw.outputs.clear();
  for (const auto &[name, idx] : model.outputs)
    if (name == "inspect.logw" || name == "inspect.loglik") out.logw.outputs.emplace_back(name.substr(8), idx);
  if (out.logw.outputs.size() != 2) {
    out.logw = Graph{};
    out.decode_why_not = "the model's log weights are missing";
    return;
  }
  out.recon = std::get<std::string>(*family);
  out.latent = model.nodes[z].name;
}

}  // namespace

InspectionGraphs inspection_graphs(const Graph &model) {
  InspectionGraphs out;
  // The examples' input; a label input (label(K)) stays an input of every
  // program that reads it (the runtime fills it).
  const AttrValue *label = model.config_value("label_input");
  const std::string *label_name = label ? std::get_if<std::string>(label) : nullptr;
  // Condition inputs (config condition_inputs) stay inputs of every program too.
  const AttrValue *conditions = model.config_value("condition_inputs");
  const std::string condition_names = "," + (conditions ? std::get<std::string>(*conditions) : std::string()) + ",";
  int input = -1, inputs = 0;
  for (size_t i = 0; i < model.nodes.size(); ++i)
    if (model.nodes[i].op == Op::Input && !(label_name && model.nodes[i].name == *label_name) &&
        condition_names.find("," + model.nodes[i].name + ",") == std::string::npos)
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
  if (model.config_value("declared_latent")) {  // the model says what it is
    declared_graphs(model, input, encoded, out);
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
  out.decode = operands_first(out.decode);

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
