// plan_buckets: which gradients a data-parallel run sums over its ranks
// together, and from which step on (plan::Program::buckets, runtime/dist/).
//
// Pre: the train program's steps are final (after place_updates). Post:
// train.buckets covers every parameter exactly once. A parameter's gradient
// is final after the last step, gates and updates aside, that touches its
// gradient buffer. Taken in that order, parameters fill buckets of up to
// options.bucket_bytes (one larger parameter makes a bucket of its own);
// a bucket may start after the last of its gradients is final, so with the
// rest of the backward pass still to run the sum of the first buckets
// overlaps it. Plans without parameters get no buckets. A single process
// ignores them; they change no step.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void plan_buckets(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
