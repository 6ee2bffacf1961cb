// The generated trainer's program: command line, data, epochs, reports.
//
// `vaec compile` links a trainer as
//   c++ kernels.o <build>/runtime/libvaec_trainer.a -ldnnl -fopenmp -o train
// where kernels.o defines vaec_plan_text and vaec_kernels (runtime/plan.h)
// and trainer_main.cpp's main() passes them to vaec_trainer_main. Taking them
// as arguments lets tests run the trainer on plans and kernels of their own.
//
//   train [--epochs N] [--batch N] [--seed N] [--threads N] [--data DIR]
//         [--lr X] [--max-steps N] [--quiet] [--help]
//
// stdout gets one line per epoch and a final `RESULT {json}` line; stderr a
// progress bar (on a terminal only), warnings and errors. Every error (bad
// option, missing or damaged data, a plan that does not fit its kernels, a
// non-finite loss) is one message and exit status 1; --help exits with 0.
#pragma once

#include "plan.h"

int vaec_trainer_main(int argc, char **argv, const char *plan_text, const vaec_kernel_entry *kernels);
