// Training checkpoints: everything `train --resume` needs to continue a run
// exactly as if it had never stopped, in one self-checking file that is
// replaced atomically.
//
// Format (version 4; version 3 lacks the last field, version 2 the last two; integers and floats little-endian, as x86-64 and
// AArch64 store them):
//
//   offset  size  field
//        0     8  magic "VAECKPT\0"
//        8     4  u32 format version (4)
//       12     4  u32 flags: bit 0, epochs leave out their last partial batch (--drop-last)
//       16     8  u64 file length in bytes, checksum included
//       24     8  u64 model hash: model_identity(plan), which does not depend on the batch
//       32     8  i64 epochs completed
//       40     8  i64 training steps already taken in the next epoch (0 at an
//                 epoch's end; more when --max-steps, a signal or
//                 --checkpoint-every stopped or saved it mid-epoch)
//       48     8  u64 global step (training steps in all; Adam's t)
//       56     8  u64 seed (initialisation, shuffling, noise)
//       64     8  f64 learning rate
//       72     4  u32 threads of the run that wrote it (bitwise results need the same)
//       76     4  u32 region count R: the parameters, then each optimizer state region
//       80     8  i64 param_count P
//       88     8  i64 the training batch of the run that wrote it
//       96     4  u32 length of the model name, then its bytes
//        …   4RP  R regions of P f32 each, in plan order (param_region, state_regions)
//        …        loss history: u32 name count N, N names (u32 length + bytes),
//                 u32 row count, each row i64 epoch, N f64 train, N f64 test
//        …        u32 M, then M f64: the train losses (plan order) summed over the
//                 steps already taken in the next epoch (M = 0 at an epoch's end)
//        …        u32 S, S f32 means, S f32 standard deviations: the statistics of
//                 train.standardize (data/feed.h; S = 0 without it)
//        …        u32 K, then K f32: the plan's stat_region (batchnorm's running
//                 statistics; K = 0 without them)
//   end-8     8  u64 FNV-1a 64 of every byte before it
//
// The shuffling order and the noise are functions of (seed, epoch) and
// (seed, global step), so the counters above are the whole random state
// (with the batch, which decides the steps of an epoch: a resumed run keeps
// it). The parameters and optimizer state mean the same at every batch, so a
// checkpoint of one batch is one of the model at any other.
// Timings are not stored, so two runs that trained the same way write the
// same bytes.
//
// write_checkpoint writes an exclusive temporary file (support/files.h:
// `path`.tmp.XXXXXX, never through a symlink) in the same directory, fsyncs it,
// renames it over `path` and fsyncs the directory: a crash or kill -9 at
// any moment leaves `path` holding either the previous checkpoint or the
// new one, never a mix. read_checkpoint accepts only a complete, intact
// file of this format; every way it can be damaged is a message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "abi/plan.h"
#include "support/plot.h"

namespace vaec::rt {

struct Checkpoint {
  uint64_t model_hash = 0;
  std::string model;
  int64_t epoch = 0;       // epochs completed
  int64_t epoch_step = 0;  // steps taken in epoch `epoch` + 1
  uint64_t global_step = 0;
  uint64_t seed = 0;
  double lr = 0;
  uint32_t threads = 0;
  int64_t param_count = 0;
  int64_t batch = 0;                        // the training batch
  bool drop_last = false;                   // epochs leave out their last, partial batch
  std::vector<std::vector<float>> regions;  // each param_count floats
  // For writing only: the regions where they are (param_count floats each),
  // written in place of `regions` so that a checkpoint costs no copy of them.
  std::vector<const float *> region_views;
  LossHistory history;                      // per completed epoch
  std::vector<double> epoch_sums;           // train loss sums over the epoch_step steps
  std::vector<float> data_mean, data_std;   // train.standardize's statistics, or empty
  std::vector<float> stats;                 // the plan's stat_region (batchnorm's running statistics)
};

uint64_t fnv1a64(const void *data, size_t bytes, uint64_t hash = 0xcbf29ce484222325ull);
// The identity of a compiled model, as stored in its checkpoints: FNV-1a 64 of
// what decides which checkpoint byte means what and how training goes on from
// it — the model's name, its train settings but the batch (optimizer and its
// hyper-parameters, learning rate, seed, data, epochs, init), and each
// parameter's name, dims, element count and place in the parameter region,
// the parameter count and the optimizer's kernel and state regions. Not the
// batch-dependent rest of the plan, so every batch's compilation of a model
// has the same identity, nor the compiling machine (config cpu_features):
// a checkpoint resumes on another machine's compilation of the model.
uint64_t model_identity(const plan::Plan &plan);

// False with a message naming `path` when any step fails (the previous
// checkpoint at `path` is then untouched).
bool write_checkpoint(const std::string &path, const Checkpoint &c, std::string &error);

// False with a message naming `path` when the file is missing, not a
// checkpoint, of another format version, truncated, longer than it says,
// fails its checksum or is malformed.
bool read_checkpoint(const std::string &path, Checkpoint &out, std::string &error);

// False with a message when `c` (read from `path`) is not of the model this
// trainer runs: another model (named), another model of the same name (the
// hash is not `hash`, model_identity of the plan), or regions that do not fit
// the plan.
bool checkpoint_fits(const Checkpoint &c, const std::string &path, uint64_t hash, const plan::Plan &plan,
                     std::string &error);

}  // namespace vaec::rt
