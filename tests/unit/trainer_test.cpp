// The trainer on the hand-built plan (executor_test_plan.h): a whole run and
// its reports, data and option errors, non-finite diagnosis, resuming from
// checkpoints exactly and refusing others', and the link line `vaec
// compile` uses.
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

#include "abi/plan.h"
#include "exec/executor.h"
#include "train/checkpoint.h"
#include "codegen/emit_trainer.h"
#include "program/program.h"
#include "executor_test_plan.h"

using namespace vaec;
using namespace vaec::rt;
using namespace vaec::test;

// --- the trainer ---

namespace {

// An MNIST-like IDX data set of [count, 1, K] "images" in `dir`.
void write_idx(const std::string &path, std::vector<uint32_t> dims, size_t keep_bytes = SIZE_MAX) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    n *= d;
    for (int shift : {24, 16, 8, 0}) bytes += static_cast<char>(d >> shift);
  }
  for (size_t i = 0; i < n; ++i) bytes += static_cast<char>(dims.size() == 1 ? i % 10 : (i * 7919) % 256);
  std::ofstream(path, std::ios::binary) << bytes.substr(0, std::min(keep_bytes, bytes.size()));
}

std::string write_dataset(const std::string &name, uint32_t train, uint32_t test) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::create_directories(dir);
  write_idx(dir + "/train-images-idx3-ubyte", {train, 1, K});
  write_idx(dir + "/train-labels-idx1-ubyte", {train});
  write_idx(dir + "/t10k-images-idx3-ubyte", {test, 1, K});
  write_idx(dir + "/t10k-labels-idx1-ubyte", {test});
  return dir;
}

struct TrainerRun {
  int status;
  std::string out, err;
};

// Metrics, pictures and checkpoints go to a temporary directory of the
// test's own unless `args` says --out (ctest runs the tests at once, and a
// trainer refuses a directory another trainer holds).
TrainerRun run_trainer(const plan::Plan &plan, std::vector<std::string> args) {
  const std::string text = plan::format_plan(plan);
  if (std::find(args.begin(), args.end(), "--out") == args.end())
    args.insert(args.begin(), {"--out", ::testing::TempDir() + "/trainer_out_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name()});
  args.insert(args.begin(), "train");
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  TrainerRun r;
  r.status = vaec_trainer_main(static_cast<int>(argv.size()), argv.data(), text.c_str(), kKernels);
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

}  // namespace

TEST(Trainer, TrainsAndReportsPerEpoch) {
  const std::string dir = write_dataset("trainer_ok", 600, 500);
  TrainerRun r = run_trainer(make_plan().plan, {"--data", dir, "--threads", "2", "--epochs=2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/2  train "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 2/2  train "), std::string::npos) << r.out;
  // A plan not sized per example (this test's) runs only whole batches.
  EXPECT_NE(r.out.find("(--drop-last: 100 images left out)"), std::string::npos) << r.out;
  // `total` is listed first, then the other losses in plan order.
  EXPECT_NE(r.out.find(" (sum "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RESULT {\"framework\": \"vaec\", \"model\": \"executor_test\", \"batch\": 250, \"epochs\": 2, "
                       "\"steps\": 4, "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"threads\": 2, \"ranks\": 1, \"images\": 1000, \"test_images\": 500, \"eval\": \"test\", "
                       "\"step_gflop\": 1.65e-05}"),  // the plan's products: 2 (250 x 3 x 7 + 250 x 4 x 3)
            std::string::npos)
      << r.out;

  r = run_trainer(make_plan().plan, {"--data", dir, "--threads", "1", "--max-steps", "3", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"epochs\": 2, \"steps\": 3, "), std::string::npos) << r.out;
}

TEST(Trainer, DataErrorsAreMessagesNotCrashes) {
  const std::string dir = write_dataset("trainer_truncated", 600, 500);
  write_idx(dir + "/t10k-images-idx3-ubyte", {500, 1, K}, 1000);
  TrainerRun r = run_trainer(make_plan().plan, {"--data", dir});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: " + dir + "/t10k-images-idx3-ubyte: truncated: header promises 3500 bytes of data, "
                   "the file has 984\n");
  EXPECT_EQ(r.out, "");

  r = run_trainer(make_plan().plan, {"--data", dir + "/nowhere"});
  EXPECT_EQ(r.status, 1);
  // A path given on the command line gets no hint about the bundled sets.
  EXPECT_EQ(r.err, "error: " + dir + "/nowhere: cannot open: No such file or directory\n");

  const std::string odd = write_dataset("trainer_odd_test_set", 600, 499);
  r = run_trainer(make_plan().plan, {"--data", odd});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("the batch 250 of this plan does not divide the 499 test examples"), std::string::npos) << r.err;
}

TEST(Trainer, OptionErrors) {
  const plan::Plan p = make_plan().plan;
  TrainerRun r = run_trainer(p, {"--batch", "64"});
  EXPECT_EQ(r.status, 1);
  // A plan not sized per example (a test's) runs only at its batch.
  EXPECT_EQ(r.err, "error: this plan runs only at batch 250 (its buffers are not sized per example)\n");
  r = run_trainer(p, {"--batch", "0"});
  EXPECT_EQ(r.err, "error: bad value '0' for --batch: expected a whole number from 1 to 1048576\n");
  r = run_trainer(p, {"--batch", "abc"});
  EXPECT_EQ(r.err, "error: bad value 'abc' for --batch: expected a whole number from 1 to 1048576\n");
  r = run_trainer(p, {"--batch", "250"});  // the plan's batch, said explicitly
  EXPECT_EQ(r.err.find("runs only at"), std::string::npos) << r.err;
  r = run_trainer(p, {"--epoch", "3"});
  EXPECT_EQ(r.err, "error: unknown option '--epoch'; did you mean '--epochs'?\n");
  r = run_trainer(p, {"--threads", "0"});
  EXPECT_EQ(r.err, "error: bad value '0' for --threads: expected a whole number from 1 to 4096\n");
  r = run_trainer(p, {"--lr"});
  EXPECT_EQ(r.err, "error: --lr needs a value\n");
  r = run_trainer(p, {"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: train [train] [options]"), std::string::npos);
  EXPECT_NE(r.out.find("--batch N      examples per step, any N (default 250, the compiled batch)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  manifold     --n N (15) --dims I,J (0,1)"), std::string::npos) << r.out;
  // An inspection command's options are its own.
  r = run_trainer(p, {"manifold", "--out", ::testing::TempDir(), "--epochs", "3"});
  EXPECT_EQ(r.err, "error: train manifold has no option '--epochs' (see train manifold --help)\n");
}

TEST(Trainer, NonFiniteLossStops) {
  TestPlan t = make_plan();
  t.plan.train.steps[3] = kernel_step("nan", 1, {t.loss});
  const std::string dir = write_dataset("trainer_nan", 600, 500);
  TrainerRun r = run_trainer(t.plan, {"--data", dir, "--threads", "2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: loss 'total' is nan at epoch 1, step 1 of 2 (global step 1); the training diverged: "
                   "try a smaller --lr\n"
                   "note: the first non-finite value is in 'loss' (nan), computed by train step 3 (kernel nan) at "
                   "test.yaml:1:nan\n"
                   "note: this step was not applied; no checkpoint was written yet\n");
}

namespace {

// make_plan() with a gradient: the optimizer then really moves the
// parameters, so a resumed run that restored anything wrongly would differ.
TestPlan make_learning_plan() {
  TestPlan t = make_plan();
  t.plan.train.steps.push_back(kernel_step("fake_grad", kParamCount, {t.in, t.params, t.grads}, {}, kParamCount));
  t.plan = as_compiled(std::move(t.plan));
  return t;
}

std::string file_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The report line of `epoch`, without its timings.
std::string epoch_line(const std::string &out, int epoch) {
  const std::string start = "epoch " + std::to_string(epoch) + "/";
  const size_t at = out.find(start);
  if (at == std::string::npos) return "(no line for epoch " + std::to_string(epoch) + ")";
  const std::string line = out.substr(at, out.find('\n', at) - at);
  return line.substr(0, line.rfind("  ", line.find(" img/s")));
}

}  // namespace

// Training 2 epochs equals training 1, then resuming for 1: the same
// checkpoint, byte for byte (parameters, Adam's state and t, the shuffle
// and the noise step all continue) and the same report.
TEST(Trainer, ResumeContinuesExactly) {
  static_assert(kParamCount == N * K + N + N * P + N);
  const std::string data = write_dataset("trainer_resume_data", 1000, 500);  // 4 steps an epoch
  const std::string dir = ::testing::TempDir() + "/trainer_resume";
  std::filesystem::remove_all(dir);
  const plan::Plan p = make_learning_plan().plan;
  auto train = [&](const std::string &out, std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data, "--out", dir + "/" + out});
    TrainerRun r = run_trainer(p, args);
    EXPECT_EQ(r.status, 0) << r.err;
    return r;
  };
  const TrainerRun once = train("once", {"--threads", "2", "--epochs", "2"});
  train("split", {"--threads", "2", "--epochs", "1"});
  const std::string after_one = file_bytes(dir + "/split/checkpoint.bin");
  const TrainerRun resumed = train("split", {"--epochs", "2", "--resume"});  // threads from the checkpoint
  EXPECT_NE(after_one, file_bytes(dir + "/split/checkpoint.bin"));
  EXPECT_EQ(file_bytes(dir + "/once/checkpoint.bin"), file_bytes(dir + "/split/checkpoint.bin"));
  EXPECT_EQ(epoch_line(once.out, 2), epoch_line(resumed.out, 2));
  EXPECT_EQ(resumed.err, "");

  // Stopped mid-epoch by --max-steps (epoch 2, step 2 of 4), then resumed.
  const TrainerRun steps_once = train("steps_once", {"--threads", "2", "--epochs", "3", "--max-steps", "10"});
  train("steps_split", {"--threads", "2", "--epochs", "3", "--max-steps", "6"});
  const TrainerRun steps_resumed =
      train("steps_split", {"--epochs", "3", "--max-steps", "10", "--resume", dir + "/steps_split/checkpoint.bin"});
  EXPECT_EQ(file_bytes(dir + "/steps_once/checkpoint.bin"), file_bytes(dir + "/steps_split/checkpoint.bin"));
  EXPECT_EQ(epoch_line(steps_once.out, 2), epoch_line(steps_resumed.out, 2));
  EXPECT_EQ(epoch_line(steps_once.out, 3), epoch_line(steps_resumed.out, 3));
  EXPECT_NE(steps_resumed.out.find("\"epochs\": 3, \"steps\": 10, "), std::string::npos) << steps_resumed.out;

  // Another thread count is allowed, with a warning.
  const TrainerRun other_threads = train("split", {"--epochs", "3", "--resume", "--threads", "1"});
  EXPECT_EQ(other_threads.err, "warning: " + dir + "/split/checkpoint.bin was written with --threads 2, this run uses 1: "
                               "results will differ in the last bits from an uninterrupted run\n");
  const std::string csv = file_bytes(dir + "/split/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;  // the header and epochs 1, 2, 3
  EXPECT_NE(csv.find("\n3,12,"), std::string::npos) << csv;
  // Nothing left to train: the checkpoint is evaluated.
  const TrainerRun done = train("once", {"--epochs", "2", "--resume"});
  EXPECT_NE(done.out.find(dir + "/once/checkpoint.bin (epoch 2, global step 8): nothing left to train with --epochs 2; "
                                "evaluated it\n"),
            std::string::npos)
      << done.out;
  EXPECT_NE(done.out.find("\"epochs\": 2, \"steps\": 8, "), std::string::npos) << done.out;
}

TEST(Trainer, ResumeRefusesOtherModelsSeedsAndDamage) {
  const std::string data = write_dataset("trainer_refuse_data", 600, 500);
  const std::string dir = ::testing::TempDir() + "/trainer_refuse";
  std::filesystem::remove_all(dir);
  const plan::Plan p = make_learning_plan().plan;
  ASSERT_EQ(run_trainer(p, {"--data", data, "--epochs", "1", "--out", dir}).status, 0);
  const std::string path = dir + "/checkpoint.bin";
  auto resume = [&](const plan::Plan &plan, std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data, "--out", dir});
    TrainerRun r = run_trainer(plan, args);
    EXPECT_EQ(r.status, 1);
    return r.err;
  };
  plan::Plan other = p;
  other.model = "other_model";
  EXPECT_EQ(resume(other, {"--resume"}), "error: " + path + " is a checkpoint of model 'executor_test', not of "
                                         "'other_model', which this trainer trains\n");
  plan::Plan recompiled = p;
  recompiled.config["lr"] = "0.002";
  EXPECT_NE(resume(recompiled, {"--resume"}).find("error: " + path + " was written by another compilation of model "
                                                  "'executor_test' (model hash "),
            std::string::npos);
  EXPECT_EQ(resume(p, {"--resume", "--seed", "9"}),
            "error: " + path + " was trained with --seed 7; a resumed run keeps its seed (leave out --seed)\n");
  EXPECT_EQ(resume(p, {"--resume", dir + "/nope.bin"}),
            "error: " + dir + "/nope.bin: cannot open: No such file or directory\n");
  std::string bytes = file_bytes(path);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(dir + "/flipped.bin", std::ios::binary) << bytes;
  EXPECT_EQ(resume(p, {"--resume=" + dir + "/flipped.bin"}),
            "error: " + dir + "/flipped.bin: corrupt: the checksum does not match its contents\n");
  EXPECT_EQ(resume(p, {"--resume="}), "error: --resume= needs a file name\n");
}

// A gradient that turns NaN stops training before Adam applies it; the
// message names the gradient, the plan step that made it and its YAML
// location, and the checkpoint of the last epoch is kept.
TEST(Trainer, NonFiniteGradientStopsBeforeTheUpdate) {
  TestPlan t = make_learning_plan();
  t.plan.train.steps.push_back(kernel_step("nan_after_2", 1, {t.plan.params[2].grad_buffer}));
  t.plan = as_compiled(std::move(t.plan));
  const std::string data = write_dataset("trainer_nan_grad", 600, 500);  // 2 steps an epoch
  const std::string dir = ::testing::TempDir() + "/trainer_nan_grad_out";
  std::filesystem::remove_all(dir);
  TrainerRun r = run_trainer(t.plan, {"--data", data, "--threads", "2", "--out", dir});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: the gradient of 'w2' is not finite at epoch 2, step 1 of 2 (global step 3); the training "
                   "diverged: try a smaller --lr\n"
                   "note: the first non-finite value is in 'w2.grad' (nan), computed by train step 7 (kernel "
                   "nan_after_2) at test.yaml:1:nan_after_2\n"
                   "note: this step was not applied; the last good checkpoint is " +
                       dir + "/checkpoint.bin (epoch 1, global step 2)\n");
  Checkpoint c;
  std::string error;
  ASSERT_TRUE(read_checkpoint(dir + "/checkpoint.bin", c, error)) << error;
  EXPECT_EQ(c.epoch, 1);
  EXPECT_EQ(c.global_step, 2u);
  for (const std::vector<float> &region : c.regions)
    for (float v : region) ASSERT_TRUE(std::isfinite(v));
}

// The link line of `vaec compile`, with a C++ stand-in for the kernels object:
//   c++ kernels.o libvaec_trainer.a -ldnnl -lpng -lz -fopenmp -o train
// The one kernel reports the mean pixel, so the test loss is known exactly.
TEST(Trainer, LinksAndRunsAsVaecCompileBuildsIt) {
  namespace fs = std::filesystem;
  const fs::path archive = fs::read_symlink("/proc/self/exe").parent_path() / "../../runtime/libvaec_trainer.a";
  if (!fs::exists(archive)) GTEST_SKIP() << "no " << archive << " (build the vaec_trainer target)";
  plan::Plan p;
  p.model = "mean_pixel";
  p.config = {{"data", "mnist"}, {"epochs", "1"},         {"optimizer", "sgd"},
              {"lr", "0.1"},    {"seed", "1"},           {"input", "in"},
              {"input_shape", std::to_string(K)}};
  const int in = add_buffer(p, "in", plan::DType::U8, 100 * K), loss = add_buffer(p, "loss", plan::DType::F32, 1);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = 100, prog->input = in, prog->input_row = K;
    prog->losses = {{"total", loss}};
    prog->steps = {kernel_step("mean_pixel", 1, {in, loss})};
  }
  p.train.name = "train", p.eval.name = "eval";
  p.loss_scaling = {{"total", "mean"}};
  const fs::path dir = ::testing::TempDir() + "/trainer_link";
  fs::create_directories(dir);
  std::ofstream(dir / "kernels.cpp") << R"(#include <cstdint>
extern "C" {
typedef void (*vaec_kernel_fn)(void *const *, int64_t, int64_t, const uint64_t *);
struct vaec_kernel_entry { const char *name; vaec_kernel_fn fn; };
extern const char vaec_plan_text[];
extern const vaec_kernel_entry vaec_kernels[];
static void mean_pixel(void *const *b, int64_t, int64_t, const uint64_t *) {
  const uint8_t *in = static_cast<const uint8_t *>(b[0]);
  double s = 0;
  for (int i = 0; i < )" << 100 * K << R"(; ++i) s += in[i];
  *static_cast<float *>(b[1]) = float(s / )" << 100 * K << R"(.0 / 255);
}
const char vaec_plan_text[] = R"PLAN()" << plan::format_plan(p) << R"()PLAN";
const vaec_kernel_entry vaec_kernels[] = {{"mean_pixel", mean_pixel}, {nullptr, nullptr}};
}
)";
  const std::string data = write_dataset("trainer_link_data", 300, 200);
  const std::string d = dir.string();
  std::string flags;  // a sanitized build's archive needs the sanitizer runtimes, as in vaec compile
  for (const std::string &f : build_link_flags()) flags += " " + f;
  const std::string cmd = "cd " + d + " && c++ -c kernels.cpp -o kernels.o && c++ kernels.o " + archive.string() +
                          " -ldnnl -lpng -lz -fopenmp" + flags + " -o train && ./train --data " + data +
                          " --threads 2 > out.txt 2> err.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream out(dir / "out.txt");
  const std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  // The test images' mean pixel / 255, as write_idx made them.
  double sum = 0;
  for (size_t i = 0; i < 200 * K; ++i) sum += (i * 7919) % 256;
  char expected[64];
  std::snprintf(expected, sizeof expected, "\"test_loss\": %.4f,", sum / (200 * K) / 255);
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 1/1  train 0."), std::string::npos) << text;
}
