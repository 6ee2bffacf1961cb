// Plan text: reading (contract in plan.h; the format in plan_format.cpp).
// Every field is checked, every buffer index and every buffer's place in
// the arena, before a plan is returned: the runtime trusts no plan file.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>

#include "abi/plan.h"
#include "abi/plan_fields.h"

namespace vaec::plan {
namespace {

using text::parse_ints;
using text::parse_linear;
using text::read_extent;
using text::read_int;
using text::read_int64;

// Every buffer index the plan holds must name a buffer; -1 only where the
// field is optional. Returns an empty string when all are in range.
std::string check_indices(const Plan &p) {
  const int n = static_cast<int>(p.buffers.size());
  auto bad = [&](int b, bool optional) { return b >= n || b < (optional ? -1 : 0); };
  for (const Param &q : p.params)
    if (bad(q.buffer, false) || bad(q.grad_buffer, false)) return "param " + q.name;
  if (bad(p.param_region, true) || bad(p.grad_region, true) || bad(p.hyper, true)) return "regions";
  for (int s : p.state_regions)
    if (bad(s, false)) return "state";
  if (bad(p.stat_region, true)) return "stats";
  for (const Stat &t : p.stats)
    if (bad(t.buffer, false)) return "stat " + t.name;
  for (int a : p.optimizer_args)
    if (bad(a, false)) return "optimizer " + p.optimizer_kernel;
  for (const Program *prog : p.programs()) {
    if (bad(prog->input, true) || bad(prog->latent, true) || bad(prog->labels, true) || bad(prog->input_copy, true))
      return "program " + prog->name;
    for (const Program::Condition &c : prog->conditions)
      if (bad(c.buffer, false)) return "condition " + c.name;
    for (const auto &[name, b] : prog->losses)
      if (bad(b, false)) return "loss " + name;
    for (const Output &o : prog->outputs)
      if (bad(o.buffer, false)) return "output " + o.name;
    std::vector<int> in_buckets(p.params.size(), 0);
    for (const Program::Bucket &b : prog->buckets) {
      if (b.after < 0 || b.after >= static_cast<int>(prog->steps.size())) return "bucket after step " + std::to_string(b.after);
      for (int q : b.params)
        if (q < 0 || q >= static_cast<int>(p.params.size()) || in_buckets[q]++) return "bucket parameter " + std::to_string(q);
    }
    if (!prog->buckets.empty() && std::count(in_buckets.begin(), in_buckets.end(), 1) != static_cast<long>(p.params.size()))
      return "buckets (a parameter in none)";
    for (const Step &s : prog->steps) {
      switch (s.kind) {
      case Step::Kernel:
        for (int a : s.args)
          if (bad(a, false)) return "kernel " + s.kernel;
        for (int a : s.accumulate)
          if (a < 0 || a >= static_cast<int>(s.args.size()))
            return "kernel " + s.kernel + " (accumulated argument position)";
        break;
      case Step::Matmul:
        if (bad(s.a, false) || bad(s.b, false) || bad(s.c, false) || bad(s.bias, true))
          return "matmul at " + s.where;
        break;
      case Step::Zero:
        if (bad(s.c, false)) return "zero at " + s.where;
        break;
      case Step::Conv:
        if (bad(s.a, false) || bad(s.b, false) || bad(s.c, false) || bad(s.bias, true)) return s.conv + " at " + s.where;
        break;
      case Step::Reorder:
        if (bad(s.a, false) || bad(s.c, false)) return "reorder at " + s.where;
        break;
      case Step::Gate:
      case Step::Optimize:
        for (int q : s.params)
          if (q < 0 || q >= static_cast<int>(p.params.size())) return "parameter index of a gate or optimize step";
        for (int b : s.bound)
          if (b < 0 || b >= static_cast<int>(prog->steps.size()) || prog->steps[b].kind != Step::Matmul)
            return "bounded step of a gate (not a matmul of its program)";
        if (prog != &p.train) return "a gate or optimize step outside the train program";
        break;
      }
    }
  }
  return "";
}

// The lines below return "" when the line is good, else what is wrong with
// it. Lines of fixed fields check `ls` right after reading them: a missing
// field sets both failbit and eofbit, which read_plan's final check allows.
// Names format_plan may print empty (model, optimizer kernel, config value)
// are optional.

// A line about the whole plan (before or between its programs).
std::string read_plan_line(const std::string &key, std::istringstream &ls, Plan &out) {
  if (key == "vaec-plan") {
    if (!(ls >> out.version)) return "malformed line";
    if (out.version != 2) return "unsupported plan version (this runtime reads version 2)";
  } else if (key == "model") {
    ls >> out.model;
  } else if (key == "config" || key == "note") {
    // The value is the rest of the line: a data path may hold spaces.
    std::string k, v;
    if (key == "config" && !(ls >> k)) return "malformed line";
    if (ls.peek() == ' ') ls.get();
    std::getline(ls, v);
    if (key == "config") out.config[k] = v;
    else out.notes.push_back(v);
  } else if (key == "arena") {
    std::string bytes;
    if (!(ls >> bytes) || !parse_linear(bytes, out.arena_bytes, out.arena_row)) return "malformed line";
  } else if (key == "batch_value") {
    if (!(ls >> out.batch_value)) return "malformed line";
  } else if (key == "epoch_value") {
    if (!(ls >> out.epoch_value)) return "malformed line";
  } else if (key == "buffer") {
    Buffer b;
    std::string t, elements, offset;
    if (!(ls >> b.name >> t >> elements >> offset) || !parse_linear(elements, b.elements, b.row) ||
        !parse_linear(offset, b.offset, b.row_offset))
      return "malformed line";
    if (t != "u8" && t != "f32" && t != "bf16") return "unknown element type '" + t + "'";
    b.type = t == "u8" ? DType::U8 : t == "bf16" ? DType::BF16 : DType::F32;
    out.buffers.push_back(b);
  } else if (key == "param") {
    Param q;
    std::string init;
    if (!(ls >> q.name >> q.buffer >> q.grad_buffer >> init)) return "malformed line";
    if (init == "=1") {
      q.init_ones = true;
    } else {
      char *end = nullptr;
      q.init_bound = std::strtod(init.c_str(), &end);
      if (*end != '\0' || !(q.init_bound >= 0)) return "malformed initialisation '" + init + "'";
    }
    int64_t d;
    while (ls >> d) q.dims.push_back(d);
    out.params.push_back(q);
  } else if (key == "param_layout") {
    size_t q;
    std::string dims, from, to;
    if (!(ls >> q >> dims >> from >> to)) return "malformed line";
    if (q >= out.params.size()) return "no parameter " + std::to_string(q) + " before this line";
    Param &param = out.params[q];
    if (!param.stored_layout.empty()) return "a second layout for parameter " + param.name;
    if (!parse_ints(dims, param.stored_dims)) return "malformed dimension list";
    param.stored_from = from, param.stored_layout = to;
  } else if (key == "stats") {
    if (!(ls >> out.stat_count >> out.stat_region) || out.stat_count < 0) return "malformed line";
  } else if (key == "stat") {
    Stat t;
    if (!(ls >> t.name >> t.buffer >> t.init)) return "malformed line";
    int64_t d;
    while (ls >> d) t.dims.push_back(d);
    out.stats.push_back(t);
  } else if (key == "regions") {
    if (!(ls >> out.param_count >> out.param_region >> out.grad_region >> out.hyper)) return "malformed line";
  } else if (key == "state") {
    int s;
    if (!(ls >> s)) return "malformed line";
    out.state_regions.push_back(s);
  } else if (key == "optimizer") {
    ls >> out.optimizer_kernel;
    int a;
    while (ls >> a) out.optimizer_args.push_back(a);
  } else if (key == "recon") {
    if (!(ls >> out.recon)) return "malformed line";
  } else if (key == "loss_scaling") {
    std::string k, v;
    if (!(ls >> k >> v)) return "malformed line";
    out.loss_scaling[k] = v;
  } else {
    return "unknown keyword";
  }
  return "";
}

// A line of a program that is not a step.
std::string read_program_line(const std::string &key, std::istringstream &ls, Program &p) {
  if (key == "latent") {
    if (!(ls >> p.latent >> p.latent_row)) return "malformed line";
  } else if (key == "labels") {
    if (!(ls >> p.labels >> p.label_classes) || p.label_classes < 2) return "malformed line";
  } else if (key == "input_copy") {
    if (!(ls >> p.input_copy)) return "malformed line";
  } else if (key == "condition") {
    Program::Condition c;
    if (!(ls >> c.name >> c.buffer >> c.row) || c.row < 1) return "malformed line";
    p.conditions.push_back(c);
  } else if (key == "output") {
    Output o;
    if (!(ls >> o.name >> o.buffer >> o.row)) return "malformed line";
    p.outputs.push_back(o);
  } else if (key == "bucket") {
    Program::Bucket b;
    std::string word;
    if (!(ls >> b.after >> word) || word != "params") return "malformed line";
    int q;
    while (ls >> q) b.params.push_back(q);
    if (!ls.eof()) return "malformed index list";
    if (b.params.empty()) return "a bucket without parameters";
    p.buckets.push_back(b);
  } else if (key == "loss") {
    std::string name;
    int b;
    if (!(ls >> name >> b)) return "malformed line";
    p.losses.emplace_back(name, b);
  } else {
    return "unknown keyword";
  }
  return "";
}

bool is_program_line(const std::string &key) {
  return key == "loss" || key == "bucket" || key == "output" || key == "latent" || key == "labels" ||
         key == "condition" || key == "input_copy";
}

bool is_step(const std::string &key) {
  return key == "kernel" || key == "matmul" || key == "zero" || key == "conv" || key == "reorder" || key == "gate" ||
         key == "optimize";
}

std::string read_kernel(std::istringstream &ls, Step &s) {
  s.kind = Step::Kernel;
  int rng = 0;
  std::string word, split;
  if (!(ls >> s.kernel) || !read_extent(ls, s.domain0) || !(ls >> split >> rng >> word)) return "malformed line";
  if (split != "rows" && split != "one") return "expected 'rows' or 'one'";
  s.rows = split == "rows";
  s.uses_rng = rng != 0;
  if (word != "args") return "expected 'args'";
  bool acc = false;
  // The stream stops before `where` on purpose.
  while (ls >> std::ws && !ls.eof() && ls.peek() != 'w') {
    if (ls.peek() == 'm') {
      if (!acc || s.macs > 0 || !(ls >> word) || word != "macs" || !read_int64(ls, s.macs) || s.macs < 1)
        return "malformed 'macs N'";
      continue;
    }
    if (s.macs > 0) return "expected 'where' after 'macs N'";
    if (ls.peek() == 'a') {
      if (!(ls >> word) || word != "acc" || acc) return "expected 'acc'";
      acc = true;
      continue;
    }
    int a;
    if (!acc) {
      if (!read_int(ls, a)) return "malformed argument list";
      s.args.push_back(a);
      continue;
    }
    if (!(ls >> word)) return "malformed argument list";
    const size_t colon = word.find(':');
    const std::string how = colon == std::string::npos ? "" : word.substr(colon + 1);
    std::istringstream pos(word.substr(0, colon));
    if (!read_int(pos, a) || !(pos >> std::ws).eof() || (how != "" && how != "max" && how != "min"))
      return "malformed accumulated argument '" + word + "'";
    s.accumulate.push_back(a);
    s.combine.push_back(how == "max" ? Step::Combine::Max : how == "min" ? Step::Combine::Min : Step::Combine::Add);
  }
  return acc ? "" : "expected 'acc'";
}

std::string read_matmul(std::istringstream &ls, Step &s) {
  s.kind = Step::Matmul;
  std::string how, zeros;
  if (!(ls >> s.a >> s.b >> s.c >> s.bias) || !read_extent(ls, s.m) || !read_extent(ls, s.n) ||
      !read_extent(ls, s.k) || !(ls >> s.ta >> s.tb >> s.post >> how >> zeros))
    return "malformed line";
  if (s.post == "-") s.post.clear();
  if (how != "whole" && how != "columns" && how != "rows" && how != "k-slices")
    return "expected 'whole', 'columns', 'rows' or 'k-slices'";
  s.split = how == "columns" ? Step::Columns : how == "rows" ? Step::Rows : how == "k-slices" ? Step::KSlices : Step::Whole;
  if (zeros != "-" && zeros != "inner" && zeros != "outer" && zeros != "units" && zeros != "outer+units" &&
      zeros != "sparse")
    return "expected '-', 'inner', 'outer', 'units', 'outer+units' or 'sparse'";
  s.zeros = zeros == "inner"                ? Step::Inner
            : zeros.rfind("outer", 0) == 0 ? Step::Outer
            : zeros == "sparse"            ? Step::Sparse
                                           : Step::Keep;
  if (s.zeros == Step::Sparse && (s.split != Step::Whole || s.tb))
    return "'sparse' runs whole, with b not transposed";
  s.zero_units = zeros == "units" || zeros == "outer+units";
  if (s.split == Step::KSlices && (s.post == "sigmoid" || s.zeros != Step::Keep || s.zero_units))
    return "'k-slices' takes no sigmoid, zero columns or units";
  std::string word;
  if (!(ls >> word) || word == "where") return "";
  s.bf16 = word == "bf16";
  if (s.bf16 && s.zeros == Step::Sparse) return "'sparse' takes no bf16";
  if (s.bf16 && (!(ls >> word) || word == "where")) return "";
  s.swapped = word == "swapped";
  s.thin = word == "thin";
  if (!s.swapped && !s.thin)
    return s.bf16 ? "expected 'swapped', 'thin' or 'where'" : "expected 'bf16', 'swapped', 'thin' or 'where'";
  if (s.swapped && (s.bf16 || s.split == Step::KSlices || s.zeros != Step::Keep || s.zero_units))
    return "'swapped' takes no bf16, k-slices, zero columns or units";
  if (s.thin && (s.bf16 || s.split != Step::Whole || s.zeros != Step::Keep || s.zero_units))
    return "'thin' takes no bf16, slices, zero columns or units";
  if (ls >> word && word != "where") return "expected 'where'";
  return "";
}

std::string read_conv(std::istringstream &ls, Step &s) {
  s.kind = Step::Conv;
  std::string da, db, dc, stride, pad;
  if (!(ls >> s.conv >> s.a >> s.b >> s.c >> s.bias >> s.post >> da >> db >> dc >> stride >> pad >> s.layout_a >>
        s.layout_b >> s.layout_c))
    return "malformed line";
  if (s.post == "-") s.post.clear();
  if (!parse_ints(da, s.dims_a) || !parse_ints(db, s.dims_b) || !parse_ints(dc, s.dims_c) ||
      !parse_ints(stride, s.stride) || !parse_ints(pad, s.pad))
    return "malformed dimension list";
  std::string word;
  if (!(ls >> word) || word == "where") return "";
  if (word != "batch-slices") {
    s.bf16 = word == "bf16";
  if (s.bf16 && s.zeros == Step::Sparse) return "'sparse' takes no bf16";
    s.winograd = word == "winograd";
    s.own_winograd = word == "own-winograd";
    if (!s.bf16 && !s.winograd && !s.own_winograd)
      return "expected 'bf16', 'winograd', 'own-winograd', 'batch-slices' or 'where'";
    if (!(ls >> word) || word == "where") return "";
    if (s.own_winograd) {
      s.side_by_side = word == "side-by-side";
      if (!s.side_by_side) return "expected 'side-by-side' or 'where'";
      if (s.conv != "conv2d_bwd_data") return "'side-by-side' is for an input gradient (conv2d_bwd_data)";
      return ls >> word && word != "where" ? "expected 'where'" : "";
    }
  }
  s.batch_slices = word == "batch-slices";
  if (!s.batch_slices) return "expected 'batch-slices' or 'where'";
  if (ls >> word && word != "where") return "expected 'where'";
  return "";
}

// gate check P... bound S... | optimize params P... | optimize all; the
// stream stops before `where` on purpose.
std::string read_update(const std::string &key, std::istringstream &ls, Step &s) {
  s.kind = key == "gate" ? Step::Gate : Step::Optimize;
  std::string word;
  ls >> word;
  if (key == "optimize" && word == "all") {
    s.all = true;
    return "";
  }
  if (word != (key == "gate" ? "check" : "params")) return key == "gate" ? "expected 'check'" : "expected 'all' or 'params'";
  std::vector<int> *list = &s.params;
  while (ls >> std::ws && !ls.eof() && ls.peek() != 'w') {
    if (key == "gate" && ls.peek() == 'b') {
      if (!(ls >> word) || word != "bound" || list == &s.bound) return "expected 'bound'";
      list = &s.bound;
      continue;
    }
    int v;
    if (!read_int(ls, v)) return "malformed index list";
    list->push_back(v);
  }
  return key == "gate" && list != &s.bound ? "expected 'bound'" : "";
}

// One step line (is_step(key)) into s.
std::string read_step(const std::string &key, std::istringstream &ls, Step &s) {
  if (key == "kernel") return read_kernel(ls, s);
  if (key == "gate" || key == "optimize") return read_update(key, ls, s);
  std::string what;
  if (key == "matmul") {
    what = read_matmul(ls, s);
  } else if (key == "conv") {
    what = read_conv(ls, s);
  } else if (key == "reorder") {
    s.kind = Step::Reorder;
    std::string dims;
    if (!(ls >> s.a >> s.c >> dims >> s.layout_a >> s.layout_c)) return "malformed line";
    if (!parse_ints(dims, s.dims_a)) return "malformed dimension list";
  } else {  // zero
    s.kind = Step::Zero;
    if (!(ls >> s.c)) return "malformed line";
  }
  return what.empty() && ls.fail() && !ls.eof() ? "malformed line" : what;
}

// After the last line: both programs present, every index in range, every
// buffer within the arena at every batch.
std::string check_plan(const Plan &out, bool train, bool eval) {
  if (!train || !eval) return std::string("plan has no ") + (train ? "eval" : "train") + " program";
  if (std::string what = check_indices(out); !what.empty()) return "plan: buffer index out of range in " + what;
  for (const Program *prog : out.programs())
    for (size_t i = 0; i < prog->steps.size(); ++i)
      if (prog->steps[i].side_by_side) {
        const Step *next = i + 1 < prog->steps.size() ? &prog->steps[i + 1] : nullptr;
        if (!next || next->kind != Step::Conv || !next->own_winograd || next->conv != "conv2d_bwd_weights")
          return "plan: program " + prog->name + " step " + std::to_string(i) +
                 " is side-by-side, but the next step is no own-winograd conv2d_bwd_weights";
      }
  if (out.batch_value >= static_cast<int>(out.buffers.size()) || out.batch_value < -1)
    return "plan: buffer index out of range in batch_value";
  if (out.epoch_value >= static_cast<int>(out.buffers.size()) || out.epoch_value < -1)
    return "plan: buffer index out of range in epoch_value";
  // The fixed parts within the fixed part, the per-example parts within the
  // per-example part.
  for (const Buffer &b : out.buffers) {
    const int64_t size = dtype_bytes(b.type);
    if (b.offset < 0 || b.elements < 0 || b.elements > out.arena_bytes / size ||
        b.offset > out.arena_bytes - b.elements * size || b.row_offset < 0 || b.row < 0 ||
        b.row > out.arena_row / size || b.row_offset > out.arena_row - b.row * size)
      return "plan: buffer " + b.name + " lies outside the arena";
  }
  return "";
}

}  // namespace

bool parse_plan(const std::string &text, Plan &out, std::string &error) {
  out = Plan{};  // nothing of a plan parsed into `out` before stays
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  Program *current = nullptr;
  std::map<std::string, bool> seen;
  auto fail = [&](const std::string &what) {
    error = "plan line " + std::to_string(line_no) + ": " + what + ": '" + line + "'";
    return false;
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "program") {
      std::string name;
      ls >> name;
      current = out.program(name);
      if (!current) return fail("unknown program");
      if (seen[name]) return fail("program defined twice");
      seen[name] = true;
      current->name = name;
      if (!(ls >> current->batch >> current->input >> current->input_row)) return fail("malformed line");
    } else if (key == "end") {
      current = nullptr;
    } else if (is_step(key) || is_program_line(key)) {
      if (!current) return fail("step outside a program");
      if (is_program_line(key)) {
        if (std::string what = read_program_line(key, ls, *current); !what.empty()) return fail(what);
      } else {
        Step s;
        if (std::string what = read_step(key, ls, s); !what.empty()) return fail(what);
        if (size_t w = line.find(" where "); w != std::string::npos) s.where = line.substr(w + 7);
        current->steps.push_back(s);
        continue;  // read_step checked the stream
      }
    } else if (std::string what = read_plan_line(key, ls, out); !what.empty()) {
      return fail(what);
    }
    if (ls.fail() && !ls.eof()) return fail("malformed line");
  }
  if (std::string what = check_plan(out, seen.count("train") > 0, seen.count("eval") > 0); !what.empty())
    return error = what, false;
  return true;
}
}  // namespace vaec::plan
