// A rank's part in a data-parallel training step and evaluation (ranks.h):
// the sums over the ranks of the gradients, bucket by bucket as the plan
// lists them (plan::Program::buckets), and of the losses; the check that
// every rank holds the same parameters.
//
// Gradients: with a `mean` total loss each rank's gradient is that of its
// n_r rows' mean, so it is scaled by n_r / n before the sum, giving the
// gradient of the whole batch's mean; a `sum` total adds up as it is. A
// bucket whose gradients lie next to each other in the gradient region is
// summed in place; others go through a staging copy. The sum of bucket b
// starts as soon as its gradients are final, while the step goes on.
//
// Losses: after the buckets, one more sum carries every loss (n_r times a
// `mean` loss) and a stop flag; each rank writes the whole batch's losses
// back into the loss buffers, so reports read them as a single process
// would, and every rank learns whether any was asked to stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "abi/plan.h"
#include "dist/ranks.h"
#include "exec/executor.h"

namespace vaec::rt::dist {

// Why `plan` cannot train on several ranks ("" when it can): a total loss
// that neither sums nor averages its examples, or statistics (batch
// normalisation) kept per rank.
std::string cannot_split(const plan::Plan &plan);

class GradientSum : public GradientSync {
 public:
  GradientSum(Ranks &ranks, Executor &exec, const plan::Plan &plan);

  // Before a training step of n rows in all, n_here of them this rank's;
  // `stop`: this rank was asked to stop (a signal).
  void begin_step(int64_t n_here, int64_t n, bool stop);
  void bucket_final(size_t b) override;
  void finish() override;
  // A step this rank has no rows of: zero gradients and losses, then the sums.
  void contribute_nothing();
  // Whether any rank asked to stop, as of the last finish().
  bool stop() const { return stop_; }

  // The losses of `program` summed over the ranks after an eval batch of n
  // rows, n_here of them this rank's (0: its loss buffers count as zeros).
  void sum_losses(const plan::Program &program, int64_t n_here, int64_t n);

 private:
  struct Bucket {
    float *range = nullptr;                     // in place: the gradients' first float
    int64_t count = 0;
    std::vector<std::pair<float *, int64_t>> parts;  // staged: each gradient
    std::vector<float> staging;
  };
  Ranks &ranks_;
  Executor &exec_;
  const plan::Plan &plan_;
  std::vector<Bucket> buckets_;
  bool mean_ = false, stop_ = false, stop_here_ = false;
  int64_t n_here_ = 0, n_ = 0;
};

// Every rank's parameters hashed tensor by tensor and compared with rank
// 0's: "" when all agree, else a message naming the first tensor that
// differs and the ranks that hold another value.
std::string compare_parameters(const Ranks &ranks, Executor &exec, const plan::Plan &plan);

}  // namespace vaec::rt::dist
