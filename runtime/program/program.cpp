// The trainer program's dispatch (contract in program.h).
#include "program/program.h"

#include <exception>
#include <iostream>
#include <string>

#include "inspect/inspect.h"
#include "train/trainer.h"

int vaec_trainer_main(int argc, char **argv, const char *plan_text, const vaec_kernel_entry *kernels) {
  using namespace vaec;
  plan::Plan plan;
  std::string error;
  if (!plan::parse_plan(plan_text, plan, error)) {
    std::cerr << "error: the trainer's embedded plan is damaged: " << error << "\n";
    return 1;
  }
  // Every failure is meant to be a message; an exception that escapes
  // anyway is one too, with exit status 1 rather than an abort.
  try {
    if (argc > 1 && rt::is_inspection_command(argv[1]))
      return rt::run_inspection(argc, argv, plan, kernels, rt::program_directory(argc > 0 ? argv[0] : nullptr));
    return rt::run_training(argc, argv, std::move(plan), kernels, rt::inspection_usage());
  } catch (const std::exception &e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
