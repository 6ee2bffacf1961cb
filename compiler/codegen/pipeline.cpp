// Code generation's pass list (contract in pipeline.h).
#include "codegen/pipeline.h"

#include <chrono>
#include <iomanip>
#include <ostream>

#include "codegen/place_updates.h"
#include "codegen/skip_zero_columns.h"
#include "codegen/split_products.h"

namespace vaec {

const std::vector<std::string> &codegen_stages() {
  static const std::vector<std::string> s = {"lower_to_plan", "split_products", "skip_zero_columns", "place_updates"};
  return s;
}

LoweredModel run_codegen(const Graph &train, const Graph &eval, const std::map<std::string, std::string> &loss_scaling,
                         const std::vector<InspectionProgram> &inspection, const CodegenOptions &options,
                         const CodegenLog &log) {
  using Clock = std::chrono::steady_clock;
  std::string before;
  auto done = [&](const char *name, const LoweredModel &m, Clock::time_point start) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (log.timing)
      *log.timing << "vaec: pass " << std::left << std::setw(34) << name << std::right << std::fixed
                  << std::setprecision(3) << std::setw(9) << ms << " ms  (" << m.plan.train.steps.size()
                  << " train steps)\n";
    if (log.dump_after_all) {
      std::string after = plan::format_plan(m.plan);
      if (after != before) *log.dump_after_all << "// ----- plan after " << name << " -----\n" << after;
      before = std::move(after);
    }
  };
  auto start = Clock::now();
  LoweredModel m = lower_to_plan(train, eval, loss_scaling, inspection, options.plain_conv_layouts);
  m.plan.config["threads"] = std::to_string(options.threads);
  done("lower_to_plan", m, start);
  start = Clock::now();
  split_products(m.plan, options);
  done("split_products", m, start);
  start = Clock::now();
  skip_zero_columns(m.plan, options);
  done("skip_zero_columns", m, start);
  start = Clock::now();
  place_updates(m.plan, options);
  done("place_updates", m, start);
  return m;
}

}  // namespace vaec
