// What code generation may do, as `vaec compile` options (compile_options.h
// in driver/ writes and reads them as text). Every choice lands in the plan
// text; the trainer's environment changes none of them.
#pragma once

#include <cstdint>
#include <string>

namespace vaec {

struct CodegenOptions {
  int threads = 2;                  // the thread count the plan's choices are made for
  bool plain_conv_layouts = false;  // every convolution operand plain (conv_layouts.h)
  bool direct_convs = true;         // few-channel convolutions as direct kernels (direct_conv.h)
  bool split_products = true;       // split_products.h
  bool swap_products = true;        // swap_products.h
  bool force_swap_products = false;  // for tests: every product swap_products may swap, untimed
  bool thin_products = true;        // thin_products.h
  bool force_thin_products = false;  // for tests: every product thin_products may make thin, untimed
  bool zero_columns = true;         // skip_zero_columns.h: of the data
  bool zero_units = true;           // skip_zero_columns.h: of a gradient at a layer's units
  // The mean share of the input's columns that are 0 in a whole batch of the
  // training data, as vaec compile found it (skip_zero_columns.h); < 0: not
  // known (no data to look at, or standardized).
  double data_zero_columns = -1;
  bool sparse_data = true;          // sparse_data_products.h
  bool force_sparse_data = false;   // for tests: whatever the data, as if it were sparse
  // The mean share of a batch's input entries that are not 0 in the
  // training data, as vaec compile found it (sparse_data_products.h); < 0:
  // not known.
  double data_nonzeros = -1;
  bool late_updates = true;         // place_updates.h
  bool side_by_side = true;         // side_by_side.h
  bool batch_slices = true;         // batch_slices.h
  bool param_layouts = true;        // store_params_in_layouts.h
  bool share_rounding = true;       // share_rounding.h
  // assign_conv_layouts.h: "direct", "winograd" (f32 3x3 stride-1
  // convolutions in Winograd's algorithm where timed faster), or "" for the
  // model's train.conv_algorithm.
  std::string conv_algorithm;
  bool own_winograd = true;  // with conv_algorithm winograd: vaec's own timed beside oneDNN's
  // For tests: every f32 convolution step vaec's own Winograd can run
  // (abi/own_winograd.h) runs in it, untimed, whatever conv_algorithm says.
  bool force_own_winograd = false;
  std::string precision;            // choose_precision.h: "f32", "bf16", or "" for the model's train.precision
  // `config team adaptive`: the trainer runs the plan's chunks on fewer
  // threads while other programs keep CPUs busy (the bits stay the same);
  // `fixed`: always on `threads`.
  bool adaptive_team = true;
  // plan_buckets.h: the most gradient bytes a data-parallel run sums in one
  // bucket (a larger parameter gets a bucket of its own).
  int64_t bucket_bytes = int64_t{1} << 20;
};

}  // namespace vaec
