// Training settings of the train section that are small languages of their
// own (contract in train_settings.h).
#include "frontend/train_settings.h"

#include "frontend/expr.h"

namespace vaec {

void read_schedule(const YNode &v, Diagnostics &diags, std::string &name, double &every, double &gamma) {
  const char *usage = "train.schedule is constant, cosine or step(every=EPOCHS, gamma=FACTOR)";
  if (v.kind != YNode::Scalar) {
    diags.error(v.loc, std::string(usage) + ", got " + kind_name(v));
    return;
  }
  auto e = parse_expr(v.value, [&](int offset) { return v.value_loc(offset); }, diags);
  if (!e) return;
  if ((e->kind != Expr::Name && e->kind != Expr::Call) ||
      (e->text != "constant" && e->text != "cosine" && e->text != "step")) {
    std::string hint = e->kind == Expr::Name || e->kind == Expr::Call ? did_you_mean(e->text, {"constant", "cosine", "step"}) : "";
    diags.error(e->loc, "unknown schedule '" + expr_to_string(*e) + "'" + (hint.empty() ? std::string("; ") + usage : hint),
                 e->length);
    return;
  }
  name = e->text;
  if (!e->args.empty()) diags.error(e->args[0].loc, "schedule settings are named, e.g. step(every=10, gamma=0.5)");
  for (size_t i = 0; i < e->kwargs.size(); ++i) {
    const auto &[k, val] = e->kwargs[i];
    if (name != "step" || (k != "every" && k != "gamma")) {
      diags.error(e->kwarg_locs[i], "unknown setting '" + k + "' for schedule " + name +
                                         (name == "step" ? "; its settings are every and gamma" : "; it has none"),
                   static_cast<int>(k.size()));
      continue;
    }
    if (val.kind != Expr::Number || !(val.number > 0) || (k == "gamma" && !(val.number <= 1))) {
      diags.error(val.loc, "step " + k + " must be a number " + (k == "every" ? "> 0 (epochs)" : "in (0, 1]"),
                   val.length);
      continue;
    }
    (k == "every" ? every : gamma) = val.number;
  }
}

}  // namespace vaec
