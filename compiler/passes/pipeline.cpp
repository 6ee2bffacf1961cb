// The pass list (contract in pipeline.h). Simplification runs before
// differentiation too, so gradients are taken of the stable forms (the
// bce_logits rewrite changes the backward graph, not only the forward one).
#include "passes/pipeline.h"

#include <chrono>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "autodiff/differentiate.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/passes.h"

namespace vaec {

const std::vector<std::string> &pipeline_stages() {
  static const std::vector<std::string> s = {"graph", "forward", "grad", "opt"};
  return s;
}

namespace {

class Runner {
public:
  explicit Runner(const PipelineOptions &o) : o_(o) {}

  Graph step(const char *name, Graph (*pass)(Graph), Graph g) {
    std::string before = o_.dump_after_all ? graph_to_string(g) : "";
    auto start = std::chrono::steady_clock::now();
    Graph out = pass(std::move(g));
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (o_.timing)
      *o_.timing << "vaec: pass " << std::left << std::setw(44) << (o_.label.empty() ? name : o_.label + " " + name) << std::right << std::fixed
                 << std::setprecision(3) << std::setw(9) << ms << " ms  (" << out.nodes.size() << " ops)\n";
    Diagnostics diags;
    if (!verify_graph(out, diags)) {
      std::ostringstream os;
      diags.print(os);
      throw InternalError(std::string("the IR does not verify after ") + name + ":\n" + os.str());
    }
    if (o_.dump_after_all) {
      std::string after = graph_to_string(out);
      if (after != before)
        *o_.dump_after_all << "// ----- IR after " << name << (o_.label.empty() ? "" : " (" + o_.label + ")") << " -----\n"
                           << after;
    }
    return out;
  }

private:
  const PipelineOptions &o_;
};

}  // namespace

Graph run_pipeline(Graph g, const PipelineOptions &o) {
  Runner run(o);
  if (o.stop_after == "graph") return g;
  g = run.step("simplify_algebra", simplify_algebra, std::move(g));
  g = run.step("fold_constants", fold_constants, std::move(g));
  g = run.step("eliminate_common_subexpressions", eliminate_common_subexpressions, std::move(g));
  g = run.step("eliminate_dead_code", eliminate_dead_code, std::move(g));
  if (o.forward) *o.forward = g;
  if (o.stop_after == "forward") return g;
  g = run.step("differentiate", differentiate, std::move(g));
  if (o.grad) *o.grad = g;
  if (o.stop_after == "grad") return g;
  g = run.step("fold_constants", fold_constants, std::move(g));
  g = run.step("simplify_algebra", simplify_algebra, std::move(g));
  g = run.step("fold_constants", fold_constants, std::move(g));
  g = run.step("eliminate_common_subexpressions", eliminate_common_subexpressions, std::move(g));
  g = run.step("eliminate_dead_code", eliminate_dead_code, std::move(g));
  return g;
}

}  // namespace vaec
