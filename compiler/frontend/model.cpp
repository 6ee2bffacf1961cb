// The vae.yaml schema: top-level sections, input shapes, training settings,
// tensor tables; then lowering in definition order and the checks that need
// the whole model (losses, unused tensors). Contract in model.h.
#include "frontend/model.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <cmath>
#include <map>
#include <set>

#include "frontend/lower.h"
#include "frontend/train_settings.h"
#include "frontend/yaml_tree.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace vaec {
namespace {

const std::vector<std::string> kTensorSections = {"encoder", "sampler", "decoder", "losses"};
const std::vector<std::string> kTrainKeys = {"data",  "test",   "validation", "scale",     "binarize", "standardize",
                                             "label", "batch",  "epochs",     "optimizer", "schedule", "warmup",
                                             "early_stopping", "clip_grad_norm", "seed", "init", "precision"};
const std::vector<std::string> kPrecisions = {"f32", "bf16"};
const std::vector<std::string> kBinarize = {"none", "static", "dynamic"};
const std::vector<std::string> kInits = {"pytorch", "keras"};
const std::vector<std::string> kDataSets = {"mnist", "fashion_mnist"};

struct OptimizerSpec {
  std::string name;
  std::vector<std::pair<std::string, double>> defaults;  // lr first
};
// Defaults: Adam and SGD as PyTorch, RMSprop as Keras (the book trains with it).
const std::vector<OptimizerSpec> kOptimizers = {
    {"adam", {{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}}},
    // AdamW (Loshchilov & Hutter): decoupled weight decay, PyTorch's default 0.01.
    {"adamw", {{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", 0.01}}},
    {"rmsprop", {{"lr", 1e-3}, {"rho", 0.9}, {"eps", 1e-7}}},
    {"sgd", {{"lr", 1e-2}, {"momentum", 0.0}}},
};

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
    read_train(root.get("train"));
    builder_.emplace(model_.graph, diags_, batch_);
    builder_->keras_init = init_ == "keras";
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

  // A YAML scalar as an integer in [lo, hi].
  // `out` keeps its value (a default) unless the scalar is a valid integer.
  bool read_int(const YNode &n, const std::string &what, int64_t lo, int64_t hi, int64_t &out) {
    if (n.kind == YNode::Scalar && !n.quoted) {
      const std::string &v = n.value;
      int64_t value = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
      if (ec == std::errc() && p == v.data() + v.size()) {
        if (value >= lo && value <= hi) {
          out = value;
          return true;
        }
        diags_.error(n.loc, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                ", got " + v, static_cast<int>(v.size()));
        return false;
      }
      if (ec == std::errc::result_out_of_range) {
        diags_.error(n.loc, what + " " + v + " is out of range", static_cast<int>(v.size()));
        return false;
      }
    }
    diags_.error(n.loc, what + " must be an integer, got " + kind_name(n));
    return false;
  }

  // A path from the model file: relative to the model file's directory.
  std::string resolve(const std::string &path) const {
    namespace fs = std::filesystem;
    fs::path p(path);
    if (p.is_relative() && file_ != "-" && !file_.empty()) p = fs::path(file_).parent_path() / p;
    std::error_code ec;
    fs::path abs = fs::absolute(p, ec);
    return (ec ? p : abs).lexically_normal().string();
  }

  // train.data / train.test: a bundled name (data only) or a path.
  bool read_path(const YNode &v, const std::string &what, bool bundled_ok, std::string &name, std::string &path) {
    if (v.kind != YNode::Scalar || v.value.empty()) {
      diags_.error(v.loc, what + " must be " + (bundled_ok ? "mnist, fashion_mnist or " : "") +
                              "a path (a .npz, .npy, .csv, IDX file or a folder of PNGs), got " + kind_name(v));
      return false;
    }
    const std::string &t = v.value;
    if (t.find('\n') != std::string::npos || t.find('\0') != std::string::npos || t.size() > 4096) {
      diags_.error(v.loc, what + " is not a usable path");
      return false;
    }
    if (bundled_ok && std::find(kDataSets.begin(), kDataSets.end(), t) != kDataSets.end()) {
      name = t;
      path = bundled_data_dir(opts_) + (t == "mnist" ? "/mnist" : "/fashion");
      return true;
    }
    if (bundled_ok && t.find('/') == std::string::npos && t.find('.') == std::string::npos) {
      std::string hint = did_you_mean(t, kDataSets);
      diags_.error(v.loc, "unknown data set '" + t + "'" +
                              (hint.empty() ? "; choose mnist or fashion_mnist, or give a path such as ./" + t + ".npz"
                                            : hint),
                   static_cast<int>(t.size()));
      return false;
    }
    name = t;
    path = resolve(t);
    return true;
  }

  // A YAML scalar as a number; false after an error.
  bool read_number(const YNode &n, const std::string &what, double &out) {
    if (n.kind == YNode::Scalar && !n.quoted) {
      double v = 0;
      auto [p, ec] = std::from_chars(n.value.data(), n.value.data() + n.value.size(), v);
      if (ec == std::errc() && p == n.value.data() + n.value.size() && std::isfinite(v)) return out = v, true;
    }
    diags_.error(n.loc, what + " must be a number, got " + kind_name(n));
    return false;
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

  void read_train(const YNode *t) {
    auto &cfg = model_.graph.config;
    int64_t batch = 128, epochs = 10, seed = 1, patience = 0;
    std::string data = "mnist", data_path = bundled_data_dir(opts_) + "/mnist", test, test_path, binarize = "none",
                label, precision = "f32";
    double validation = 0, scale = 0, every = 1, gamma = 0.1, warmup = 0, clip = 0;
    std::string schedule = "constant";
    bool standardize = false;
    const YNode *binarize_at = nullptr, *standardize_at = nullptr;
    OptimizerSpec opt = kOptimizers[0];
    if (t && t->kind != YNode::Map && t->kind != YNode::Null) {
      diags_.error(t->loc, "'train' must be a mapping such as {data: mnist, batch: 128, epochs: 10, "
                           "optimizer: adam(lr=1e-3), seed: 1}");
      t = nullptr;
    }
    if (t) {
      for (const auto &[key, v] : t->entries) {
        const std::string &k = key.value;
        if (k == "batch") read_int(v, "train.batch", 1, 1 << 20, batch);
        else if (k == "epochs") read_int(v, "train.epochs", 0, 1000000, epochs);
        else if (k == "seed") read_int(v, "train.seed", 0, INT64_C(0xffffffff), seed);
        else if (k == "init") read_choice(v, "train.init", "initialisation", kInits, init_);
        else if (k == "precision") read_choice(v, "train.precision", "precision", kPrecisions, precision);
        else if (k == "data") read_path(v, "train.data", true, data, data_path);
        else if (k == "test") read_path(v, "train.test", false, test, test_path);
        else if (k == "validation") {
          if (read_number(v, "train.validation", validation) && !(validation > 0 && validation < 1))
            diags_.error(v.loc, "train.validation is the fraction of the training examples held out, between 0 and 1 "
                                "(e.g. 0.1), got " + v.value, static_cast<int>(v.value.size()));
        } else if (k == "scale") {
          if (v.kind == YNode::Scalar && v.value == "auto") scale = 0;
          else if (read_number(v, "train.scale", scale) && !(scale > 0))
            diags_.error(v.loc, "train.scale multiplies every value of the data and must be > 0 (or auto: uint8 / 255, "
                                "float data as stored), got " + v.value, static_cast<int>(v.value.size()));
        } else if (k == "binarize") {
          read_choice(v, "train.binarize", "binarization", kBinarize, binarize);
          binarize_at = &v;
        } else if (k == "standardize") {
          if (v.kind == YNode::Scalar && !v.quoted && (v.value == "true" || v.value == "yes")) standardize = true;
          else if (v.kind == YNode::Scalar && !v.quoted && (v.value == "false" || v.value == "no")) standardize = false;
          else diags_.error(v.loc, "train.standardize must be true or false, got " + kind_name(v));
          standardize_at = &v;
        } else if (k == "label") {
          if (v.kind != YNode::Scalar || v.value.empty() || v.value.size() > 256)
            diags_.error(v.loc, "train.label names the label column of a CSV table, got " + kind_name(v));
          else label = v.value;
        } else if (k == "optimizer") {
          read_optimizer(v, opt);
        } else if (k == "schedule") {
          read_schedule(v, diags_, schedule, every, gamma);
        } else if (k == "clip_grad_norm") {
          if (read_number(v, "train.clip_grad_norm", clip) && !(clip > 0))
            diags_.error(v.loc, "train.clip_grad_norm is the largest global norm of the gradients, > 0, got " + v.value,
                         static_cast<int>(v.value.size()));
        } else if (k == "early_stopping") {
          read_int(v, "train.early_stopping (epochs without a better test or validation loss)", 1, 1000000, patience);
        } else if (k == "warmup") {
          if (read_number(v, "train.warmup", warmup) && !(warmup >= 0 && warmup <= 1e6))
            diags_.error(v.loc, "train.warmup is the epochs of linear learning-rate warm-up, 0 or more, got " + v.value,
                         static_cast<int>(v.value.size()));
        } else {
          std::string hint = did_you_mean(k, kTrainKeys);
          if (k == "lr" || k == "learning_rate") hint = "; set it as optimizer: adam(lr=...)";
          if (hint.empty())
            hint = "; the keys of train are data, test, validation, scale, binarize, standardize, label, batch, "
                   "epochs, optimizer, schedule, warmup, early_stopping, clip_grad_norm, seed, init and precision";
          diags_.error(key.loc, "unknown key 'train." + k + "'" + hint, static_cast<int>(k.size()));
        }
      }
    }
    if (standardize && binarize != "none" && standardize_at && binarize_at)
      diags_.error(binarize_at->loc, "train.binarize and train.standardize exclude each other: binarized values are "
                                     "0 or 1, standardized ones centred on 0");
    batch_ = opts_.batch > 0 ? opts_.batch : batch;
    cfg.emplace_back("batch", batch_);
    cfg.emplace_back("data", data);
    cfg.emplace_back("data_path", data_path);
    if (!test_path.empty()) cfg.emplace_back("test_path", test_path);
    if (validation > 0) cfg.emplace_back("validation", validation);
    if (scale > 0) cfg.emplace_back("scale", scale);
    if (binarize != "none") cfg.emplace_back("binarize", binarize);
    if (standardize) cfg.emplace_back("standardize", std::string("yes"));
    if (precision != "f32") cfg.emplace_back("precision", precision);
    if (!label.empty()) cfg.emplace_back("label", label);
    cfg.emplace_back("epochs", epochs);
    cfg.emplace_back("optimizer", opt.name);
    for (const auto &[k, v] : opt.defaults) cfg.emplace_back(k, v);
    if (schedule != "constant") cfg.emplace_back("schedule", schedule);
    if (schedule == "step") cfg.emplace_back("schedule_every", every), cfg.emplace_back("schedule_gamma", gamma);
    if (warmup > 0) cfg.emplace_back("warmup", warmup);
    if (patience > 0) cfg.emplace_back("early_stopping", patience);
    if (clip > 0) cfg.emplace_back("clip_grad_norm", clip);
    cfg.emplace_back("seed", seed);
    if (init_ != "pytorch") cfg.emplace_back("init", init_);  // the default goes unsaid
  }

  // A scalar naming one of `choices` (e.g. train.data: mnist), with "did you
  // mean" for near misses.
  void read_choice(const YNode &v, const std::string &what, const std::string &noun,
                   const std::vector<std::string> &choices, std::string &out) {
    std::string listed;
    for (size_t i = 0; i < choices.size(); ++i)
      listed += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
    if (v.kind != YNode::Scalar) {
      diags_.error(v.loc, what + " must be " + listed + ", got " + kind_name(v));
    } else if (std::find(choices.begin(), choices.end(), v.value) != choices.end()) {
      out = v.value;
    } else {
      std::string hint = did_you_mean(v.value, choices);
      diags_.error(v.loc, "unknown " + noun + " '" + v.value + "'" + (hint.empty() ? "; choose " + listed : hint),
                   static_cast<int>(v.value.size()));
    }
  }

  void read_optimizer(const YNode &v, OptimizerSpec &opt) {
    if (v.kind != YNode::Scalar) {
      diags_.error(v.loc, "train.optimizer must be written like adam(lr=1e-3), got " + kind_name(v));
      return;
    }
    auto e = parse_expr(v.value, [&](int offset) { return v.value_loc(offset); }, diags_);
    if (!e) return;
    if (e->kind != Expr::Name && e->kind != Expr::Call) {
      diags_.error(e->loc, "train.optimizer must be written like adam(lr=1e-3)");
      return;
    }
    std::vector<std::string> names;
    for (const OptimizerSpec &o : kOptimizers) names.push_back(o.name);
    const OptimizerSpec *spec = nullptr;
    for (const OptimizerSpec &o : kOptimizers)
      if (o.name == e->text) spec = &o;
    if (!spec) {
      std::string hint = did_you_mean(e->text, names);
      diags_.error(e->loc, "unknown optimizer '" + e->text + "'" + (hint.empty() ? "; choose adam, adamw, rmsprop or sgd" : hint),
                   e->length);
      return;
    }
    opt = *spec;
    if (!e->args.empty())
      diags_.error(e->args[0].loc, "optimizer settings are named, e.g. " + opt.name + "(lr=1e-3)", e->args[0].length);
    for (size_t i = 0; i < e->kwargs.size(); ++i) {
      const auto &[k, val] = e->kwargs[i];
      auto it = std::find_if(opt.defaults.begin(), opt.defaults.end(), [&](auto &p) { return p.first == k; });
      if (it == opt.defaults.end()) {
        std::vector<std::string> keys;
        for (const auto &p : opt.defaults) keys.push_back(p.first);
        std::string hint = did_you_mean(k, keys);
        std::string all;
        for (const std::string &key : keys) all += (all.empty() ? "" : ", ") + key;
        diags_.error(e->kwarg_locs[i], "unknown setting '" + k + "' for " + opt.name +
                                           (hint.empty() ? "; its settings are " + all : hint),
                     static_cast<int>(k.size()));
        continue;
      }
      if (val.kind != Expr::Number || !(val.number >= 0) || (k == "lr" && val.number <= 0) ||
          ((k == "beta1" || k == "beta2" || k == "rho" || k == "momentum" || k == "weight_decay") && val.number >= 1)) {
        diags_.error(val.loc, opt.name + " " + k + " must be a number" +
                                  (k == "lr" ? " > 0" : k == "eps" ? " >= 0" : " in [0, 1)") + ", got " +
                                  (val.kind == Expr::Number ? val.text : expr_to_string(val)), val.length);
        continue;
      }
      it->second = val.number;
    }
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
          ok = read_int(d, "a dimension of input '" + key.value + "'", 1, 1 << 24, x) && ok;
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
  int64_t batch_ = 128;
  std::string init_ = "pytorch";  // train.init
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
