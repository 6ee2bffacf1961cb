// Helpers for tests that run generated code next to the f64 interpreter:
// compile a training graph to JIT kernels + plan, and bind what the executor
// used (images, parameters, noise) as the interpreter's inputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/jit.h"
#include "codegen/pipeline.h"
#include "exec/executor.h"
#include "interp/interpreter.h"
#include "passes/pipeline.h"
#include "abi/philox.h"

namespace vaec::test {

// A model compiled for in-process runs. The schedules in `lowered` point into
// `train` and `eval`, so a JitModel stays where it was made (use a pointer).
struct JitModel {
  Graph train, eval;
  LoweredModel lowered;
  std::unique_ptr<KernelJit> jit;
  std::vector<vaec_kernel_entry> table;  // ends with {nullptr, nullptr}
};

// The executor's kernel table for `kernels` compiled by `jit`: {name, fn}...,
// {nullptr, nullptr}; the names point into `kernels`.
inline std::vector<vaec_kernel_entry> kernel_table(const KernelJit &jit, const std::vector<FusedKernel> &kernels) {
  std::vector<vaec_kernel_entry> table;
  for (const FusedKernel &k : kernels) table.push_back({k.name.c_str(), jit.lookup(k.name)});
  table.push_back({nullptr, nullptr});
  return table;
}

// Runs the pipeline on `model` (training and forward graphs at its batch),
// lowers, and JIT-compiles every kernel. nullptr and `error` on failure.
inline std::unique_ptr<JitModel> compile_jit(const Graph &model, std::string &error,
                                             const CodegenOptions &options = {}) {
  auto c = std::make_unique<JitModel>();
  c->train = run_pipeline(model, PipelineOptions{});
  PipelineOptions forward;
  forward.stop_after = "forward";
  c->eval = run_pipeline(model, forward);
  c->lowered = run_codegen(c->train, c->eval, {}, {}, options);
  c->jit = KernelJit::create(c->lowered.kernels, error);
  if (!c->jit) return nullptr;
  c->table = kernel_table(*c->jit, c->lowered.kernels);
  return c;
}

// The interpreter's bindings for one training step the executor ran with
// rng {seed, step}: the input bytes as the kernels read them (byte * f32(1/255)),
// the executor's parameters, and the same Philox draws per normal() stream.
inline Bindings executor_bindings(const Graph &train, const plan::Plan &p, rt::Executor &ex, uint64_t seed,
                                  uint64_t step) {
  const float *input = ex.f32(p.train.input);  // the rows the runtime wrote
  Bindings b;
  uint32_t stream = 0;
  for (const Node &n : train.nodes) {
    Tensor t{n.dims, std::vector<double>(checked_elements(n.dims))};
    if (n.op == Op::Input) {
      for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = input[k];
    } else if (n.op == Op::Param) {
      for (size_t q = 0; q < p.params.size(); ++q)
        if (p.params[q].name == n.name) {
          const std::vector<float> w = ex.plain_param(q);
          for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = w[k];
        }
    } else if (n.op == Op::Normal) {
      for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = philox_normal(seed, step, stream, k);
      ++stream;
    } else {
      continue;
    }
    b.values[n.name] = std::move(t);
  }
  return b;
}

}  // namespace vaec::test
