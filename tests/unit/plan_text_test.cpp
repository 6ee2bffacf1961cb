// The plan text (runtime/abi/plan.h): the round trip, batch-linear sizes
// and extents, and every rejection with its message; the check of the
// machine a plan was compiled for (runtime/abi/machine.h).
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>

#include "abi/machine.h"
#include "abi/plan.h"
#include "executor_test_plan.h"

using namespace vaec;
using namespace vaec::rt;
using namespace vaec::test;

// --- the plan text ---

TEST(PlanText, RoundTrips) {
  TestPlan t = make_plan();
  const std::string text = plan::format_plan(t.plan);
  plan::Plan parsed;
  std::string error;
  ASSERT_TRUE(plan::parse_plan(text, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text);
  // `good` with the first `from` replaced by `to` is refused with `message`.
  auto refused = [&](const std::string &good, const std::string &from, const std::string &to,
                     const std::string &message) {
    std::string bad = good;
    bad.replace(bad.find(from), from.size(), to);
    EXPECT_FALSE(plan::parse_plan(bad, parsed, error)) << bad;
    EXPECT_NE(error.find(message), std::string::npos) << error;
  };
  EXPECT_EQ(parsed.train.steps[2].accumulate, (std::vector<int>{3, 4}));
  EXPECT_EQ(parsed.train.steps[1].where, "test.yaml:2:1");
  EXPECT_TRUE(parsed.train.steps[1].ta && parsed.train.steps[1].tb);
  // A product summed over slices of k, one per thread.
  {
    TestPlan k = make_plan();
    k.plan.train.steps[1].split = plan::Step::KSlices;
    k.plan.train.steps[1].bias = -1, k.plan.train.steps[1].post.clear();
    const std::string text_k = plan::format_plan(k.plan);
    ASSERT_TRUE(plan::parse_plan(text_k, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), text_k);
    EXPECT_EQ(parsed.train.steps[1].split, plan::Step::KSlices);
    EXPECT_NE(text_k.find(" k-slices - where"), std::string::npos) << text_k;
  }
  // A product computed swapped.
  {
    TestPlan w = make_plan();
    w.plan.train.steps[1].swapped = true;
    const std::string text_w = plan::format_plan(w.plan);
    ASSERT_TRUE(plan::parse_plan(text_w, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), text_w);
    EXPECT_TRUE(parsed.train.steps[1].swapped);
    EXPECT_NE(text_w.find(" whole - swapped where"), std::string::npos) << text_w;
  }
  // A product in vaec's own thin loops.
  {
    TestPlan w = make_plan();
    w.plan.train.steps[1].thin = true;
    const std::string text_w = plan::format_plan(w.plan);
    ASSERT_TRUE(plan::parse_plan(text_w, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), text_w);
    EXPECT_TRUE(parsed.train.steps[1].thin && !parsed.train.steps[1].swapped);
    EXPECT_NE(text_w.find(" whole - thin where"), std::string::npos) << text_w;
  }
  // A bf16 product and the compiler's notes come back too.
  t.plan.train.steps[1].bf16 = true;
  t.plan.notes = {"train step 1 [4,8]x[8,3]: bf16 (f32 x 0.010 ms; bf16 y 0.005 ms + 0.001 ms rounding a and b)"};
  const std::string text2 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text2, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text2);
  EXPECT_TRUE(parsed.train.steps[1].bf16);
  EXPECT_EQ(parsed.notes, t.plan.notes);
  // A kernel that is a convolution says its multiply-adds per row.
  t.plan.train.steps[2].macs = 225792;
  const std::string text3 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text3, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text3);
  EXPECT_EQ(parsed.train.steps[2].macs, 225792);
  // A bf16 buffer (share_rounding's rounded copies): 2 bytes an element.
  t.plan.buffers.push_back({"train.x.bf16", plan::DType::BF16, 8, 0, 0, 0});
  const std::string text4 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text4, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text4);
  EXPECT_EQ(parsed.buffers.back().type, plan::DType::BF16);
  EXPECT_NE(text4.find("buffer train.x.bf16 bf16 8 0"), std::string::npos);
  // The input's copy, which the runtime writes with the input.
  t.plan.train.input_copy = static_cast<int>(t.plan.buffers.size()) - 1;
  const std::string text4b = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text4b, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text4b);
  EXPECT_EQ(parsed.train.input_copy, t.plan.train.input_copy);
  EXPECT_NE(text4b.find("\ninput_copy " + std::to_string(t.plan.train.input_copy) + "\n"), std::string::npos) << text4b;
  // A convolution in Winograd's algorithm says so after its layouts.
  plan::Step conv;
  conv.kind = plan::Step::Conv;
  conv.conv = "conv2d";
  conv.a = t.c, conv.b = t.w2, conv.c = t.y;
  conv.dims_a = {plan::kBatch, 1, 2, 2}, conv.dims_b = {1, 1, 1, 1}, conv.dims_c = {plan::kBatch, 1, 2, 2};
  conv.stride = {1, 1}, conv.pad = {0, 0, 0, 0};
  conv.winograd = true;
  conv.where = "test.yaml:3:1";
  t.plan.train.steps.push_back(conv);
  const std::string text5 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text5, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text5);
  EXPECT_TRUE(parsed.train.steps.back().winograd && !parsed.train.steps.back().bf16);
  EXPECT_NE(text5.find("1,1 0,0,0,0 plain plain plain winograd where test.yaml:3:1"), std::string::npos) << text5;
  // own-winograd round-trips the same way.
  t.plan.train.steps.back().winograd = false;
  t.plan.train.steps.back().own_winograd = true;
  const std::string text7 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text7, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text7);
  EXPECT_TRUE(parsed.train.steps.back().own_winograd && !parsed.train.steps.back().winograd);
  EXPECT_NE(text7.find("plain plain plain own-winograd where test.yaml:3:1"), std::string::npos) << text7;
  // An input gradient side by side with the weight gradient after it.
  {
    TestPlan pair = t;
    plan::Step &data = pair.plan.train.steps.back();
    data.conv = "conv2d_bwd_data";
    data.side_by_side = true;
    plan::Step weights = data;
    weights.conv = "conv2d_bwd_weights", weights.side_by_side = false;
    weights.b = t.c, weights.c = t.w2;
    pair.plan.train.steps.push_back(weights);
    const std::string text8 = plan::format_plan(pair.plan);
    ASSERT_TRUE(plan::parse_plan(text8, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), text8);
    EXPECT_TRUE(parsed.train.steps[parsed.train.steps.size() - 2].side_by_side);
    EXPECT_NE(text8.find("own-winograd side-by-side where test.yaml:3:1"), std::string::npos) << text8;
    // Not without a weight gradient after it, nor on another step.
    pair.plan.train.steps.pop_back();
    EXPECT_FALSE(plan::parse_plan(plan::format_plan(pair.plan), parsed, error));
    EXPECT_NE(error.find("is side-by-side, but the next step is no own-winograd conv2d_bwd_weights"), std::string::npos)
        << error;
    refused(text7, "own-winograd where", "own-winograd side-by-side where",
            "'side-by-side' is for an input gradient (conv2d_bwd_data)");
    refused(text7, "own-winograd where", "own-winograd sideways where", "expected 'side-by-side' or 'where'");
  }
  // Anything else there is an error.
  std::string text6 = text5;
  text6.replace(text6.find("plain winograd where"), 20, "plain wingrad where");
  EXPECT_FALSE(plan::parse_plan(text6, parsed, error));
  EXPECT_NE(error.find("expected 'bf16', 'winograd', 'own-winograd', 'batch-slices' or 'where'"), std::string::npos)
      << error;
  // One-thread slices of the batch, alone or after winograd or bf16; not
  // after own-winograd.
  {
    TestPlan sliced = t;
    plan::Step &s = sliced.plan.train.steps.back();
    s.own_winograd = false, s.winograd = false, s.batch_slices = true;
    const std::string alone = plan::format_plan(sliced.plan);
    ASSERT_TRUE(plan::parse_plan(alone, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), alone);
    EXPECT_TRUE(parsed.train.steps.back().batch_slices);
    EXPECT_NE(alone.find("plain plain plain batch-slices where test.yaml:3:1"), std::string::npos) << alone;
    s.winograd = true;
    const std::string after = plan::format_plan(sliced.plan);
    ASSERT_TRUE(plan::parse_plan(after, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), after);
    EXPECT_NE(after.find("plain winograd batch-slices where"), std::string::npos) << after;
    s.winograd = false, s.bf16 = true;
    const std::string bf16 = plan::format_plan(sliced.plan);
    ASSERT_TRUE(plan::parse_plan(bf16, parsed, error)) << error;
    EXPECT_EQ(plan::format_plan(parsed), bf16);
    EXPECT_TRUE(parsed.train.steps.back().bf16 && parsed.train.steps.back().batch_slices) << bf16;
    refused(after, "plain winograd batch-slices", "plain own-winograd batch-slices",
            "expected 'side-by-side' or 'where'");
    refused(after, "batch-slices where", "batch-slices sliced where", "expected 'where'");
  }
}

// Sizes linear in the batch (a+b*B) and extents that are the batch (B)
// round-trip, and at_batch resolves them: sizes at the run's batch, offsets
// and the arena at the layout's.
TEST(PlanText, BatchLinearSizesAndExtents) {
  std::string text = plan::format_plan(make_plan().plan);
  auto replace = [&](const std::string &from, const std::string &to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("arena 20368", "arena 20368+1000*B");
  replace("buffer junk f32 100 ", "buffer junk f32 100+2*B ");
  replace("matmul 15 2 16 4 250 ", "matmul 15 2 16 4 B ");
  plan::Plan p;
  std::string error;
  ASSERT_TRUE(plan::parse_plan(text, p, error)) << error;
  EXPECT_EQ(plan::format_plan(p), text);
  const plan::Plan r = plan::at_batch(p, 3, 5);
  EXPECT_EQ(r.arena_bytes, 20368 + 5000);
  EXPECT_EQ(r.arena_row, 0);
  const int junk = static_cast<int>(p.buffers.size()) - 1;
  ASSERT_EQ(p.buffers[junk].name, "junk");
  EXPECT_EQ(r.buffers[junk].elements, 106);
  EXPECT_EQ(r.train.steps[1].m, 3);
  EXPECT_EQ(r.train.batch, 3);
  // A per-example part past the arena's per-example bytes is refused.
  std::string bad = text;
  bad.replace(bad.find("100+2*B"), 7, "100+900*B");
  EXPECT_FALSE(plan::parse_plan(bad, p, error));
  EXPECT_NE(error.find("buffer junk lies outside the arena"), std::string::npos) << error;
}

TEST(PlanText, RejectsMalformedText) {
  const std::string good = plan::format_plan(make_plan().plan);
  auto error_for = [&](const std::string &from, const std::string &to) {
    std::string text = good;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    plan::Plan p;
    std::string error;
    return plan::parse_plan(text, p, error) ? std::string("(accepted)") : error;
  };
  EXPECT_EQ(error_for("args 16 8 17", "args 16 99 17"), "plan: buffer index out of range in kernel affine");
  EXPECT_EQ(error_for("acc 3 4", "acc 3 9"),
            "plan: buffer index out of range in kernel affine (accumulated argument position)");
  EXPECT_EQ(error_for("loss total 20", "loss total 1000"), "plan: buffer index out of range in loss total");
  EXPECT_EQ(error_for("loss total 20", "input_copy 1000\nloss total 20"), "plan: buffer index out of range in program train");
  EXPECT_NE(error_for("loss total 20", "input_copy\nloss total 20").find("malformed line: 'input_copy'"), std::string::npos);
  EXPECT_EQ(error_for("optimizer adam 0", "optimizer adam 77"), "plan: buffer index out of range in optimizer adam");
  EXPECT_EQ(error_for("zero 23", "zero -1"), "plan: buffer index out of range in zero at ");
  EXPECT_EQ(error_for("program eval", "program train"), "plan line 60: program defined twice: 'program train 250 14 7'");
  EXPECT_EQ(error_for("end\nprogram eval", "end\nend\nnonsense"), "plan line 61: unknown keyword: 'nonsense 250 14 7'");
  EXPECT_EQ(error_for("optimize all", "optimize some"), "plan line 58: expected 'all' or 'params': 'optimize some where -'");
  EXPECT_EQ(error_for("relu whole", "relu halves"),
            "plan line 53: expected 'whole', 'columns', 'rows' or 'k-slices': 'matmul 15 2 16 4 250 3 7 1 1 relu halves - where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole - fp8"),
            "plan line 53: expected 'bf16', 'swapped', 'thin' or 'where': 'matmul 15 2 16 4 250 3 7 1 1 relu whole - fp8 where "
            "test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole - bf16 fp8"),
            "plan line 53: expected 'swapped', 'thin' or 'where': 'matmul 15 2 16 4 250 3 7 1 1 relu whole - bf16 fp8 where "
            "test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu columns - swapped"), "(accepted)");
  for (const char *bad : {"relu whole - bf16 swapped", "relu whole inner swapped", "relu whole units swapped"})
    EXPECT_EQ(error_for("relu whole -", bad),
              "plan line 53: 'swapped' takes no bf16, k-slices, zero columns or units: 'matmul 15 2 16 4 250 3 7 1 1 " +
                  std::string(bad) + " where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole - thin"), "(accepted)");
  for (const char *bad : {"relu whole - bf16 thin", "relu columns - thin", "relu whole inner thin", "relu whole units thin"})
    EXPECT_EQ(error_for("relu whole -", bad),
              "plan line 53: 'thin' takes no bf16, slices, zero columns or units: 'matmul 15 2 16 4 250 3 7 1 1 " +
                  std::string(bad) + " where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole - swapped thin"),
            "plan line 53: expected 'where': 'matmul 15 2 16 4 250 3 7 1 1 relu whole - swapped thin where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole inner bf16"), "(accepted)");
  EXPECT_EQ(error_for("relu whole -", "relu whole units bf16"), "(accepted)");
  EXPECT_EQ(error_for("relu whole -", "relu whole units+outer"),
            "plan line 53: expected '-', 'inner', 'outer', 'units', 'outer+units' or 'sparse': 'matmul 15 2 16 4 250 3 7 1 1 relu whole "
            "units+outer where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole outer+units"), "(accepted)");
  EXPECT_EQ(error_for("1 1 relu whole -", "1 0 relu whole sparse"), "(accepted)");
  // 'sparse': f32, whole, b not transposed.
  for (const auto &[to, why] : std::vector<std::pair<std::string, std::string>>{
           {"1 1 relu whole sparse", "'sparse' runs whole, with b not transposed"},
           {"1 0 relu rows sparse", "'sparse' runs whole, with b not transposed"},
           {"1 0 relu whole sparse bf16", "'sparse' takes no bf16"}})
    EXPECT_EQ(error_for("1 1 relu whole -", to),
              "plan line 53: " + why + ": 'matmul 15 2 16 4 250 3 7 " + to + " where test.yaml:2:1'");
  // k-slices add the bias and relu after the slices' sum; sigmoid, zero columns and units they do not take.
  EXPECT_EQ(error_for("relu whole -", "relu k-slices -"), "(accepted)");
  EXPECT_EQ(error_for("relu whole -", "sigmoid k-slices -"),
            "plan line 53: 'k-slices' takes no sigmoid, zero columns or units: 'matmul 15 2 16 4 250 3 7 1 1 sigmoid "
            "k-slices - where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu k-slices inner"),
            "plan line 53: 'k-slices' takes no sigmoid, zero columns or units: 'matmul 15 2 16 4 250 3 7 1 1 relu "
            "k-slices inner where test.yaml:2:1'");
  EXPECT_EQ(error_for("arena ", "arnea "), "plan line 14: unknown keyword: 'arnea 20368'");
  EXPECT_EQ(error_for("args 16 8 17 18 19 acc", "args 16 x acc"),
            "plan line 54: malformed argument list: 'kernel affine 250 rows 0 args 16 x acc 3 4 where test.yaml:1:affine'");
  EXPECT_EQ(error_for("acc 3 4 where", "acc 3 4 macs -5 where"),
            "plan line 54: malformed 'macs N': 'kernel affine 250 rows 0 args 16 8 17 18 19 acc 3 4 macs -5 where "
            "test.yaml:1:affine'");
  EXPECT_EQ(error_for("acc 3 4 where", "acc 3 4 macs 9 3 where"),
            "plan line 54: expected 'where' after 'macs N': 'kernel affine 250 rows 0 args 16 8 17 18 19 acc 3 4 macs 9 3 "
            "where test.yaml:1:affine'");
  EXPECT_EQ(error_for("matmul 15 2 16 4 250 3 7 1 1 relu", "matmul 15 2"),
            "plan line 53: malformed line: 'matmul 15 2 whole - where test.yaml:2:1'");
  EXPECT_NE(error_for("buffer in u8", "buffer in u16").find("unknown element type 'u16'"), std::string::npos);
  EXPECT_NE(error_for("buffer junk f32 100", "buffer junk f32 100000").find("buffer junk lies outside the arena"),
            std::string::npos);
  // Buckets (train only): every parameter in exactly one, after a step of the program.
  const std::string loss = "loss total 20\n";
  EXPECT_EQ(error_for(loss, loss + "bucket 0 params 0 0\n"), "plan: buffer index out of range in bucket parameter 0");
  EXPECT_EQ(error_for(loss, loss + "bucket 99 params 0\n"), "plan: buffer index out of range in bucket after step 99");
  EXPECT_EQ(error_for(loss, loss + "bucket 0 params 0\n"),
            "plan: buffer index out of range in buckets (a parameter in none)");
  EXPECT_NE(error_for(loss, loss + "bucket 0 params 0 x\n").find("malformed index list"), std::string::npos);
  EXPECT_NE(error_for(loss, loss + "bucket 0 params\n").find("a bucket without parameters"), std::string::npos);
  plan::Plan p;
  std::string error;
  EXPECT_FALSE(plan::parse_plan(good.substr(0, good.find("program eval")), p, error));
  EXPECT_EQ(error, "plan has no eval program");
  EXPECT_FALSE(plan::parse_plan("", p, error));
  EXPECT_FALSE(plan::parse_plan(std::string("\0\xff junk\n", 8), p, error));
}

// --- the machine a plan was compiled for (abi/machine.h) ---

TEST(PlanMachine, KernelInstructionsThisCpuLacksAreAnErrorAndAmxTimingsANote) {
  plan::Plan p;
  const std::vector<std::string> avx512 = {"popcnt", "fma", "avx", "avx2", "avx512f", "avx512bw", "avx512dq",
                                           "avx512vl"};
  // Not recorded (an older or hand-made plan): not checked.
  EXPECT_EQ(plan::check_machine(p, {}).error, "");
  p.config["cpu_features"] = "popcnt fma avx avx2 avx512f avx512bw avx512dq avx512vl avx512bf16 amx-tile amx-bf16";
  EXPECT_EQ(plan::check_machine(p, avx512).error, "");  // f32 kernels use no avx512bf16
  EXPECT_EQ(plan::check_machine(p, avx512).note, "");   // and there are no bf16 steps
  const plan::MachineCheck avx2 = plan::check_machine(p, {"popcnt", "fma", "avx", "avx2"});
  EXPECT_EQ(avx2.error,
            "this trainer's kernels were compiled for a CPU with avx512f, avx512bw, avx512dq and avx512vl, which this "
            "CPU lacks: compile the model again on this machine (vaec compile)");
  // bf16 buffers: the kernels round with avx512bf16; bf16 steps timed with AMX.
  p.buffers.push_back({"x.bf16", plan::DType::BF16, 16, 0});
  plan::Step s;
  s.kind = plan::Step::Matmul;
  s.bf16 = true;
  p.train.steps = {s, s};
  EXPECT_EQ(plan::check_machine(p, avx512).error,
            "this trainer's kernels were compiled for a CPU with avx512bf16, which this CPU lacks: compile the model "
            "again on this machine (vaec compile)");
  std::vector<std::string> bf16 = avx512;
  bf16.push_back("avx512bf16");
  const plan::MachineCheck no_amx = plan::check_machine(p, bf16);
  EXPECT_EQ(no_amx.error, "");
  EXPECT_EQ(no_amx.note,
            "the 2 bf16 products and convolutions of this plan's training step were timed on a CPU with AMX; this CPU "
            "has none, so oneDNN runs them on slower kernels here, maybe slower than f32: vaec compile on this machine "
            "times them again");
  bf16.push_back("amx-bf16");
  EXPECT_EQ(plan::check_machine(p, bf16).note, "");
  // This machine passes its own check.
  p.config["cpu_features"] = "";
  for (const std::string &f : plan::cpu_features()) p.config["cpu_features"] += f + " ";
  EXPECT_EQ(plan::check_machine(p, plan::cpu_features()).error, "");
}

TEST(PlanMachine, LlvmGetsNoExtensionBeyondTheRecordedOnes) {
  for (const std::string &f : plan::kernel_features()) EXPECT_FALSE(plan::extension_beyond_kernels(f)) << f;
  // mnist_conv's kernels used GFNI's vgf2p8affineqb where the host had it.
  for (const char *f : {"gfni", "avx512vbmi", "avx512fp16", "avx512vnni", "amx-tile", "avx10.1-512", "vaes"})
    EXPECT_TRUE(plan::extension_beyond_kernels(f)) << f;
  // The baseline and what 512-bit vectors need stay on.
  for (const char *f : {"sse4.2", "cx16", "evex512", "xsave"}) EXPECT_FALSE(plan::extension_beyond_kernels(f)) << f;
}
