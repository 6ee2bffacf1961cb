// The plan's machine and this one (contract in machine.h).
#include "abi/machine.h"

#include <algorithm>
#include <sstream>

namespace vaec::plan {
namespace {

bool has(const std::vector<std::string> &set, const std::string &f) {
  return std::find(set.begin(), set.end(), f) != set.end();
}

std::vector<std::string> words(const std::string &s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string listed(const std::vector<std::string> &names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return s;
}

// The one list: each instruction set the plan may record, whether the
// fused kernels may use it (else only the timings depend on it), and this
// CPU's answer (__builtin_cpu_supports takes a string literal only).
struct Feature {
  const char *name;  // LLVM's and GCC's
  bool kernel;
  bool (*here)();
};
#define VAEC_FEATURE(name, kernel) {name, kernel, [] { return __builtin_cpu_supports(name) != 0; }}
const Feature kFeatures[] = {
    VAEC_FEATURE("popcnt", true),    VAEC_FEATURE("lzcnt", true),     VAEC_FEATURE("movbe", true),
    VAEC_FEATURE("bmi", true),       VAEC_FEATURE("bmi2", true),      VAEC_FEATURE("f16c", true),
    VAEC_FEATURE("fma", true),       VAEC_FEATURE("avx", true),       VAEC_FEATURE("avx2", true),
    VAEC_FEATURE("avx512f", true),   VAEC_FEATURE("avx512cd", true),  VAEC_FEATURE("avx512bw", true),
    VAEC_FEATURE("avx512dq", true),  VAEC_FEATURE("avx512vl", true),  VAEC_FEATURE("avx512bf16", true),
    VAEC_FEATURE("amx-tile", false), VAEC_FEATURE("amx-bf16", false)};
#undef VAEC_FEATURE

}  // namespace

std::vector<std::string> kernel_features() {
  std::vector<std::string> out;
  for (const Feature &f : kFeatures)
    if (f.kernel) out.push_back(f.name);
  return out;
}

std::vector<std::string> cpu_features() {
  __builtin_cpu_init();
  std::vector<std::string> out;
  for (const Feature &f : kFeatures)
    if (f.here()) out.push_back(f.name);
  return out;
}

bool extension_beyond_kernels(const std::string &f) {
  for (const Feature &k : kFeatures)
    if (k.kernel && f == k.name) return false;
  static const char *const beyond[] = {"gfni", "vaes", "vpclmulqdq", "avxifma", "avxneconvert", "sha", "sha512",
                                       "sm3", "sm4", "fma4", "xop", "sse4a", "tbm"};
  for (const char *b : beyond)
    if (f == b) return true;
  for (const char *prefix : {"avx512", "amx", "avx10", "avxvnni"})
    if (f.rfind(prefix, 0) == 0) return true;
  return false;
}

MachineCheck check_machine(const Plan &plan, const std::vector<std::string> &here) {
  MachineCheck out;
  const auto it = plan.config.find("cpu_features");
  if (it == plan.config.end()) return out;
  const std::vector<std::string> there = words(it->second);
  const bool bf16_buffers = std::any_of(plan.buffers.begin(), plan.buffers.end(),
                                        [](const Buffer &b) { return b.type == DType::BF16; });
  std::vector<std::string> missing;
  for (const std::string &k : kernel_features())
    if (has(there, k) && !has(here, k) && (k != "avx512bf16" || bf16_buffers)) missing.push_back(k);
  if (!missing.empty()) {
    out.error = "this trainer's kernels were compiled for a CPU with " + listed(missing) + ", which this CPU lacks: " +
                "compile the model again on this machine (vaec compile)";
    return out;
  }
  const auto bf16_steps = std::count_if(plan.train.steps.begin(), plan.train.steps.end(), [](const Step &s) { return s.bf16; });
  if (bf16_steps > 0 && has(there, "amx-bf16") && !has(here, "amx-bf16"))
    out.note = "the " + std::to_string(bf16_steps) + " bf16 products and convolutions of this plan's training step " +
               "were timed on a CPU with AMX; this CPU has none, so oneDNN runs them on slower kernels here, maybe " +
               "slower than f32: vaec compile on this machine times them again";
  return out;
}

}  // namespace vaec::plan
