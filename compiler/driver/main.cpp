// The vaec command line: check, summary, dump (and later compile).
#include <CLI/CLI.hpp>
#include <dnnl.hpp>
#include <llvm/Config/llvm-config.h>

#include <filesystem>
#include <cstring>
#include <cstdlib>
#include <random>
#include <iostream>
#include <sstream>
#include <sys/stat.h>

#include "autodiff/gradcheck.h"
#include "driver/compile.h"
#include "data/describe.h"
#include "data/feed.h"
#include "driver/summary.h"
#include "frontend/yaml_tree.h"
#include "support/files.h"
#include "support/sanitizer_options.h"
#include "frontend/model.h"
#include "ir/parser.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "passes/pipeline.h"

#ifndef VAEC_VERSION
#define VAEC_VERSION "0.0.0"
#endif

namespace vaec {
namespace {

const std::vector<std::string> kCommands = {"check", "summary", "dump", "gradcheck", "compile", "data"};
const std::vector<std::string> kCodegenStages = {"fused", "memplan", "llvm", "asm"};

// Reads a whole model or IR file; reports and returns false when it cannot.
// Directories, FIFOs and devices are refused by type before a byte is read,
// and the size is checked before anything is allocated.
bool read_file(const std::string &path, std::string &out, Diagnostics &diags) {
  std::string error;
  if (!rt::read_regular(path, "a model or IR file", std::max<uint64_t>(kMaxFileBytes, kMaxIrBytes), out, error)) {
    diags.error(Loc{}, error);
    return false;
  }
  return true;
}

// `text` to the file -o names, or to stdout; false after saying why not.
bool write_output(const std::string &output, const std::string &text) {
  std::string error;
  if (!output.empty()) {
    if (rt::write_file(output, text, error)) return true;
    std::cerr << "vaec: error: " << error << "\n";
    return false;
  }
  std::cout << text << std::flush;
  if (std::cout) return true;
  std::cerr << "vaec: error: cannot write to standard output: " << std::strerror(errno) << "\n";
  return false;
}

// IR text starts with "graph @" after comments and blank lines.
bool looks_like_ir(const std::string &text) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) return false;
      continue;
    }
    return text.compare(i, 7, "graph @") == 0;
  }
  return false;
}

struct Loaded {
  std::optional<Model> model;  // from YAML
  std::optional<Graph> graph;  // from YAML or IR text
};

Loaded load(const std::string &path, int64_t batch, SourceManager &sm, Diagnostics &diags) {
  Loaded r;
  std::string text;
  if (!read_file(path, text, diags)) return r;
  sm.add(path, text);
  if (looks_like_ir(text)) {
    r.graph = parse_graph(path, text, diags);
    return r;
  }
  LoadOptions options;
  options.batch = batch;
  r.model = load_model(path, text, diags, options);
  if (r.model) r.graph = r.model->graph;
  return r;
}

// Binds each model input to uniform noise in [0, 1) drawn from the seed: the
// check proves the gradient at any point, and the compiler reads models, not
// data sets. The same check at real images, which the runtime reads, is a
// unit test (Gradcheck.BundledModelsAtRealImages in tests/unit/autodiff_test.cpp).
int run_gradcheck(const Graph &model, const GradcheckOptions &o) {
  Bindings inputs;
  for (const Node &n : model.nodes) {
    if (n.op != Op::Input) continue;
    Tensor t{n.dims, std::vector<double>(checked_elements(n.dims))};
    std::mt19937_64 rng(o.seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double &v : t.data) v = u(rng);
    std::cout << "input %" << n.name << ": uniform noise in [0, 1)\n";
    inputs.values[n.name] = std::move(t);
  }
  Graph train = run_pipeline(model, PipelineOptions{});
  GradcheckResult r = gradcheck(model, train, inputs, o, std::cout);
  if (!r.error.empty()) {
    std::cerr << "vaec: error: gradcheck could not run: " << r.error << "\n";
    return 1;
  }
  return r.passed ? 0 : 1;
}

// The model's data, when it is there, against its input: what the trainer
// would refuse is said at check and compile time too (as a warning: the
// trainer may be given other data with --data).
void warn_about_data(const Graph &g) {
  auto text = [&](const char *key) {
    const AttrValue *v = g.config_value(key);
    const std::string *s = v ? std::get_if<std::string>(v) : nullptr;
    return s ? *s : std::string();
  };
  const std::string data = text("data"), path = text("data_path"), label = text("label");
  if (path.empty() || data == "mnist" || data == "fashion_mnist") return;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::cerr << "vaec: warning: train.data " << path << " does not exist (yet); the trainer needs it there, or --data\n";
    return;
  }
  rt::data::Source source;
  rt::data::Layout layout;
  std::string error;
  std::vector<int64_t> shape;
  std::string input;
  const std::string label_input = text("label_input"), conditions = "," + text("condition_inputs") + ",";
  rt::data::OpenOptions open{label, {}};
  std::vector<const Node *> condition_nodes;
  for (const Node &n : g.nodes) {
    if (n.op != Op::Input || n.name == label_input) continue;
    if (conditions.find("," + n.name + ",") != std::string::npos) {
      open.arrays.push_back(n.name);
      condition_nodes.push_back(&n);
    } else {
      input = n.name, shape.assign(n.dims.begin() + 1, n.dims.end());
    }
  }
  bool ok = rt::data::open_source(path, open, source, error) &&
            rt::data::fit_layout(source.train.x, path, input, shape, layout, error);
  for (const Node *n : condition_nodes) {
    if (!ok) break;
    const rt::data::Array *a = source.train.array(n->name);
    const int64_t row = checked_elements(n->dims) / n->dims[0];
    if (!a || a->item_elements() != row) {
      error = path + (a ? ": its array '" + n->name + "' has " + std::to_string(a->item_elements()) + " numbers per example"
                        : " has no array '" + n->name + "'") +
              " for the condition input " + n->name + " of " + std::to_string(row);
      ok = false;
    }
  }
  if (!ok) std::cerr << "vaec: warning: the trainer will refuse train.data: " << error << "\n";
}

int run(int argc, char **argv) {
  CLI::App app{"vaec — a compiler for variational autoencoders.\n"
               "Reads a model (vae.yaml), checks it, shows every stage of its compilation and compiles it into a trainer."};
  app.set_version_flag("--version",
                       std::string("vaec ") + VAEC_VERSION + " (LLVM " LLVM_VERSION_STRING ", oneDNN " +
                           std::to_string(dnnl::version()->major) + "." + std::to_string(dnnl::version()->minor) +
                           "." + std::to_string(dnnl::version()->patch) + ")");
  app.require_subcommand(1);
  std::string file, stage = "graph", format = "text", output, dump_after;
  int64_t batch = 0;
  GradcheckOptions gc;

  CLI::App *check = app.add_subcommand("check", "Report every error and warning in a model; exit 1 on errors");
  CLI::App *summary = app.add_subcommand("summary", "Print a Keras-style table of tensors, shapes and parameters");
  CLI::App *dump = app.add_subcommand("dump", "Print the IR of a compiler stage (text or Graphviz DOT)");
  CLI::App *gradcheck_cmd = app.add_subcommand(
      "gradcheck", "Check the symbolic gradient against finite differences in f64 (exit 1 on failure)");
  std::string out_dir;
  CLI::App *compile_cmd = app.add_subcommand("compile", "Compile a model into a trainer program DIR/train");
  compile_cmd->add_option("-o,--output", out_dir, "Directory for the trainer and the IR dumps")->required();
  std::string link_flags;
  compile_cmd->add_option("--link-flags", link_flags,
                          "More flags for the trainer's link (split at spaces), e.g. -fsanitize=address,undefined");
  for (CLI::App *c : {check, summary, dump, gradcheck_cmd, compile_cmd}) {
    c->add_option("file", file, "Model (.yaml) or graph IR text")->required();
    c->add_option("--batch", batch, "Override train.batch")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  }
  CompileOptions compile_options;
  compile_options.threads = default_threads();
  std::string conv_layouts = "auto", team = "adaptive";
  for (CLI::App *c : {dump, compile_cmd}) {
    c->add_option("--threads", compile_options.threads,
                  "Thread count the plan's choices are made for (default: this machine's cores)")
        ->check(CLI::Range(1, 4096));
    c->add_option("--conv-layouts", conv_layouts,
                  "auto: the layouts oneDNN prefers for convolutions; plain: every operand plain")
        ->check(CLI::IsMember({"auto", "plain"}));
    c->add_option("--team", team,
                  "adaptive: the trainer runs on fewer threads while other programs keep CPUs busy "
                  "(same results); fixed: always on --threads")
        ->check(CLI::IsMember({"adaptive", "fixed"}));
    c->add_option("--precision", compile_options.precision,
                  "Override train.precision: f32, or bf16 for the products and convolutions oneDNN runs faster in "
                  "bfloat16 on this machine, rounding included (each choice and its times in the plan's notes)")
        ->check(CLI::IsMember({"f32", "bf16"}));
    c->add_option("--conv-algorithm", compile_options.conv_algorithm,
                  "Override train.conv_algorithm: direct, or winograd for the f32 3x3 stride-1 convolutions that run "
                  ">= 10 % faster in Winograd's algorithm on this machine, oneDNN's or vaec's own, whichever is faster "
                  "(each choice and its times in the plan's notes; its rounding differs from the direct sum's)")
        ->check(CLI::IsMember({"direct", "winograd"}));
    c->add_flag("!--no-own-winograd", compile_options.own_winograd,
                "With conv_algorithm winograd, weigh only oneDNN's Winograd kernels against the direct sum (not "
                "vaec's own)");
    c->add_flag("!--no-direct-convs", compile_options.direct_convs,
                "Run every convolution in oneDNN (no direct kernels for layers of fewer than 16 output channels)");
    c->add_flag("!--no-split-products", compile_options.split_products,
                "Run every product whole (no column slices per thread)");
    c->add_flag("!--no-thin-products", compile_options.thin_products,
                "Run every product in oneDNN (none with an inner dimension or column count of at most 4 in vaec's "
                "own loops where they run faster)");
    c->add_flag("!--no-swap-products", compile_options.swap_products,
                "Run every product as the graph has it (none as c^T = b^T a^T where oneDNN runs that faster)");
    c->add_flag("!--no-zero-columns", compile_options.zero_columns,
                "Never leave out the all-zero columns of image data in products");
    c->add_flag("!--no-sparse-data", compile_options.sparse_data,
                "Run every product over the data whole (none over only its nonzero entries when most are 0)");
    c->add_flag("!--no-zero-units", compile_options.zero_units,
                "Never leave out the weight-gradient rows of units no example of a batch activates");
    c->add_flag("!--no-shared-rounding", compile_options.share_rounding,
                "Let each bf16 product round its operands itself (no bf16 copies shared between products, so no "
                "bf16 product leaves out zero columns or units)");
    c->add_flag("!--no-side-by-side", compile_options.side_by_side,
                "Run every step on all threads (no pair of vaec's own Winograd gradient steps at once, one "
                "thread each)");
    c->add_flag("!--no-batch-slices", compile_options.batch_slices,
                "Run each convolution whole on all threads (no one-thread slices of the batch that any team "
                "runs)");
    c->add_flag("!--no-late-updates", compile_options.late_updates,
                "Update the parameters only after every gradient (no updates right after a gradient)");
    c->add_flag("!--no-param-layouts", compile_options.param_layouts,
                "Keep every parameter in plain order (no parameters stored in their convolutions' layouts)");
  }
  std::string data_path, data_label, data_test;
  double data_validation = 0;
  uint64_t data_seed = 1;
  CLI::App *data_cmd = app.add_subcommand(
      "data", "Show what a data path holds: splits, shapes, dtypes, value ranges, labels (exit 1 on bad data)");
  data_cmd->add_option("path", data_path,
                       "A .npz, .npy, .csv or IDX file, a folder of PNGs (class sub-folders: labels) or of MNIST's IDX files")
      ->required();
  data_cmd->add_option("--label", data_label, "CSV: the column holding labels");
  data_cmd->add_option("--test", data_test, "A separate test set (train.test)");
  data_cmd->add_option("--validation", data_validation, "The fraction held out for validation (train.validation)")
      ->check(CLI::Range(0.0, 0.999999));
  data_cmd->add_option("--seed", data_seed, "The seed choosing the validation examples (train.seed)");
  std::vector<std::string> stages = pipeline_stages();
  stages.insert(stages.end(), kCodegenStages.begin(), kCodegenStages.end());
  dump->add_option("--stage", stage, "Stage to print: graph (lowered), forward (simplified model), grad (after "
                                     "differentiation), opt (after simplification), fused (kernels), memplan, "
                                     "llvm, asm")
      ->check(CLI::IsMember(stages));
  dump->add_option("--dump-after", dump_after, "all: also print the IR after every pass that changed it")
      ->check(CLI::IsMember({"all"}));
  dump->add_option("--format", format, "text (round-trips through the IR parser) or dot")
      ->check(CLI::IsMember({"text", "dot"}));
  dump->add_option("-o,--output", output, "Write to this file instead of stdout");
  gradcheck_cmd->add_option("--samples", gc.samples, "Elements checked per parameter tensor")
      ->check(CLI::Range(1, 1000000));
  gradcheck_cmd->add_option("--tolerance", gc.tolerance, "Largest relative error that passes")
      ->check(CLI::PositiveNumber);
  gradcheck_cmd->add_option("--seed", gc.seed, "Seed for inputs, parameters, noise and sampled elements");

  // An unknown first word is most likely a misspelt command.
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(kCommands.begin(), kCommands.end(), std::string(argv[1])) == kCommands.end()) {
    std::cerr << "vaec: error: unknown command '" << argv[1] << "'" << did_you_mean(argv[1], kCommands)
              << "\nRun 'vaec --help' for the list of commands.\n";
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::cerr << "vaec: error: " << e.what() << "\nRun 'vaec --help' for usage.\n";
    return 1;
  }

  if (data_cmd->parsed()) {
    rt::data::Source source, test;
    std::string error;
    if (!rt::data::open_source(data_path, {data_label, {}}, source, error) ||
        (!data_test.empty() && !rt::data::open_source(data_test, {data_label, {}}, test, error))) {
      std::cerr << (error.find(": error: ") == std::string::npos ? "vaec: error: " : "") << error << "\n";
      return 1;
    }
    rt::data::describe_source(std::cout, source, data_test.empty() ? nullptr : &test, data_validation, data_seed);
    return 0;
  }
  const bool default_batch = batch == 0;
  if (gradcheck_cmd->parsed() && batch == 0) batch = 2;  // f64 finite differences are slow
  SourceManager sm;
  Diagnostics diags(&sm);
  Loaded in = load(file, batch, sm, diags);
  diags.print(std::cerr);
  if (!in.graph) return 1;
  // Batch statistics of 2 examples make x - mean(x) nearly +-sqrt(var):
  // a loss so curved in the weights before it that differences mislead.
  if (gradcheck_cmd->parsed() && default_batch &&
      std::any_of(in.graph->nodes.begin(), in.graph->nodes.end(), [](const Node &n) { return n.op == Op::Stat; })) {
    std::cout << "batchnorm: gradcheck at batch 8 (--batch sets another)\n";
    Diagnostics again(&sm);
    in = load(file, 8, sm, again);
    again.print(std::cerr);
    if (!in.graph) return 1;
  }

  if (check->parsed() || compile_cmd->parsed()) warn_about_data(*in.graph);
  if (check->parsed()) {
    const Graph &g = *in.graph;
    std::cout << file << ": ok (" << g.nodes.size() << " ops, " << with_commas(g.param_count())
              << " parameters, batch " << g.batch() << ")\n";
    return 0;
  }
  if (summary->parsed()) {
    if (!in.model) {
      std::cerr << "vaec: error: summary needs the model (.yaml), not graph IR\n";
      return 1;
    }
    print_summary(std::cout, *in.model);
    return 0;
  }
  // --dump-after=all without --stage prints every stage, to the emitted kernels.
  if (dump->parsed() && !dump_after.empty() && dump->count("--stage") == 0) stage = "llvm";
  std::ostream *timing = std::getenv("VAEC_TIME_PASSES") && std::string(std::getenv("VAEC_TIME_PASSES")) != "0"
                             ? &std::cerr
                             : nullptr;
  if (gradcheck_cmd->parsed()) return run_gradcheck(*in.graph, gc);
  bool codegen_stage = std::find(kCodegenStages.begin(), kCodegenStages.end(), stage) != kCodegenStages.end();
  if (compile_cmd->parsed() || (dump->parsed() && codegen_stage)) {
    if (!in.model) {
      std::cerr << "vaec: error: code generation needs the model (.yaml), not graph IR\n";
      return 1;
    }
    std::string text;
    read_file(file, text, diags);
    CompileOptions options = compile_options;
    options.plain_conv_layouts = conv_layouts == "plain";
    options.adaptive_team = team == "adaptive";
    int status = 0;
    std::ostringstream stages_log;
    const CompileLog log{dump_after.empty() ? nullptr : &stages_log, timing};
    if (compile_cmd->parsed()) {
      std::vector<std::string> flags;
      std::istringstream words(link_flags);
      for (std::string w; words >> w;) flags.push_back(w);
      status = run_compile(file, text, *in.model, options, out_dir, diags, log, flags);
    } else {
      auto dumped = codegen_dump(stage, file, text, *in.model, options, diags, log);
      status = dumped && write_output(output, stages_log.str() + *dumped) ? 0 : 1;
    }
    diags.print(std::cerr);
    return status;
  }

  PipelineOptions po;
  po.stop_after = stage;
  po.timing = timing;
  std::ostringstream passes_log;
  if (!dump_after.empty()) po.dump_after_all = &passes_log;
  Graph g = run_pipeline(*in.graph, po);
  std::ostringstream os;
  os << passes_log.str();
  if (!dump_after.empty()) os << "// ----- IR at stage " << stage << " -----\n";
  if (format == "dot") print_dot(os, g);
  else print_graph(os, g);
  return write_output(output, os.str()) ? 0 : 1;
}

}  // namespace
}  // namespace vaec

int main(int argc, char **argv) {
  try {
    const int status = vaec::run(argc, argv);
    // What check, summary and gradcheck print is their result: a failed
    // write (stdout on a full disk) is a failed run.
    if (!(std::cout << std::flush)) {
      std::cerr << "vaec: error: cannot write to standard output: " << std::strerror(errno) << "\n";
      return 1;
    }
    return status;
  } catch (const vaec::InternalError &e) {
    std::cerr << "vaec: internal compiler error: " << e.what() << " (please report this with the input)\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "vaec: internal error: " << e.what() << " (please report this with the input)\n";
    return 2;
  }
}
