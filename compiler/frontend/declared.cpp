// What a model's declared distributions say about it (contract in lower.h,
// declare_densities): the likelihood log_prob(px, x) of the examples, and
// for each latent z = rsample(q) its prior p, from kl(q, p) or log_prob(p, z).
// From these the inspection programs are cut without pattern matching
// (passes/inspection_graphs.cpp): the top latent (the one whose prior does
// not depend on another latent) is what encode and decode exchange, every
// other latent is encoded at its posterior's mean and decoded at its
// prior's mean, and
//   log w = log p(x | z) + sum over latents (log p(z) - log q(z | .))
// per example is the output inspect.logw (with inspect.loglik = log p(x | z)),
// so eval's -ELBO and IWAE use the model's own densities.
#include <algorithm>
#include <functional>

#include "frontend/lower.h"

namespace vaec {

bool declare_densities(GraphBuilder &b, Graph &g, const std::string &input_name) {
  auto why_not = [&](const std::string &why) {
    if (!b.log_probs.empty() || !b.draws.empty()) g.config.emplace_back("declared_why_not", why);
    return false;
  };
  int input = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == Op::Input && g.nodes[i].name == input_name) input = static_cast<int>(i);
  auto is_examples = [&](int n) {
    return n == input || (g.nodes[n].op == Op::Reshape && g.nodes[n].operands[0] == input);
  };
  // The likelihood: a declared density of the examples.
  int likelihood = -1, lik_value = -1;
  for (const auto &lp : b.log_probs)
    if (is_examples(lp.value)) likelihood = lp.dist, lik_value = lp.value;
  if (likelihood < 0 || b.draws.empty()) return why_not("no log_prob(p, x) of the examples x and rsample(q) of a latent");
  // Each latent's prior.
  std::vector<int> prior(b.draws.size(), -1);
  for (size_t k = 0; k < b.draws.size(); ++k) {
    const auto &d = b.draws[k];
    for (const auto &t : b.kls)
      if (t.q == d.q) prior[k] = t.p;
    for (const auto &lp : b.log_probs)
      if (lp.value == d.z && lp.dist != d.q) prior[k] = lp.dist;
    if (prior[k] < 0)
      return why_not("latent '" + g.nodes[d.z].name + "' has no prior: declare kl(q, p) or log_prob(p, z)");
  }
  // The top latent: its prior reads no latent.
  auto reads_latent = [&](int node) {
    std::vector<bool> seen(g.nodes.size(), false);
    std::function<bool(int)> visit = [&](int n) {
      if (seen[n]) return false;
      seen[n] = true;
      for (const auto &d : b.draws)
        if (d.z == n) return true;
      for (int o : g.nodes[n].operands)
        if (visit(o)) return true;
      return false;
    };
    return visit(node);
  };
  int top = -1;
  for (size_t k = 0; k < b.draws.size(); ++k) {
    const Dist &p = b.dists[prior[k]];
    if (reads_latent(p.loc) || reads_latent(p.scale)) continue;
    if (top >= 0) return why_not("more than one latent has a prior that reads no other latent");
    top = static_cast<int>(k);
  }
  if (top < 0) return why_not("every latent's prior reads another latent");
  const Dist &q = b.dists[b.draws[top].q], &px = b.dists[likelihood];
  g.config.emplace_back("declared_latent", g.nodes[b.draws[top].z].name);
  g.config.emplace_back("declared_loc", g.nodes[q.loc].name);
  g.config.emplace_back("declared_scale", g.nodes[q.scale].name);
  g.config.emplace_back("declared_likelihood", std::string(px.family == Dist::Normal ? "normal"
                                                           : px.logits >= 0        ? "bernoulli_logits"
                                                                                   : "bernoulli"));
  g.config.emplace_back("declared_mean", g.nodes[px.family == Dist::Normal ? px.loc
                                                 : px.logits >= 0          ? px.logits
                                                                           : px.probs].name);
  std::string below;  // the other latents, decoded at their prior's mean: z1=loc1,...
  for (size_t k = 0; k < b.draws.size(); ++k)
    if (static_cast<int>(k) != top)
      below += (below.empty() ? "" : ",") + g.nodes[b.draws[k].z].name + "=" + g.nodes[b.dists[prior[k]].loc].name;
  if (!below.empty()) g.config.emplace_back("declared_below", below);
  std::string posteriors;  // every other latent at its posterior's mean, for encode: z1=mu1,...
  for (size_t k = 0; k < b.draws.size(); ++k)
    if (static_cast<int>(k) != top)
      posteriors += (posteriors.empty() ? "" : ",") + g.nodes[b.draws[k].z].name + "=" +
                    g.nodes[b.dists[b.draws[k].q].loc].name;
  if (!posteriors.empty()) g.config.emplace_back("declared_posteriors", posteriors);

  // log w and log p(x | z), one value per example.
  b.outside_section = "losses";
  b.outside_name = "inspect";
  const Loc at = g.nodes[lik_value].loc;
  int loglik = b.log_density(likelihood, lik_value, at);
  int logw = loglik;
  for (size_t k = 0; k < b.draws.size() && logw >= 0; ++k) {
    const int z = b.draws[k].z;
    const int lp = b.log_density(prior[k], z, at), lq = b.log_density(b.draws[k].q, z, at);
    if (lp < 0 || lq < 0) return why_not("the densities of '" + g.nodes[z].name + "' do not lower");
    logw = b.binary(Op::Sub, b.binary(Op::Add, logw, lp, at), lq, at);
  }
  // [batch, 1] in the one-sample model of a model with samples: one per example.
  for (int *v : {&logw, &loglik})
    if (*v >= 0 && g.nodes[*v].dims.size() == 2 && g.nodes[*v].dims[1] == 1)
      *v = b.binary(Op::Sum, *v, -1, at);
  if (loglik < 0 || logw < 0 || g.nodes[logw].dims.size() != 1 || g.nodes[loglik].dims.size() != 1)
    return why_not("the log densities do not lower to one value per example");
  g.outputs.emplace_back("inspect.logw", logw);
  g.outputs.emplace_back("inspect.loglik", loglik);
  return true;
}

}  // namespace vaec
