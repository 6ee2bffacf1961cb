// The trainer program's dispatch (contract in program.h).
#include "program/program.h"

#include <exception>
#include <string>

#include "abi/machine.h"
#include "dist/ranks.h"
#include "inspect/inspect.h"
#include "support/text.h"
#include "train/interrupt.h"
#include "train/trainer.h"

int vaec_trainer_main(int argc, char **argv, const char *plan_text, const vaec_kernel_entry *kernels) {
  using namespace vaec;
  rt::watch_stop_signals();  // before any other thread starts (train/interrupt.h)
  plan::Plan plan;
  std::string error;
  if (!plan::parse_plan(plan_text, plan, error)) {
    rt::print_message("error: the trainer's embedded plan is damaged: " + error + "\n");
    return 1;
  }
  rt::dist::Ranks &ranks = rt::dist::Ranks::world();  // joins MPI under mpirun
  // Before any kernel runs: a CPU without the kernels' instructions would
  // stop on the first of them (abi/machine.h).
  const plan::MachineCheck machine = plan::check_machine(plan, plan::cpu_features());
  // Under mpirun each rank checks its own machine: one that fails alone ends them all.
  const std::string rank = ranks.many() ? "rank " + std::to_string(ranks.rank()) + ": " : "";
  if (!machine.error.empty()) {
    rt::print_message("error: " + rank + machine.error + "\n");
    ranks.finish(1);
    return 1;
  }
  if (!machine.note.empty()) rt::print_message("note: " + rank + machine.note + "\n");
  // Every failure is meant to be a message; an exception that escapes
  // anyway is one too, with exit status 1 rather than an abort.
  int status = 1;
  try {
    if (argc > 1 && rt::is_inspection_command(argv[1])) {
      if (ranks.many())
        status = ranks.refuse(std::string("error: ") + argv[1] + " runs as one process: start it without mpirun\n");
      else
        status = rt::run_inspection(argc, argv, plan, kernels, rt::program_directory(argc > 0 ? argv[0] : nullptr));
    } else {
      status = rt::run_training(argc, argv, std::move(plan), kernels, rt::inspection_usage());
    }
  } catch (const std::exception &e) {
    rt::print_message(std::string("error: ") + e.what() + "\n");
    status = 1;
  }
  // One rank failing alone would leave the others waiting in a sum: it ends them all.
  ranks.finish(status);
  return status;
}
