// The vae.yaml schema: top-level sections, input shapes, tensor tables (the
// train section: train_settings.cpp); then lowering in definition order and the checks that need
// the whole model (losses, unused tensors). Contract in model.h.
#include "frontend/model.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "frontend/lower.h"
#include "frontend/scalars.h"
#include "frontend/train_settings.h"
#include "frontend/yaml_tree.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace vaec {
namespace {

const std::vector<std::string> kTensorSections = {"encoder", "sampler", "decoder", "losses"};

// Names are short words; the cap keeps every message quoting one readable.
constexpr size_t kMaxNameLength = 64;

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

class ModelReader {
public:
  ModelReader(const std::string &file, Diagnostics &d, const LoadOptions &o) : file_(file), diags_(d), opts_(o) {}

  std::optional<Model> read(const YNode &root) {
    if (root.kind != YNode::Map) {
      diags_.error(root.loc, "a model file is a mapping of sections (model, input, encoder, sampler, "
                             "decoder, losses, train), not " + kind_name(root));
      return std::nullopt;
    }
    for (const auto &[key, value] : root.entries) {
      if (key.kind != YNode::Scalar) continue;  // reported by the YAML reader
      if (std::find(model_sections().begin(), model_sections().end(), key.value) != model_sections().end()) continue;
      std::string hint = did_you_mean(key.value, model_sections());
      if (hint.empty()) hint = "; the sections are model, input, encoder, sampler, decoder, losses and train";
      diags_.error(key.loc, "unknown section '" + key.value + "'" + hint, static_cast<int>(key.value.size()));
    }
    model_.graph.name = read_name(root);
    const TrainSection train =
        read_train(root.get("train"), file_, {bundled_data_dir(opts_), opts_.batch}, diags_, model_.graph.config);
    builder_.emplace(model_.graph, diags_, train.batch);
    builder_->keras_init = train.init == "keras";
    builder_->one_sample = opts_.one_sample;
    read_inputs(root);
    if (!condition_inputs_.empty()) model_.graph.config.emplace_back("condition_inputs", condition_inputs_);
    for (const auto &[name, classes] : label_inputs_) {  // runtime/data/feed.h fills it
      model_.graph.config.emplace_back("label_input", name);
      model_.graph.config.emplace_back("label_classes", classes);
    }
    for (const std::string &s : kTensorSections) read_tensors(root, s);
    if (diags_.has_errors() && tensors_seen_ == 0) return std::nullopt;
    lower_all();
    if (builder_->samples() > 1) model_.graph.config.emplace_back("samples", builder_->samples());
    check_losses(root);
    if (diags_.has_errors()) return std::nullopt;
    warn_unused();
    if (!verify_graph(model_.graph, diags_)) {
      diags_.error(Loc{file_, 0, 0}, "internal error: the lowered graph does not verify (please report)");
      return std::nullopt;
    }
    if (!verify_batch_axes(model_.graph, diags_)) return std::nullopt;
    build_summary();
    // The densities the model declares: on a copy, so training never
    // computes the inspection's outputs.
    Graph trained = model_.graph;
    if (declare_densities(*builder_, model_.graph, data_input_)) model_.inspection = std::move(model_.graph);
    model_.graph = std::move(trained);
    return std::move(model_);
  }

private:
  std::string read_name(const YNode &root) {
    std::string stem = file_;
    if (size_t s = stem.find_last_of('/'); s != std::string::npos) stem = stem.substr(s + 1);
    if (size_t d = stem.find('.'); d != std::string::npos) stem = stem.substr(0, d);
    std::string name;
    for (char c : stem) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (!is_identifier(name)) name = "model";
    const YNode *n = root.get("model");
    if (!n) return name;
    if (n->kind != YNode::Scalar || !is_identifier(n->value)) {
      diags_.error(n->loc, "the model name must be an identifier such as mnist_mlp, got " + kind_name(*n));
      return name;
    }
    return n->value;
  }

  // label(K): K classes, 2..100000.
  bool read_label_input(const YNode &key, const YNode &v, int64_t &classes) {
    auto e = parse_expr(v.value, [&](int offset) { return v.value_loc(offset); }, diags_);
    if (!e) return false;
    if (e->kind != Expr::Call || e->text != "label" || e->args.size() != 1 || !e->kwargs.empty() ||
        e->args[0].kind != Expr::Number || !e->args[0].is_integer) {
      diags_.error(e->loc, "a label input is written label(CLASSES), e.g. " + key.value + ": label(10)", e->length);
      return false;
    }
    classes = static_cast<int64_t>(e->args[0].number);
    if (!(e->args[0].number >= 2 && e->args[0].number <= 100000)) {
      diags_.error(e->args[0].loc, "label() takes the number of classes, 2 to 100000, got " + e->args[0].text,
                   e->args[0].length);
      return false;
    }
    if (!label_inputs_.empty()) {
      diags_.error(key.loc, "input '" + key.value + "' is a second label input besides '" + label_inputs_[0].first +
                                "'; the data has one label per example",
                   static_cast<int>(key.value.size()));
      return false;
    }
    return true;
  }


  void read_inputs(const YNode &root) {
    const YNode *in = root.get("input");
    if (!in) {
      diags_.error(Loc{file_, 0, 0}, "the model has no 'input' section; add one such as 'input: {x: [784]}'");
      builder_->names_incomplete = true;
      return;
    }
    if (in->kind != YNode::Map || in->entries.empty()) {
      diags_.error(in->loc, "'input' must map names to per-example shapes, e.g. {x: [784]} or {x: [1, 28, 28]}, "
                            "got " + kind_name(*in));
      builder_->names_incomplete = true;
      return;
    }
    for (const auto &[key, v] : in->entries) {
      if (!check_new_name(key, "inputs")) continue;
      // A shape that cannot be read still defines the name, so uses of it
      // are not reported as undefined.
      auto failed = [&] {
        TensorDef t;
        t.name = key.value;
        t.section = "inputs";
        t.loc = key.loc;
        t.state = TensorDef::Failed;
        add_tensor(std::move(t));
      };
      // y: label(10): the data's labels, one-hot per example (f32[batch, 10]).
      Dims dims;
      if (v.kind == YNode::Scalar && v.value.rfind("label", 0) == 0) {
        int64_t classes = 0;
        if (!read_label_input(key, v, classes)) {
          failed();
          continue;
        }
        dims = {classes};
        label_inputs_.emplace_back(key.value, classes);
      } else {
        if (v.kind != YNode::Seq || v.items.empty() || v.items.size() > 6) {
          diags_.error(v.loc, "the shape of input '" + key.value + "' must be a list of 1 to 6 sizes, e.g. [784] "
                              "or [1, 28, 28] (batch excluded), or label(CLASSES) for the data's labels, got " +
                              kind_name(v));
          failed();
          continue;
        }
        bool ok = true;
        for (const YNode &d : v.items) {
          int64_t x;
          ok = read_int(d, "a dimension of input '" + key.value + "'", 1, 1 << 24, x, diags_) && ok;
          dims.push_back(x);
        }
        if (!ok) {
          failed();
          continue;
        }
        // The first input holds the data's examples; each later one is a
        // condition, the data's array of that name (runtime/data/feed.h).
        if (!data_input_.empty()) condition_inputs_ += (condition_inputs_.empty() ? "" : ",") + key.value;
        else data_input_ = key.value;
      }
      int node = builder_->add_input(key.value, dims, key.loc, static_cast<int>(key.value.size()));
      TensorDef t;
      t.name = key.value;
      t.section = "inputs";
      t.loc = key.loc;
      t.parsed = node >= 0;
      t.state = node >= 0 ? TensorDef::Done : TensorDef::Failed;
      t.node = node;
      t.op = "input";
      add_tensor(std::move(t));
    }
  }

  bool check_new_name(const YNode &key, const std::string &section) {
    if (key.kind != YNode::Scalar) return false;
    const std::string &n = key.value;
    int len = static_cast<int>(n.size()) + (key.quoted ? 2 : 0);
    if (n.size() > kMaxNameLength) {
      diags_.error(key.loc, "tensor name '" + n.substr(0, 16) + "...' is " + std::to_string(n.size()) +
                                " characters long; a name may have at most " + std::to_string(kMaxNameLength),
                   len);
      return false;
    }
    if (!is_identifier(n)) {
      diags_.error(key.loc, "'" + n + "' is not a valid tensor name (letters, digits and _, not starting with a digit)",
                   len);
      return false;
    }
    if (n == "batch") {
      diags_.error(key.loc, "'batch' is reserved: it names the batch size", len);
      return false;
    }
    auto it = builder_->tensor_index.find(n);
    if (it != builder_->tensor_index.end()) {
      Diagnostic &d = diags_.error(key.loc, "tensor '" + n + "' is defined twice", len);
      const TensorDef &first = builder_->tensors[it->second];
      Diagnostics::note(d, first.loc, "first definition of '" + n + "' (in " +
                                          (first.section == "inputs" ? "input" : first.section) + ")");
      return false;
    }
    (void)section;
    return true;
  }

  void add_tensor(TensorDef t) {
    builder_->tensor_index[t.name] = static_cast<int>(builder_->tensors.size());
    builder_->tensors.push_back(std::move(t));
  }

  void read_tensors(const YNode &root, const std::string &section) {
    const YNode *s = root.get(section);
    if (!s) {
      if (section == "sampler") return;
      std::string example = section == "encoder" ? "mu: dense(x, 20)"
                            : section == "decoder" ? "x_hat: sigmoid(dense(z, 784))"
                                                   : "total: sum(bce(x_hat, x))";
      diags_.error(Loc{file_, 0, 0}, "the model has no '" + section + "' section; add one such as '" + section +
                                         ": {" + example + "}'");
      return;
    }
    if (s->kind != YNode::Map || s->entries.empty()) {
      diags_.error(s->loc, "'" + section + "' must map tensor names to expressions, e.g. "
                           "'h: dense(x, 400, act=relu)', got " + kind_name(*s));
      builder_->names_incomplete = true;
      return;
    }
    for (const auto &[key, v] : s->entries) {
      if (!check_new_name(key, section)) continue;
      ++tensors_seen_;
      TensorDef t;
      t.name = key.value;
      t.section = section;
      t.loc = key.loc;
      if (v.kind == YNode::Scalar && !v.value.empty()) {
        auto e = parse_expr(v.value, [&](int offset) { return v.value_loc(offset); }, diags_);
        if (e) {
          t.expr = std::move(*e);
          t.parsed = true;
          t.op = expr_summary(t.expr);
        }
      } else {
        diags_.error(v.kind == YNode::Null ? key.loc : v.loc,
                     "tensor '" + key.value + "' needs an expression, e.g. '" + key.value +
                         ": dense(x, 400, act=relu)', got " + kind_name(v));
      }
      if (!t.parsed) t.state = TensorDef::Failed;
      add_tensor(std::move(t));
    }
  }

  // What the summary shows in its "Op" column for an expression.
  void lower_all() {
    for (size_t i = 0; i < builder_->tensors.size(); ++i) builder_->lower_tensor(static_cast<int>(i));
  }

  void check_losses(const YNode &root) {
    const YNode *losses = root.get("losses");
    if (!losses || losses->kind != YNode::Map || losses->entries.empty()) return;
    bool total = false;
    const Graph &g = model_.graph;
    // Scalars are the losses; other entries are terms that some loss uses
    // (an IWAE's per-sample log weights).
    std::vector<bool> used(g.nodes.size(), false);
    for (const TensorDef &t : builder_->tensors)
      if (t.section == "losses" && t.state == TensorDef::Done && g.nodes[t.node].dims.empty()) used[t.node] = true;
    for (size_t i = g.nodes.size(); i-- > 0;)
      if (used[i])
        for (int o : g.nodes[i].operands) used[o] = true;
    for (const TensorDef &t : builder_->tensors) {
      if (t.section != "losses") continue;
      if (t.name == "total") total = true;
      if (t.state != TensorDef::Done) continue;
      const Dims &d = model_.graph.nodes[t.node].dims;
      if (d.empty())
        model_.graph.outputs.emplace_back(t.name, t.node);
      else if (!used[t.node] || t.name == "total")
        diags_.error(t.loc, "loss '" + t.name + "' must be a scalar, but it is f32" + dims_str(d) +
                                "; reduce it with sum(...) or mean(...)" +
                                (t.name == "total" ? "" : " (or use it in another loss)"),
                     static_cast<int>(t.name.size()));
    }
    for (const auto &[stat, value] : builder_->updates) model_.graph.outputs.emplace_back("update." + stat, value);
    if (!total) {
      Loc at = losses->loc;
      for (const auto &[k, v] : root.entries)
        if (&v == losses) at = k.loc;
      diags_.error(at, "'losses' has no 'total': name the loss to minimise, e.g. 'total: recon + kl'", 6);
    }
  }

  void warn_unused() {
    const Graph &g = model_.graph;
    std::vector<bool> used(g.nodes.size(), false);
    for (const auto &[name, n] : g.outputs) used[n] = true;
    for (size_t i = g.nodes.size(); i-- > 0;)
      if (used[i])
        for (int o : g.nodes[i].operands) used[o] = true;
    for (const TensorDef &t : builder_->tensors)
      if (t.state == TensorDef::Done && !used[t.node] && t.section != "losses")
        diags_.warning(t.loc, "tensor '" + t.name + "' does not contribute to any loss",
                       static_cast<int>(t.name.size()));
  }

  void build_summary() {
    std::map<std::string, int64_t> params;
    for (const auto &[node, owner] : builder_->param_owner)
      params[owner] += checked_elements(model_.graph.nodes[node].dims);
    for (const TensorDef &t : builder_->tensors) {
      SummaryRow r;
      r.tensor = t.name;
      r.section = t.section;
      r.op = t.op;
      r.dims = model_.graph.nodes[t.node].dims;
      if (auto it = params.find(t.name); it != params.end()) r.params = it->second;
      model_.rows.push_back(std::move(r));
    }
  }

  std::string file_;
  Diagnostics &diags_;
  LoadOptions opts_;
  Model model_;
  std::string data_input_;        // the input of examples
  std::string condition_inputs_;  // the other inputs, comma-separated: arrays of the data
  std::vector<std::pair<std::string, int64_t>> label_inputs_;  // name, classes (at most one)
  int tensors_seen_ = 0;
  std::optional<GraphBuilder> builder_;
};

}  // namespace

std::string bundled_data_dir(const LoadOptions &options) {
  std::string dir = VAEC_DEFAULT_DATA_DIR;
  if (!options.data_dir.empty()) dir = options.data_dir;
  else if (const char *env = std::getenv("VAEC_DATA_DIR"); env && *env) dir = env;
  // The plan keeps this path for the trainer, which may run from anywhere:
  // a relative one would be read from the trainer's working directory.
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  std::string out = ec ? dir : abs.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

const std::vector<std::string> &model_sections() {
  static const std::vector<std::string> s = {"model", "input", "encoder", "sampler", "decoder", "losses", "train"};
  return s;
}

std::optional<Model> load_model(const std::string &file, const std::string &text, Diagnostics &diags,
                                const LoadOptions &options) {
  auto root = parse_yaml(file, text, diags);
  if (!root) return std::nullopt;
  ModelReader reader(file, diags, options);
  std::optional<Model> model = reader.read(*root);
  if (!model || options.one_sample || !model->graph.config_value("samples")) return model;
  LoadOptions one = options;
  one.one_sample = true;
  Diagnostics quiet;  // the same file: it has no other errors to tell
  ModelReader again(file, quiet, one);
  std::optional<Model> single = again.read(*root);
  if (single) model->inspection = single->inspection.nodes.empty() ? std::move(single->graph) : std::move(single->inspection);
  return model;
}

}  // namespace vaec
