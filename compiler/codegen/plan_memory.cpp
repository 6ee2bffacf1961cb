// The arena's temporaries (contract in plan_memory.h).
#include "codegen/plan_memory.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace vaec {
namespace {

constexpr int64_t kAlign = 64;
int64_t align(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

struct Temp {
  int buffer;
  int64_t bytes;
  int first = 1 << 30, last = -1;
  int64_t offset = 0;
};

}  // namespace

void plan_memory(LoweredModel &m) {
  plan::Plan &plan = m.plan;
  std::ostringstream detail, sizes, naive_sizes;
  int64_t fixed_area = 0, row_area = 0;  // the temporaries': bytes, bytes per example
  for (const CodegenProgram &cp : m.programs) {
    const plan::Program &prog = *plan.program(cp.name);
    // Fixed-size and per-example temporaries are placed apart, each in bytes
    // (per example for the second).
    std::vector<Temp> temps;
    std::map<int, size_t> temp_of;
    for (int b : cp.temps) {
      const plan::Buffer &x = plan.buffers[b];
      const int64_t size = plan::dtype_bytes(x.type);
      temp_of[b] = temps.size();
      temps.push_back({b, (x.row > 0 ? x.row : x.elements) * size});
    }
    for (size_t i = 0; i < prog.steps.size(); ++i)
      for (int b : plan::step_buffers(prog.steps[i]))
        if (auto it = temp_of.find(b); it != temp_of.end()) {
          Temp &t = temps[it->second];
          t.first = std::min(t.first, static_cast<int>(i));
          t.last = std::max(t.last, static_cast<int>(i));
        }
    std::vector<size_t> order(temps.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return temps[a].bytes > temps[b].bytes; });
    int64_t end[2] = {0, 0}, naive[2] = {0, 0};  // [fixed, per example]
    std::vector<size_t> placed;
    for (size_t i : order) {
      Temp &t = temps[i];
      const bool per_example = plan.buffers[t.buffer].row > 0;
      naive[per_example] += align(t.bytes);
      if (t.first > t.last) t.first = t.last = 0;  // never used: still give it room
      int64_t offset = 0;
      for (bool moved = true; moved;) {
        moved = false;
        for (size_t j : placed) {
          const Temp &o = temps[j];
          if ((plan.buffers[o.buffer].row > 0) != per_example) continue;
          const bool live_together = t.first <= o.last && o.first <= t.last;
          const bool overlap = offset < o.offset + align(o.bytes) && o.offset < offset + align(t.bytes);
          if (live_together && overlap) offset = o.offset + align(o.bytes), moved = true;
        }
      }
      t.offset = offset;
      placed.push_back(i);
      end[per_example] = std::max(end[per_example], offset + align(t.bytes));
    }
    for (const Temp &t : temps) {
      const bool per_example = plan.buffers[t.buffer].row > 0;
      if (per_example) plan.buffers[t.buffer].row_offset = m.persistent_row_bytes + t.offset;
      else plan.buffers[t.buffer].offset = m.persistent_bytes + t.offset;
      detail << "  " << cp.name << " " << plan.buffers[t.buffer].name << ": offset +" << t.offset
             << (per_example ? "*B, " : ", ") << t.bytes << (per_example ? " bytes per example" : " bytes")
             << ", live steps " << t.first << ".." << t.last << "\n";
    }
    fixed_area = std::max(fixed_area, end[0]);
    row_area = std::max(row_area, end[1]);
    auto both = [](const int64_t v[2]) { return std::to_string(v[0]) + "+" + std::to_string(v[1]) + "*B"; };
    sizes << (sizes.tellp() > 0 ? ", " : "") << cp.name << " " << both(end);
    naive_sizes << (naive_sizes.tellp() > 0 ? ", " : "") << cp.name << " " << both(naive);
  }
  // Every per-example buffer lies after all fixed bytes.
  const int64_t fixed = m.persistent_bytes + fixed_area;
  for (plan::Buffer &b : plan.buffers)
    if (b.row > 0) b.offset = fixed;
  plan.arena_bytes = fixed;
  plan.arena_row = m.persistent_row_bytes + row_area;
  std::ostringstream os;
  os << "arena: " << fixed << "+" << plan.arena_row << "*B bytes = persistent " << m.persistent_bytes << "+"
     << m.persistent_row_bytes << "*B (parameters, gradients, optimizer state, losses; inputs and outputs per "
     << "example) + temporaries " << fixed_area << "+" << row_area << "*B (" << sizes.str() << ")\n"
     << "temporaries without reuse would take: " << naive_sizes.str() << " bytes\n"
     << detail.str();
  m.memory_report = os.str();
}

}  // namespace vaec
