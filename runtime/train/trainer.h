// The generated trainer's program: command line, data, epochs, reports.
//
// program/program.h hands it the plan and kernels the trainer was linked
// with, when the command line asks for training.
//
//   train [train] [--epochs N] [--batch N] [--drop-last] [--seed N] [--threads N]
//         [--data DIR] [--lr X] [--max-steps N] [--out DIR] [--resume [FILE]]
//         [--checkpoint-every N|Mm] [--quiet] [--profile] [--help]
//   train reconstruct|sample|manifold|interpolate|scatter|concept|eval|export [options]
//
// The second form runs an inspection command on the latest checkpoint
// (inspect.h); the rest of this comment is about training.
//
// stdout gets one line per epoch and a final `RESULT {json}` line; stderr a
// progress bar (on a terminal only), warnings and errors. Every error (bad
// option, missing or damaged data or checkpoint, a plan that does not fit
// its kernels, a non-finite loss) is one `error:` line, perhaps followed by
// `note:` lines, and exit status 1; --help exits with 0.
//
// After every epoch (and when --max-steps stops one early) the trainer
// writes to --out DIR (default: the directory of the program) the files of
// run_files.h (metrics.csv, metrics.jsonl, loss_curve.png) and then
// DIR/checkpoint.bin (checkpoint.h), replaced atomically; --resume [FILE]
// continues from FILE (default DIR/checkpoint.bin) bitwise as if the run had
// never stopped, given the same thread count (the checkpoint's, unless
// --threads says otherwise). --epochs counts from the start of training, so
// `--epochs 2` then `--resume --epochs 3` trains three in all. A NaN or
// infinity in a loss or gradient stops before the optimizer step, naming
// the first tensor that held one (diagnose.h); the last checkpoint stays.
// --checkpoint-every N|Mm writes the checkpoint mid-epoch too, every N
// global steps or M minutes. SIGINT or SIGTERM stops the run after the
// current step with a checkpoint and the command that resumes it, exit
// status 128 + the signal (interrupt.h).
//
// The learning rate of step t (from 1) is --lr times the plan's schedule
// (config schedule, warmup; S steps an epoch, W = round(warmup * S)):
//   constant  1;  cosine  (1 + cos(pi * clamp((t - 1 - W) / (E * S - W), 0, 1))) / 2
//   with E = train.epochs (not --epochs, so a resumed run follows the same
//   curve);  step(every=N, gamma=G)  G^floor((t - 1) / (N * S))
// times (t / W) during the W warm-up steps. The epoch line prints the rate
// of the epoch's last step when there is a schedule.
//
// With config early_stopping N the trainer stops after an epoch when the
// eval `total` (test or validation) has not improved on its best for N
// epochs, and says so; the decision reads the loss history, which the
// checkpoint keeps, so a resumed run stops where an uninterrupted one would.
// Early stopping without a test or validation split is an error.
//
// An epoch trains on every training image once, the last batch partial
// (--drop-last leaves it out); evaluation scores every test image once, in
// batches of the training batch. --batch N runs the same plan at any N;
// --resume continues with the checkpoint's batch, and an explicit --batch
// that differs from it is an error.
#pragma once

#include "abi/plan.h"

#include <string>

namespace vaec::rt {

// Trains as above; `argv[1]` may be `train`. `more_help` follows the usage
// text of --help.
int run_training(int argc, char **argv, plan::Plan plan, const vaec_kernel_entry *kernels,
                 const std::string &more_help);

// The directory of the trainer program: dirname(argv0), or of
// /proc/self/exe when it was found on the PATH.
std::string program_directory(const char *argv0);

}  // namespace vaec::rt
