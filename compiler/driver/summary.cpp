// The summary table: one row per named tensor, parameter totals per section.
#include "driver/summary.h"

#include <iomanip>
#include <map>
#include <ostream>

#include "ir/printer.h"

namespace vaec {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (n < 0 ? "-" : "") + out;
}

void print_summary(std::ostream &os, const Model &m) {
  const Graph &g = m.graph;
  size_t wt = 6, wo = 2, ws = 12;
  for (const SummaryRow &r : m.rows) {
    wt = std::max(wt, r.tensor.size());
    wo = std::max(wo, std::min<size_t>(r.op.size(), 40));
    ws = std::max(ws, dims_str(r.dims).size() + 3);
  }
  size_t width = wt + 2 + 9 + wo + 2 + ws + 2 + 11;
  os << "Model: " << g.name << "  (batch " << g.batch() << "; shapes include the batch)\n";
  os << std::string(width, '-') << '\n';
  os << std::left << std::setw(wt + 2) << "Tensor" << std::setw(9) << "Section" << std::setw(wo + 2) << "Op"
     << std::setw(ws + 2) << "Output shape" << std::right << std::setw(11) << "Params" << '\n';
  os << std::string(width, '=') << '\n';
  std::map<std::string, int64_t> per_section;
  for (const SummaryRow &r : m.rows) {
    std::string op = r.op.size() > 40 ? r.op.substr(0, 37) + "..." : r.op;
    os << std::left << std::setw(wt + 2) << r.tensor << std::setw(9) << r.section << std::setw(wo + 2) << op
       << std::setw(ws + 2) << "f32" + dims_str(r.dims) << std::right << std::setw(11) << with_commas(r.params)
       << '\n';
  }
  for (const Node &n : g.nodes)
    if (n.op == Op::Param) per_section[n.section] += checked_elements(n.dims);
  os << std::string(width, '=') << '\n';
  os << "Total params: " << with_commas(g.param_count()) << '\n';
  for (const char *s : {"encoder", "sampler", "decoder", "losses"})
    if (per_section.count(s) || std::string(s) == "encoder" || std::string(s) == "decoder")
      os << "  " << s << ": " << with_commas(per_section[s]) << '\n';
  os << "Trainable params: " << with_commas(g.param_count()) << '\n';
  os << "Non-trainable params: 0\n";
  os << std::string(width, '-') << '\n';
  os << "Losses:";
  for (const auto &[name, idx] : g.outputs) os << ' ' << name;
  os << "   (minimised: total)\n";
  os << "Training: ";
  for (size_t i = 0; i < g.config.size(); ++i)
    os << (i ? ", " : "") << g.config[i].first << "=" << format_attr(g.config[i].second);
  os << '\n';
}

}  // namespace vaec
