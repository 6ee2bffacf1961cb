// inspection_graphs: the parts of a model the trainer's inspection commands
// run (reconstruct, sample, manifold, eval, ...), as graphs of their own cut
// from the lowered model.
//
// Pre: a verified, lowered model graph (sections inputs, encoder, sampler,
// decoder, losses; one input, the images) at the batch the programs should
// have. Post: up to three verified graphs, each still to be simplified like
// the forward graph (run_pipeline with stop_after "forward" drops what they do
// not use):
//   encode  the images -> every encoder tensor the sampler reads (by name:
//           mu, logvar), and, when the sampler's result is
//           `loc + scale * normal()` (either operand order), z_loc and z_scale
//   decode  a new input, the sampler's result z, in section "latent" ->
//           `mean`: the decoder's mean image, found from the reconstruction
//           loss (the element-wise bce, bce_logits or mse that reads the
//           images): sigmoid(l) for bce_logits(l, x), p for bce(p, x) and mse(p, x)
//   nll     z and the images -> `nll`: that reconstruction term summed over
//           every axis but the batch, one value per example
// A model that declares its densities (config declared_*, frontend/
// declared.cpp) is read from the declarations instead: encode's z_loc and
// z_scale are the top latent's posterior, decode cuts at the top latent and
// decodes every other latent at its prior's mean, and a logw graph (images ->
// logw, loglik per example, its own noise) replaces nll.
// A graph the model's form does not allow is left empty, with the reason.
#pragma once

#include <string>

#include "ir/graph.h"

namespace vaec {

struct InspectionGraphs {
  Graph encode, decode, nll;         // empty (no nodes) when not possible
  Graph logw;                        // instead of nll, for a model declaring its densities
  std::string encode_why_not, decode_why_not;  // why encode / decode and nll are empty
  std::string recon;                 // the reconstruction op: bce, bce_logits or mse
  std::string latent;                // the name of decode's and nll's latent input (the sampler's z)
};

InspectionGraphs inspection_graphs(const Graph &model);

}  // namespace vaec
