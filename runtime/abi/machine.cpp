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

}  // namespace

std::vector<std::string> cpu_features() {
  __builtin_cpu_init();
  // __builtin_cpu_supports takes a string literal only.
  const std::pair<const char *, bool> known[] = {
      {"popcnt", __builtin_cpu_supports("popcnt")},     {"lzcnt", __builtin_cpu_supports("lzcnt")},
      {"movbe", __builtin_cpu_supports("movbe")},       {"bmi", __builtin_cpu_supports("bmi")},
      {"bmi2", __builtin_cpu_supports("bmi2")},         {"f16c", __builtin_cpu_supports("f16c")},
      {"fma", __builtin_cpu_supports("fma")},           {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},         {"avx512f", __builtin_cpu_supports("avx512f")},
      {"avx512cd", __builtin_cpu_supports("avx512cd")}, {"avx512bw", __builtin_cpu_supports("avx512bw")},
      {"avx512dq", __builtin_cpu_supports("avx512dq")}, {"avx512vl", __builtin_cpu_supports("avx512vl")},
      {"avx512bf16", __builtin_cpu_supports("avx512bf16")}, {"amx-tile", __builtin_cpu_supports("amx-tile")},
      {"amx-bf16", __builtin_cpu_supports("amx-bf16")}};
  std::vector<std::string> out;
  for (const auto &[name, yes] : known)
    if (yes) out.push_back(name);
  return out;
}

bool extension_beyond_kernels(const std::string &f) {
  for (const char *k : kKernelFeatures)
    if (f == k) return false;
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
  for (const char *k : kKernelFeatures)
    if (has(there, k) && !has(here, k) && (std::string(k) != "avx512bf16" || bf16_buffers)) missing.push_back(k);
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
