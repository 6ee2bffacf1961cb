// The generated trainer program: the top layer of the runtime. Its main()
// (program/main.cpp) hands the plan and kernels of the object file
// `vaec compile` emitted to vaec_trainer_main, which sends the command line
// to training (train/trainer.h) or to an inspection command
// (inspect/inspect.h). `vaec compile` links a trainer as
//   c++ kernels.o <build>/runtime/libvaec_trainer.a -ldnnl -lpng -lz -fopenmp -o train
// Taking the plan and kernels as arguments lets tests run the program on
// plans and kernels of their own.
#pragma once

#include "abi/plan.h"

// Returns the exit status.
int vaec_trainer_main(int argc, char **argv, const char *plan_text, const vaec_kernel_entry *kernels);
