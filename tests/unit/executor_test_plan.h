// The hand-built plan the executor, zero-column, plan-text and trainer tests
// run, with its kernels written in C++ against the kernel ABI: decode u8 ->
// matmul(ta, tb, bias, relu) -> affine with column sums -> rank-0 loss; then
// matmul(sigmoid) and a zero step; Adam over its four parameters. Also the
// kernels of the tests' smaller plans (the fused updates, the zero columns).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "abi/plan.h"
#include "exec/executor.h"

namespace vaec::test {

inline constexpr int64_t M = 250, K = 7, N = 3, P = 4;
inline constexpr int64_t kSplitPoints = 1 << 20;
inline constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
inline constexpr int64_t kParamCount = N * K + N + N * P + N;
inline constexpr int64_t kSmall = 20;                        // the fused-update plan's parameter
inline constexpr int64_t kZm = 128, kZk = 640, kZn = 512;    // the zero-columns plan's product

// Every kernel the tests' plans name, ending with {nullptr, nullptr}.
extern const vaec_kernel_entry kKernels[];
// The row ranges kernel decode_logged was called with.
extern std::mutex ranges_mutex;
extern std::vector<std::pair<int64_t, int64_t>> ranges;

// Buffer indices of the test plan.
struct TestPlan {
  plan::Plan plan;
  int in, a_t, w1, bias, w2, b2, c, y, colsum, total, loss, seen, d, junk, params, grads;
};

// The choices vaec compile makes for a plan (codegen/pipeline.h) at
// `threads`: zero-column products, slices, the gate and the updates (for a
// fixed team unless `adaptive_team`). Steps a test added after an earlier
// call are placed anew.
plan::Plan as_compiled(plan::Plan p, int threads = 2, bool late_updates = true, bool adaptive_team = false);
// A buffer of the plan, at `offset` or after the arena's end (which grows).
int add_buffer(plan::Plan &p, const std::string &name, plan::DType type, int64_t elements, int64_t offset = -1);
// `elements` is the kernel's work: as the compiler does, only kernels of 16k
// or more split their rows among the threads.
plan::Step kernel_step(const std::string &name, int64_t domain0, std::vector<int> args, std::vector<int> acc = {},
                       int64_t elements = 1);
plan::Step matmul_step(int a, int b, int c, int bias, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                       std::string post);
// The parameters in order in a parameter region and a gradient region of the
// same layout: packed, or (lines) each starting on a 64-byte line as vaec's
// plans place them. U(-1/sqrt(last dim), +) initialisation.
void add_params(plan::Plan &p, const std::vector<std::pair<std::string, std::vector<int64_t>>> &params, bool lines);
std::map<std::string, std::string> adam_config(int64_t batch, int epochs);
// Adam's hyper values and state regions after the plan's parameter and
// gradient regions, and its optimizer kernel.
void add_adam(plan::Plan &p);
TestPlan make_plan();
void fill_input(rt::Executor &exec, const TestPlan &t, uint32_t salt);

// The train program's outputs computed naively in double.
struct Reference {
  std::vector<double> c, y, colsum, d;
  double total = 0, loss = 0, abs_total = 0;
};

Reference reference(rt::Executor &exec, const TestPlan &t);
void expect_near_all(const float *got, const std::vector<double> &want, double scale, const char *what);
std::vector<float> copy_of(rt::Executor &exec, int buffer, int64_t n);

}  // namespace vaec::test
