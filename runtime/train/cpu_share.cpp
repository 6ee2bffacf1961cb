// Measuring the other programs' CPU load (contract in cpu_share.h).
#include "train/cpu_share.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "train/trainer_options.h"

namespace vaec::rt {

int team_for_free_cpus(double free, int current, int threads) {
  current = std::clamp(current, 1, threads);
  const int fewer = std::max(1, static_cast<int>(std::ceil(free - 0.5)));
  const int more = std::min(threads, static_cast<int>(std::floor(free + 0.25)));
  return fewer < current ? fewer : more > current ? more : current;
}

namespace {

double seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

}  // namespace

CpuShare::CpuShare(int threads) : threads_(std::max(1, threads)) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  cpus_ = 0;
  for (int c = 0; c < 1024 && c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) mask_[c / 64] |= 1ull << (c % 64), ++cpus_;
  works_ = cpus_ > 0 && sample(busy_, own_, wall_);
}

// The busy seconds of our CPUs (user, nice, system, irq, softirq and steal
// ticks of their "cpuN" lines), this process's CPU seconds and the time.
bool CpuShare::sample(double &busy_seconds, double &own_seconds, double &wall) const {
  FILE *f = std::fopen("/proc/stat", "re");
  if (!f) return false;
  static const double tick = [] { const long t = sysconf(_SC_CLK_TCK); return t > 0 ? 1.0 / double(t) : 0.01; }();
  char line[512];
  unsigned long long busy = 0;
  int seen = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "cpu", 3) != 0) break;  // the cpu lines come first
    int cpu = -1;
    unsigned long long v[8] = {};
    if (std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
                    &v[5], &v[6], &v[7]) != 9 || cpu < 0 || cpu >= 1024 || !(mask_[cpu / 64] >> (cpu % 64) & 1))
      continue;
    busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // not idle (v[3]) or iowait (v[4])
    ++seen;
  }
  std::fclose(f);
  if (seen == 0) return false;
  busy_seconds = double(busy) * tick;
  own_seconds = seconds(CLOCK_PROCESS_CPUTIME_ID);
  wall = seconds(CLOCK_MONOTONIC);
  return true;
}

int CpuShare::advise(int current) {
  if (!works_ || seconds(CLOCK_MONOTONIC) - wall_ < kWindow) return current;
  return measure(current);
}

int CpuShare::advise_first(int current) {
  if (!works_ || measured_) return current;
  if (const double wait = kFirstWindow - (seconds(CLOCK_MONOTONIC) - wall_); wait > 0) {
    const timespec t{0, long(wait * 1e9)};
    nanosleep(&t, nullptr);
  }
  return measure(current);
}

int CpuShare::measure(int current) {
  double busy, own, wall;
  if (!sample(busy, own, wall)) return works_ = false, current;
  others_ = std::max(0.0, ((busy - busy_) - (own - own_)) / (wall - wall_));
  busy_ = busy, own_ = own, wall_ = wall;
  measured_ = true;
  return team_for_free_cpus(double(cpus_) - others_, current, threads_);
}

Team::Team(Executor &exec, int policy) : exec_(exec), adaptive_(policy == kAdaptiveTeam), share_(exec.threads()) {
  exec_.set_team(policy > 0 ? policy : exec.threads());
}

std::string Team::update() {
  if (!adaptive_) return "";
  return change(share_.advise(exec_.team()));
}

std::string Team::start() {
  if (!adaptive_) return "";
  return change(share_.advise_first(exec_.team()));
}

std::string Team::change(int now) {
  if (now == exec_.team()) return "";
  exec_.set_team(now);
  if (++changes_ > 5) return "";
  std::ostringstream os;
  os.precision(2);
  os << "note: other programs keep " << std::fixed << share_.others() << " of " << share_.cpus()
     << " CPUs busy: training on " << now << " of " << exec_.threads() << " threads (same results; --team)"
     << (changes_ == 5 ? "; further changes are not reported" : "") << "\n";
  return os.str();
}

}  // namespace vaec::rt
