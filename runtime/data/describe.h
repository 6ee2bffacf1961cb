// `vaec data PATH`: what a data path holds, for a user checking their data
// before compiling: the format, each split's count, example shape, dtype and
// value range, the labels and their counts, and the validation split the
// seed would make.
#pragma once

#include <cstdint>
#include <ostream>

#include "data/source.h"

namespace vaec::rt::data {

void describe_source(std::ostream &os, const Source &source, const Source *test, double validation, uint64_t seed);

}  // namespace vaec::rt::data
