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
  int buffer = -1;
  int64_t bytes = 0;
  int first = 1 << 30, last = -1;
  int64_t offset = 0;
  // Temporaries this one may share its bytes with, exactly: a kernel's
  // output and an input whose life ends in that kernel (in_place_pairs).
  std::vector<size_t> in_place;
};

}  // namespace

void plan_memory(LoweredModel &m) {
  plan::Plan &plan = m.plan;
  std::map<std::string, FusedKernel *> kernel_named;
  for (FusedKernel &k : m.kernels) {
    // A stale pair would make the code take its aliasing-free path for buffers that share bytes.
    k.in_place.clear();
    kernel_named[k.name] = &k;
  }
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
      Temp &t = temps.emplace_back();
      t.buffer = b, t.bytes = (x.row > 0 ? x.row : x.elements) * size;
    }
    for (size_t i = 0; i < prog.steps.size(); ++i)
      for (int b : plan::step_buffers(prog.steps[i]))
        if (auto it = temp_of.find(b); it != temp_of.end()) {
          Temp &t = temps[it->second];
          t.first = std::min(t.first, static_cast<int>(i));
          t.last = std::max(t.last, static_cast<int>(i));
        }
    // A kernel's output may take the bytes of an input that dies there.
    struct Shared {
      FusedKernel *kernel;
      std::pair<int, int> args;
      size_t in, out;
    };
    std::vector<Shared> shared;
    for (size_t i = 0; i < prog.steps.size(); ++i) {
      const plan::Step &s = prog.steps[i];
      auto k = kernel_named.find(s.kernel);
      if (s.kind != plan::Step::Kernel || k == kernel_named.end()) continue;
      for (const std::pair<int, int> &p : in_place_pairs(*k->second)) {
        auto in = temp_of.find(s.args[p.first]), out = temp_of.find(s.args[p.second]);
        if (in == temp_of.end() || out == temp_of.end()) continue;
        const Temp &a = temps[in->second], &b = temps[out->second];
        if (a.last != static_cast<int>(i) || b.first != static_cast<int>(i) || a.bytes != b.bytes ||
            (plan.buffers[a.buffer].row > 0) != (plan.buffers[b.buffer].row > 0))
          continue;
        temps[in->second].in_place.push_back(out->second);
        temps[out->second].in_place.push_back(in->second);
        shared.push_back({k->second, p, in->second, out->second});
      }
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
      // Never used (a value that lives in a layout's shadow only): it meets
      // nothing, so it takes offset 0; the area still covers its bytes.
      // Whether t at `offset` meets a placed temporary it may not share with.
      auto conflict = [&](int64_t offset, size_t j) {
        const Temp &o = temps[j];
        if ((plan.buffers[o.buffer].row > 0) != per_example) return false;
        const bool live_together = t.first <= o.last && o.first <= t.last;
        const bool overlap = offset < o.offset + align(o.bytes) && o.offset < offset + align(t.bytes);
        const bool in_place = offset == o.offset && std::count(t.in_place.begin(), t.in_place.end(), j) > 0;
        return live_together && overlap && !in_place;
      };
      int64_t offset = -1;
      for (size_t j : t.in_place)  // first the bytes of a partner already placed
        if (std::find(placed.begin(), placed.end(), j) != placed.end() &&
            std::none_of(placed.begin(), placed.end(), [&](size_t p) { return conflict(temps[j].offset, p); })) {
          offset = temps[j].offset;
          break;
        }
      if (offset < 0) {
        offset = 0;
        for (bool moved = true; moved;) {
          moved = false;
          for (size_t j : placed)
            if (conflict(offset, j)) offset = temps[j].offset + align(temps[j].bytes), moved = true;
        }
      }
      t.offset = offset;
      placed.push_back(i);
      end[per_example] = std::max(end[per_example], offset + align(t.bytes));
    }
    for (const Shared &sh : shared)
      if (temps[sh.in].offset == temps[sh.out].offset) {
        sh.kernel->in_place.push_back(sh.args);
        detail << "  " << cp.name << " " << plan.buffers[temps[sh.out].buffer].name << ": in place of "
               << plan.buffers[temps[sh.in].buffer].name << " (kernel " << sh.kernel->name << ")\n";
      }
    for (const Temp &t : temps) {
      const bool per_example = plan.buffers[t.buffer].row > 0;
      if (per_example) plan.buffers[t.buffer].row_offset = m.persistent_row_bytes + t.offset;
      else plan.buffers[t.buffer].offset = m.persistent_bytes + t.offset;
      detail << "  " << cp.name << " " << plan.buffers[t.buffer].name << ": offset +" << t.offset
             << (per_example ? "*B, " : ", ") << t.bytes << (per_example ? " bytes per example" : " bytes")
             << (t.first > t.last ? ", never used" : ", live steps " + std::to_string(t.first) + ".." + std::to_string(t.last))
             << "\n";
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
