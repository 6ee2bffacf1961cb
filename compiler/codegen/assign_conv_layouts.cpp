// oneDNN's layouts for every convolution (contract in assign_conv_layouts.h).
#include "codegen/assign_conv_layouts.h"

#include <omp.h>

#include <dnnl.hpp>

#include "codegen/direct_conv.h"
#include "ir/printer.h"

namespace vaec {
namespace {

bool is_conv(Op op) {
  return op == Op::Conv2d || op == Op::Conv2dTranspose || op == Op::Conv2dBwdData || op == Op::Conv2dBwdWeights ||
         op == Op::Conv2dTransposeBwdData || op == Op::Conv2dTransposeBwdWeights;
}

// The option (`vaec compile --precision`, `--conv-algorithm`) if given, else
// the model's train.KEY, else `fallback`.
std::string setting(const LoweredModel &m, const std::string &option, const std::string &key,
                    const std::string &fallback) {
  if (!option.empty()) return option;
  for (const auto &[k, v] : m.programs.at(0).graph->config)
    if (k == key && std::get_if<std::string>(&v)) return *std::get_if<std::string>(&v);
  return fallback;
}

}  // namespace

void assign_conv_layouts(LoweredModel &m) {
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  PrecisionTimings timings;
  PrecisionTimings *bf16 = setting(m, m.options.precision, "precision", "f32") == "bf16" ? &timings : nullptr;
  m.options.conv_algorithm = setting(m, m.options.conv_algorithm, "conv_algorithm", "direct");
  AlgorithmTimings algorithm_timings;
  AlgorithmTimings *winograd =
      m.options.conv_algorithm == "winograd" || m.options.force_own_winograd ? &algorithm_timings : nullptr;
  const OwnWinogradUse own = m.options.force_own_winograd ? OwnWinogradUse::Forced
                             : m.options.own_winograd && m.options.side_by_side && m.options.threads == 2
                                 ? OwnWinogradUse::TimedBeside
                             : m.options.own_winograd ? OwnWinogradUse::Timed
                                                          : OwnWinogradUse::Off;
  // Timed on the trainer's threads.
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(m.options.threads);
  for (CodegenProgram &p : m.programs) {
    const Graph &g = *p.graph;
    p.conv_choice.clear();
    for (size_t k = 0; k < p.schedule.steps.size(); ++k) {
      const ScheduleStep &ss = p.schedule.steps[k];
      const Node &first = g.nodes[ss.nodes.front()];
      if (ss.kind != ScheduleStep::Library || !is_conv(first.op)) continue;
      if (m.options.direct_convs && !m.options.plain_conv_layouts) {
        if (std::optional<DirectConv> d = direct_conv_of(g, ss)) {
          p.conv_choice.emplace(static_cast<int>(k), direct_choice(g, ss, *d));
          continue;
        }
      }
      try {
        p.conv_choice.emplace(static_cast<int>(k), choose_conv(g, ss, engine, m.options.plain_conv_layouts, bf16, winograd,
                                                                own));
      } catch (const std::exception &e) {
        omp_set_num_threads(threads_before);
        throw Unsupported(first.loc, "oneDNN cannot run " + std::string(op_name(first.op)) + " " +
                                         dims_str(g.nodes[first.operands[0]].dims) + " x " +
                                         dims_str(g.nodes[first.operands[1]].dims) + " -> " + dims_str(first.dims) +
                                         ": " + e.what());
      }
    }
  }
  omp_set_num_threads(threads_before);
}

}  // namespace vaec
