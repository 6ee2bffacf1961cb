// `vaec summary`: a Keras-style table of a model's tensors and parameters.
#pragma once

#include <iosfwd>

#include "frontend/model.h"

namespace vaec {

void print_summary(std::ostream &os, const Model &m);
std::string with_commas(int64_t n);  // 550629 -> "550,629"

}  // namespace vaec
