// Stopping a training run on SIGINT or SIGTERM without losing its work.
//
// The handler only records the first signal (an async-signal-safe store to
// a sig_atomic_t); the trainer checks stop_signal() between training steps,
// finishes the step it is in, writes a checkpoint with its position in the
// epoch and exits with 128 + the signal (130 for SIGINT, 143 for SIGTERM).
// Later signals are recorded as nothing, so a second Ctrl-C cannot cut the
// checkpoint write short (which is atomic anyway: checkpoint.h).
#pragma once

#include <string>
#include <vector>

namespace vaec::rt {

// Installs the handler for SIGINT and SIGTERM (SA_RESTART, so no system
// call the trainer makes sees EINTR).
void catch_stop_signals();

// 0, or the first SIGINT / SIGTERM received since catch_stop_signals().
int stop_signal();

// "SIGINT", "SIGTERM".
const char *signal_name(int signal);

// The command that resumes the run `args` started: `args` (argv, argv[0]
// first) without --resume and its file, then `--resume`, each word quoted
// for a POSIX shell when it needs to be.
std::string resume_command(const std::vector<std::string> &args);

}  // namespace vaec::rt
