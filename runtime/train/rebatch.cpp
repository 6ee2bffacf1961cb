// Loading libvaec_rebatch.so (contract in rebatch.h).
#include "train/rebatch.h"

#include <dlfcn.h>

#include <cstdlib>

#ifndef VAEC_REBATCH_LIB
#define VAEC_REBATCH_LIB "libvaec_rebatch.so"
#endif

namespace vaec::rt {

std::string rebatch_library_path() {
  const char *env = std::getenv("VAEC_REBATCH_LIB");
  return env && *env ? env : VAEC_REBATCH_LIB;
}

bool rebatch(const vaec_model_source &source, int64_t compiled_batch, int64_t batch, std::string &plan_text,
             const vaec_kernel_entry *&kernels, std::string &error) {
  const std::string n = std::to_string(batch);
  const std::string recompile =
      "; or recompile the model for batch " + n + ": vaec compile " +
      (source.yaml_path && *source.yaml_path ? source.yaml_path : std::string("FILE")) + " --batch " + n + " -o DIR";
  const std::string why = "this trainer was compiled for batch " + std::to_string(compiled_batch) +
                          ", and re-compiling it for batch " + n + " at start-up failed: ";
  if (!source.yaml_text || !source.yaml_path || !source.compile_options)
    return error = why + "the trainer carries no model source" + recompile, false;
  const std::string path = rebatch_library_path();
  // RTLD_LOCAL: the compiler's symbols stay out of the trainer's namespace
  // (the library exports only vaec_rebatch anyway).
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *text = dlerror();
    return error = why + "cannot load " + path + " (" + (text ? text : "unknown reason") +
                   "); build vaec's compiler/ there or point VAEC_REBATCH_LIB to it" + recompile,
           false;
  }
  auto fn = reinterpret_cast<vaec_rebatch_fn>(dlsym(library, "vaec_rebatch"));
  if (!fn) return error = why + path + " has no function vaec_rebatch" + recompile, false;
  char *text = nullptr, *message = nullptr;
  const vaec_kernel_entry *table = nullptr;
  if (fn(source.yaml_text, source.yaml_path, source.compile_options, batch, &text, &table, &message) != 0 || !text ||
      !table)
    return error = why + (message ? message : "no reason given") + recompile, false;
  // Never dlclose: the kernels' code belongs to the library's JIT.
  plan_text = text;
  kernels = table;
  return true;
}

}  // namespace vaec::rt
