// Products in bfloat16 where oneDNN is faster so (contract in choose_precision.h).
#include "codegen/choose_precision.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <dnnl.hpp>

#include "codegen/precision_timing.h"
#include "codegen/share_rounding.h"

namespace vaec {

void sort_step_notes(plan::Plan &plan) {
  std::vector<std::string> names;
  for (const plan::Program *prog : plan.programs()) names.push_back(prog->name);
  auto order = [&](const std::string &note) {
    for (size_t p = 0; p < names.size(); ++p) {
      const std::string prefix = names[p] + " step ";
      if (note.rfind(prefix, 0) != 0) continue;
      size_t at = prefix.size();
      long step = 0;
      while (at < note.size() && note[at] >= '0' && note[at] <= '9' && step < 1000000) step = step * 10 + (note[at++] - '0');
      return std::tuple<size_t, long>(p + 1, step);
    }
    return std::tuple<size_t, long>(0, 0);
  };
  std::stable_sort(plan.notes.begin(), plan.notes.end(),
                   [&](const std::string &x, const std::string &y) { return order(x) < order(y); });
}

void choose_precision(plan::Plan &plan, const std::vector<FusedKernel> &kernels, const CodegenOptions &options) {
  constexpr int64_t kMinProduct = int64_t{1} << 22;  // multiply-adds
  std::string want = options.precision;
  if (want.empty()) want = plan.config.count("precision") ? plan.config["precision"] : "f32";
  plan.config["precision"] = want;
  if (want != "bf16") return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(options.threads);
  PrecisionTimings timings;
  // A product's choice: bf16 where faster with what it adds at every run;
  // `rounded` are the f32 buffers an earlier bf16 product of the program
  // has a rounded copy of (share_rounding lets later products read it).
  auto choose = [&](const plan::Program &prog, size_t i, plan::Step &s, const std::set<int> &rounded) {
    const int64_t m = plan::extent(s.m, prog.batch), n = plan::extent(s.n, prog.batch),
                  k = plan::extent(s.k, prog.batch);
    if (m * n * k < kMinProduct) {
      plan.notes.push_back(
          product_step_note(prog, s, m, n, k, "f32 (under 2^22 multiply-adds: bf16 saves no step time)"));
      return;
    }
    const PrecisionTiming &t = timings.get(product_timing_key(s, m, n, k), [&] {
      return time_product(engine, m, n, k, s.ta, s.tb, s.bias >= 0, s.post);
    });
    const bool a_shared = rounded.count(s.a) > 0, b_shared = rounded.count(s.b) > 0;
    s.bf16 = t.faster(a_shared, b_shared);
    plan.notes.push_back(product_step_note(prog, s, m, n, k, t.note(s.bf16, s.bf16 && a_shared, s.bf16 && b_shared)));
  };
  const std::map<std::string, const FusedKernel *> by_name = kernels_by_name(kernels);
  for (plan::Program *prog : plan.programs()) {
    if (!prog->present()) continue;
    std::set<int> rounded;
    for (size_t i = 0; i < prog->steps.size(); ++i) {
      plan::Step &s = prog->steps[i];
      if (s.kind == plan::Step::Matmul) {  // convolutions chose with their layouts
        choose(*prog, i, s, rounded);
        if (s.bf16 && options.share_rounding)
          for (int x : {s.a, s.b})
            if (x >= 0 && shares_rounding(plan.buffers[x])) rounded.insert(x);
      }
      for (int w : step_writes(plan, by_name, s)) rounded.erase(w);
    }
  }
  omp_set_num_threads(threads_before);
  sort_step_notes(plan);
}

std::string product_step_note(const plan::Program &prog, const plan::Step &s, int64_t m, int64_t n, int64_t k,
                              const std::string &what) {
  return prog.name + " step " + std::to_string(&s - prog.steps.data()) + " [" + std::to_string(m) + "," +
         std::to_string(k) + "]x[" + std::to_string(k) + "," + std::to_string(n) + "]: " + what +
         (s.where.empty() ? "" : " at " + s.where);
}

std::string product_timing_key(const plan::Step &s, int64_t m, int64_t n, int64_t k) {
  return std::to_string(m) + " " + std::to_string(n) + " " + std::to_string(k) + " " + std::to_string(s.ta) +
         std::to_string(s.tb) + " " + std::to_string(s.bias >= 0) + " " + s.post + " " + std::to_string(s.split);
}

void renumber_step_notes(plan::Plan &plan, const std::string &program, const std::vector<int> &new_index) {
  const std::string prefix = program + " step ";
  for (std::string &note : plan.notes) {
    if (note.rfind(prefix, 0) != 0) continue;
    const size_t end = note.find(' ', prefix.size());
    if (end == std::string::npos) continue;
    std::vector<int64_t> old;
    if (!plan::parse_int_list(note.substr(prefix.size(), end - prefix.size()), ',', old) || old.size() != 1 ||
        old[0] < 0 || old[0] >= static_cast<int64_t>(new_index.size()) || new_index[old[0]] < 0)
      continue;
    note = prefix + std::to_string(new_index[old[0]]) + note.substr(end);
  }
  sort_step_notes(plan);
}

}  // namespace vaec
