// The trainer's inspection commands: what a VAE user does with a trained
// model, run on the latest checkpoint.
//
//   train reconstruct|sample|manifold|interpolate|scatter|concept|eval|export [options]
//
// Every command reads the checkpoint DIR/checkpoint.bin (--out DIR, default
// the trainer's directory) or --checkpoint FILE, refusing with one `error:`
// line when there is none or it belongs to another model, and runs the
// plan's encode, decode and nll programs (plan.h, model_parts.h). Pictures
// are PNGs written to DIR/<command>.png (or --png FILE), digits drawn 2x;
// each command prints `wrote FILE`. `inspection_usage` is the --help text.
#pragma once

#include <string>

#include "abi/plan.h"

namespace vaec::rt {

// True when `word` names an inspection command.
bool is_inspection_command(const std::string &word);

// Runs argv[1] (an inspection command) with the options after it; returns
// the exit status. `program_dir` is the default --out. The checkpoint may be
// of any batch (checkpoint.h's model_identity does not depend on it).
int run_inspection(int argc, char **argv, const plan::Plan &plan, const vaec_kernel_entry *kernels,
                   const std::string &program_dir);

std::string inspection_usage();

}  // namespace vaec::rt
