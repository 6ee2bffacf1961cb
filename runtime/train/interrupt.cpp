// Stop signals and the resume command (contract in interrupt.h).
#include "train/interrupt.h"

#include <cctype>
#include <csignal>

namespace vaec::rt {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_signal(int signal) {
  if (g_signal == 0) g_signal = signal;
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

void catch_stop_signals() {
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = record_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);
  sigaddset(&action.sa_mask, SIGTERM);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_signal() { return g_signal; }

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
