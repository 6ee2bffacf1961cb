// The Lowering class that lower_steps (lower_steps.h) runs, private to
// lower_steps.cpp (buffers, programs, kernels) and lower_layouts.cpp
// (values in oneDNN layouts: shadows, reorders, convolutions and kernels
// over nChw16c). Nothing else includes this header.
#pragma once

#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/module.h"
#include "ir/builder.h"

namespace vaec {
namespace lowering {

constexpr int64_t kAlign = 64;
inline int64_t align(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
// IR names (h.w, d2.1) -> kernel symbol names (h_w, d2_1).
inline std::string c_identifier(std::string name) {
  for (char &ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}
inline std::string where(const Node &n) {
  return n.loc.known() ? n.loc.file + ":" + std::to_string(n.loc.line) + ":" + std::to_string(n.loc.col) : "-";
}

class Lowering {
public:
  explicit Lowering(LoweredModel &m);
  void run();

private:
  int add_buffer(const std::string &name, plan::DType type, int64_t elements, int64_t offset) {
    out_.plan.buffers.push_back({name, type, elements, offset});
    return static_cast<int>(out_.plan.buffers.size()) - 1;
  }
  int64_t bytes_of(int b) const {
    const plan::Buffer &x = out_.plan.buffers[b];
    return x.elements * plan::dtype_bytes(x.type);
  }
  // A buffer of `elements` at the compiled `batch`: per example when
  // `batched` (its size and offset then grow with the run's batch).
  int sized_buffer(const std::string &name, plan::DType type, int64_t elements, bool batched, int64_t batch);
  // Persistent buffers: fixed ones from byte 0; per-example ones in the
  // arena's per-example part (plan_memory puts it after every fixed byte).
  int64_t persistent(const std::string &name, plan::DType type, int64_t elements, bool batched = false,
                     int64_t batch = 1);

  // One program being lowered: its buffers, temporaries and where each value
  // is. A value (by its root, see Schedule) lives in its plain buffer and/or
  // in shadows: buffers holding it in a oneDNN layout for convolutions. A
  // value a convolution or a blocked kernel wrote is in a shadow only until
  // something needs it plain (plain_pending), then one reorder makes it so.
  struct Prog {
    Prog(const Graph &graph, const Schedule &schedule, plan::Program &program, std::string pre)
        : g(graph), s(schedule), prog(program), prefix(std::move(pre)) {}
    const Graph &g;
    const Schedule &s;
    plan::Program &prog;
    std::string prefix;
    std::vector<int> buffer;         // node -> plain buffer
    std::vector<int> *temps = nullptr;  // the program's temporaries (plan_memory places them)
    std::vector<bool> batched;       // node -> per example (ir/batch_axes.h)
    struct Shadow {
      int buffer;
      Dims dims;  // oneDNN's dims of the value in this layout
      std::string plain_layout = "plain";  // the plain buffer's layout in those dims
    };
    std::map<std::pair<int, std::string>, Shadow> shadows;  // (root, layout) -> shadow
    std::set<int> plain_pending;      // roots not (yet) in their plain buffer
    std::map<int, std::set<std::string>> wanted;  // root -> layouts convolutions read it in
    std::set<int> outputs;            // roots of graph outputs
    const std::map<int, ConvChoice> *conv_choice = nullptr;  // schedule step -> oneDNN's choice
  };


  int buf(Prog &p, int node) {
    int b = p.buffer[p.s.root[node]];
    if (b < 0) throw InternalError("lower_steps: %" + p.g.nodes[node].name + " has no buffer");
    return b;
  }
  // A temporary holding `node` (per example when it is batched).
  int new_temp(Prog &p, const std::string &name, int64_t elements, int node) {
    const int b = sized_buffer(p.prefix + name, plan::DType::F32, elements, p.batched[node], p.g.batch());
    p.temps->push_back(b);
    return b;
  }
  // The plan's extent of a batched value's first axis: B, or c*B for c rows
  // per example (samples).
  static int64_t batch_extent(const Graph &g, int64_t dim0) { return plan::batch_times(dim0 / g.batch()); }
  int64_t extent(Prog &p, int node, size_t axis) const {
    return axis == 0 && p.batched[node] ? batch_extent(p.g, p.g.nodes[node].dims[0]) : p.g.nodes[node].dims[axis];
  }
  Dims extents(Prog &p, int node, Dims dims) const {
    if (p.batched[node] && !dims.empty()) dims[0] = batch_extent(p.g, dims[0]);
    return dims;
  }

  // Lowers one program. The input called `latent` is f32 the runtime
  // writes; any other is the images. With `values`, the outputs (of any
  // shape) become prog.outputs, else losses.
  void lower_program(CodegenProgram &cp, plan::Program &prog);
  // A kernel writing a const() fill or normal() draws of `node` to `dest`
  // (the same draws kernels make inline: counter-based, by stream and index).
  plan::Step source_kernel(const Graph &g, int node, int dest, const std::string &name, bool batched);
  // A kernel computing one instruction over `domain` and storing it,
  // contiguously, into its last argument; returns the step that calls it.
  // `batch_extent`: the plan's domain0 when batched.
  plan::Step one_value_kernel(std::string name, std::vector<int64_t> domain, KernelInstr value,
                              std::vector<int> buffers, std::vector<BufferType> types, const Node &origin,
                              int64_t batch_extent = 0);
  bool taken_(const std::string &name) const {
    for (const FusedKernel &k : out_.kernels)
      if (k.name == name) return true;
    return false;
  }

  // In lower_layouts.cpp:
  // The plain buffer of `node`, after a reorder from a shadow if the value is
  // not there yet (the reorder goes before the caller's step).
  int plain(Prog &p, int node);
  // The buffer holding `node` in `layout` (oneDNN dims `dims`; `tw`: the
  // weights of a transposed conv, whose plain layout permutes oneDNN's dims).
  int in_layout(Prog &p, int node, const std::string &layout, const Dims &ir_dims, bool tw);
  // A new shadow of `node` in `layout`, written by the caller's step; the
  // plain buffer is pending (graph outputs are made plain at once by the
  // caller).
  int new_shadow(Prog &p, int node, const std::string &layout, const Dims &dims, int64_t elements,
                 const std::string &plain_layout = "plain");
  // A per-example value in a oneDNN layout must keep the batch outermost
  // and dense, so that the layout holds at every batch.
  void check_batch_outermost(Prog &p, int root, const Dims &dims, const std::string &layout);
  // Whether the value `root` (of NCHW `dims`) is best written in nChw16c: a
  // convolution reads it in that layout, and it is not a graph output.
  bool wants_nchw16c(const Prog &p, int root, const Dims &dims) const;
  // Which arguments of kernel `k` to run in nChw16c: values it reads that are
  // (only or also) in that layout already, and values it writes that a
  // convolution will read in it (and that are not graph outputs).
  std::vector<bool> blocked_args(Prog &p, const FusedKernel &k, const std::vector<int> &arg_nodes);
  // A convolution step with the layouts oneDNN chose (choose_conv); see
  // lower_layouts.cpp.
  void lower_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice);
  // A direct convolution kernel (direct_conv.h): its wide operands from
  // their nChw16c shadow, the rest plain; a wide result goes to a shadow.
  void lower_direct_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice);
  void report_conv(Prog &p, const plan::Step &cs, const ConvChoice &choice, const Node &first, int value);
  void report_reorder(const plan::Program &prog, const plan::Step &r, const std::string &value);

  LoweredModel &out_;
  std::map<std::string, std::string> direct_names_;  // direct_conv_text -> its kernel
  int64_t persistent_end_, persistent_row_ = 0;
  std::map<std::string, int> param_buffer_, grad_buffer_, stat_buffer_;
  std::ostringstream library_;
};

}  // namespace lowering
}  // namespace vaec
