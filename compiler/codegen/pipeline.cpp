// Code generation's pass list (contract in pipeline.h).
#include "codegen/pipeline.h"

#include <chrono>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "abi/machine.h"
#include "codegen/assign_conv_layouts.h"
#include "codegen/layout_parameters.h"
#include "codegen/lower_steps.h"
#include "codegen/place_updates.h"
#include "codegen/plan_buckets.h"
#include "codegen/plan_memory.h"
#include "codegen/choose_precision.h"
#include "codegen/share_rounding.h"
#include "codegen/skip_zero_columns.h"
#include "codegen/sparse_data_products.h"
#include "codegen/split_products.h"
#include "codegen/batch_slices.h"
#include "codegen/side_by_side.h"
#include "codegen/swap_products.h"
#include "codegen/thin_products.h"
#include "codegen/store_params_in_layouts.h"

namespace vaec {
namespace {

std::string schedules_text(const LoweredModel &m) {
  std::ostringstream os;
  for (const CodegenProgram &p : m.programs)
    os << "// program " << p.name << " (batch " << p.graph->batch() << ")\n" << schedule_to_string(p.schedule);
  return os.str();
}

std::string conv_choices_text(const LoweredModel &m) {
  std::ostringstream os;
  for (const CodegenProgram &p : m.programs)
    for (const auto &[k, c] : p.conv_choice)
      os << p.name << " step " << k << ": " << c.step.conv << " with " << c.impl << ": " << c.step.layout_a << " x "
         << c.step.layout_b << " -> " << c.step.layout_c << (c.epilogue ? " (bias and post-op in an epilogue)" : "")
         << "\n";
  return os.str();
}

}  // namespace

const std::vector<std::string> &codegen_stages() {
  static const std::vector<std::string> s = {"fuse_elementwise", "assign_conv_layouts", "layout_parameters", "lower_steps", "choose_precision", "store_params_in_layouts",
                                             "sparse_data_products", "skip_zero_columns",
                                             "split_products", "thin_products", "swap_products", "place_updates", "side_by_side", "batch_slices", "share_rounding", "plan_memory",
                                             "plan_buckets"};
  return s;
}

LoweredModel run_codegen(const Graph &train, const Graph &eval, const std::map<std::string, std::string> &loss_scaling,
                         const std::vector<InspectionProgram> &inspection, const CodegenOptions &options,
                         const CodegenLog &log) {
  using Clock = std::chrono::steady_clock;
  LoweredModel m;
  m.options = options;
  auto add = [&](const std::string &name, const Graph *graph, const std::string &latent, bool values) {
    CodegenProgram &p = m.programs.emplace_back();
    p.name = name, p.graph = graph, p.latent = latent, p.values = values;
  };
  add("train", &train, "", false);
  add("eval", &eval, "", false);
  for (const InspectionProgram &ip : inspection) add(ip.name, ip.graph, ip.latent, true);
  std::string before;
  auto step = [&](const char *name, auto pass, auto text) {
    const auto start = Clock::now();
    pass();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (log.timing)
      *log.timing << "vaec: pass " << std::left << std::setw(44) << name << std::right << std::fixed
                  << std::setprecision(3) << std::setw(9) << ms << " ms\n";
    if (log.dump_after_all) {
      std::string after = text();
      if (after != before) *log.dump_after_all << "// ----- after " << name << " -----\n" << after;
      before = std::move(after);
    }
  };
  auto plan_text = [&] { return plan::format_plan(m.plan); };
  step("fuse_elementwise", [&] { for (CodegenProgram &p : m.programs) p.schedule = fuse_elementwise(*p.graph); },
       [&] { return schedules_text(m); });
  step("assign_conv_layouts", [&] { assign_conv_layouts(m); }, [&] { return conv_choices_text(m); });
  step("layout_parameters", [&] { layout_parameters(m); }, plan_text);
  step("lower_steps", [&] {
    lower_steps(m);
    m.plan.loss_scaling = loss_scaling;
    m.plan.config["threads"] = std::to_string(options.threads);
    m.plan.config["team"] = options.adaptive_team ? "adaptive" : "fixed";
    m.plan.config["conv_algorithm"] = m.options.conv_algorithm;  // as assign_conv_layouts resolved it
    // What the kernels are compiled for and the timings measured on (abi/machine.h).
    std::string features;
    for (const std::string &f : plan::cpu_features()) features += (features.empty() ? "" : " ") + f;
    m.plan.config["cpu_features"] = features.empty() ? "-" : features;
  }, plan_text);
  step("choose_precision", [&] { choose_precision(m.plan, m.kernels, options); }, plan_text);
  step("store_params_in_layouts", [&] { store_params_in_layouts(m); }, plan_text);
  step("sparse_data_products", [&] { sparse_data_products(m.plan, options); }, plan_text);
  step("skip_zero_columns", [&] { skip_zero_columns(m.plan, options); }, plan_text);
  step("split_products", [&] { split_products(m.plan, options); }, plan_text);
  step("thin_products", [&] { thin_products(m.plan, options); }, plan_text);
  step("swap_products", [&] { swap_products(m.plan, options); }, plan_text);
  step("place_updates", [&] { place_updates(m.plan, options); }, plan_text);
  step("side_by_side", [&] { side_by_side(m.plan, options); }, plan_text);
  step("batch_slices", [&] { batch_slices(m.plan, options); }, plan_text);
  step("share_rounding", [&] { share_rounding(m); }, plan_text);
  step("plan_memory", [&] { plan_memory(m); }, [&] { return m.memory_report + plan_text(); });
  step("plan_buckets", [&] { plan_buckets(m.plan, options); }, plan_text);
  return m;
}

}  // namespace vaec
