// Stopping a training run on SIGINT or SIGTERM without losing its work.
//
// No handler runs on a thread that computes: oneDNN 2.6's JIT f32 GEMM
// points %rsp into the heap while it runs, so a signal frame pushed there
// corrupts the heap (oneDNN issue 4845, fixed upstream in 2026). The
// trainer's main() blocks both signals before any other thread exists, so
// every thread (OpenMP's, oneDNN's, MPI's) inherits the block, and one
// watcher thread takes them with sigwait(). Until catch_stop_signals() a
// signal ends the process as it would by default; from then on the first
// is recorded, the trainer checks stop_signal() between training steps,
// finishes the step it is in, writes a checkpoint with its position in the
// epoch and exits with 128 + the signal (130 for SIGINT, 143 for SIGTERM).
// Later signals are recorded as nothing, so a second Ctrl-C cannot cut the
// checkpoint write short (which is atomic anyway: checkpoint.h).
#pragma once

#include <string>
#include <vector>

namespace vaec::rt {

// Blocks SIGINT and SIGTERM in the calling thread and starts the watcher
// (once; later calls do nothing). Call it before any other thread starts.
void watch_stop_signals();

// From now on the first SIGINT / SIGTERM sent to the process is recorded
// (starts afresh: stop_signal() is 0 again); needs watch_stop_signals().
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
