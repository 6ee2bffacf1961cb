// The inspection commands (contract in inspect.h): one picture, table or
// file per command, on a Session started by session_setup.cpp.
#include "inspect/inspect.h"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "exec/executor.h"
#include "support/files.h"
#include "support/image.h"
#include "inspect/model_parts.h"
#include "abi/philox.h"
#include "support/plot.h"
#include "support/text.h"
#include "abi/normal_quantile.h"
#include "inspect/options.h"
#include "inspect/safetensors.h"
#include "inspect/session.h"

namespace vaec::rt {

int Session::write(const Image &im) {
  std::string error;
  if (im.empty()) return fail("nothing to draw");
  if (!write_png(png_path(), im, error)) return fail(error);
  std::printf("wrote %s (%dx%d)\n", png_path().c_str(), im.width, im.height);
  return 0;
}

int Session::run() {
  std::string error;
  const bool needs_data = command_ != "sample" && command_ != "manifold" && command_ != "export";
  if (!load_checkpoint(error)) return fail(error);
  if (command_ == "export") return export_weights();
  // eval's executor is made for the test set's last, partial batch.
  if (command_ == "eval" && !load_test_data(error)) return fail(error);
  if (!start_model(error)) return fail(error);
  if (needs_data && !parts_->can_encode(error)) return fail(error);
  if (command_ != "scatter" && !parts_->can_decode(error)) return fail(error);
  if (needs_data && command_ != "eval" && !load_test_data(error)) return fail(error);
  if (needs_data && parts_->takes_labels() && !need_labels(command_ + " (the model conditions on labels)", error))
    return fail(error);
  if (!chosen_conditions(error)) return fail(error);
  if (command_ == "reconstruct") return reconstruct();
  if (command_ == "sample") return sample();
  if (command_ == "manifold") return manifold();
  if (command_ == "interpolate") return interpolate();
  if (command_ == "scatter") return scatter();
  if (command_ == "concept") return concept_strip();
  return eval();
}

int Session::reconstruct() {
  int64_t count = 16;
  if (!to_int(a_.get("count", "16"), 1, this->count(), count)) return fail("bad value for --count");
  std::vector<int64_t> indices(count);
  std::iota(indices.begin(), indices.end(), 0);
  const Rows mu = mu_of(indices);
  const Rows mean = parts_->decode(mu.data.data(), count);
  const int64_t cols = std::min<int64_t>(count, 8), groups = (count + cols - 1) / cols, px = mean.row;
  const std::vector<float> x = first_rows(count);
  image_size(px);
  std::vector<float> tiles(groups * 2 * cols * px, 1.0f);  // white where a row runs out
  for (int64_t i = 0; i < count; ++i) {
    float *orig = tiles.data() + ((i / cols) * 2 * cols + i % cols) * px, *rec = orig + cols * px;
    std::copy(x.begin() + i * px, x.begin() + (i + 1) * px, orig);
    std::copy(mean.at(i), mean.at(i) + px, rec);
  }
  if (a_.has("json")) {  // every encode output and the reconstruction of each image, for comparisons
    std::ostringstream f;
    f.precision(9);
    f << "{\"model\": \"" << plan_.model << "\", \"images\": " << count << ", \"encode\": {";
    for (size_t o = 0; o < plan_.encode.outputs.size(); ++o) {
      const Rows r = parts_->encode(x.data(), count, plan_.encode.outputs[o].name);
      f << (o ? ", " : "") << "\"" << plan_.encode.outputs[o].name << "\": [";
      for (int64_t i = 0; i < count; ++i) {
        f << (i ? ", [" : "[");
        for (int64_t j = 0; j < r.row; ++j) f << (j ? ", " : "") << r.at(i)[j];
        f << "]";
      }
      f << "]";
    }
    f << "}, \"mean\": [";
    for (int64_t i = 0; i < count; ++i) {
      f << (i ? ", [" : "[");
      for (int64_t j = 0; j < mean.row; ++j) f << (j ? ", " : "") << mean.at(i)[j];
      f << "]";
    }
    f << "]}\n";
    std::string error;
    if (!replace_file(a_.get("json", ""), f.str(), false, error)) return fail(error);
    std::printf("wrote %s\n", a_.get("json", "").c_str());
  }
  return write(grid(tiles.data(), groups * 2 * cols, int(cols)));
}

int Session::sample() {
  int64_t count = 64, seed = 1;
  if (!to_int(a_.get("count", "64"), 1, 10000, count)) return fail("bad value for --count");
  if (!to_int(a_.get("seed", "1"), 0, INT64_MAX, seed)) return fail("bad value for --seed");
  const int64_t L = parts_->latent();
  std::string error;
  int32_t label;
  if (!chosen_label(label, error)) return fail(error);
  int64_t columns = std::min<int64_t>(count, 8);
  if (parts_->takes_labels()) {  // --label D for every draw, else class c in column c
    const int64_t K = parts_->label_classes();
    if (label < 0 && K <= 16) columns = std::min(count, K);
    std::vector<int32_t> labels(count);
    for (int64_t i = 0; i < count; ++i) labels[i] = label >= 0 ? label : int32_t(i % columns);
    parts_->set_labels(labels);
    if (label >= 0) std::printf("sampling with label %d\n", label);
    else std::printf("sampling with label c in column c (0..%lld)\n", (long long)columns - 1);
  }
  std::vector<float> z(count * L);
  for (int64_t i = 0; i < count * L; ++i) z[i] = float(philox_normal(uint64_t(seed), 0, 0, uint64_t(i)));
  const Rows mean = parts_->decode(z.data(), count);
  image_size(mean.row);
  return write(grid(mean.data.data(), count, int(columns)));
}

int Session::manifold() {
  int64_t n = 15;
  std::vector<int64_t> dims{0, 1};
  const int64_t L = parts_->latent();
  if (!to_int(a_.get("n", "15"), 2, 100, n)) return fail("bad value for --n (2..100)");
  if (L < 2) return fail("the latent has one dimension: a manifold needs two");
  if (!to_ints(a_.get("dims", "0,1"), 0, L - 1, dims) || dims.size() != 2 || dims[0] == dims[1])
    return fail("--dims takes two different latent dimensions in 0.." + std::to_string(L - 1));
  std::vector<double> grid(n);
  for (int64_t i = 0; i < n; ++i) grid[i] = normal_quantile(0.05 + 0.9 * double(i) / double(n - 1));
  std::vector<float> z(n * n * L, 0.0f);
  for (int64_t i = 0; i < n; ++i)  // row i: dims[1] at grid[i]; column j: dims[0] at grid[j]
    for (int64_t j = 0; j < n; ++j) {
      z[(i * n + j) * L + dims[0]] = float(grid[j]);
      z[(i * n + j) * L + dims[1]] = float(grid[i]);
    }
  std::string error;
  int32_t label;
  if (!chosen_label(label, error)) return fail(error);
  if (parts_->takes_labels()) {
    parts_->set_labels(std::vector<int32_t>(n * n, std::max(label, 0)));
    std::printf("manifold with label %d (--label D for another)\n", std::max(label, 0));
  }
  const Rows mean = parts_->decode(z.data(), n * n);
  image_size(mean.row);
  if (L > 2) std::printf("manifold over latent dimensions %lld and %lld of %lld, the others at 0\n",
                         (long long)dims[0], (long long)dims[1], (long long)L);
  return write(this->grid(mean.data.data(), n * n, int(n), 0));
}

int Session::interpolate() {
  std::string error;
  int64_t a, b, steps = 10;
  if (!pick(a_.get("from", "0"), -1, a, error) || !pick(a_.get("to", "1"), a, b, error)) return fail(error);
  if (!to_int(a_.get("steps", "10"), 1, 1000, steps)) return fail("bad value for --steps");
  const Rows mu = mu_of({a, b});
  const int64_t L = mu.row, px = plan_.encode.input_row;
  std::vector<float> z((steps + 1) * L);
  for (int64_t i = 0; i <= steps; ++i)
    for (int64_t j = 0; j < L; ++j) {
      const double t = double(i) / double(steps);
      z[i * L + j] = float(t * mu.at(1)[j] + (1 - t) * mu.at(0)[j]);
    }
  int32_t label;
  if (!chosen_label(label, error)) return fail(error);
  if (parts_->takes_labels())  // decode with --label D, else with image a's label
    parts_->set_labels(std::vector<int32_t>(steps + 1, label >= 0 ? label : set_->label(a)));
  const Rows mean = parts_->decode(z.data(), steps + 1);
  const std::vector<float> x = rows({a, b});
  image_size(px);
  std::vector<float> tiles((steps + 3) * px);
  std::copy(x.begin(), x.begin() + px, tiles.begin());
  std::copy(x.begin() + px, x.end(), tiles.begin() + (steps + 2) * px);
  std::copy(mean.data.begin(), mean.data.end(), tiles.begin() + px);
  auto label_text = [&](int64_t i) { return set_->has_labels() ? " (label " + std::to_string(set_->label(i)) + ")" : std::string(); };
  std::printf("interpolating from %s example %lld%s to %lld%s in %lld steps\n", set_name_.c_str(), (long long)a,
              label_text(a).c_str(), (long long)b, label_text(b).c_str(), (long long)steps);
  return write(grid(tiles.data(), steps + 3, int(steps + 3)));
}

int Session::scatter() {
  const int64_t L = plan_.encode.output("z_loc")->row;
  int64_t count = this->count();
  std::string error;
  if (!need_labels("scatter", error)) return fail(error);
  std::vector<int64_t> dims{0, std::min<int64_t>(1, L - 1)};
  if (!to_int(a_.get("count", std::to_string(count)), 1, count, count)) return fail("bad value for --count");
  if (a_.has("dims") && (!to_ints(a_.get("dims", ""), 0, L - 1, dims) || dims.size() != 2))
    return fail("--dims takes two latent dimensions in 0.." + std::to_string(L - 1));
  const std::vector<float> x = first_rows(count);
  parts_->set_labels(first_labels(count));
  use_first_examples(count);
  const Rows mu = parts_->encode(x.data(), count, "z_loc");
  std::vector<float> xs(count), ys(count);
  std::vector<int> labels(count);
  for (int64_t i = 0; i < count; ++i)
    xs[i] = mu.at(i)[dims[0]], ys[i] = mu.at(i)[dims[1]], labels[i] = set_->label(i);
  const std::string d0 = std::to_string(dims[0]), d1 = std::to_string(dims[1]);
  return write(plot_scatter(xs, ys, labels,
                            plan_.model + ": mu of " + grouped(count) + " " + set_name_ + " examples by label", "mu[" + d0 + "]",
                            "mu[" + d1 + "]"));
}

int Session::concept_strip() {
  std::vector<int64_t> labels{0, 1}, images{0, 1, 2, 3};
  int64_t strength = 2;
  if (!to_ints(a_.get("labels", "0,1"), 0, 255, labels) || labels.size() != 2)
    return fail("--labels takes two labels A,B: the concept is mean mu of A minus mean mu of B");
  std::string error;
  if (!need_labels("concept", error)) return fail(error);
  if (!to_ints(a_.get("images", "0,1,2,3"), 0, count() - 1, images))
    return fail("--images takes " + set_name_ + " example indices, e.g. 0,1,2");
  if (!to_int(a_.get("strength", "2"), 1, 10, strength)) return fail("bad value for --strength (1..10)");
  const std::vector<float> x = first_rows(count());
  parts_->set_labels(first_labels(count()));
  use_first_examples(count());
  const Rows all = parts_->encode(x.data(), count(), "z_loc");
  const int64_t L = all.row, px = plan_.encode.input_row;
  std::vector<double> sum[2] = {std::vector<double>(L), std::vector<double>(L)};
  int64_t n[2] = {0, 0};
  for (int64_t i = 0; i < all.count; ++i)
    for (int k = 0; k < 2; ++k)
      if (set_->label(i) == labels[k]) {
        ++n[k];
        for (int64_t j = 0; j < L; ++j) sum[k][j] += all.at(i)[j];
      }
  for (int k = 0; k < 2; ++k)
    if (n[k] == 0) return fail("no " + set_name_ + " example has label " + std::to_string(labels[k]));
  const int64_t cols = 2 * strength + 2;
  std::vector<float> z;
  for (int64_t img : images)
    for (int64_t s = -strength; s <= strength; ++s)
      for (int64_t j = 0; j < L; ++j)
        z.push_back(float(all.at(img)[j] + double(s) * (sum[0][j] / n[0] - sum[1][j] / n[1])));
  if (parts_->takes_labels()) {  // each image's strip decodes with its own label
    std::vector<int32_t> strip;
    for (int64_t img : images) strip.insert(strip.end(), cols - 1, set_->label(img));
    parts_->set_labels(strip);
  }
  const Rows mean = parts_->decode(z.data(), int64_t(z.size()) / L);
  std::vector<float> tiles;
  image_size(px);
  for (size_t r = 0; r < images.size(); ++r) {
    tiles.insert(tiles.end(), x.begin() + images[r] * px, x.begin() + (images[r] + 1) * px);
    tiles.insert(tiles.end(), mean.at(int64_t(r) * (cols - 1)), mean.at(int64_t(r + 1) * (cols - 1)));
  }
  std::printf("concept: mean mu of label %lld (%lld images) minus label %lld (%lld); columns: the image, then "
              "strengths %lld..%lld\n",
              (long long)labels[0], (long long)n[0], (long long)labels[1], (long long)n[1], (long long)-strength,
              (long long)strength);
  return write(grid(tiles.data(), int64_t(images.size()) * cols, int(cols)));
}

int Session::eval() {
  const int64_t total = count(), D = plan_.encode.input_row;
  int64_t images = total, iwae_images = std::min<int64_t>(1000, images), k = 5000, seed = int64_t(ckpt_.seed);
  if (!to_int(a_.get("images", std::to_string(images)), 1, total, images))
    return fail("--images must be from 1 to " + std::to_string(total));
  if (!to_int(a_.get("iwae-images", std::to_string(std::min(iwae_images, images))), 0, images, iwae_images))
    return fail("--iwae-images must be at most --images (" + std::to_string(images) + ")");
  if (!to_int(a_.get("k", "5000"), 1, 10'000'000, k)) return fail("bad value for --k");
  if (!to_int(a_.get("seed", std::to_string(seed)), 0, INT64_MAX, seed)) return fail("bad value for --seed");
  if (!parts_->has_scale())
    return fail("model '" + plan_.model + "' has no z_scale: its sampler is not z = loc + scale * normal_like(loc)");
  const std::vector<float> rows = first_rows(images);
  const float *x = rows.data();
  parts_->set_labels(first_labels(images));
  use_first_examples(images);
  const ModelParts::Elbo e = parts_->elbo(x, images, uint64_t(seed));
  double recon = 0, kl = 0;
  for (int64_t i = 0; i < images; ++i) recon += e.recon[i], kl += e.kl[i];
  recon /= double(images), kl /= double(images);
  const double neg_elbo = recon + kl, per_dim = 1.0 / (double(D) * std::log(2.0));
  // The model's own `total` on the same images and noise.
  double model_total = NAN;
  for (size_t l = 0; l < plan_.eval.losses.size(); ++l) {
    if (plan_.eval.losses[l].first != "total") continue;
    const std::string scaling = plan_.loss_scaling.count("total") ? plan_.loss_scaling.at("total") : "sum";
    const int64_t B = plan_.eval.batch;
    double sum = 0;  // of the loss, times its batch for "mean"
    int64_t batches = 0;
    for (int64_t first = 0; first < images; first += B, ++batches) {
      const int64_t n = std::min(B, images - first);
      std::memcpy(exec_->f32(plan_.eval.input), x + first * D, n * D * sizeof(float));
      if (plan_.eval.labels >= 0) {
        std::vector<int64_t> which(n);
        std::iota(which.begin(), which.end(), first);
        set_->fill_labels(which.data(), n, plan_.eval.label_classes, exec_->f32(plan_.eval.labels));
      }
      if (!plan_.eval.conditions.empty()) {
        std::vector<int64_t> which(n);
        std::iota(which.begin(), which.end(), first);
        for (const plan::Program::Condition &c : plan_.eval.conditions)
          set_->fill_array(c.name, which.data(), n, c.row, exec_->f32(c.buffer));
      }
      exec_->run(plan_.eval, kEvalStepBase + uint64_t(batches), n);
      sum += exec_->scalar(plan_.eval.losses[l].second) * (scaling == "mean" ? double(n) : 1.0);
    }
    model_total = scaling == "batch" ? sum / double(batches) : sum / double(images);
  }
  std::printf("model %s, checkpoint %s (epoch %lld, global step %llu)\n", plan_.model.c_str(), checkpoint_path_.c_str(),
              (long long)ckpt_.epoch, (unsigned long long)ckpt_.global_step);
  const data::Settings &ds = data_.settings;
  std::printf("data: the %s split of %s, %s%s%s\n", set_name_.c_str(),
              (set_name_ == "test" ? data_.test_owner() : data_.source).path.c_str(),
              ds.scale > 0 ? ("values times " + std::to_string(ds.scale)).c_str()
                           : data_.source.train.x.dtype == data::DType::U8 ? "pixel intensities byte/255 in [0, 1]"
                                                                         : "values as stored",
              ds.standardize ? ", standardized" : "",
              ds.binarize == data::Binarize::None ? ", not binarized"
              : ds.binarize == data::Binarize::Static ? ", binarized at 0.5"
                                                      : ", binarized by a fixed Bernoulli draw (epoch 0)");
  if (parts_->declared())
    std::printf("model: its declared densities (log_prob, kl): p(x|z) %s; KL = log q(z|x) - log p(z) at one z\n",
                plan_.recon.c_str());
  else
    std::printf("model: p(z) = N(0, I), q(z|x) = N(z_loc, z_scale^2), p(x|z) %s\n", parts_->likelihood_name().c_str());
  std::printf("-ELBO  %.2f nats/img (recon %.2f + KL %.2f) = %.4f bits/dim on %s %s images, one z each\n", neg_elbo,
              recon, kl, neg_elbo * per_dim, grouped(images).c_str(), set_name_.c_str());
  const bool same = std::isfinite(model_total) && std::fabs(model_total - neg_elbo) <= 1e-3 * std::fabs(neg_elbo);
  if (std::isfinite(model_total))
    std::printf("%s: the model's own loss 'total' is %.4g per image on the same images and noise\n",
                same ? "same as training's objective" : "note: not the objective the model was trained on",
                model_total);
  double iwae = NAN, elbo_subset = NAN;
  if (iwae_images > 0) {
    const std::vector<double> logp = parts_->iwae(x, iwae_images, k, uint64_t(seed));
    iwae = 0, elbo_subset = 0;
    for (int64_t i = 0; i < iwae_images; ++i) iwae -= logp[i], elbo_subset += e.recon[i] + e.kl[i];
    iwae /= double(iwae_images), elbo_subset /= double(iwae_images);
    std::printf("IWAE   -log p(x) ~ %.2f nats/img = %.4f bits/dim (k = %s) on the first %s %s images, "
                "whose -ELBO is %.2f\n",
                iwae, iwae * per_dim, grouped(k).c_str(), grouped(iwae_images).c_str(), set_name_.c_str(), elbo_subset);
  }
  auto num = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return std::isfinite(v) ? std::string(buf) : std::string("null");
  };
  std::printf("EVAL {\"model\": \"%s\", \"images\": %lld, \"neg_elbo\": %s, \"recon\": %s, \"kl\": %s, "
              "\"neg_elbo_bits_per_dim\": %s, \"model_total\": %s, \"iwae_images\": %lld, \"k\": %lld, "
              "\"iwae_nll\": %s, \"iwae_bits_per_dim\": %s, \"neg_elbo_iwae_images\": %s, \"binarized\": %s}\n",
              plan_.model.c_str(), (long long)images, num(neg_elbo).c_str(), num(recon).c_str(), num(kl).c_str(),
              num(neg_elbo * per_dim).c_str(), num(model_total).c_str(), (long long)iwae_images, (long long)k,
              num(iwae).c_str(), num(iwae * per_dim).c_str(), num(elbo_subset).c_str(),
              data_.settings.binarize == data::Binarize::None ? "false" : "true");
  return 0;
}

int Session::export_weights() {
  const std::string path = a_.get("file", dir_ + "/model.safetensors");
  std::vector<NamedTensor> tensors;
  const float *base = ckpt_.regions[0].data();
  const int64_t region = plan_.buffers[plan_.param_region].offset;
  for (const plan::Param &q : plan_.params)
    tensors.push_back({q.name, q.dims, base + (plan_.buffers[q.buffer].offset - region) / 4});
  // Running statistics (batchnorm's running_mean and running_var, as PyTorch names them).
  for (const plan::Stat &t : plan_.stats)
    tensors.push_back({t.name, t.dims,
                       ckpt_.stats.data() + (plan_.buffers[t.buffer].offset - plan_.buffers[plan_.stat_region].offset) / 4});
  // train.standardize's statistics: a user of the weights applies the same
  // transform, (x - data.mean) / data.std, before the encoder.
  if (!ckpt_.data_mean.empty()) {
    tensors.push_back({"data.mean", {int64_t(ckpt_.data_mean.size())}, ckpt_.data_mean.data()});
    tensors.push_back({"data.std", {int64_t(ckpt_.data_std.size())}, ckpt_.data_std.data()});
  }
  std::string error;
  std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"model", plan_.model},
      {"epoch", std::to_string(ckpt_.epoch)},
      {"global_step", std::to_string(ckpt_.global_step)},
      {"layouts", "PyTorch: dense w[out,in] (nn.Linear), conv2d w[out,in,kh,kw] (nn.Conv2d), conv2d_transpose "
                  "w[in,out,kh,kw] (nn.ConvTranspose2d)"}};
  for (const auto &[k, v] : plan_.config)
    if (k == "scale" || k == "binarize" || k == "standardize" || k == "input_shape") meta["data." + k] = v;
  if (!write_safetensors(path, tensors, meta, error)) return fail(error);
  std::printf("wrote %s (%zu tensors, %s parameters%s)\n", path.c_str(), tensors.size(),
              grouped(plan::parameter_elements(plan_)).c_str(),
              ckpt_.data_mean.empty() ? "" : "; data.mean and data.std: the standardization");
  return 0;
}

bool is_inspection_command(const std::string &word) { return find_command(word) != nullptr; }

std::string inspection_usage() {
  std::ostringstream os;
  os << "Commands on the latest checkpoint (DIR/checkpoint.bin, or --checkpoint FILE):\n";
  for (const Command &c : kCommands) {
    os << "  " << c.name << std::string(13 - std::strlen(c.name), ' ') << c.help << "\n";
  }
  os << "\nTheir options (each command takes those listed for it, and --out DIR, --checkpoint FILE,\n"
        "--data DIR, --threads N, --png FILE):\n"
        "  reconstruct  --count N (16) --json FILE (every encode output and the reconstructions, as JSON)\n"
        "  sample       --count N (64) --seed N (1)\n"
        "  manifold     --n N (15) --dims I,J (0,1)\n"
        "  interpolate  --from A --to B (0, 1; an index or label:D) --steps N (10)\n"
        "  scatter      --dims I,J (0,1) --count N (all test images)\n"
        "  concept      --labels A,B (0,1) --images I,J,... (0,1,2,3) --strength S (2)\n"
        "  eval         --images N (all) --iwae-images N (1000) --k N (5000) --seed N (the checkpoint's)\n"
        "  export       --file FILE (DIR/model.safetensors)\n";
  return os.str();
}

int run_inspection(int argc, char **argv, const plan::Plan &plan, const vaec_kernel_entry *kernels,
                   const std::string &program_dir) {
  const Command &cmd = *find_command(argv[1]);
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i], name, value;
    if (arg == "-h" || arg == "--help") {
      std::cout << "usage: train " << cmd.name << " [options]: " << cmd.help << "\n\n" << inspection_usage();
      return 0;
    }
    if (arg.rfind("--", 0) != 0) return fail("unexpected argument '" + arg + "' (see train " + cmd.name + " --help)");
    const size_t eq = arg.find('=');
    name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (!in_list(kCommon, name) && !in_list(cmd.options, name))
      return fail("train " + std::string(cmd.name) + " has no option '--" + name + "' (see train " + cmd.name + " --help)");
    if (eq != std::string::npos) value = arg.substr(eq + 1);
    else if (i + 1 < argc) value = argv[++i];
    else return fail("--" + name + " needs a value");
    args.v[name] = value;
  }
  Session s(plan, kernels, std::move(args), cmd.name, program_dir);
  return s.run();
}

}  // namespace vaec::rt
