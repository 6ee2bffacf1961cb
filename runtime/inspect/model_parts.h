// A trained model's parts for the inspection commands: the plan's encode,
// decode and nll programs (plan.h) run over any number of examples, in
// batches of the program's batch (the last one padded by repeating its first
// example), and the evidence bounds built on them.
//
// The ELBO and the IWAE bound (Burda et al. 2016) use q(z|x) = N(z_loc,
// z_scale^2), the prior N(0, I) and the decoder's log-likelihood from nll:
//   Bernoulli (recon bce or bce_logits):  log p(x|z) = -nll
//     (x the intensities in [0, 1]: the cross-entropy, as in training; for
//      non-binary x this is not a normalised density)
//   Gaussian (recon mse):  p(x|z) = N(x; mean, 1/2 I), so that nll + KL is
//     its -ELBO up to a constant:  log p(x|z) = -nll - D/2 log(pi)
// A model that declares its densities has a logw program instead of nll
// (plan.h): the ELBO's terms are then -loglik and loglik - logw at one z
// of the program's own noise (KL as log q(z|x) - log p(z) at that z, any
// priors and latents the model has), and the IWAE bound averages exp(logw)
// over k runs of it on copies of the image.
// Noise: example e of batch i (batches of the compiled batch) draws eps[j] =
// philox_normal(seed, kEvalStepBase + i, 0, e * latent + j), the draws of the
// eval program's first normal() op, so a model whose `total` is this -ELBO
// reports the same value (and so does training's test loss at the compiled
// batch). Importance sample s of example e draws philox_normal(seed,
// kIwaeStepBase + e, 0, s * latent + j).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <map>

#include "data/feed.h"
#include "exec/executor.h"
#include "abi/plan.h"

namespace vaec::rt {

inline constexpr uint64_t kIwaeStepBase = (uint64_t{1} << 55) + (uint64_t{1} << 54);

// The values of one encode output for `count` examples: [count, row].
struct Rows {
  int64_t count = 0, row = 0;
  std::vector<float> data;
  const float *at(int64_t i) const { return data.data() + i * row; }
};

class ModelParts {
 public:
  // `exec` runs `plan` and holds the trained parameters.
  ModelParts(const plan::Plan &plan, Executor &exec) : plan_(plan), exec_(exec) {}

  // A model with a label(K) input: the labels of the rows the next calls
  // take (the images of encode, nll, elbo and iwae; the latents of decode),
  // read as one-hot rows. Empty (the default): label 0 for every row.
  bool takes_labels() const { return plan_.encode.labels >= 0 || plan_.decode.labels >= 0 || plan_.nll.labels >= 0; }
  int64_t label_classes() const { return plan_.train.label_classes; }
  void set_labels(std::vector<int32_t> labels) { labels_ = std::move(labels); }
  // A model with condition inputs: the rows of the next calls are examples
  // `rows` of `feed` (their arrays fill the conditions), unless
  // set_condition gave a value for that input, used for every row.
  bool takes_conditions() const {
    for (const plan::Program *p : plan_.programs())
      if (!p->conditions.empty()) return true;
    return false;
  }
  void set_examples(const data::Feed *feed, std::vector<int64_t> rows) { examples_ = feed, example_rows_ = std::move(rows); }
  void set_condition(const std::string &name, std::vector<float> values) { conditions_[name] = std::move(values); }

  // False with a message naming the missing program and what it needs.
  bool can_encode(std::string &why) const;
  bool can_decode(std::string &why) const;
  bool has_scale() const { return plan_.encode.output("z_scale") != nullptr; }
  int64_t latent() const { return plan_.decode.latent_row; }

  // `output` (e.g. "z_loc", "mu") of the encode program for `count` images
  // of `row` floats each (the input rows, data/feed.h).
  Rows encode(const float *images, int64_t count, const std::string &output);
  // The decoder's mean image for each of `count` latents [count, latent()].
  Rows decode(const float *z, int64_t count);
  // nll per example for latents z [count, latent()] and images [count, row floats].
  std::vector<double> nll(const float *z, const float *images, int64_t count);

  // log p(x|z) from nll for one example (see above).
  double log_likelihood(double nll) const;
  std::string likelihood_name() const;  // "Bernoulli" or "Gaussian (variance 1/2)"
  // The model declares its densities: eval runs its logw program.
  bool declared() const { return plan_.logw.present(); }

  struct Elbo {
    std::vector<double> recon, kl;  // per example: -log p(x|z) with one z ~ q, KL(q || N(0, I))
  };
  // The ELBO's terms for the first `count` images (a multiple of the encode batch).
  Elbo elbo(const float *images, int64_t count, uint64_t seed);
  // The IWAE estimate of log p(x) with k importance samples, per example.
  std::vector<double> iwae(const float *images, int64_t count, int64_t k, uint64_t seed);

 private:
  void run_encode(const float *images, int64_t first, int64_t count, uint64_t step);
  // labels_[base + first ...] as one-hot rows of program p's batch (missing
  // rows repeat `first`).
  // Also the program's condition inputs: each row's example's arrays, or the
  // values set_condition gave; `fixed` >= 0: row `fixed` for every row.
  void fill_labels(const plan::Program &p, int64_t base, int64_t first, int64_t count, int64_t fixed = -1);
  std::vector<double> nll_rows(const float *z, const float *images, int64_t count, int64_t label_base);
  Elbo declared_elbo(const float *images, int64_t count);
  std::vector<double> declared_iwae(const float *images, int64_t count, int64_t k);
  std::vector<int32_t> labels_;
  const data::Feed *examples_ = nullptr;
  std::vector<int64_t> example_rows_;
  std::map<std::string, std::vector<float>> conditions_;

  const plan::Plan &plan_;
  Executor &exec_;
};

}  // namespace vaec::rt
