// Stop signals and the resume command (contract in interrupt.h).
#include "train/interrupt.h"

#include <atomic>
#include <cctype>
#include <csignal>
#include <mutex>
#include <thread>

#include <pthread.h>

namespace vaec::rt {
namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_catching{false};

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// The watcher: the only thread that takes the two signals.
[[noreturn]] void watch() {
  const sigset_t set = stop_set();
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (g_catching.load()) {
      int none = 0;
      g_signal.compare_exchange_strong(none, signal);
      continue;
    }
    // Not training: the default action, which ends the whole process.
    std::signal(signal, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signal);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    std::raise(signal);
  }
}

// Words of letters, digits and _./:=,+-@% stay bare; others are put in single
// quotes ('\'' for a quote inside).
std::string shell_word(const std::string &word) {
  bool bare = !word.empty();
  for (char c : word)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string("_./:=,+-@%").find(c) != std::string::npos))
      bare = false;
  if (bare) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

void watch_stop_signals() {
  static std::once_flag once;
  std::call_once(once, [] {
    const sigset_t set = stop_set();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(watch).detach();
  });
}

void catch_stop_signals() {
  g_signal = 0;
  g_catching = true;
}

int stop_signal() { return g_signal.load(); }

const char *signal_name(int signal) { return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal"; }

std::string resume_command(const std::vector<std::string> &args) {
  std::string command;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (i > 0 && (a == "--resume" || a.rfind("--resume=", 0) == 0)) {
      // As parse_options reads it: --resume takes the next word unless that is an option.
      if (a == "--resume" && i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) ++i;
      continue;
    }
    command += (command.empty() ? "" : " ") + shell_word(a);
  }
  return command + " --resume";
}

}  // namespace vaec::rt
