// Which examples, labels and conditions the inspection commands use
// (Session, session.h).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>

#include "inspect/session.h"

namespace vaec::rt {

std::vector<float> Session::rows(const std::vector<int64_t> &indices) const {
  std::vector<float> out(indices.size() * set_->row());
  set_->fill(indices.data(), int64_t(indices.size()), out.data(), 0);
  return out;
}

std::vector<float> Session::first_rows(int64_t n) const {
  std::vector<int64_t> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  return rows(indices);
}

bool Session::need_labels(const std::string &what, std::string &error) const {
  if (set_->has_labels()) return true;
  return error = data_.settings.path + " has no labels, which " + what +
                 " needs (labels come from IDX label files, an .npz's y, class sub-folders of PNGs or "
                 "train.label's CSV column)",
         false;
}

bool Session::pick(const std::string &spec, int64_t after, int64_t &index, std::string &error) const {
  const int64_t n = count();
  if (spec.rfind("label:", 0) == 0) {
    int64_t label;
    if (!need_labels("--from/--to " + spec, error)) return false;
    if (!to_int(spec.substr(6), 0, INT32_MAX, label)) return error = "bad label in '" + spec + "'", false;
    for (int64_t i = 0; i < n; ++i)
      if (set_->label(i) == label && i != after) return index = i, true;
    return error = "no " + set_name_ + " example has label " + std::to_string(label), false;
  }
  if (!to_int(spec, 0, n - 1, index))
    return error = "'" + spec + "' is neither a " + set_name_ + " example's index (0.." + std::to_string(n - 1) +
                   ") nor label:D",
           false;
  return true;
}

Rows Session::mu_of(const std::vector<int64_t> &indices) {
  const std::vector<float> x = rows(indices);
  parts_->set_labels(labels_of(indices));
  parts_->set_examples(set_, indices);
  return parts_->encode(x.data(), int64_t(indices.size()), "z_loc");
}

std::vector<int32_t> Session::labels_of(const std::vector<int64_t> &indices) const {
  std::vector<int32_t> out;
  if (set_ && set_->has_labels())
    for (int64_t i : indices) out.push_back(set_->label(i));
  return out;
}

std::vector<int32_t> Session::first_labels(int64_t count) const {
  std::vector<int64_t> indices(count);
  std::iota(indices.begin(), indices.end(), 0);
  return labels_of(indices);
}

void Session::use_first_examples(int64_t n) {
  std::vector<int64_t> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  parts_->set_examples(set_, indices);
}

// --condition NAME=v1,v2,...[;NAME=...] (NAME= may be left out for a model
// with one condition input): the values decode programs take; without it,
// those of the first example of the data (needed then).
bool Session::chosen_conditions(std::string &error) {
  if (!parts_->takes_conditions()) {
    if (a_.has("condition")) return error = "--condition: model '" + plan_.model + "' has no condition input", false;
    return true;
  }
  std::map<std::string, int64_t> rows;
  for (const plan::Program *p : plan_.programs())
    for (const plan::Program::Condition &c : p->conditions) rows[c.name] = c.row;
  if (!a_.has("condition")) {
    if (!set_) {
      std::string names;
      for (const auto &[name, row] : rows)
        names += (names.empty() ? "" : ";") + name + "=V1,...,V" + std::to_string(row);
      return error = "model '" + plan_.model + "' reads condition inputs: give --condition " + names +
                     " (or --data, whose first example's are used)",
             false;
    }
    if (command_ == "sample" || command_ == "manifold")
      std::printf("decoding with the conditions of the data's first example (--condition NAME=v1,... for others)\n");
    parts_->set_examples(set_, {0});
    return true;
  }
  for (std::string rest = a_.get("condition", ""); !rest.empty();) {
    const size_t semi = rest.find(';');
    std::string item = rest.substr(0, semi);
    rest = semi == std::string::npos ? "" : rest.substr(semi + 1);
    const size_t eq = item.find('=');
    std::string name = eq == std::string::npos && rows.size() == 1 ? rows.begin()->first : item.substr(0, eq);
    if (eq != std::string::npos) item = item.substr(eq + 1);
    if (!rows.count(name)) return error = "--condition: the model has no condition input '" + name + "'", false;
    std::vector<float> values;
    for (std::string v; !item.empty();) {
      const size_t comma = item.find(',');
      v = item.substr(0, comma);
      item = comma == std::string::npos ? "" : item.substr(comma + 1);
      char *end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(d)) return error = "--condition: '" + v + "' is not a number", false;
      values.push_back(float(d));
    }
    if (int64_t(values.size()) != rows[name])
      return error = "--condition: " + name + " takes " + std::to_string(rows[name]) + " numbers, got " +
                     std::to_string(values.size()),
             false;
    parts_->set_condition(name, values);
  }
  return true;
}

bool Session::chosen_label(int32_t &label, std::string &error) const {
  label = -1;
  if (!a_.has("label")) return true;
  int64_t l;
  if (!parts_->takes_labels()) return error = "--label: model '" + plan_.model + "' has no label input", false;
  if (!to_int(a_.get("label", ""), 0, parts_->label_classes() - 1, l))
    return error = "--label takes a class from 0 to " + std::to_string(parts_->label_classes() - 1), false;
  label = static_cast<int32_t>(l);
  return true;
}

}  // namespace vaec::rt
