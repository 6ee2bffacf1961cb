// Plan text: writing and reading (contract in plan.h). Line-based: a keyword,
// then space-separated fields; names never contain spaces, and `where` takes
// the rest of its line.
#include "abi/plan.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <sstream>

namespace vaec::plan {
namespace {

std::string zeros_name(const Step &s) {
  const std::string z = s.zeros == Step::Inner ? "inner" : s.zeros == Step::Outer ? "outer" : "";
  if (s.zero_units) return z.empty() ? "units" : z + "+units";
  return z.empty() ? "-" : z;
}

// An extent: a number, B for the batch, or c*B.
std::string extent_text(int64_t v) {
  return v == kBatch ? "B" : v < 0 ? std::to_string(-v) + "*B" : std::to_string(v);
}

bool parse_extent(const std::string &t, int64_t &out) {
  if (t == "B") return out = kBatch, true;
  const bool times = t.size() > 2 && t.compare(t.size() - 2, 2, "*B") == 0;
  const char *end = t.data() + t.size() - (times ? 2 : 0);
  auto [ptr, ec] = std::from_chars(t.data(), end, out);
  if (ec != std::errc() || ptr != end || out < 0) return false;
  if (times) {  // "1*B" is written "B"; a bound keeps c * batch far from overflow
    if (out < 2 || out > (int64_t{1} << 24)) return false;
    out = batch_times(out);
  }
  return true;
}

bool read_extent(std::istream &ls, int64_t &out) {
  std::string word;
  return (ls >> word) && parse_extent(word, out);
}

// a + b * B as "a", "b*B" or "a+b*B".
std::string linear_text(int64_t a, int64_t b) {
  if (b == 0) return std::to_string(a);
  return (a != 0 ? std::to_string(a) + "+" : "") + std::to_string(b) + "*B";
}

bool parse_linear(const std::string &t, int64_t &a, int64_t &b) {
  a = b = 0;
  std::string rest = t;
  if (size_t plus = t.find('+'); plus != std::string::npos) {
    const std::string first = t.substr(0, plus);
    auto [ptr, ec] = std::from_chars(first.data(), first.data() + first.size(), a);
    if (ec != std::errc() || ptr != first.data() + first.size() || a < 0) return false;
    rest = t.substr(plus + 1);
  } else if (t.size() < 2 || t.compare(t.size() - 2, 2, "*B") != 0) {
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), a);
    return ec == std::errc() && ptr == t.data() + t.size() && a >= 0;
  }
  if (rest.size() < 3 || rest.compare(rest.size() - 2, 2, "*B") != 0) return false;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size() - 2, b);
  return ec == std::errc() && ptr == rest.data() + rest.size() - 2 && b >= 0;
}

// {1, 2, 3} <-> "1,2,3" ("-" when empty; B for the batch).
std::string ints(const std::vector<int64_t> &v) {
  if (v.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + extent_text(v[i]);
  return out;
}

bool parse_ints(const std::string &text, std::vector<int64_t> &out) {
  out.clear();
  if (text == "-") return true;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    int64_t v;
    if (!parse_extent(item, v)) return false;
    out.push_back(v);
  }
  return !out.empty() && text.back() != ',';
}

void format_program(std::ostream &os, const Program &p) {
  os << "program " << p.name << ' ' << p.batch << ' ' << p.input << ' ' << p.input_row << '\n';
  if (p.latent >= 0) os << "latent " << p.latent << ' ' << p.latent_row << '\n';
  if (p.labels >= 0) os << "labels " << p.labels << ' ' << p.label_classes << '\n';
  for (const Program::Condition &c : p.conditions) os << "condition " << c.name << ' ' << c.buffer << ' ' << c.row << '\n';
  for (const auto &[name, buf] : p.losses) os << "loss " << name << ' ' << buf << '\n';
  for (const Output &o : p.outputs) os << "output " << o.name << ' ' << o.buffer << ' ' << o.row << '\n';
  for (const Program::Bucket &b : p.buckets) {
    os << "bucket " << b.after << " params";
    for (int q : b.params) os << ' ' << q;
    os << '\n';
  }
  for (const Step &s : p.steps) {
    switch (s.kind) {
    case Step::Kernel:
      os << "kernel " << s.kernel << ' ' << extent_text(s.domain0) << ' ' << (s.rows ? "rows" : "one") << ' ' << (s.uses_rng ? 1 : 0)
         << " args";
      for (int a : s.args) os << ' ' << a;
      os << " acc";
      for (size_t j = 0; j < s.accumulate.size(); ++j) {
        os << ' ' << s.accumulate[j];
        const Step::Combine c = j < s.combine.size() ? s.combine[j] : Step::Combine::Add;
        if (c != Step::Combine::Add) os << (c == Step::Combine::Max ? ":max" : ":min");
      }
      if (s.macs > 0) os << " macs " << s.macs;
      break;
    case Step::Matmul:
      os << "matmul " << s.a << ' ' << s.b << ' ' << s.c << ' ' << s.bias << ' ' << extent_text(s.m) << ' '
         << extent_text(s.n) << ' ' << extent_text(s.k) << ' ' << s.ta << ' ' << s.tb << ' ' << (s.post.empty() ? "-" : s.post) << ' '
         << (s.split == Step::Columns ? "columns" : s.split == Step::Rows ? "rows" : "whole") << ' ' << zeros_name(s)
         << (s.bf16 ? " bf16" : "");
      break;
    case Step::Gate:
      os << "gate check";
      for (int q : s.params) os << ' ' << q;
      os << " bound";
      for (int b : s.bound) os << ' ' << b;
      break;
    case Step::Optimize:
      if (s.all) {
        os << "optimize all";
        break;
      }
      os << "optimize params";
      for (int q : s.params) os << ' ' << q;
      break;
    case Step::Zero: os << "zero " << s.c; break;
    case Step::Conv:
      os << "conv " << s.conv << ' ' << s.a << ' ' << s.b << ' ' << s.c << ' ' << s.bias << ' '
         << (s.post.empty() ? "-" : s.post) << ' ' << ints(s.dims_a) << ' ' << ints(s.dims_b) << ' ' << ints(s.dims_c)
         << ' ' << ints(s.stride) << ' ' << ints(s.pad) << ' ' << s.layout_a << ' ' << s.layout_b << ' ' << s.layout_c
         << (s.bf16 ? " bf16" : "");
      break;
    case Step::Reorder:
      os << "reorder " << s.a << ' ' << s.c << ' ' << ints(s.dims_a) << ' ' << s.layout_a << ' ' << s.layout_c;
      break;
    }
    os << " where " << s.where << '\n';
  }
  os << "end\n";
}

}  // namespace

std::string format_plan(const Plan &p) {
  std::ostringstream os;
  os << "vaec-plan " << p.version << '\n' << "model " << p.model << '\n';
  for (const auto &[k, v] : p.config) os << "config " << k << ' ' << v << '\n';
  for (const std::string &n : p.notes) os << "note " << n << '\n';
  os << "arena " << linear_text(p.arena_bytes, p.arena_row) << '\n';
  if (p.batch_value >= 0) os << "batch_value " << p.batch_value << '\n';
  if (p.epoch_value >= 0) os << "epoch_value " << p.epoch_value << '\n';
  for (const Buffer &b : p.buffers)
    os << "buffer " << b.name << ' ' << dtype_name(b.type) << ' ' << linear_text(b.elements, b.row) << ' '
       << linear_text(b.offset, b.row_offset) << '\n';
  for (const Param &q : p.params) {
    os << "param " << q.name << ' ' << q.buffer << ' ' << q.grad_buffer << ' ';
    os.precision(17);
    if (q.init_ones) os << "=1";
    else os << q.init_bound;
    for (int64_t d : q.dims) os << ' ' << d;
    os << '\n';
  }
  os << "regions " << p.param_count << ' ' << p.param_region << ' ' << p.grad_region << ' ' << p.hyper << '\n';
  for (int s : p.state_regions) os << "state " << s << '\n';
  if (p.stat_region >= 0) os << "stats " << p.stat_count << ' ' << p.stat_region << '\n';
  for (const Stat &t : p.stats) {
    os << "stat " << t.name << ' ' << t.buffer << ' ' << t.init;
    for (int64_t d : t.dims) os << ' ' << d;
    os << '\n';
  }
  os << "optimizer " << p.optimizer_kernel;
  for (int a : p.optimizer_args) os << ' ' << a;
  os << '\n';
  for (const auto &[k, v] : p.loss_scaling) os << "loss_scaling " << k << ' ' << v << '\n';
  if (!p.recon.empty()) os << "recon " << p.recon << '\n';
  for (const Program *prog : p.programs())
    if (prog == &p.train || prog == &p.eval || prog->present()) format_program(os, *prog);
  return os.str();
}

namespace {

// Reads one integer field of a plan line; std::stoi would throw on junk.
bool read_int(std::istream &ls, int &out) {
  std::string word;
  if (!(ls >> word)) return false;
  const char *end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, out);
  return ec == std::errc() && ptr == end;
}

bool read_int64(std::istream &ls, int64_t &out) {
  std::string word;
  if (!(ls >> word)) return false;
  const char *end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, out);
  return ec == std::errc() && ptr == end;
}

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
    if (bad(prog->input, true) || bad(prog->latent, true) || bad(prog->labels, true)) return "program " + prog->name;
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
    std::string where;
    if (size_t w = line.find(" where "); w != std::string::npos) where = line.substr(w + 7);
    // A product's or convolution's optional `bf16` before `where`.
    auto read_precision = [&](Step &s) {
      std::string word;
      if (!(ls >> word) || word == "where") return true;
      s.bf16 = word == "bf16";
      return s.bf16;
    };
    // Lines of fixed fields check `ls` right after reading them: a missing
    // field sets both failbit and eofbit, which the loop's final check allows.
    // Names format_plan may print empty (model, optimizer kernel, config
    // value) are optional.
    if (key == "vaec-plan") {
      if (!(ls >> out.version)) return fail("malformed line");
      if (out.version != 2) return fail("unsupported plan version (this runtime reads version 2)");
    } else if (key == "model") {
      ls >> out.model;
    } else if (key == "config") {
      // The value is the rest of the line: a data path may hold spaces.
      std::string k, v;
      if (!(ls >> k)) return fail("malformed line");
      if (ls.peek() == ' ') ls.get();
      std::getline(ls, v);
      out.config[k] = v;
    } else if (key == "note") {
      std::string v;
      if (ls.peek() == ' ') ls.get();
      std::getline(ls, v);
      out.notes.push_back(v);
    } else if (key == "arena") {
      std::string bytes;
      if (!(ls >> bytes) || !parse_linear(bytes, out.arena_bytes, out.arena_row)) return fail("malformed line");
    } else if (key == "batch_value") {
      if (!(ls >> out.batch_value)) return fail("malformed line");
    } else if (key == "epoch_value") {
      if (!(ls >> out.epoch_value)) return fail("malformed line");
    } else if (key == "buffer") {
      Buffer b;
      std::string t, elements, offset;
      if (!(ls >> b.name >> t >> elements >> offset) || !parse_linear(elements, b.elements, b.row) ||
          !parse_linear(offset, b.offset, b.row_offset))
        return fail("malformed line");
      if (t != "u8" && t != "f32" && t != "bf16") return fail("unknown element type '" + t + "'");
      b.type = t == "u8" ? DType::U8 : t == "bf16" ? DType::BF16 : DType::F32;
      out.buffers.push_back(b);
    } else if (key == "param") {
      Param q;
      std::string init;
      if (!(ls >> q.name >> q.buffer >> q.grad_buffer >> init)) return fail("malformed line");
      if (init == "=1") {
        q.init_ones = true;
      } else {
        char *end = nullptr;
        q.init_bound = std::strtod(init.c_str(), &end);
        if (*end != '\0' || !(q.init_bound >= 0)) return fail("malformed initialisation '" + init + "'");
      }
      int64_t d;
      while (ls >> d) q.dims.push_back(d);
      out.params.push_back(q);
    } else if (key == "stats") {
      if (!(ls >> out.stat_count >> out.stat_region) || out.stat_count < 0) return fail("malformed line");
    } else if (key == "stat") {
      Stat t;
      if (!(ls >> t.name >> t.buffer >> t.init)) return fail("malformed line");
      int64_t d;
      while (ls >> d) t.dims.push_back(d);
      out.stats.push_back(t);
    } else if (key == "regions") {
      if (!(ls >> out.param_count >> out.param_region >> out.grad_region >> out.hyper)) return fail("malformed line");
    } else if (key == "state") {
      int s;
      if (!(ls >> s)) return fail("malformed line");
      out.state_regions.push_back(s);
    } else if (key == "optimizer") {
      ls >> out.optimizer_kernel;
      int a;
      while (ls >> a) out.optimizer_args.push_back(a);
    } else if (key == "recon") {
      if (!(ls >> out.recon)) return fail("malformed line");
    } else if (key == "loss_scaling") {
      std::string k, v;
      if (!(ls >> k >> v)) return fail("malformed line");
      out.loss_scaling[k] = v;
    } else if (key == "program") {
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
    } else if (!current) {
      return fail(key == "loss" || key == "bucket" || key == "output" || key == "latent" || key == "labels" || key == "condition" || key == "kernel" || key == "matmul" || key == "zero" || key == "conv" ||
                          key == "reorder" || key == "gate" || key == "optimize"
                      ? "step outside a program"
                                                                                         : "unknown keyword");
    } else if (key == "latent") {
      if (!(ls >> current->latent >> current->latent_row)) return fail("malformed line");
    } else if (key == "labels") {
      if (!(ls >> current->labels >> current->label_classes) || current->label_classes < 2) return fail("malformed line");
    } else if (key == "condition") {
      Program::Condition c;
      if (!(ls >> c.name >> c.buffer >> c.row) || c.row < 1) return fail("malformed line");
      current->conditions.push_back(c);
    } else if (key == "output") {
      Output o;
      if (!(ls >> o.name >> o.buffer >> o.row)) return fail("malformed line");
      current->outputs.push_back(o);
    } else if (key == "bucket") {
      Program::Bucket b;
      std::string word;
      if (!(ls >> b.after >> word) || word != "params") return fail("malformed line");
      int q;
      while (ls >> q) b.params.push_back(q);
      if (!ls.eof()) return fail("malformed index list");
      if (b.params.empty()) return fail("a bucket without parameters");
      current->buckets.push_back(b);
      continue;
    } else if (key == "loss") {
      std::string name;
      int b;
      if (!(ls >> name >> b)) return fail("malformed line");
      current->losses.emplace_back(name, b);
    } else if (key == "kernel") {
      Step s;
      s.kind = Step::Kernel;
      int rng = 0;
      std::string word, split;
      if (!(ls >> s.kernel) || !read_extent(ls, s.domain0) || !(ls >> split >> rng >> word)) return fail("malformed line");
      if (split != "rows" && split != "one") return fail("expected 'rows' or 'one'");
      s.rows = split == "rows";
      s.uses_rng = rng != 0;
      if (word != "args") return fail("expected 'args'");
      bool acc = false;
      while (ls >> std::ws && !ls.eof() && ls.peek() != 'w') {
        if (ls.peek() == 'm') {
          if (!acc || s.macs > 0 || !(ls >> word) || word != "macs" || !read_int64(ls, s.macs) || s.macs < 1)
            return fail("malformed 'macs N'");
          continue;
        }
        if (s.macs > 0) return fail("expected 'where' after 'macs N'");
        if (ls.peek() == 'a') {
          if (!(ls >> word) || word != "acc" || acc) return fail("expected 'acc'");
          acc = true;
          continue;
        }
        int a;
        if (!acc) {
          if (!read_int(ls, a)) return fail("malformed argument list");
          s.args.push_back(a);
          continue;
        }
        if (!(ls >> word)) return fail("malformed argument list");
        const size_t colon = word.find(':');
        const std::string how = colon == std::string::npos ? "" : word.substr(colon + 1);
        std::istringstream pos(word.substr(0, colon));
        if (!read_int(pos, a) || !(pos >> std::ws).eof() || (how != "" && how != "max" && how != "min"))
          return fail("malformed accumulated argument '" + word + "'");
        s.accumulate.push_back(a);
        s.combine.push_back(how == "max" ? Step::Combine::Max : how == "min" ? Step::Combine::Min : Step::Combine::Add);
      }
      if (!acc) return fail("expected 'acc'");
      s.where = where;
      current->steps.push_back(s);
      continue;  // the stream stopped before `where` on purpose
    } else if (key == "matmul") {
      Step s;
      s.kind = Step::Matmul;
      std::string how, zeros;
      if (!(ls >> s.a >> s.b >> s.c >> s.bias) || !read_extent(ls, s.m) || !read_extent(ls, s.n) ||
          !read_extent(ls, s.k) || !(ls >> s.ta >> s.tb >> s.post >> how >> zeros))
        return fail("malformed line");
      if (s.post == "-") s.post.clear();
      if (how != "whole" && how != "columns" && how != "rows") return fail("expected 'whole', 'columns' or 'rows'");
      s.split = how == "columns" ? Step::Columns : how == "rows" ? Step::Rows : Step::Whole;
      if (zeros != "-" && zeros != "inner" && zeros != "outer" && zeros != "units" && zeros != "outer+units")
        return fail("expected '-', 'inner', 'outer', 'units' or 'outer+units'");
      s.zeros = zeros == "inner" ? Step::Inner : zeros.rfind("outer", 0) == 0 ? Step::Outer : Step::Keep;
      s.zero_units = zeros == "units" || zeros == "outer+units";
      if (!read_precision(s)) return fail("expected 'bf16' or 'where'");
      if (s.bf16 && (s.zeros != Step::Keep || s.zero_units)) return fail("a bf16 product leaves out no zero columns");
      s.where = where;
      current->steps.push_back(s);
    } else if (key == "conv") {
      Step s;
      s.kind = Step::Conv;
      std::string da, db, dc, stride, pad;
      if (!(ls >> s.conv >> s.a >> s.b >> s.c >> s.bias >> s.post >> da >> db >> dc >> stride >> pad >> s.layout_a >>
            s.layout_b >> s.layout_c))
        return fail("malformed line");
      if (s.post == "-") s.post.clear();
      if (!parse_ints(da, s.dims_a) || !parse_ints(db, s.dims_b) || !parse_ints(dc, s.dims_c) ||
          !parse_ints(stride, s.stride) || !parse_ints(pad, s.pad))
        return fail("malformed dimension list");
      if (!read_precision(s)) return fail("expected 'bf16' or 'where'");
      s.where = where;
      current->steps.push_back(s);
    } else if (key == "reorder") {
      Step s;
      s.kind = Step::Reorder;
      std::string dims;
      if (!(ls >> s.a >> s.c >> dims >> s.layout_a >> s.layout_c)) return fail("malformed line");
      if (!parse_ints(dims, s.dims_a)) return fail("malformed dimension list");
      s.where = where;
      current->steps.push_back(s);
    } else if (key == "gate" || key == "optimize") {
      Step s;
      s.kind = key == "gate" ? Step::Gate : Step::Optimize;
      std::string word;
      ls >> word;
      if (key == "optimize" && word == "all") {
        s.all = true;
      } else if (word != (key == "gate" ? "check" : "params")) {
        return fail(key == "gate" ? "expected 'check'" : "expected 'all' or 'params'");
      } else {
        std::vector<int> *list = &s.params;
        while (ls >> std::ws && !ls.eof() && ls.peek() != 'w') {
          if (key == "gate" && ls.peek() == 'b') {
            if (!(ls >> word) || word != "bound" || list == &s.bound) return fail("expected 'bound'");
            list = &s.bound;
            continue;
          }
          int v;
          if (!read_int(ls, v)) return fail("malformed index list");
          list->push_back(v);
        }
        if (key == "gate" && list != &s.bound) return fail("expected 'bound'");
      }
      s.where = where;
      current->steps.push_back(s);
      continue;  // stopped before `where`
    } else if (key == "zero") {
      Step s;
      s.kind = Step::Zero;
      if (!(ls >> s.c)) return fail("malformed line");
      s.where = where;
      current->steps.push_back(s);
    } else {
      return fail("unknown keyword");
    }
    if (ls.fail() && !ls.eof()) return fail("malformed line");
  }
  if (!seen["train"] || !seen["eval"]) {
    error = std::string("plan has no ") + (seen["train"] ? "eval" : "train") + " program";
    return false;
  }
  if (std::string what = check_indices(out); !what.empty()) {
    error = "plan: buffer index out of range in " + what;
    return false;
  }
  if (out.batch_value >= static_cast<int>(out.buffers.size()) || out.batch_value < -1)
    return error = "plan: buffer index out of range in batch_value", false;
  if (out.epoch_value >= static_cast<int>(out.buffers.size()) || out.epoch_value < -1)
    return error = "plan: buffer index out of range in epoch_value", false;
  // Within the arena at every batch: the fixed parts within the fixed part,
  // the per-example parts within the per-example part.
  for (const Buffer &b : out.buffers) {
    const int64_t size = dtype_bytes(b.type);
    if (b.offset < 0 || b.elements < 0 || b.elements > out.arena_bytes / size ||
        b.offset > out.arena_bytes - b.elements * size || b.row_offset < 0 || b.row < 0 ||
        b.row > out.arena_row / size || b.row_offset > out.arena_row - b.row * size)
      return error = "plan: buffer " + b.name + " lies outside the arena", false;
  }
  return true;
}

Plan at_batch(const Plan &p, int64_t batch, int64_t layout_batch) {
  Plan r = p;
  r.arena_bytes = p.arena_bytes + p.arena_row * layout_batch;
  r.arena_row = 0;
  for (Buffer &b : r.buffers) {
    b.elements += b.row * batch;
    b.offset += b.row_offset * layout_batch;
    b.row = b.row_offset = 0;
  }
  for (Program *prog : r.programs()) {
    if (prog->present()) prog->batch = batch;
    for (Step &s : prog->steps) {
      for (int64_t *v : {&s.domain0, &s.m, &s.n, &s.k}) *v = extent(*v, batch);
      for (std::vector<int64_t> *d : {&s.dims_a, &s.dims_b, &s.dims_c})
        for (int64_t &v : *d) v = extent(v, batch);
    }
  }
  return r;
}

int64_t parameter_elements(const Plan &p) {
  int64_t n = 0;
  for (const Param &q : p.params)
    if (q.buffer >= 0 && q.buffer < static_cast<int>(p.buffers.size())) n += p.buffers[q.buffer].elements;
  return n;
}

double program_flops(const Program &prog, int64_t batch) {
  auto elements = [&](const std::vector<int64_t> &dims) {
    double n = 1;
    for (int64_t d : dims) n *= double(extent(d, batch));
    return n;
  };
  auto spatial = [&](const std::vector<int64_t> &dims) { return dims.size() == 4 ? elements(dims) / elements({dims[0], dims[1]}) : 0.0; };
  double flops = 0;
  for (const Step &s : prog.steps) {
    if (s.kind == Step::Kernel) {
      flops += 2.0 * double(s.macs) * double(extent(s.domain0, batch));
    } else if (s.kind == Step::Matmul) {
      flops += 2.0 * double(extent(s.m, batch)) * double(extent(s.n, batch)) * double(extent(s.k, batch));
    } else if (s.kind == Step::Conv && s.dims_a.size() == 4 && s.dims_b.size() == 4 && s.dims_c.size() == 4) {
      // The weight is b, or c for the weight gradients; the other two are activations.
      const bool weights_out = s.conv.size() > 12 && s.conv.compare(s.conv.size() - 12, 12, "_bwd_weights") == 0;
      const std::vector<int64_t> &w = weights_out ? s.dims_c : s.dims_b, &x = s.dims_a, &y = weights_out ? s.dims_b : s.dims_c;
      flops += 2.0 * elements(w) * double(extent(x[0], batch)) * std::min(spatial(x), spatial(y));
    }
  }
  return flops;
}

std::vector<int> step_buffers(const Step &s) {
  std::vector<int> out = s.args;
  for (int b : {s.a, s.b, s.bias, s.c})
    if (b >= 0) out.push_back(b);
  return out;
}

bool parse_int_list(const std::string &text, char sep, std::vector<int64_t> &out) {
  out.clear();
  const char *p = text.data(), *end = text.data() + text.size();
  while (p < end) {
    int64_t v;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) return false;
    out.push_back(v);
    if (next == end) return true;
    if (*next != sep) return false;
    p = next + 1;
  }
  return false;  // empty, or a trailing separator
}

}  // namespace vaec::plan
