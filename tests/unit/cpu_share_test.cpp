// The adaptive team's rule (train/cpu_share.h) and its measurement.
#include <gtest/gtest.h>

#include "train/cpu_share.h"

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

}  // namespace
}  // namespace vaec::rt
