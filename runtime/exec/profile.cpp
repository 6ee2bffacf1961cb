// --profile: the time of every plan step, printed when the executor is
// destroyed (contract in executor.h).
#include <cstdio>

#include "exec/executor_impl.h"

namespace vaec::rt {

void Executor::Impl::print_profile() const {
  for (const auto &[name, times] : profile) {
    const plan::Program *found = plan.program(name);
    if (!found) continue;
    const plan::Program &prog = *found;
    double total = 0;
    StepTimes regions;  // every step's counted regions together
    std::map<std::string, double> by_kind;
    for (size_t i = 0; i < times.size(); ++i) total += times[i].total;
    if (total <= 0) continue;
    std::fprintf(stderr, "profile of program %s (%lld runs): %.3f ms per run\n", name.c_str(),
                 static_cast<long long>(times.empty() ? 0 : times[0].runs), 1e3 * total / std::max<int64_t>(1, times[0].runs));
    std::fprintf(stderr, "  step kind          mean   share    median   fastest (ms)  idle\n");
    static const char *kinds[] = {"kernel", "matmul", "zero", "conv", "reorder", "gate", "optimize"};
    const std::vector<PreparedStep> &prepared = programs.at(key(name, prog.batch));
    for (size_t i = 0; i < times.size(); ++i) {
      const Step &s = prog.steps[i];
      const std::string kind = kinds[s.kind];
      by_kind[kind] += times[i].total;
      const double ms = 1e3 * times[i].total / std::max<int64_t>(1, times[i].runs);
      std::string how;  // how the plan's choices for the step went
      if (s.kind == Step::Matmul && !prepared[i].matmul.parts.empty())
        how = "  (" + std::to_string(prepared[i].matmul.parts.size()) +
              (s.split == Step::Rows ? " row slices" : s.split == Step::KSlices ? " slices of k" : " column slices") +
              ", one per thread)";
      if ((s.kind == Step::Matmul || s.kind == Step::Conv) && s.bf16) how += "  (bf16)";
      if (s.kind == Step::Matmul && s.swapped) how += "  (swapped)";
      if (s.kind == Step::Matmul && s.thin) how += "  (thin)";
      if (s.kind == Step::Conv && s.side_by_side) how += "  (side by side with the next step: the time of both)";
      if (s.kind == Step::Conv && i > 0 && prog.steps[i - 1].side_by_side) how += "  (run beside the step before on two threads: timed there)";
      if (s.kind == Step::Kernel) {  // kernels only write bf16 buffers: the copies bf16 products read
        std::string stored;
        for (int b : s.args)
          if (plan.buffers[b].type == DType::BF16) stored += (stored.empty() ? "" : " ") + plan.buffers[b].name;
        if (!stored.empty()) how += "  (stores " + stored + ")";
      }
      if (const SkipZeros *z = s.kind == Step::Matmul ? prepared[i].matmul.skip.get() : nullptr; z && z->runs > 0) {
        char text[160];
        if (z->columns) {
          std::snprintf(text, sizeof text, "  (left out %.0f of %lld all-zero data columns in %lld of %lld runs)",
                        z->skipped ? double(z->skipped * z->columns->cols - z->kept) / double(z->skipped) : 0.0,
                        static_cast<long long>(z->columns->cols), static_cast<long long>(z->skipped),
                        static_cast<long long>(z->runs));
          how += text;
        }
        if (z->units) {
          std::snprintf(text, sizeof text, "  (left out %.0f of %lld units no example activates in %lld of %lld runs)",
                        z->unit_skipped ? double(z->unit_skipped * z->step.m - z->units_kept) / double(z->unit_skipped) : 0.0,
                        static_cast<long long>(z->step.m), static_cast<long long>(z->unit_skipped),
                        static_cast<long long>(z->runs));
          how += text;
        }
      }
      if (const SparseCall *sp = s.kind == Step::Matmul ? prepared[i].matmul.sparse.get() : nullptr; sp && sp->runs > 0) {
        char text[160];
        const double entries = double(sp->data->rows) * double(sp->data->cols);
        std::snprintf(text, sizeof text, "  (sparse: %.1f %% of the data's entries nonzero, run over those alone in %lld of %lld runs)",
                      100 * double(sp->nonzeros) / (entries * double(sp->runs)),
                      static_cast<long long>(sp->sparse_runs), static_cast<long long>(sp->runs));
        how += text;
      }
      if (s.kind == Step::Optimize && !s.all) {
        how = "  (";
        for (size_t j = 0; j < s.params.size(); ++j) how += (j ? " " : "") + plan.params[s.params[j]].name;
        how += ")";
      }
      char idle[16] = "    -";
      if (times[i].idle() >= 0) std::snprintf(idle, sizeof idle, "%4.0f%%", 100 * times[i].idle());
      regions.add_region(times[i].team_seconds, 1, times[i].busy_seconds);
      std::fprintf(stderr, "  %4zu %-8s %8.3f ms %5.1f%% %9.3f %9.3f  %s  %s %s%s\n", i, kind.c_str(), ms,
                   100 * times[i].total / total, 1e3 * times[i].median(), 1e3 * times[i].fastest, idle,
                   s.kind == Step::Kernel ? s.kernel.c_str() : s.kind == Step::Conv ? s.conv.c_str() : "",
                   s.where.c_str(), how.c_str());
    }
    for (const auto &[kind, t] : by_kind)
      std::fprintf(stderr, "  total %-8s %5.1f%%\n", kind.c_str(), 100 * t / total);
    if (regions.idle() < 0)
      std::fprintf(stderr, "  idle: no step ran a parallel region of its own (a team of one thread)\n");
    else
      std::fprintf(stderr,
                   "  idle: %.0f%% of the threads' time in the steps' own parallel regions went to waiting "
                   "(%.3f ms per run, summed over the threads)\n",
                   100 * regions.idle(),
                   1e3 * regions.idle() * regions.team_seconds / std::max<int64_t>(1, times[0].runs));
  }
  if (optimizer_calls > 0)
    std::fprintf(stderr, "optimizer: %.3f ms per step (gate and updates)\n", 1e3 * optimizer_seconds / optimizer_calls);
}

}  // namespace vaec::rt
