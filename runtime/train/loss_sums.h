// A program's losses summed over the batches of an epoch or an evaluation,
// reported per example as the plan's loss_scaling says for each loss.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "abi/plan.h"
#include "exec/executor.h"

namespace vaec::rt {

// Sums of a program's losses over batches, reported per example as
// plan.loss_scaling says. `order` lists `total` first, then plan order.
struct LossSums {
  const plan::Plan &plan;
  const plan::Program &program;
  std::vector<size_t> order;
  std::vector<double> sums;  // per batch: the loss; for "mean" losses weighted by its share of a full batch
  int64_t batches = 0, examples = 0;
  int64_t full = 1;          // examples in a full batch

  LossSums(const plan::Plan &p, const plan::Program &prog, int64_t full_batch)
      : plan(p), program(prog), sums(prog.losses.size(), 0.0), full(full_batch) {
    for (size_t i = 0; i < prog.losses.size(); ++i)
      if (prog.losses[i].first == "total") order.insert(order.begin(), i);
      else order.push_back(i);
  }
  // Adds the values of a batch of n examples; returns the index of a
  // non-finite loss or -1.
  int add(const Executor &exec, int64_t n) {
    ++batches, examples += n;
    for (size_t i = 0; i < sums.size(); ++i) {
      const float v = exec.scalar(program.losses[i].second);
      if (!std::isfinite(v)) return static_cast<int>(i);
      sums[i] += plan.loss_scaling.at(program.losses[i].first) == "mean" ? v * double(n) / double(full) : v;
    }
    return -1;
  }
  double per_example(size_t i) const {
    const std::string &scaling = plan.loss_scaling.at(program.losses[i].first);
    if (scaling == "sum") return sums[i] / double(examples);
    if (scaling == "mean") return sums[i] * double(full) / double(examples);
    return sums[i] / double(batches);  // "batch"
  }
  double headline() const { return order.empty() || batches == 0 ? NAN : per_example(order[0]); }
  // The per-example value of the loss called `name`; NaN when there is none.
  double value_of(const std::string &name) const {
    for (size_t i = 0; i < program.losses.size(); ++i)
      if (program.losses[i].first == name && batches > 0) return per_example(i);
    return NAN;
  }
  // The loss names, `total` first.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (size_t i : order) out.push_back(program.losses[i].first);
    return out;
  }
  // "112.41 (recon 89.12, kl 23.29)"
  // Two decimals (105.51, 5.51), but four significant digits below 1 (the
  // conv VAE's mean losses, 0.1826), which two decimals would round away.
  static std::string readable(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, std::fabs(v) < 1 ? "%.4g" : "%.2f", v);
    return buf;
  }
  std::string describe() const {
    if (order.empty() || batches == 0) return "-";
    std::string s = readable(per_example(order[0]));
    for (size_t j = 1; j < order.size(); ++j)
      s += (j == 1 ? " (" : ", ") + program.losses[order[j]].first + " " + readable(per_example(order[j]));
    return order.size() > 1 ? s + ")" : s;
  }
};

// Throws when a train or eval loss has no loss_scaling or an unknown one.
void check_loss_scaling(const plan::Plan &plan);

}  // namespace vaec::rt
