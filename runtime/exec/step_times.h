// The times one plan step took over a run (--profile, profile.cpp): their
// sum, the fastest, and the median to within 1 %. On a shared or throttled
// machine a mean mixes fast and slow moments; the median and the fastest
// run say what the step costs by itself. Bounded: a histogram of 2 % wide
// buckets from 0.1 us to ~40 s (longer runs count in the last one), not
// every run. Besides, how long the threads of the step's own parallel
// regions (exec::parallel) worked and how long they were there: the rest
// they waited, for each other at the region's end or for the region to
// start (oneDNN's and own Winograd's regions are their own and not counted).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vaec::rt {

struct StepTimes {
  static constexpr int kBuckets = 1000;
  static constexpr double kFirst = 1e-7, kRatio = 1.02;  // bucket b: [kFirst kRatio^b, kFirst kRatio^(b+1))
  double total = 0, fastest = 0;                          // seconds
  int64_t runs = 0;
  std::vector<uint32_t> buckets = std::vector<uint32_t>(kBuckets);
  double team_seconds = 0;  // each counted region's wall time times its threads
  double busy_seconds = 0;  // the time those threads spent in the region's work

  void add_region(double wall, int threads, double busy) {
    team_seconds += wall * threads;
    busy_seconds += busy;
  }
  // The share of the counted regions' thread time spent waiting; < 0 when
  // the step ran none.
  double idle() const { return team_seconds > 0 ? std::max(0.0, 1 - busy_seconds / team_seconds) : -1; }

  void add(double seconds) {
    total += seconds;
    fastest = runs == 0 ? seconds : std::min(fastest, seconds);
    ++runs;
    const double b = seconds > kFirst ? std::log(seconds / kFirst) / std::log(kRatio) : 0;
    ++buckets[size_t(std::min<double>(b, kBuckets - 1))];
  }

  // The middle run's bucket (the upper middle one of an even count), as its
  // geometric centre; 0 before any run.
  double median() const {
    int64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b)
      if ((seen += buckets[b]) * 2 > runs) return b == 0 ? std::min(fastest, kFirst) : kFirst * std::pow(kRatio, b + 0.5);
    return 0;
  }
};

}  // namespace vaec::rt
