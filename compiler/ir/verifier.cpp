// The IR verifier (contract in verifier.h).
#include "ir/verifier.h"

#include <set>

#include "ir/printer.h"

namespace vaec {

static bool attr_has_type(const AttrValue &v, AttrType t) {
  switch (t) {
  case AttrType::Int: return std::holds_alternative<int64_t>(v);
  case AttrType::F64: return std::holds_alternative<double>(v);
  case AttrType::Str: return std::holds_alternative<std::string>(v);
  case AttrType::Ints: return std::holds_alternative<std::vector<int64_t>>(v);
  }
  return false;
}

bool verify_graph(const Graph &g, Diagnostics &diags, const std::vector<Loc> *where) {
  int before = diags.error_count();
  std::set<std::string> names;
  // Nodes whose own type is valid; shape rules only run on valid operands, so
  // one bad type is reported once rather than again at every user.
  std::vector<bool> valid_type(g.nodes.size(), false);
  auto loc_of = [&](size_t i) { return where && i < where->size() ? (*where)[i] : g.nodes[i].loc; };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    const OpInfo &info = op_info(n.op);
    Loc loc = loc_of(i);
    std::string what = "'%" + n.name + "' (" + std::string(info.name) + ")";
    if (n.name.empty()) diags.error(loc, "value has an empty name");
    else if (!names.insert(n.name).second) diags.error(loc, "value '%" + n.name + "' is defined twice");
    if (n.section.empty()) diags.error(loc, what + " belongs to no section");
    if (static_cast<int>(n.operands.size()) != info.arity) {
      diags.error(loc, what + " takes " + std::to_string(info.arity) + " operand(s), got " +
                           std::to_string(n.operands.size()));
      continue;
    }
    bool operands_ok = true;
    for (int o : n.operands)
      if (o < 0 || o >= static_cast<int>(i)) {
        diags.error(loc, what + " uses a value that is not defined before it");
        operands_ok = false;
      }
    // Attributes: exactly the schema's keys, in its order, with its types.
    bool attrs_ok = n.attrs.size() == info.attrs.size();
    for (size_t a = 0; attrs_ok && a < n.attrs.size(); ++a)
      attrs_ok = n.attrs[a].first == info.attrs[a].name;
    if (!attrs_ok) {
      std::string want;
      for (const AttrSpec &s : info.attrs) want += (want.empty() ? "" : ", ") + s.name;
      diags.error(loc, what + " must have attributes {" + want + "}");
      continue;
    }
    for (size_t a = 0; a < n.attrs.size(); ++a)
      if (!attr_has_type(n.attrs[a].second, info.attrs[a].type)) {
        diags.error(loc, what + " attribute '" + n.attrs[a].first + "' must be " +
                             attr_type_name(info.attrs[a].type));
        attrs_ok = false;
      }
    bool dims_ok = true;
    for (int64_t d : n.dims)
      if (d < 1) dims_ok = false;
    if (!dims_ok) {
      diags.error(loc, what + " has a non-positive dimension in f32" + dims_str(n.dims));
      continue;
    }
    if (checked_elements(n.dims) < 0) {
      diags.error(loc, what + " has more than " + std::to_string(kMaxElements) + " elements");
      continue;
    }
    valid_type[i] = true;
    if (!operands_ok || !attrs_ok) continue;
    bool operand_types_ok = true;
    for (int o : n.operands) operand_types_ok = operand_types_ok && valid_type[o];
    if (!operand_types_ok) continue;
    if (info.kind == OpKind::Source) continue;
    std::vector<const Dims *> ins;
    for (int o : n.operands) ins.push_back(&g.nodes[o].dims);
    ShapeResult r = infer_shape(n.op, ins, n.attrs, &n.dims);
    if (!r.error.empty()) diags.error(loc, what + ": " + r.error);
    else if (r.dims != n.dims)
      diags.error(loc, what + " is declared f32" + dims_str(n.dims) + " but its shape rule gives f32" +
                           dims_str(r.dims));
  }
  std::set<std::string> outs;
  bool has_total = false;
  for (const auto &[name, idx] : g.outputs) {
    if (!outs.insert(name).second) diags.error(Loc{}, "output '" + name + "' is listed twice");
    if (idx < 0 || idx >= static_cast<int>(g.nodes.size())) {
      diags.error(Loc{}, "output '" + name + "' refers to no value");
      continue;
    }
    if (name == "total") {
      has_total = true;
      if (!g.nodes[idx].dims.empty())
        diags.error(loc_of(idx), "the total loss must be a scalar, got f32" +
                                     dims_str(g.nodes[idx].dims));
    }
  }
  if (!has_total && !g.config_value("program")) diags.error(Loc{}, "graph @" + g.name + " has no 'total' output");
  return diags.error_count() == before;
}

}  // namespace vaec
