// abi/bf16_rounding.h: the executor's rounding of plain bf16 copies gives
// the bits of the oneDNN reorder it replaces, and its one-value and
// many-value forms agree (the instruction where the CPU has it, C++ elsewhere).
#include "abi/bf16_rounding.h"

#include <gtest/gtest.h>

#include <cstring>
#include <dnnl.hpp>
#include <random>
#include <vector>

namespace vaec::rt {
namespace {

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Every bf16 value's neighbourhood: each upper half with the lower halves
// that decide the rounding (0, 1, just under, at and just over the tie, all
// ones) and a random one.
std::vector<uint32_t> patterns() {
  std::vector<uint32_t> out;
  std::mt19937 rng(7);
  for (uint32_t hi = 0; hi < 0x10000; ++hi)
    for (uint32_t lo : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, uint32_t(rng() & 0xffff)})
      out.push_back(hi << 16 | lo);
  return out;
}

bool has_bf16_instructions() { return __builtin_cpu_supports("avx512bf16"); }

TEST(Bf16Rounding, OneValueExamples) {
  EXPECT_EQ(round_bf16(1.0f), 0x3f80);
  EXPECT_EQ(round_bf16(from_bits(0x3f808000)), 0x3f80);  // a tie: to the even neighbour below
  EXPECT_EQ(round_bf16(from_bits(0x3f818000)), 0x3f82);  // a tie: to the even neighbour above
  EXPECT_EQ(round_bf16(from_bits(0x3f808001)), 0x3f81);
  EXPECT_EQ(round_bf16(from_bits(0x7f7fffff)), 0x7f80);  // the largest float rounds to infinity
  EXPECT_EQ(round_bf16(from_bits(0xff800000)), 0xff80);  // -infinity stays
  EXPECT_EQ(round_bf16(from_bits(0x00400000)), 0x0000);  // a denormal: a zero of its sign
  EXPECT_EQ(round_bf16(from_bits(0x807fffff)), 0x8000);
  EXPECT_EQ(round_bf16(from_bits(0x7fa00001)), 0x7fe0);  // a signalling NaN made quiet
  EXPECT_EQ(round_bf16(from_bits(0xffffffff)), 0xffff);
}

TEST(Bf16Rounding, ManyValuesEqualOneAtATimeAndStopAtTheEnd) {
  const std::vector<uint32_t> bits = patterns();
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  std::vector<uint16_t> many(x.size());
  round_bf16(x.data(), many.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(many[i], round_bf16(x[i])) << std::hex << "bits 0x" << bits[i];
  // Every tail length: nothing written past n.
  for (int64_t n = 0; n <= 40; ++n) {
    std::vector<uint16_t> out(48, 0xabcd);
    round_bf16(x.data() + 1000, out.data(), n);
    for (int64_t i = 0; i < 48; ++i) ASSERT_EQ(out[i], i < n ? round_bf16(x[1000 + i]) : 0xabcd) << "n " << n;
  }
}

TEST(Bf16Rounding, EqualsOneDnnReorder) {
  const std::vector<uint32_t> bits = patterns();
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  std::vector<uint16_t> ours(x.size()), onednn(x.size());
  round_bf16(x.data(), ours.data(), static_cast<int64_t>(x.size()));
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::dims dims{static_cast<int64_t>(x.size())};
  dnnl::memory src({dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a}, engine, x.data()),
      dst({dims, dnnl::memory::data_type::bf16, dnnl::memory::format_tag::a}, engine, onednn.data());
  dnnl::reorder(src, dst).execute(stream, src, dst);
  stream.wait();
  // oneDNN rounds with the same instruction where the CPU has it; elsewhere
  // its emulation is held to the values a trainer's buffers can hold (no
  // denormals, which the trainer flushes; NaN only as a NaN).
  const bool all = has_bf16_instructions();
  int64_t compared = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t exponent = bits[i] & 0x7f800000u;
    const bool nan = (bits[i] & 0x7fffffffu) > 0x7f800000u;
    if (!all && (exponent == 0 || nan)) {
      if (nan) {
        ASSERT_TRUE((onednn[i] & 0x7fff) > 0x7f80) << std::hex << "bits 0x" << bits[i];
      }
      continue;
    }
    ASSERT_EQ(ours[i], onednn[i]) << std::hex << "bits 0x" << bits[i];
    ++compared;
  }
  EXPECT_GT(compared, static_cast<int64_t>(x.size()) * 9 / 10);
}

}  // namespace
}  // namespace vaec::rt
