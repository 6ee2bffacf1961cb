// main() of every generated trainer: the plan and the kernels come from the
// object file `vaec compile` emits (see program.h).
#include "program/program.h"
#include "support/sanitizer_options.h"

extern "C" const char vaec_plan_text[];
extern "C" const vaec_kernel_entry vaec_kernels[];

int main(int argc, char **argv) { return vaec_trainer_main(argc, argv, vaec_plan_text, vaec_kernels); }
