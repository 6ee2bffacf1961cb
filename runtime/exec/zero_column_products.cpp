// Products that leave out the all-zero columns of image data (how they run:
// runtime/README.md, "Zero columns of the data"; the copies in zero_columns.h).
#include <algorithm>
#include <atomic>
#include <optional>

#include "exec/executor_impl.h"

namespace vaec::rt {
namespace {

// A row-major matrix of f32 values, or of bf16 ones (a bf16 step's rounded
// operands and their copies), from its first element on.
struct Values {
  std::byte *p;
  bool bf16;
  Values at(int64_t elements) const { return {p + elements * (bf16 ? 2 : 4), bf16}; }
};

Values values(const void *p, bool bf16) { return {static_cast<std::byte *>(const_cast<void *>(p)), bf16}; }

void compress(Values src, int64_t rows, int64_t src_stride, const KeptColumns &k, Values dst, int64_t dst_stride,
              int64_t padded) {
  if (src.bf16)
    compress_columns(reinterpret_cast<const uint16_t *>(src.p), rows, src_stride, k,
                     reinterpret_cast<uint16_t *>(dst.p), dst_stride, padded);
  else
    compress_columns(reinterpret_cast<const float *>(src.p), rows, src_stride, k, reinterpret_cast<float *>(dst.p),
                     dst_stride, padded);
}

void or_values(Values x, int64_t rows, int64_t cols, uint32_t *acc) {
  if (x.bf16) or_columns(reinterpret_cast<const uint16_t *>(x.p), rows, cols, cols, acc);
  else or_columns(reinterpret_cast<const float *>(x.p), rows, cols, cols, acc);
}

}  // namespace

// The forms (abi/plan.h): Inner, c = x w^T (+ bias, post-op) with x
// [m, k] the data, whose zero columns drop out of the inner dimension;
// Outer, c = op(a) x with x [k, n] the data, whose zero columns are zero
// columns of c; Units, c = a^T b with a [k, m] a gradient, whose all-zero
// columns (units no example activates) are zero rows of c. A run leaves
// columns (units) out only when the kept ones, rounded up to 16, are at most
// 7/8 of them: above that the copies cost about what leaving them out saves.
void Executor::Impl::prepare_skip(const Step &s, MatmulCall &call) {
  const std::string at = "matmul at " + s.where;
  auto z = std::make_unique<SkipZeros>();
  z->step = s;
  z->parts = std::max<int>(1, static_cast<int>(call.parts.size()));
  z->inner = s.zeros == Step::Inner;
  z->bf16 = s.bf16;
  // A bf16 step copies from the rounded copies share_rounding made: a
  // rounding into the bf16 scratch would hold other values between runs.
  if (s.bf16 && (!bf16_buffer(s.a) || !bf16_buffer(s.b)))
    fail(at + ": a bf16 product that leaves out zero columns or units reads rounded bf16 copies (reorder steps)");
  if (s.zeros == Step::Inner) {
    if (s.ta || !s.tb) fail(at + ": an inner zero-column product needs a plain and b transposed");
    if (s.split == Step::Rows) fail(at + ": an inner zero-column product is cut by columns, not rows");
  } else if (s.zeros == Step::Outer || s.zero_units) {
    if (s.tb || s.bias >= 0 || !s.post.empty())
      fail(at + ": an outer zero-column or units product needs b plain, no bias and no post-op");
    if (s.split == Step::Columns) fail(at + ": an outer zero-column or units product is cut by rows, not columns");
  }
  if (s.zero_units && !s.ta) fail(at + ": a units product needs a transposed (the gradient a [k, m])");
  if (s.zeros != Step::Keep) {
    const auto *x = static_cast<const std::byte *>(address(s.zeros == Step::Inner ? s.a : s.b));
    const int64_t rows = s.zeros == Step::Inner ? s.m : s.k, cols = s.zeros == Step::Inner ? s.k : s.n;
    z->limit = cols * 7 / 8 / 16 * 16;
    if (z->limit >= 16) {  // else too few columns to leave any out
      for (const auto &d : data_columns)
        if (d->data == x && d->bf16 == s.bf16 && d->rows == rows && d->cols == cols) z->columns = d.get();
      if (!z->columns) {
        data_columns.push_back(std::make_unique<DataColumns>());
        DataColumns &d = *data_columns.back();
        d.data = x, d.bf16 = s.bf16, d.rows = rows, d.cols = cols, d.limit = z->limit;
        d.acc.resize(static_cast<size_t>(threads) * cols);
        z->columns = &d;
      }
    }
  }
  if (s.zero_units && s.m * 7 / 8 / 16 * 16 >= 16) {
    z->units = true;
    z->unit_limit = s.m * 7 / 8 / 16 * 16;
    z->unit_acc.resize(static_cast<size_t>(threads) * s.m);
  }
  if (!z->columns && !z->units) return;  // the whole product every run
  call.skip = std::move(z);
}

// Points every skipping step's a'/b' (b'/c') and its units' a' and c' into
// one shared scratch buffer (matmuls never run concurrently), sized for the
// largest.
void Executor::Impl::bind_skip_scratch() {
  size_t first = 0, second = 0;
  auto sizes = [](const SkipZeros &z) {
    const Step &s = z.step;
    return z.inner ? std::pair<size_t, size_t>(s.m * z.limit, s.n * z.limit)
                   : std::pair<size_t, size_t>(s.k * z.limit, s.m * z.limit);
  };
  for (auto &[name, steps] : programs)
    for (PreparedStep &p : steps)
      if (p.kind == Step::Matmul && p.matmul.skip) {
        auto [f, g] = sizes(*p.matmul.skip);
        first = std::max(first, round_up(f, kAlignFloats)), second = std::max(second, g);
      }
  // Units: a' [k, unit_limit] and c' [unit_limit, n], after those.
  size_t a_units = 0, c_units = 0;
  for (auto &[name, steps] : programs)
    for (PreparedStep &p : steps)
      if (p.kind == Step::Matmul && p.matmul.skip && p.matmul.skip->units) {
        const SkipZeros &z = *p.matmul.skip;
        a_units = std::max(a_units, round_up(z.step.k * z.unit_limit, kAlignFloats));
        c_units = std::max(c_units, static_cast<size_t>(z.unit_limit * z.step.n));
      }
  first = round_up(first, kAlignFloats), second = round_up(second, kAlignFloats);
  if (first + second + a_units + c_units == 0) return;
  skip_scratch = allocate_zeroed((first + second + a_units + c_units) * sizeof(float));
  float *base = reinterpret_cast<float *>(skip_scratch.get());
  for (auto &[name, steps] : programs)
    for (PreparedStep &p : steps)
      if (p.kind == Step::Matmul && p.matmul.skip) {
        SkipZeros &z = *p.matmul.skip;
        z.first = base, z.second = base + first;
        z.a_units = base + first + second, z.c_units = base + first + second + a_units;
      }
}

// The primitives of one count of kept columns (and units), made when a
// batch first needs them (oneDNN JIT-compiles each: about a millisecond),
// then kept; for one thread each when the step is cut (as split_matmul).
template <class Build>
SkipZeros::Variant &Executor::Impl::variant(SkipZeros &z, int64_t key, Build &&build) {
  if (auto it = z.variants.find(key); it != z.variants.end()) return it->second;
  const Step &s = z.step;
  SkipZeros::Variant v;
  auto add = [&](const dnnl::memory::desc &a, void *pa, const dnnl::memory::desc &b, void *pb,
                 const dnnl::memory::desc &c, void *pc, const dnnl::memory::desc *bias, void *pbias) {
    v.parts.push_back(matmul_part(a, pa, b, pb, c, pc, bias, pbias, s.post, s.where, v.pad_stride));
  };
  // Made for the plan's threads, not the team of the moment: a batch's bits
  // and speed do not depend on when its variant was first needed.
  MadeFor made(s.split != Step::Whole ? 1 : threads);
  try {
    build(add);
  } catch (const dnnl::error &) {
    v = {};  // oneDNN declined: batches with this count run the whole product
  }
  // One scratchpad per step for all its variants: grown (and every variant
  // pointed at the new one) when this one needs more.
  if (v.pad_stride * v.parts.size() > z.pad_bytes) {
    z.pad_bytes = v.pad_stride * v.parts.size();
    z.pad = allocate_zeroed(z.pad_bytes);
    for (auto &[count, w] : z.variants) bind_parts(w.parts, z.pad.get(), w.pad_stride);
  }
  bind_parts(v.parts, z.pad.get(), v.pad_stride);
  return z.variants.emplace(key, std::move(v)).first->second;
}

// `padded` kept columns: the step's product over a' and b' (inner, in the
// step's column slices), or c' = op(a) b' (outer, in its row slices).
SkipZeros::Variant &Executor::Impl::skip_variant(SkipZeros &z, int64_t padded) {
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32, type = z.bf16 ? dnnl::memory::data_type::bf16 : f32;
  const Step &s = z.step;
  const Values first = values(z.first, z.bf16), second = values(z.second, z.bf16);
  return variant(z, padded, [&](auto &add) {
    if (z.inner) {
      for (int t = 0; t < z.parts; ++t) {
        const auto [n0, n1] = z.parts > 1 ? onednn::slice_share(s.n, t, z.parts) : std::pair<int64_t, int64_t>{0, s.n};
        const auto bias = matrix_desc(1, n1 - n0, false);
        add(matrix_desc(s.m, padded, false, type), first.p, matrix_desc(padded, n1 - n0, true, type),
            second.at(n0 * padded).p,
            dnnl::memory::desc(dims{s.m, n1 - n0}, f32, dims{s.n, 1}), floats(s.c) + n0,
            s.bias >= 0 ? &bias : nullptr, s.bias >= 0 ? floats(s.bias) + n0 : nullptr);
      }
      return;
    }
    for (int t = 0; t < z.parts; ++t) {
      const auto [m0, m1] = z.parts > 1 ? onednn::slice_share(s.m, t, z.parts) : std::pair<int64_t, int64_t>{0, s.m};
      const dims a_strides = s.ta ? dims{1, s.m} : dims{s.k, 1};
      add(dnnl::memory::desc(dims{m1 - m0, s.k}, type, a_strides), values(address(s.a), z.bf16).at(m0 * a_strides[0]).p,
          matrix_desc(s.k, padded, false, type), first.p, matrix_desc(m1 - m0, padded, false), z.second + m0 * padded,
          nullptr, nullptr);
    }
  });
}

// `mp` kept units (padded) and `np` columns of b (the padded kept ones in
// z.first, or all n of the data): c' = a'^T b' in row slices of c'.
SkipZeros::Variant &Executor::Impl::unit_variant(SkipZeros &z, int64_t mp, int64_t np) {
  using dims = dnnl::memory::dims;
  const auto type = z.bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  const Step &s = z.step;
  const Values a_units = values(z.a_units, z.bf16);
  const bool packed = np != s.n;  // b' (the kept columns of the data) or all of b
  return variant(z, SkipZeros::unit_key(mp, np), [&](auto &add) {
    for (int t = 0; t < z.parts; ++t) {
      const auto [m0, m1] = z.parts > 1 ? onednn::slice_share(mp, t, z.parts) : std::pair<int64_t, int64_t>{0, mp};
      add(dnnl::memory::desc(dims{m1 - m0, s.k}, type, dims{1, mp}), a_units.at(m0).p, matrix_desc(s.k, np, false, type),
          packed ? static_cast<void *>(z.first) : address(s.b), matrix_desc(m1 - m0, np, false), z.c_units + m0 * np,
          nullptr, nullptr);
    }
  });
}

// Each thread ORs the bits of its rows into its own row of acc, 32 rows at a
// time, and stops early once its rows alone keep more than `limit` columns
// (the batch then keeps at least as many: data with few zero columns, such
// as Fashion-MNIST, costs a few rows' scan). Otherwise the calling thread
// ORs the rows together. Either way the outcome depends on the data alone.
const KeptColumns *Executor::Impl::kept_columns_of(DataColumns &d) {
  if (d.epoch != data_epoch) {
    const int chunks = static_cast<int>(std::min<int64_t>(threads, d.rows));
    uint32_t *acc = d.acc.data();
    std::atomic<bool> too_many{false};
    for_chunks(chunks, team, [&](int c) {
      const auto [r0, r1] = share(d.rows, c, chunks, 1);
      uint32_t *mine = acc + c * d.cols;
      std::fill(mine, mine + d.cols, 0u);
      for (int64_t r = r0; r < r1 && !too_many.load(std::memory_order_relaxed); r += 32) {
        or_values(values(d.data, d.bf16).at(r * d.cols), std::min<int64_t>(32, r1 - r), d.cols, mine);
        if (std::count_if(mine, mine + d.cols, [](uint32_t v) { return v != 0; }) > d.limit)
          too_many.store(true, std::memory_order_relaxed);
      }
    });
    d.too_many = too_many.load();
    if (!d.too_many) {
      for (int c = 1; c < chunks; ++c)
        for (int64_t j = 0; j < d.cols; ++j) acc[j] |= acc[c * d.cols + j];
      kept_columns(acc, d.cols, d.kept);
      d.too_many = d.kept.kept > d.limit;
    }
    d.epoch = data_epoch;
  }
  return d.too_many ? nullptr : &d.kept;
}

void Executor::Impl::run_skipping(MatmulCall &m) {
  SkipZeros &z = *m.skip;
  const Step &s = z.step;
  ++z.runs;
  const KeptColumns *found = z.columns ? kept_columns_of(*z.columns) : nullptr;
  if (z.units)
    if (const KeptColumns *units = kept_units_of(z)) return run_units(m, found, *units);
  if (!found) return run_whole(m);
  const KeptColumns &kept = *found;
  const int64_t padded = std::max<int64_t>(16, round_up(kept.kept, 16));
  SkipZeros::Variant &v = skip_variant(z, padded);
  if (v.parts.empty()) return run_whole(m);
  ++z.skipped, z.kept += kept.kept;
  const Values x = values(z.columns->data, z.bf16), first = values(z.first, z.bf16),
               second = values(z.second, z.bf16), b = values(address(s.b), z.bf16);
  const int chunks = static_cast<int>(std::min<int64_t>(threads, z.columns->rows));
  const bool packed = packed_data == z.columns && packed_epoch == data_epoch;
  packed_data = z.columns, packed_epoch = data_epoch;
  if (z.inner) {
    // a' by rows among the threads; then b' slice by slice, each thread
    // packing the weight rows of the slices it computes.
    const int parts = static_cast<int>(v.parts.size());
    parallel(team, [&](int me, int size) {
      const auto [r0, r1] = share(s.m, me, size, 1);
      if (!packed) compress(x.at(r0 * s.k), r1 - r0, s.k, kept, first.at(r0 * padded), padded, padded);
      if (parts == 1) {
        const auto [w0, w1] = share(s.n, me, size, 1);
        compress(b.at(w0 * s.k), w1 - w0, s.k, kept, second.at(w0 * padded), padded, padded);
      }
#pragma omp barrier
      if (parts > 1)
        for (int p = me; p < parts; p += size) {
          const auto [n0, n1] = onednn::slice_share(s.n, p, parts);
          compress(b.at(n0 * s.k), n1 - n0, s.k, kept, second.at(n0 * padded), padded, padded);
          v.parts[p].primitive.execute(stream, v.parts[p].args);
        }
    });
    if (parts == 1) v.parts[0].primitive.execute(stream, v.parts[0].args);
    stream.wait();
    return;
  }
  if (!packed)
    for_chunks(chunks, team, [&](int c) {
      const auto [r0, r1] = share(s.k, c, chunks, 1);
      compress(x.at(r0 * s.n), r1 - r0, s.n, kept, first.at(r0 * padded), padded, padded);
    });
  run_parts(v);
  const int rows = static_cast<int>(std::min<int64_t>(threads, s.m));
  for_chunks(rows, team, [&](int c) {
    const auto [r0, r1] = share(s.m, c, rows, 1);
    expand_columns(z.second + r0 * padded, r1 - r0, padded, kept, floats(s.c) + r0 * s.n, s.n);
  });
}

// Every part of a variant, one per thread of the team, then wait for oneDNN.
void Executor::Impl::run_parts(SkipZeros::Variant &v) {
  for_chunks(static_cast<int>(v.parts.size()), team,
             [&](int p) { v.parts[p].primitive.execute(stream, v.parts[p].args); });
  stream.wait();
}

// a [k, m]'s kept columns: each chunk of a's rows ORs into its own row of
// unit_acc, then the calling thread ORs those together.
const KeptColumns *Executor::Impl::kept_units_of(SkipZeros &z) {
  const Step &s = z.step;
  const Values a = values(address(s.a), z.bf16);
  const int chunks = static_cast<int>(std::min<int64_t>(threads, s.k));
  uint32_t *acc = z.unit_acc.data();
  for_chunks(chunks, team, [&](int c) {
    const auto [r0, r1] = share(s.k, c, chunks, 1);
    uint32_t *mine = acc + c * s.m;
    std::fill(mine, mine + s.m, 0u);
    or_values(a.at(r0 * s.m), r1 - r0, s.m, mine);
  });
  for (int c = 1; c < chunks; ++c)
    for (int64_t j = 0; j < s.m; ++j) acc[j] |= acc[c * s.m + j];
  // -0.0 counts as 0 here: a ReLU's gradient is dh * 0, -0.0 where dh < 0,
  // and a row of c left out is +0.0 where the whole product gives -0.0.
  const uint32_t magnitude = z.bf16 ? 0x7fffu : 0x7fffffffu;
  for (int64_t j = 0; j < s.m; ++j) acc[j] &= magnitude;
  kept_columns(acc, s.m, z.kept_units);
  const auto padded = static_cast<int64_t>(round_up(std::max<int64_t>(z.kept_units.kept, 1), 16));
  return padded <= z.unit_limit ? &z.kept_units : nullptr;
}

void Executor::Impl::run_units(MatmulCall &m, const KeptColumns *columns, const KeptColumns &units) {
  SkipZeros &z = *m.skip;
  const Step &s = z.step;
  const int64_t mp = std::max<int64_t>(16, round_up(units.kept, 16));
  const int64_t np = columns ? std::max<int64_t>(16, round_up(columns->kept, 16)) : s.n;
  SkipZeros::Variant &v = unit_variant(z, mp, np);
  if (v.parts.empty()) return run_whole(m);
  ++z.unit_skipped, z.units_kept += units.kept;
  if (columns) ++z.skipped, z.kept += columns->kept;
  const bool packed = !columns || (packed_data == z.columns && packed_epoch == data_epoch);
  if (columns) packed_data = z.columns, packed_epoch = data_epoch;
  const int chunks = static_cast<int>(std::min<int64_t>(threads, s.k));
  const Values a = values(address(s.a), z.bf16), a_units = values(z.a_units, z.bf16), first = values(z.first, z.bf16);
  for_chunks(chunks, team, [&](int c) {
    const auto [r0, r1] = share(s.k, c, chunks, 1);
    compress(a.at(r0 * s.m), r1 - r0, s.m, units, a_units.at(r0 * mp), mp, mp);
    if (!packed)
      compress(values(z.columns->data, z.bf16).at(r0 * s.n), r1 - r0, s.n, *columns, first.at(r0 * np), np, np);
  });
  run_parts(v);
  // c's row i: c' row (its rank among the kept units), spread over the kept
  // columns; a left-out unit's row is zeros.
  const int rows = static_cast<int>(std::min<int64_t>(threads, s.m));
  for_chunks(rows, team, [&](int c) {
    const auto [r0, r1] = share(s.m, c, rows, 1);
    for (int64_t i = r0; i < r1; ++i) {
      float *out = floats(s.c) + i * s.n;
      if (!units.has(i)) {
        std::fill(out, out + s.n, 0.0f);
        continue;
      }
      const KeptColumns::Block &blk = units.blocks[i / 16];
      const int64_t rank = blk.at + __builtin_popcount(blk.keep & ((1u << (i % 16)) - 1));
      if (columns) expand_columns(z.c_units + rank * np, 1, np, *columns, out, s.n);
      else std::copy(z.c_units + rank * np, z.c_units + rank * np + s.n, out);
    }
  });
}

}  // namespace vaec::rt
