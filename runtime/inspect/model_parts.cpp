// Running the encode, decode and nll programs over many examples, and the
// ELBO and IWAE bounds (contract in model_parts.h).
#include "inspect/model_parts.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "abi/philox.h"

namespace vaec::rt {
namespace {

constexpr double kLog2Pi = 1.8378770664093454836;

// Copies rows [first, first + batch) of `src` (clamped: missing rows repeat
// row `first`) into `dst`.
template <class T>
void fill_rows(T *dst, const T *src, int64_t first, int64_t count, int64_t batch, int64_t row) {
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t from = first + i < count ? first + i : first;
    std::memcpy(dst + i * row, src + from * row, row * sizeof(T));
  }
}

double log_sum_exp(const std::vector<double> &v) {
  double m = -INFINITY;
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

}  // namespace

bool ModelParts::can_encode(std::string &why) const {
  if (plan_.encode.present() && plan_.encode.output("z_loc")) return true;
  why = plan_.encode.present()
            ? "model '" + plan_.model + "' has no z_loc: its sampler is not z = loc + scale * normal_like(loc)"
            : "model '" + plan_.model + "' has no encode program (vaec compile said why)";
  return false;
}

bool ModelParts::can_decode(std::string &why) const {
  if (plan_.decode.present() && plan_.decode.output("mean")) return true;
  why = "model '" + plan_.model + "' has no decode program: no loss is bce(p, x), bce_logits(l, x) or mse(p, x) of its input";
  return false;
}

void ModelParts::fill_labels(const plan::Program &p, int64_t base, int64_t first, int64_t count, int64_t fixed) {
  auto row_of = [&](int64_t i) { return fixed >= 0 ? fixed : base + (first + i < count ? first + i : first); };
  if (p.labels >= 0) {
    float *dst = exec_.f32(p.labels);
    const int64_t K = p.label_classes;
    std::fill(dst, dst + p.batch * K, 0.0f);
    for (int64_t i = 0; i < p.batch; ++i) {
      const int64_t row = row_of(i);
      const int32_t l = row < int64_t(labels_.size()) ? labels_[row] : 0;
      if (l >= 0 && l < K) dst[i * K + l] = 1.0f;
    }
  }
  for (const plan::Program::Condition &c : p.conditions) {
    float *dst = exec_.f32(c.buffer);
    for (int64_t i = 0; i < p.batch; ++i) {
      auto given = conditions_.find(c.name);
      if (given != conditions_.end() && int64_t(given->second.size()) == c.row) {
        std::copy(given->second.begin(), given->second.end(), dst + i * c.row);
      } else if (examples_ && !example_rows_.empty()) {
        const int64_t row = std::min<int64_t>(row_of(i), int64_t(example_rows_.size()) - 1);
        examples_->fill_array(c.name, &example_rows_[row], 1, c.row, dst + i * c.row);
      } else {
        std::fill(dst + i * c.row, dst + (i + 1) * c.row, 0.0f);
      }
    }
  }
}

void ModelParts::run_encode(const float *images, int64_t first, int64_t count, uint64_t step) {
  const plan::Program &p = plan_.encode;
  fill_rows(exec_.f32(p.input), images, first, count, p.batch, p.input_row);
  fill_labels(p, 0, first, count);
  exec_.run(p, step);
}

Rows ModelParts::encode(const float *images, int64_t count, const std::string &output) {
  const plan::Program &p = plan_.encode;
  const plan::Output *o = p.output(output);
  Rows r{count, o ? o->row : 0, {}};
  if (!o) return r;
  r.data.resize(count * o->row);
  for (int64_t first = 0; first < count; first += p.batch) {
    run_encode(images, first, count, kEvalStepBase);
    const int64_t n = std::min(p.batch, count - first);
    std::memcpy(r.data.data() + first * o->row, exec_.f32(o->buffer), n * o->row * sizeof(float));
  }
  return r;
}

Rows ModelParts::decode(const float *z, int64_t count) {
  const plan::Program &p = plan_.decode;
  const plan::Output &mean = *p.output("mean");
  Rows r{count, mean.row, std::vector<float>(count * mean.row)};
  for (int64_t first = 0; first < count; first += p.batch) {
    fill_rows(exec_.f32(p.latent), z, first, count, p.batch, p.latent_row);
    fill_labels(p, 0, first, count);
    exec_.run(p, kEvalStepBase);
    const int64_t n = std::min(p.batch, count - first);
    std::memcpy(r.data.data() + first * mean.row, exec_.f32(mean.buffer), n * mean.row * sizeof(float));
  }
  return r;
}

std::vector<double> ModelParts::nll(const float *z, const float *images, int64_t count) {
  return nll_rows(z, images, count, 0);
}

std::vector<double> ModelParts::nll_rows(const float *z, const float *images, int64_t count, int64_t label_base) {
  const plan::Program &p = plan_.nll;
  const float *values = exec_.f32(p.output("nll")->buffer);
  std::vector<double> out(count);
  for (int64_t first = 0; first < count; first += p.batch) {
    fill_rows(exec_.f32(p.latent), z, first, count, p.batch, p.latent_row);
    fill_rows(exec_.f32(p.input), images, first, count, p.batch, p.input_row);
    fill_labels(p, label_base, first, count);
    exec_.run(p, kEvalStepBase);
    for (int64_t i = 0; i < std::min(p.batch, count - first); ++i) out[first + i] = values[i];
  }
  return out;
}

double ModelParts::log_likelihood(double nll) const {
  if (plan_.recon == "mse") return -nll - 0.5 * double(plan_.nll.input_row) * std::log(std::numbers::pi);
  return -nll;
}

std::string ModelParts::likelihood_name() const {
  if (declared()) return "as declared: " + plan_.recon;
  return plan_.recon == "mse" ? "Gaussian N(x; mean, 1/2) per pixel (the model's squared error)"
                              : "Bernoulli per pixel (the model's " + plan_.recon + " cross-entropy)";
}

ModelParts::Elbo ModelParts::declared_elbo(const float *images, int64_t count) {
  const plan::Program &p = plan_.logw;
  const float *logw = exec_.f32(p.output("logw")->buffer), *loglik = exec_.f32(p.output("loglik")->buffer);
  Elbo out{std::vector<double>(count), std::vector<double>(count)};
  for (int64_t first = 0, i = 0; first < count; first += p.batch, ++i) {
    fill_rows(exec_.f32(p.input), images, first, count, p.batch, p.input_row);
    fill_labels(p, 0, first, count);
    exec_.run(p, kEvalStepBase + uint64_t(i));
    for (int64_t x = 0; x < std::min(p.batch, count - first); ++x) {
      out.recon[first + x] = -double(loglik[x]);
      out.kl[first + x] = double(loglik[x]) - double(logw[x]);
    }
  }
  return out;
}

// Image x fills a whole batch; run r of it draws the noise of step
// kIwaeStepBase + x * 2^20 + r, so no two runs share draws.
std::vector<double> ModelParts::declared_iwae(const float *images, int64_t count, int64_t k) {
  const plan::Program &p = plan_.logw;
  const float *logw = exec_.f32(p.output("logw")->buffer);
  std::vector<double> out(count), log_w(k);
  for (int64_t x = 0; x < count; ++x) {
    fill_rows(exec_.f32(p.input), images + x * p.input_row, 0, 1, p.batch, p.input_row);
    fill_labels(p, 0, 0, 1, x);
    for (int64_t first = 0, r = 0; first < k; first += p.batch, ++r) {
      exec_.run(p, kIwaeStepBase + (uint64_t(x) << 20) + uint64_t(r));
      for (int64_t s = 0; s < std::min(p.batch, k - first); ++s) log_w[first + s] = double(logw[s]);
    }
    out[x] = log_sum_exp(log_w) - std::log(double(k));
  }
  return out;
}

ModelParts::Elbo ModelParts::elbo(const float *images, int64_t count, uint64_t seed) {
  if (declared()) return declared_elbo(images, count);
  const plan::Program &e = plan_.encode;
  const int64_t L = latent(), row = e.input_row;
  const plan::Output &loc_out = *e.output("z_loc"), &scale_out = *e.output("z_scale");
  Elbo out{std::vector<double>(count), std::vector<double>(count)};
  std::vector<float> z(e.batch * L);
  for (int64_t first = 0, i = 0; first < count; first += e.batch, ++i) {
    run_encode(images, first, count, kEvalStepBase + i);
    const float *loc = exec_.f32(loc_out.buffer), *scale = exec_.f32(scale_out.buffer);
    const int64_t n = std::min(e.batch, count - first);
    for (int64_t x = 0; x < e.batch * L; ++x)
      z[x] = loc[x] + scale[x] * static_cast<float>(philox_normal(seed, kEvalStepBase + i, 0, x));
    for (int64_t x = 0; x < n; ++x) {
      double kl = 0;
      for (int64_t j = 0; j < L; ++j) {
        const double m = loc[x * L + j], s = scale[x * L + j];
        kl += 0.5 * (m * m + s * s - 1.0) - std::log(s);
      }
      out.kl[first + x] = kl;
    }
    std::vector<double> v = nll_rows(z.data(), images + first * row, n, first);
    for (int64_t x = 0; x < n; ++x) out.recon[first + x] = -log_likelihood(v[x]);
  }
  return out;
}

std::vector<double> ModelParts::iwae(const float *images, int64_t count, int64_t k, uint64_t seed) {
  if (declared()) return declared_iwae(images, count, k);
  const int64_t L = latent(), row = plan_.encode.input_row, B = plan_.nll.batch;
  const Rows loc = encode(images, count, "z_loc"), scale = encode(images, count, "z_scale");
  std::vector<double> out(count), log_w(k);
  std::vector<float> z(B * L);
  std::vector<double> log_q(B);
  for (int64_t x = 0; x < count; ++x) {
    const uint64_t step = kIwaeStepBase + static_cast<uint64_t>(x);
    double log_det = 0;
    for (int64_t j = 0; j < L; ++j) log_det += std::log(double(scale.at(x)[j]));
    fill_rows(exec_.f32(plan_.nll.input), images + x * row, 0, 1, B, row);
    fill_labels(plan_.nll, 0, 0, 1, x);
    const float *values = exec_.f32(plan_.nll.output("nll")->buffer);
    for (int64_t first = 0; first < k; first += B) {
      const int64_t n = std::min(B, k - first);
      for (int64_t s = 0; s < B; ++s) {
        double q = 0;
        for (int64_t j = 0; j < L; ++j) {
          const double eps = s < n ? philox_normal(seed, step, 0, (first + s) * L + j) : 0.0;
          z[s * L + j] = static_cast<float>(loc.at(x)[j] + scale.at(x)[j] * eps);
          q += -0.5 * eps * eps;
        }
        log_q[s] = q - log_det - 0.5 * double(L) * kLog2Pi;
      }
      std::memcpy(exec_.f32(plan_.nll.latent), z.data(), z.size() * sizeof(float));
      exec_.run(plan_.nll, kEvalStepBase);
      for (int64_t s = 0; s < n; ++s) {
        double log_prior = -0.5 * double(L) * kLog2Pi;
        for (int64_t j = 0; j < L; ++j) log_prior -= 0.5 * double(z[s * L + j]) * z[s * L + j];
        log_w[first + s] = log_likelihood(values[s]) + log_prior - log_q[s];
      }
    }
    out[x] = log_sum_exp(log_w) - std::log(double(k));
  }
  return out;
}

}  // namespace vaec::rt
