// vaec compile (contract in compile.h).
#include "driver/compile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "codegen/emit_trainer.h"
#include <cstdio>
#include "codegen/pipeline.h"
#include "codegen/skip_zero_columns.h"
#include "data/source.h"
#include "driver/summary.h"
#include "interp/interpreter.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/batch_axes.h"
#include "passes/passes.h"
#include "passes/pipeline.h"
#include "support/files.h"

namespace vaec {
namespace {

std::optional<std::vector<Tensor>> run_once(const Graph &g, int copies, const std::map<std::string, Tensor> &rows,
                                            const std::map<std::string, Tensor> &noise) {
  Bindings b;
  for (const Node &n : g.nodes) {
    if (n.op == Op::Input) {
      const Tensor &row = rows.at(n.name);
      Tensor t{n.dims, {}};
      for (int c = 0; c < copies; ++c) t.data.insert(t.data.end(), row.data.begin(), row.data.end());
      b.values[n.name] = t;
    } else if (n.op == Op::Epoch) {  // not 0, where a loss `beta * kl` would read as zero at any batch
      b.values[n.name] = Tensor{n.dims, {1.0}};
    } else if (n.op == Op::Normal) {
      const Tensor &one = noise.at(n.name);
      Tensor t{n.dims, {}};
      for (int c = 0; c < copies; ++c) t.data.insert(t.data.end(), one.data.begin(), one.data.end());
      b.values[n.name] = t;
    }
  }
  std::string error;
  return interpret(g, b, error);
}

}  // namespace

std::map<std::string, std::string> loss_scaling(const Graph &model) {
  std::map<std::string, std::string> out;
  std::string why;
  std::optional<Graph> one = with_batch(model, 1, why);
  if (!why.empty()) return out;
  std::optional<Graph> two = with_batch(model, 2, why);
  if (!why.empty()) return out;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::map<std::string, Tensor> rows;  // one example of each input
  std::map<std::string, Tensor> noise;
  std::normal_distribution<double> z;
  for (const Node &n : one->nodes) {
    if (n.op == Op::Input)
      for (int64_t k = 0; k < checked_elements(n.dims); ++k) rows[n.name].data.push_back(u(rng));
    if (n.op == Op::Normal) {
      Tensor t{n.dims, {}};
      for (int64_t k = 0; k < checked_elements(n.dims); ++k) t.data.push_back(z(rng));
      noise[n.name] = t;
    }
  }
  auto a = run_once(*one, 1, rows, noise), b = run_once(*two, 2, rows, noise);
  if (!a || !b) return out;
  for (const auto &[name, idx] : one->outputs) {
    if (name.rfind("update.", 0) == 0) continue;  // a statistic's next value, not a loss
    double l1 = (*a)[idx].data[0], l2 = NAN;
    for (const auto &[n2, i2] : two->outputs)
      if (n2 == name) l2 = (*b)[i2].data[0];
    double tol = 1e-9 * std::max({1.0, std::fabs(l1), std::fabs(l2)});
    out[name] = std::fabs(l2 - 2 * l1) <= tol ? "sum" : std::fabs(l2 - l1) <= tol ? "mean" : "batch";
  }
  return out;
}

// The mean share of the input's columns that are 0 in a whole batch of the
// model's training data (codegen_options.h, data_zero_columns), and of its
// entries that are not 0 (data_nonzeros): batches of train.batch random
// examples. Scaling and binarizing keep zeros; -1 when the data is
// standardized, is not there, or does not fit the input.
double data_zero_columns(const Graph &g, double &nonzeros) {
  nonzeros = -1;
  auto text = [&](const char *key) {
    const AttrValue *v = g.config_value(key);
    const std::string *s = v ? std::get_if<std::string>(v) : nullptr;
    return s ? *s : std::string();
  };
  const std::string path = text("data_path");
  std::error_code ec;
  if (path.empty() || !text("standardize").empty() || !std::filesystem::exists(path, ec)) return -1;
  rt::data::Source source;
  std::string error;
  if (!rt::data::open_source(path, {text("label"), {}}, source, error)) return -1;
  const rt::data::Array &x = source.train.x;
  const int64_t n = x.count(), columns = x.item_elements(), batch = g.batch();
  if (n < 1 || columns < 1 || batch < 1) return -1;
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  double share = 0, entries = 0;
  for (int b = 0; b < kZeroColumnBatches; ++b) {
    std::vector<bool> zero(static_cast<size_t>(columns), true);
    for (int64_t r = 0; r < batch; ++r) {
      const int64_t example = pick(rng);
      for (int64_t c = 0; c < columns; ++c)
        if (x.value(example, c) != 0) zero[c] = false, ++entries;
    }
    share += double(std::count(zero.begin(), zero.end(), true)) / double(columns);
  }
  nonzeros = entries / (double(kZeroColumnBatches) * double(batch) * double(columns));
  return share / kZeroColumnBatches;
}

std::unique_ptr<CompiledModel> compile_model(const std::string &file, const std::string &text, const Model &model,
                                           const CompileOptions &options, Diagnostics &diags, const CompileLog &log) {
  auto c = std::make_unique<CompiledModel>();
  c->graph = model.graph;
  if (log.dump_after_all) *log.dump_after_all << "// ----- IR after parse -----\n" << graph_to_string(c->graph);
  PipelineOptions training;
  training.dump_after_all = log.dump_after_all;
  training.timing = log.timing;
  training.grad = &c->grad;
  // A plan runs at any batch: the model's shapes must follow it.
  std::string why;
  with_batch(model.graph, model.graph.batch() + 1, why);
  if (!why.empty()) {
    diags.error(Loc{file, 0, 0}, "cannot generate code: " + why);
    return nullptr;
  }
  training.forward = &c->eval;
  c->train = run_pipeline(model.graph, training);
  c->eval = eval_mode(std::move(c->eval));  // dropout off: the one difference from training
  PipelineOptions forward = training;
  forward.grad = forward.forward = nullptr;
  forward.stop_after = "forward";
  // A model drawing several samples per example is inspected with one.
  c->inspection = inspection_graphs(eval_mode(model.inspection.nodes.empty() ? model.graph : model.inspection));
  std::vector<InspectionProgram> inspection;
  for (auto [name, graph] : {std::pair{"encode", &c->inspection.encode}, {"decode", &c->inspection.decode},
                             {"nll", &c->inspection.nll}, {"logw", &c->inspection.logw}}) {
    if (graph->nodes.empty()) continue;
    forward.label = name;
    *graph = run_pipeline(*graph, forward);
    inspection.push_back({name, graph, c->inspection.latent});
  }
  try {
    CodegenOptions codegen = options;
    if (codegen.zero_columns || codegen.sparse_data) {
      double nonzeros = -1;
      const double zero_columns = data_zero_columns(model.graph, nonzeros);
      if (codegen.zero_columns) codegen.data_zero_columns = zero_columns;
      if (codegen.sparse_data) codegen.data_nonzeros = nonzeros;
    }
    c->lowered = run_codegen(c->train, c->eval, loss_scaling(model.graph), inspection, codegen,
                             CodegenLog{log.dump_after_all, log.timing});
    c->lowered.plan.recon = c->inspection.nll.nodes.empty() && c->inspection.logw.nodes.empty() ? "" : c->inspection.recon;
  } catch (const Unsupported &e) {
    diags.error(e.loc.known() ? e.loc : Loc{file, 0, 0}, std::string("cannot generate code: ") + e.what());
    return nullptr;
  }
  return c;
}

namespace {

// Every program's steps, the convolutions' layouts and reorders, and the
// kernels: DIR/ir/fused.txt and --stage=fused.
std::string fused_text(const LoweredModel &m) {
  std::ostringstream os;
  for (const CodegenProgram &p : m.programs)
    os << "// ----- " << (p.name == "train" ? "training step" : p.name == "eval" ? "evaluation" : p.name)
       << " (batch " << p.graph->batch() << ") -----\n" << schedule_to_string(p.schedule);
  if (!m.library_report.empty())
    os << "// ----- convolutions: oneDNN implementations, layouts and reorders -----\n" << m.library_report;
  os << "// ----- kernels -----\n";
  for (const FusedKernel &k : m.kernels) os << kernel_to_string(k) << "\n";
  return os.str();
}

// LLVM code generation (and the link, with an output directory), timed and
// logged as the last stages.
bool emit(const CompiledModel &c, const std::string &file, const std::string &text, const CompileOptions &options,
          const std::string &out_dir, TrainerBuild &build, Diagnostics &diags, const CompileLog &log,
          const std::vector<std::string> &link_flags = {}) {
  std::string error;
  if (!emit_trainer(c.lowered, out_dir, build, error, true, link_flags)) {
    diags.error(Loc{}, error);
    return false;
  }
  if (log.timing) {
    char line[160];
    std::snprintf(line, sizeof line, "vaec: pass %-44s %9.3f ms\n", "emit_llvm", build.llvm_seconds * 1e3);
    *log.timing << line;
    if (!out_dir.empty()) {
      std::snprintf(line, sizeof line, "vaec: pass %-44s %9.3f ms  (beside emit_llvm)\n", "link", build.link_seconds * 1e3);
      *log.timing << line;
    }
  }
  if (log.dump_after_all) *log.dump_after_all << "// ----- after emit_llvm -----\n" << build.llvm_ir;
  return true;
}

}  // namespace

std::optional<std::string> codegen_dump(const std::string &stage, const std::string &file, const std::string &text,
                                        const Model &model, const CompileOptions &options, Diagnostics &diags,
                                        const CompileLog &log) {
  auto c = compile_model(file, text, model, options, diags, log);
  if (!c) return std::nullopt;
  const bool logged = log.dump_after_all != nullptr;
  if (stage == "fused") return logged ? "" : fused_text(c->lowered);
  if (stage == "memplan") return logged ? "" : c->lowered.memory_report + "\n" + plan::format_plan(c->lowered.plan);
  TrainerBuild build;
  if (!emit(*c, file, text, options, "", build, diags, log)) return std::nullopt;
  if (stage == "llvm") return logged ? "" : build.llvm_ir;
  return build.assembly;
}

int run_compile(const std::string &file, const std::string &text, const Model &model, const CompileOptions &options,
                const std::string &out_dir, Diagnostics &diags, const CompileLog &log,
                const std::vector<std::string> &link_flags) {
  auto start = std::chrono::steady_clock::now();
  auto c = compile_model(file, text, model, options, diags, log);
  if (!c) return 1;
  std::error_code ec;
  std::filesystem::create_directories(out_dir + "/ir", ec);
  if (ec) {
    diags.error(Loc{}, "cannot create '" + out_dir + "/ir': " + ec.message());
    return 1;
  }
  TrainerBuild build;
  if (!emit(*c, file, text, options, out_dir, build, diags, log, link_flags)) return 1;
  // Every stage's dump, and an index; a write that fails (a full disk) is
  // an error, not a short file.
  bool written = true;
  auto write = [&](const std::string &name, const std::string &content) {
    std::string error;
    if (written && !rt::replace_file(out_dir + "/ir/" + name, content, false, error)) {
      diags.error(Loc{}, error);
      written = false;
    }
  };
  write("graph.vir", graph_to_string(c->graph));
  write("grad.vir", graph_to_string(c->grad));
  write("opt.vir", graph_to_string(c->train));
  write("eval.vir", graph_to_string(c->eval));
  for (auto [name, graph] : {std::pair{"encode", &c->inspection.encode}, {"decode", &c->inspection.decode},
                             {"nll", &c->inspection.nll}, {"logw", &c->inspection.logw}})
    if (!graph->nodes.empty()) write(std::string(name) + ".vir", graph_to_string(*graph));
  write("fused.txt", fused_text(c->lowered));
  write("memplan.txt", c->lowered.memory_report);
  write("plan.txt", plan::format_plan(c->lowered.plan));
  write("kernels.ll", build.llvm_ir);
  write("kernels.s", build.assembly);
  write("index.md", "# " + model.graph.name + ": what vaec computed\n\n"
                    "- graph.vir: the model as lowered from the YAML\n"
                    "- grad.vir: the training graph right after differentiation\n"
                    "- opt.vir: the training graph after simplification (what a training step runs)\n"
                    "- eval.vir: the forward graph (what evaluation runs, at any batch)\n"
                    "- encode.vir, decode.vir, nll.vir or logw.vir: the parts of the model the trainer's inspection commands\n"
                    "  run (images -> the encoder's outputs; latents z -> the mean image; z and images -> the\n"
                    "  reconstruction term per example)\n"
                    "- fused.txt: steps, fused kernels and refused merges; convolutions' layouts and reorders\n"
                    "- memplan.txt: buffer offsets, sizes and live ranges in the arena\n"
                    "- plan.txt: the plan the trainer executes\n"
                    "- kernels.ll / kernels.s: LLVM IR and assembly of the kernels\n");
  if (!written) return 1;
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int kernels = 0, library = 0, reorders = 0, own = 0;
  for (const plan::Step &s : c->lowered.plan.train.steps) {
    if (s.kind == plan::Step::Kernel) ++kernels;
    // vaec's own loops: thin and sparse products, own Winograd convolutions
    const bool mine = (s.kind == plan::Step::Matmul && (s.thin || s.zeros == plan::Step::Sparse)) ||
                      (s.kind == plan::Step::Conv && s.own_winograd);
    if (s.kind == plan::Step::Matmul || s.kind == plan::Step::Conv) ++(mine ? own : library);
    if (s.kind == plan::Step::Reorder) ++reorders;
  }
  std::cout << "compiled " << model.graph.name << " (batch " << c->train.batch() << "): " << kernels
            << " kernels, " << library << " oneDNN calls" << (reorders ? " and " + std::to_string(reorders) + " reorders" : "")
            << (own ? ", " + std::to_string(own) + " in vaec's own loops" : "") << " per step, arena "
            << with_commas((c->lowered.plan.arena_bytes + c->lowered.plan.arena_row * c->train.batch()) / 1024)
            << " KiB at batch " << c->train.batch() << "\n"
            << "  " << out_dir << "/train  (LLVM " << std::lround(build.llvm_seconds * 1000) << " ms, link "
            << std::lround(build.link_seconds * 1000) << " ms while LLVM writes the dumps, total " << std::lround(total * 1000) << " ms)\n"
            << "  " << out_dir << "/ir/index.md lists the dumps of every stage\n";
  // A note on a convolution's algorithm says "f32 winograd (", "f32 own-winograd (" or "f32 direct (".
  auto algorithm_note = [](const std::string &n) {
    return n.find(": f32 winograd (") != std::string::npos || n.find(": f32 own-winograd (") != std::string::npos ||
           n.find(": f32 direct (") != std::string::npos;
  };
  const plan::Plan &p = c->lowered.plan;
  if (p.config.count("conv_algorithm") && p.config.at("conv_algorithm") == "winograd") {
    int onednn = 0, own = 0, convs = 0, faster = 0;
    for (const plan::Step &s : p.train.steps)
      if (s.kind == plan::Step::Conv) ++convs, onednn += s.winograd, own += s.own_winograd;
    for (const std::string &n : p.notes)
      faster += n.rfind("train ", 0) == 0 &&
                (n.find(": f32 winograd (") != std::string::npos || n.find(": f32 own-winograd (") != std::string::npos);
    const int winograd = onednn + own;
    std::cout << "  conv_algorithm winograd: " << winograd << " of the step's " << convs
              << " convolutions in Winograd's algorithm (" << onednn << " oneDNN's, " << own
              << " vaec's own), where it runs them >= 10 % faster on this machine"
              << (faster > winograd ? " (" + std::to_string(faster - winograd) + " more run faster still in bf16)" : "")
              << ":\n";
    for (const std::string &n : p.notes)
      if (n.rfind("train ", 0) == 0 && algorithm_note(n)) std::cout << "    " << n << "\n";
  }
  if (p.config.count("precision") && p.config.at("precision") == "bf16") {
    int bf16 = 0, products = 0;
    for (const plan::Step &s : p.train.steps)
      if (s.kind == plan::Step::Matmul || s.kind == plan::Step::Conv) ++products, bf16 += s.bf16;
    std::cout << "  precision bf16: " << bf16 << " of the step's " << products
              << " products and convolutions in bf16, where oneDNN runs them >= 10 % faster on this machine; the others in f32:\n";
    for (const std::string &n : p.notes)
      if (n.rfind("train ", 0) == 0 && !algorithm_note(n)) std::cout << "    " << n << "\n";
  }
  if (!c->inspection.encode_why_not.empty())
    std::cout << "  note: no encode program (the inspection commands scatter, interpolate, reconstruct, ... need it): "
              << c->inspection.encode_why_not << "\n";
  if (!c->inspection.decode_why_not.empty())
    std::cout << "  note: no decode and nll programs (sample, manifold, reconstruct, eval need them): "
              << c->inspection.decode_why_not << "\n";
  return 0;
}

}  // namespace vaec
