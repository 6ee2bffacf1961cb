// Stopping a training run: --checkpoint-every, the signal flag and the
// command printed to resume.
#include <gtest/gtest.h>

#include <omp.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "train/interrupt.h"
#include "train/trainer_options.h"

namespace vaec::rt {
namespace {

bool parse(std::vector<std::string> words, Options &o, std::string &error) {
  words.insert(words.begin(), "train");
  std::vector<char *> argv;
  for (std::string &w : words) argv.push_back(w.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), o, error);
}

TEST(CheckpointEvery, StepsOrMinutes) {
  Options o;
  std::string error;
  EXPECT_EQ(o.checkpoint_steps, 0);
  EXPECT_EQ(o.checkpoint_minutes, 10);  // the default: at most ten minutes lost to kill -9
  ASSERT_TRUE(parse({"--checkpoint-every", "50"}, o, error)) << error;
  EXPECT_EQ(o.checkpoint_steps, 50);
  EXPECT_EQ(o.checkpoint_minutes, 0);
  ASSERT_TRUE(parse({"--checkpoint-every=2.5m"}, o, error)) << error;
  EXPECT_EQ(o.checkpoint_steps, 0);
  EXPECT_EQ(o.checkpoint_minutes, 2.5);
  ASSERT_TRUE(parse({"--checkpoint-every", "0"}, o, error)) << error;
  EXPECT_EQ(o.checkpoint_steps, 0);
  EXPECT_EQ(o.checkpoint_minutes, 0);
  for (const char *bad : {"m", "-5", "5s", "0m", "x10m", "1e9m", ""}) {
    EXPECT_FALSE(parse({"--checkpoint-every=" + std::string(bad)}, o, error)) << bad;
    EXPECT_EQ(error, "bad value '" + std::string(bad) +
                         "' for --checkpoint-every: expected N steps (0: only at epoch ends) or minutes such as 10m");
  }
}

TEST(ResumeCommand, ReplacesResumeAndQuotes) {
  EXPECT_EQ(resume_command({"./train", "--epochs", "3", "--out", "runs/a"}), "./train --epochs 3 --out runs/a --resume");
  // --resume and its file go (the run's checkpoint is DIR/checkpoint.bin), options after it stay.
  EXPECT_EQ(resume_command({"./train", "--resume", "old.bin", "--quiet"}), "./train --quiet --resume");
  EXPECT_EQ(resume_command({"./train", "--resume", "--quiet", "--resume=x.bin"}), "./train --quiet --resume");
  // A word a shell would split or expand is single-quoted.
  EXPECT_EQ(resume_command({"/opt/my runs/train", "--data", "it's.npz", "--lr=1e-3"}),
            "'/opt/my runs/train' --data 'it'\\''s.npz' --lr=1e-3 --resume");
  EXPECT_EQ(resume_command({"./train", "--out", ""}), "./train --out '' --resume");
}

// As the trainer's main() does, before any thread exists.
const bool g_watching = (watch_stop_signals(), true);

// Waits (up to 10 s) for the watcher to record a signal.
int recorded_signal() {
  for (int i = 0; i < 1000 && stop_signal() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return stop_signal();
}

// Waits (up to 10 s) until the watcher has taken every `signal` sent, plus
// a moment for the one it took last. A signal still pending when a test
// stopped catching would end the process after the test passed.
bool settled(int signal) {
  sigset_t pending;
  for (int i = 0; i < 1000 && (sigpending(&pending), sigismember(&pending, signal) == 1); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return sigpending(&pending) == 0 && sigismember(&pending, signal) == 0;
}

TEST(StopSignals, TheFirstSignalIsKept) {
  ASSERT_TRUE(g_watching);
  catch_stop_signals();
  EXPECT_EQ(stop_signal(), 0);
  kill(getpid(), SIGTERM);  // recorded, not fatal
  EXPECT_EQ(recorded_signal(), SIGTERM);
  kill(getpid(), SIGINT);  // a second one changes nothing
  EXPECT_TRUE(settled(SIGINT));
  EXPECT_EQ(stop_signal(), SIGTERM);
  EXPECT_STREQ(signal_name(SIGINT), "SIGINT");
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  catch_stop_signals();  // starts afresh, so other tests may train
  EXPECT_EQ(stop_signal(), 0);
}

// Every thread made after watch_stop_signals() blocks both signals: OpenMP's
// and any other.
TEST(StopSignals, NoComputingThreadTakesThem) {
  auto blocks_both = [] {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    return sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1;
  };
  EXPECT_TRUE(blocks_both());
  bool in_thread = false;
  std::thread([&] { in_thread = blocks_both(); }).join();
  EXPECT_TRUE(in_thread);
  std::atomic<int> blocking{0};
#pragma omp parallel num_threads(2)
  blocking += blocks_both();
  EXPECT_EQ(blocking.load(), 2);
}

// oneDNN 2.6's JIT f32 GEMM (a product with b's columns sliced out of a
// wider matrix runs on it where there is no AMX) points %rsp into the heap: a signal handled on
// the thread running it wrote its frame there and glibc aborted at a later
// free ("corrupted size vs. prev_size"). Signals sent throughout thousands
// of such products are taken by the watcher, and the heap stays whole.
TEST(StopSignals, ProductsRunWhileSignalsArrive) {
  omp_set_num_threads(1);
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32;
  const int64_t m = 128, k = 400, n = 392, ldb = 784;
  const dnnl::memory::desc a(dims{m, k}, f32, dims{k, 1}), b(dims{k, n}, f32, dims{ldb, 1}), c(dims{m, n}, f32, dims{ldb, 1});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
  std::vector<float> va(m * k, 0.5f), vb(k * ldb, 0.25f), vc(m * ldb);
  const dnnl::matmul product(pd);
  const std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(a, engine, va.data())},
                                                   {DNNL_ARG_WEIGHTS, dnnl::memory(b, engine, vb.data())},
                                                   {DNNL_ARG_DST, dnnl::memory(c, engine, vc.data())}};
  catch_stop_signals();
  std::atomic<bool> done{false};
  std::thread sender([&] {
    while (!done) kill(getpid(), SIGTERM), std::this_thread::sleep_for(std::chrono::microseconds(20));
  });
  for (int i = 0; i < 3000; ++i) {
    product.execute(stream, args);
    std::vector<char> churn(1000 + i % 5000);  // frees that would meet a damaged heap
  }
  done = true;
  sender.join();
  EXPECT_EQ(recorded_signal(), SIGTERM);
  EXPECT_EQ(vc[0], 0.5f * 0.25f * k);
  EXPECT_TRUE(settled(SIGTERM));  // still catching: the sender's last SIGTERM is recorded
  catch_stop_signals();           // starts afresh: stop_signal() is 0 for the tests after this one
}

}  // namespace
}  // namespace vaec::rt
