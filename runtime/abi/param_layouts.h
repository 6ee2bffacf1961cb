// Parameters a plan stores in a convolution's layout (plan.h,
// Param::stored_layout): converting a region between the plain order that
// initialisation, checkpoints and exported weights use and the order the
// plan's steps read. A region is param_count floats laid out as the
// parameter region: the parameters, their gradients or an optimizer state.
#pragma once

#include <string>

#include "abi/plan.h"

namespace vaec::onednn {

// Whether some parameter of `plan` is stored in a layout of its own.
bool has_param_layouts(const plan::Plan &plan);

// "" when every stored layout of `plan` is one oneDNN reads and holds exactly
// its parameter's elements, else why not.
std::string check_param_layouts(const plan::Plan &plan);

// Parameter q's `src` values (its elements) in plain order into its stored
// layout at `dst` (`to_stored`) or back; a copy when q is plain.
void convert_param(const plan::Param &q, int64_t elements, const float *src, float *dst, bool to_stored);

// Rewrites `region`'s parameters from plain order into their stored
// layouts (`to_stored`) or back. The plan passed check_param_layouts.
void convert_param_layouts(const plan::Plan &plan, float *region, bool to_stored);

}  // namespace vaec::onednn
