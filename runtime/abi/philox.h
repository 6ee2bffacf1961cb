// Philox4x32-10 and the standard normal draws of vaec's normal() op.
//
// Part of the runtime ABI, header-only and dependency-free: the generated
// kernels (compiler/codegen, which emit the same computation as LLVM IR), the
// f64 reference (compiler/codegen/kernel.cpp) and the runtime all follow this
// file, so a (seed, step) pair names the same noise everywhere.
//
// Definition of a draw, philox_normal(seed, step, stream, index):
//   counter = { lo32(index), hi32(index), lo32(step), hi32(step) ^ (stream << 24) }
//   key     = { lo32(seed),  hi32(seed) }
//   w       = Philox4x32-10(counter, key)             (Salmon et al., SC 2011)
//   u1      = ((w[0] >> 8) + 1) / 2^24                in (0, 1]
//   m       =  w[1] >> 8,  u2 = m / 2^24              in [0, 1)
//   z       = sqrt(-2 ln u1) * cos(2 pi u2)           (Box-Muller, cosine branch)
// The counter is injective for any 64-bit index, step < 2^56 and stream < 256
// (the top byte of word 3 holds only the stream), so no two draws of a
// training run share a counter. w[2] and w[3] are unused: one draw per
// counter keeps every point independent of how the domain is split.
//
// cos(2 pi m / 2^24) is evaluated by octant: m's top 3 bits pick the octant
// and the remaining 21 bits give an exact fraction t of it, so the argument
// reduction is exact and quarter turns give exactly 0. The generated kernels
// compute the same formula in f32 with their own polynomial log/sin/cos and
// agree with this f64 version to about 1e-6 relative (tested).
#pragma once

#include <cmath>
#include <cstdint>

namespace vaec {

struct Philox4x32 {
  uint32_t w[4];
};

// The ten-round Philox4x32 bijection of Random123 (philox4x32_R with R = 10).
inline Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  constexpr uint64_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr uint32_t kBump0 = 0x9E3779B9, kBump1 = 0xBB67AE85;
  uint32_t *c = counter.w;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kBump0;
      key1 += kBump1;
    }
    uint64_t p0 = kMul0 * c[0], p1 = kMul1 * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t next[4] = {hi1 ^ c[1] ^ key0, lo1, hi0 ^ c[3] ^ key1, lo0};
    for (int i = 0; i < 4; ++i) c[i] = next[i];
  }
  return counter;
}

// The counter of draw `index` of normal() op `stream` at training step `step`.
inline Philox4x32 philox_counter(uint64_t step, uint32_t stream, uint64_t index) {
  return {{uint32_t(index), uint32_t(index >> 32), uint32_t(step),
           uint32_t(step >> 32) ^ (stream << 24)}};
}

// cos(2 pi m / 2^24) for m < 2^24, by exact octant reduction (see above).
inline double philox_cos_turns(uint32_t m) {
  constexpr double kQuarterPi = 0.78539816339744830962;
  uint32_t octant = m >> 21;
  double t = double(m & 0x1FFFFF) * 0x1p-21;      // fraction of the octant, in [0, 1)
  double s = (octant & 1) ? 1.0 - t : t;          // distance from the nearest multiple of pi/2
  bool use_sin = ((octant + 1) >> 1) & 1;         // octants 1, 2, 5, 6
  bool negative = ((octant + 2) >> 2) & 1;        // octants 2, 3, 4, 5
  double v = use_sin ? std::sin(kQuarterPi * s) : std::cos(kQuarterPi * s);
  return negative ? -v : v;
}

// The standard normal draw defined above, in double precision.
inline double philox_normal(uint64_t seed, uint64_t step, uint32_t stream, uint64_t index) {
  Philox4x32 w = philox4x32_10(philox_counter(step, stream, index), uint32_t(seed),
                               uint32_t(seed >> 32));
  double u1 = double((w.w[0] >> 8) + 1) * 0x1p-24;
  return std::sqrt(-2.0 * std::log(u1)) * philox_cos_turns(w.w[1] >> 8);
}

}  // namespace vaec
