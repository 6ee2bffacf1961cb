// Non-finite values: the step-by-step replay that finds the first (contract
// in diagnose.h; the scans are finite.cpp's).
#include "exec/diagnose.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace vaec::rt {
namespace {

const float *first_non_finite(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return v + i;
  return nullptr;
}

}  // namespace

NonFinite find_first_non_finite(Executor &exec, const plan::Program &program, uint64_t rng_step, int64_t batch) {
  const plan::Plan &plan = exec.plan();
  if (batch == 0) batch = program.batch;
  auto check = [&](int b, NonFinite &out) {
    if (b < 0 || b >= static_cast<int>(plan.buffers.size()) || plan.buffers[b].type != plan::DType::F32) return false;
    const plan::Buffer &x = plan.buffers[b];
    const float *bad = first_non_finite(exec.f32(b), x.elements + x.row * batch);
    if (!bad) return false;
    out.found = true, out.buffer = plan.buffers[b].name, out.value = *bad;
    return true;
  };
  NonFinite result;
  for (const plan::Param &p : plan.params)
    if (check(p.buffer, result)) return result.parameter = true, result;
  // The failed run's gradients are no evidence: the replay computes them anew.
  if (plan.param_count > 0) std::memset(exec.f32(plan.grad_region), 0, plan.param_count * sizeof(float));
  for (size_t i = 0; i < program.steps.size(); ++i) {
    exec.run_steps(program, rng_step, i, i + 1, batch);
    const plan::Step &s = program.steps[i];
    for (int b : plan::step_buffers(s))
      if (check(b, result)) {
        result.step = i, result.where = s.where;
        result.op = s.kind == plan::Step::Kernel   ? "kernel " + s.kernel
                    : s.kind == plan::Step::Matmul ? "matmul"
                    : s.kind == plan::Step::Conv   ? s.conv
                    : s.kind == plan::Step::Reorder ? "reorder"
                                                    : "zero";
        return result;
      }
  }
  return result;
}

std::string describe(const NonFinite &f, const std::string &program) {
  std::ostringstream os;
  os << "'" << f.buffer << "' (" << f.value << ")";
  if (f.parameter) return os.str() + ", a parameter, before the step ran";
  os << ", computed by " << program << " step " << f.step << " (" << f.op << ")";
  if (!f.where.empty()) os << " at " << f.where;
  return os.str();
}

}  // namespace vaec::rt
