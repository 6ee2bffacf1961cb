// Stopping a training run: --checkpoint-every, the signal flag and the
// command printed to resume.
#include <gtest/gtest.h>

#include <csignal>

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

TEST(StopSignals, TheFirstSignalIsKept) {
  catch_stop_signals();
  EXPECT_EQ(stop_signal(), 0);
  std::raise(SIGTERM);  // recorded, not fatal
  EXPECT_EQ(stop_signal(), SIGTERM);
  std::raise(SIGINT);  // a second one changes nothing
  EXPECT_EQ(stop_signal(), SIGTERM);
  EXPECT_STREQ(signal_name(SIGINT), "SIGINT");
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  catch_stop_signals();  // starts afresh, so other tests may train
  EXPECT_EQ(stop_signal(), 0);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace
}  // namespace vaec::rt
