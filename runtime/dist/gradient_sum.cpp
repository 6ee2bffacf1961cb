// Gradient and loss sums over the ranks (contract in gradient_sum.h).
#include "dist/gradient_sum.h"

#include <algorithm>
#include <cstring>

namespace vaec::rt::dist {

std::string cannot_split(const plan::Plan &plan) {
  auto it = plan.loss_scaling.find("total");
  const std::string scaling = it == plan.loss_scaling.end() ? "" : it->second;
  if (scaling != "sum" && scaling != "mean")
    return "the total loss neither sums nor averages its examples (loss scaling '" + scaling +
           "'), so the ranks' shares of a batch cannot add up to it";
  if (!plan.stats.empty())
    return "the model keeps statistics of its batches (" + plan.stats[0].name +
           "): each rank would see only its share; train it as one process";
  return "";
}

GradientSum::GradientSum(Ranks &ranks, Executor &exec, const plan::Plan &plan)
    : ranks_(ranks), exec_(exec), plan_(plan) {
  auto it = plan.loss_scaling.find("total");
  mean_ = it != plan.loss_scaling.end() && it->second == "mean";
  for (const plan::Program::Bucket &b : plan.train.buckets) {
    Bucket bucket;
    std::vector<std::pair<float *, int64_t>> parts;
    for (int q : b.params) {
      const int g = plan.params[q].grad_buffer;
      parts.emplace_back(exec.f32(g), plan.buffers[g].elements);
    }
    std::sort(parts.begin(), parts.end());
    // In place when each gradient starts where the one before ends, up to
    // the region's 16-float alignment (the padding between them is zeros).
    bool adjacent = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      const float *end = parts[i - 1].first + parts[i - 1].second;
      adjacent = adjacent && parts[i].first >= end && parts[i].first - end < 16;
    }
    if (adjacent) {
      bucket.range = parts.front().first;
      bucket.count = parts.back().first + parts.back().second - parts.front().first;
    } else {
      bucket.parts = parts;
      for (const auto &[p, n] : parts) bucket.count += n;
      bucket.staging.resize(bucket.count);
    }
    buckets_.push_back(std::move(bucket));
  }
}

void GradientSum::begin_step(int64_t n_here, int64_t n, bool stop) { n_here_ = n_here, n_ = n, stop_here_ = stop; }

void GradientSum::bucket_final(size_t b) {
  Bucket &k = buckets_.at(b);
  const float scale = mean_ && n_ > 0 ? float(double(n_here_) / double(n_)) : 1.0f;
  float *p = k.range;
  if (!p) {
    p = k.staging.data();
    for (const auto &[g, n] : k.parts) p = std::copy(g, g + n, p);
    p = k.staging.data();
  }
  if (scale != 1.0f)
    for (int64_t i = 0; i < k.count; ++i) p[i] *= scale;
  ranks_.start_sum(p, k.count);
  ranks_.test();  // progress the buckets before it while this rank computes on
}

void GradientSum::finish() {
  ranks_.wait_all();
  for (Bucket &k : buckets_) {
    if (k.range) continue;
    const float *p = k.staging.data();
    for (const auto &[g, n] : k.parts) std::copy(p, p + n, g), p += n;
  }
  const plan::Program &train = plan_.train;
  std::vector<double> v;
  for (const auto &[name, buffer] : train.losses) {
    const double x = n_here_ > 0 ? exec_.scalar(buffer) : 0.0;
    v.push_back(plan_.loss_scaling.at(name) == "mean" ? x * double(n_here_) : x);
  }
  v.push_back(stop_here_ ? 1.0 : 0.0);
  ranks_.sum(v.data(), static_cast<int>(v.size()));
  for (size_t i = 0; i < train.losses.size(); ++i) {
    const auto &[name, buffer] = train.losses[i];
    *exec_.f32(buffer) = float(plan_.loss_scaling.at(name) == "mean" ? v[i] / double(n_) : v[i]);
  }
  stop_ = v.back() > 0;
}

void GradientSum::contribute_nothing() {
  std::memset(exec_.f32(plan_.grad_region), 0, plan_.param_count * sizeof(float));
  for (size_t b = 0; b < buckets_.size(); ++b) bucket_final(b);
  finish();
}

void GradientSum::sum_losses(const plan::Program &program, int64_t n_here, int64_t n) {
  std::vector<double> v;
  for (const auto &[name, buffer] : program.losses) {
    const double x = n_here > 0 ? exec_.scalar(buffer) : 0.0;
    v.push_back(plan_.loss_scaling.at(name) == "mean" ? x * double(n_here) : x);
  }
  ranks_.sum(v.data(), static_cast<int>(v.size()));
  for (size_t i = 0; i < program.losses.size(); ++i) {
    const auto &[name, buffer] = program.losses[i];
    *exec_.f32(buffer) = float(plan_.loss_scaling.at(name) == "mean" ? v[i] / double(n) : v[i]);
  }
}

std::string compare_parameters(const Ranks &ranks, Executor &exec, const plan::Plan &plan) {
  std::vector<uint64_t> hashes;
  for (const plan::Param &q : plan.params) {
    const auto *p = reinterpret_cast<const unsigned char *>(exec.f32(q.buffer));
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (int64_t i = 0, n = plan.buffers[q.buffer].elements * 4; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    hashes.push_back(h);
  }
  const std::vector<uint64_t> all = ranks.gather(hashes);
  const size_t n = hashes.size();
  for (size_t q = 0; q < n; ++q) {
    std::string differ;
    for (int r = 1; r < ranks.size(); ++r)
      if (all[r * n + q] != all[q]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
    if (!differ.empty())
      return "the ranks' parameters drifted apart: '" + plan.params[q].name + "' on rank(s) " + differ +
             " differs from rank 0's";
  }
  return "";
}

}  // namespace vaec::rt::dist
