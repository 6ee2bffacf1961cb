// assign_conv_layouts: how oneDNN runs each convolution of each program.
//
// Pre: scheduled programs (fuse_elementwise). Post: every Library step that
// is a convolution (or one of its adjoints) has a ConvChoice in its
// program's conv_choice: the layouts of its operands and result that this
// machine's fastest oneDNN implementation wants (conv_layouts.h), or plain
// ones with options.plain_conv_layouts; or, with options.direct_convs (and
// not plain_conv_layouts), a direct kernel where direct_conv_of gives one
// (codegen/direct_conv.h: the layer has fewer than 16 output channels, which
// oneDNN's blocked kernels pad to 16). With precision bf16 (`vaec compile
// --precision`, else train.precision) each oneDNN convolution runs in bf16
// with the result layout its bf16 kernel wants when that is timed faster
// (conv_layouts.h: choose_conv), its note saying why. With conv_algorithm
// winograd (`vaec compile --conv-algorithm`, else train.conv_algorithm;
// m.options.conv_algorithm then says which), an f32 3x3 stride-1 conv2d step
// (or adjoint) runs in Winograd's algorithm, oneDNN's or vaec's own
// (abi/own_winograd.h; not with options.own_winograd off), whichever is
// timed fastest where that is >= 10 % faster than the direct sum, with a
// note giving every time (bf16 is weighed against the faster). Throws Unsupported,
// naming the op, when oneDNN cannot run one.
#pragma once

#include "codegen/module.h"

namespace vaec {

void assign_conv_layouts(LoweredModel &m);

}  // namespace vaec
