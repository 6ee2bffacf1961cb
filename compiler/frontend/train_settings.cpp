// The train section of vae.yaml: data, batch, optimizer, schedule and the
// other training settings (contract in train_settings.h).
#include "frontend/train_settings.h"

#include <charconv>
#include <cmath>
#include <filesystem>

#include "frontend/expr.h"
#include "frontend/scalars.h"

namespace vaec {
namespace {

const std::vector<std::string> kTrainKeys = {"data",  "test",   "validation", "scale",     "binarize", "standardize",
                                             "label", "batch",  "epochs",     "optimizer", "schedule", "warmup",
                                             "early_stopping", "clip_grad_norm", "seed", "init", "precision",
                                             "conv_algorithm"};
const std::vector<std::string> kPrecisions = {"f32", "bf16"};
const std::vector<std::string> kConvAlgorithms = {"direct", "winograd"};
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

class TrainReader {
public:
  TrainReader(const std::string &file, const TrainPlaces &places, Diagnostics &diags, Attrs &cfg)
      : file_(file), diags_(diags), places_(places), cfg_(cfg) {}

  TrainSection read(const YNode *t) {
    Attrs &cfg = cfg_;
    int64_t batch = 128, epochs = 10, seed = 1, patience = 0;
    std::string data = "mnist", data_path = places_.bundled_data + "/mnist", test, test_path, binarize = "none",
                label, precision = "f32", conv_algorithm = "direct";
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
        if (k == "batch") read_int(v, "train.batch", 1, 1 << 20, batch, diags_);
        else if (k == "epochs") read_int(v, "train.epochs", 0, 1000000, epochs, diags_);
        else if (k == "seed") read_int(v, "train.seed", 0, INT64_C(0xffffffff), seed, diags_);
        else if (k == "init") read_choice(v, "train.init", "initialisation", kInits, init_);
        else if (k == "precision") read_choice(v, "train.precision", "precision", kPrecisions, precision);
        else if (k == "conv_algorithm")
          read_choice(v, "train.conv_algorithm", "convolution algorithm", kConvAlgorithms, conv_algorithm);
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
          read_int(v, "train.early_stopping (epochs without a better test or validation loss)", 1, 1000000, patience, diags_);
        } else if (k == "warmup") {
          if (read_number(v, "train.warmup", warmup) && !(warmup >= 0 && warmup <= 1e6))
            diags_.error(v.loc, "train.warmup is the epochs of linear learning-rate warm-up, 0 or more, got " + v.value,
                         static_cast<int>(v.value.size()));
        } else {
          std::string hint = did_you_mean(k, kTrainKeys);
          if (k == "lr" || k == "learning_rate") hint = "; set it as optimizer: adam(lr=...)";
          if (hint.empty())
            hint = "; the keys of train are data, test, validation, scale, binarize, standardize, label, batch, "
                   "epochs, optimizer, schedule, warmup, early_stopping, clip_grad_norm, seed, init, precision and "
                   "conv_algorithm";
          diags_.error(key.loc, "unknown key 'train." + k + "'" + hint, static_cast<int>(k.size()));
        }
      }
    }
    if (standardize && binarize != "none" && standardize_at && binarize_at)
      diags_.error(binarize_at->loc, "train.binarize and train.standardize exclude each other: binarized values are "
                                     "0 or 1, standardized ones centred on 0");
    batch_ = places_.batch > 0 ? places_.batch : batch;
    cfg.emplace_back("batch", batch_);
    cfg.emplace_back("data", data);
    cfg.emplace_back("data_path", data_path);
    if (!test_path.empty()) cfg.emplace_back("test_path", test_path);
    if (validation > 0) cfg.emplace_back("validation", validation);
    if (scale > 0) cfg.emplace_back("scale", scale);
    if (binarize != "none") cfg.emplace_back("binarize", binarize);
    if (standardize) cfg.emplace_back("standardize", std::string("yes"));
    if (precision != "f32") cfg.emplace_back("precision", precision);
    if (conv_algorithm != "direct") cfg.emplace_back("conv_algorithm", conv_algorithm);
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
    return {batch_, init_};
  }

private:
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
      path = places_.bundled_data + (t == "mnist" ? "/mnist" : "/fashion");
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

  std::string file_;
  Diagnostics &diags_;
  const TrainPlaces &places_;
  Attrs &cfg_;
  int64_t batch_ = 128;
  std::string init_ = "pytorch";  // train.init
};

}  // namespace

void read_schedule(const YNode &v, Diagnostics &diags, std::string &name, double &every, double &gamma) {
  const char *usage = "train.schedule is constant, cosine or step(every=EPOCHS, gamma=FACTOR)";
  if (v.kind != YNode::Scalar) {
    diags.error(v.loc, std::string(usage) + ", got " + kind_name(v));
    return;
  }
  auto e = parse_expr(v.value, [&](int offset) { return v.value_loc(offset); }, diags);
  if (!e) return;
  if ((e->kind != Expr::Name && e->kind != Expr::Call) ||
      (e->text != "constant" && e->text != "cosine" && e->text != "step")) {
    std::string hint = e->kind == Expr::Name || e->kind == Expr::Call ? did_you_mean(e->text, {"constant", "cosine", "step"}) : "";
    diags.error(e->loc, "unknown schedule '" + expr_to_string(*e) + "'" + (hint.empty() ? std::string("; ") + usage : hint),
                 e->length);
    return;
  }
  name = e->text;
  if (!e->args.empty()) diags.error(e->args[0].loc, "schedule settings are named, e.g. step(every=10, gamma=0.5)");
  for (size_t i = 0; i < e->kwargs.size(); ++i) {
    const auto &[k, val] = e->kwargs[i];
    if (name != "step" || (k != "every" && k != "gamma")) {
      diags.error(e->kwarg_locs[i], "unknown setting '" + k + "' for schedule " + name +
                                         (name == "step" ? "; its settings are every and gamma" : "; it has none"),
                   static_cast<int>(k.size()));
      continue;
    }
    if (val.kind != Expr::Number || !(val.number > 0) || (k == "gamma" && !(val.number <= 1))) {
      diags.error(val.loc, "step " + k + " must be a number " + (k == "every" ? "> 0 (epochs)" : "in (0, 1]"),
                   val.length);
      continue;
    }
    (k == "every" ? every : gamma) = val.number;
  }
}

TrainSection read_train(const YNode *t, const std::string &file, const TrainPlaces &places, Diagnostics &diags,
                        Attrs &config) {
  return TrainReader(file, places, diags, config).read(t);
}

}  // namespace vaec
