// assign_conv_layouts: how oneDNN runs each convolution of each program.
//
// Pre: scheduled programs (fuse_elementwise). Post: every Library step that
// is a convolution (or one of its adjoints) has a ConvChoice in its
// program's conv_choice: the layouts of its operands and result that this
// machine's fastest oneDNN implementation wants (conv_layouts.h), or plain
// ones with options.plain_conv_layouts. Throws Unsupported, naming the op,
// when oneDNN cannot run one.
#pragma once

#include "codegen/module.h"

namespace vaec {

void assign_conv_layouts(LoweredModel &m);

}  // namespace vaec
