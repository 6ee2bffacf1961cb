// The adaptive team's rule (train/cpu_share.h) and its measurement.
#include <gtest/gtest.h>

#include "train/cpu_share.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vaec::rt {
namespace {

TEST(Team, ShrinksWhenOthersTakeHalfACpuAndGrowsBackWithHysteresis) {
  // Two CPUs, two threads.
  EXPECT_EQ(team_for_free_cpus(2.0, 2, 2), 2);
  EXPECT_EQ(team_for_free_cpus(1.6, 2, 2), 2);   // a little noise: stay
  EXPECT_EQ(team_for_free_cpus(1.5, 2, 2), 1);   // one busy program starved by our spinning
  EXPECT_EQ(team_for_free_cpus(0.9, 2, 2), 1);
  EXPECT_EQ(team_for_free_cpus(1.5, 1, 2), 1);   // between the thresholds: stay
  EXPECT_EQ(team_for_free_cpus(1.74, 1, 2), 1);
  EXPECT_EQ(team_for_free_cpus(1.8, 1, 2), 2);   // the busy program has gone
  EXPECT_EQ(team_for_free_cpus(-0.5, 1, 2), 1);  // never below one thread
  // More CPUs than threads: the team never exceeds the threads.
  EXPECT_EQ(team_for_free_cpus(7.0, 4, 4), 4);
  EXPECT_EQ(team_for_free_cpus(2.1, 4, 4), 2);
  EXPECT_EQ(team_for_free_cpus(3.9, 2, 4), 4);
  EXPECT_EQ(team_for_free_cpus(3.0, 9, 4), 3);   // a current team out of range is clamped first
}

TEST(Team, MeasuresOnlyAfterAWindow) {
  CpuShare share(2);
  if (!share.works()) GTEST_SKIP() << "no /proc/stat here";
  EXPECT_GE(share.cpus(), 1);
  EXPECT_EQ(share.advise(2), 2);  // no window has passed: the team stays
  EXPECT_EQ(share.others(), 0.0);
}

// The first measurement, before the first step, sees a busy program that
// started before the trainer (the hog here is a child spinning on one CPU).
TEST(Team, FirstMeasurementSeesABusyProgram) {
  CpuShare share(0);
  if (!share.works() || share.cpus() < 2) GTEST_SKIP() << "needs /proc/stat and two CPUs";
  const int cpus = share.cpus();
  CpuShare busy(cpus);
  const pid_t hog = fork();
  ASSERT_GE(hog, 0);
  if (hog == 0)
    for (;;) asm volatile("");  // spin until killed
  const int team = busy.advise_first(cpus);
  kill(hog, SIGKILL);
  waitpid(hog, nullptr, 0);
  EXPECT_LT(team, cpus) << "others " << busy.others();
  EXPECT_GE(busy.others(), 0.5);
  EXPECT_EQ(busy.advise_first(cpus), cpus);  // only once: later calls keep the team
}

}  // namespace
}  // namespace vaec::rt
