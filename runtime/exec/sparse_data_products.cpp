// Products over the nonzero entries of a batch's data (plan Step::Sparse;
// how they run: runtime/README.md, "Sparse data"; the loops in
// abi/sparse_product.h).
#include "abi/vector_epilogue.h"
#include "exec/executor_impl.h"

namespace vaec::rt {

void Executor::Impl::prepare_sparse(const Step &s, MatmulCall &call, const std::string &at) {
  if (s.bf16 || s.tb || s.split != Step::Whole || s.swapped || s.thin || s.zero_units)
    fail(at + ": 'sparse' with bf16, b transposed, slices, swapping, thin or units");
  // a is the data: [m, k] listed by rows, or [k, m] (ta) by columns.
  const int64_t rows = s.ta ? s.k : s.m, cols = s.ta ? s.m : s.k;
  if (const std::string why = onednn::sparse_product_unsupported(rows, cols, s.n, s.post); !why.empty())
    fail(at + ": " + why);
  auto sp = std::make_unique<SparseCall>();
  const float *data = floats(s.a);
  for (const auto &d : sparse_data)
    if (d->data == data && d->rows == rows && d->cols == cols) sp->data = d.get();
  if (!sp->data) {
    sparse_data.push_back(std::make_unique<SparseData>());
    SparseData &d = *sparse_data.back();
    d.data = data, d.rows = rows, d.cols = cols;
    sp->data = &d;
  }
  sp->by_rows = !s.ta;
  (sp->by_rows ? sp->data->by_rows : sp->data->by_columns).shape(rows, cols, sp->by_rows);
  sp->b = floats(s.b), sp->bias = s.bias >= 0 ? floats(s.bias) : nullptr, sp->c = floats(s.c);
  sp->m = s.m, sp->n = s.n;
  if (sp->by_rows && threads > 1) {
    const auto each = static_cast<size_t>(s.m * s.n);
    sp->partial = allocate_zeroed(each * (threads - 1) * sizeof(float));
    for (int t = 1; t < threads; ++t)
      sp->partials.push_back(reinterpret_cast<float *>(sp->partial.get()) + each * (t - 1));
  }
  sp->post = onednn::post_code(s.post);
  call.sparse = std::move(sp);
}

const onednn::SparseLists &Executor::Impl::lists_of(SparseData &d, bool by_rows) {
  onednn::SparseLists &l = by_rows ? d.by_rows : d.by_columns;
  uint64_t &epoch = by_rows ? d.rows_epoch : d.columns_epoch;
  if (epoch == data_epoch) return l;
  // Each chunk lists its share of the rows (columns) into its own part of
  // the lists: the same lists on any team.
  for_chunks(threads, team, [&](int c) {
    const auto [i0, i1] = share(l.lists, c, threads, 1);
    if (by_rows) onednn::list_rows(d.data, d.cols, i0, i1, l);
    else onednn::list_columns(d.data, d.rows, d.cols, i0, i1, l);
  });
  epoch = data_epoch;
  return l;
}

void Executor::Impl::run_sparse(MatmulCall &m) {
  SparseCall &sp = *m.sparse;
  ++sp.runs;
  const SparseData &d = *sp.data;
  const onednn::SparseLists &l = lists_of(*sp.data, sp.by_rows);
  const int64_t nonzeros = l.nonzeros();
  sp.nonzeros += nonzeros;
  if (double(nonzeros) > plan::kSparseShare * double(d.rows) * double(d.cols)) return run_whole(m);
  ++sp.sparse_runs;
  // Cut by the plan's threads, not the team: the bits do not depend on it.
  // By rows: slices of b's rows (a weight's rows as the optimizer's shares
  // cut them: a thread reading rows the other core updated would take each
  // line from it, and the update would take it back), summed after.
  if (!sp.partials.empty()) {
    for_chunks(threads, team, [&](int t) {
      const auto [k0, k1] = share(d.cols, t, threads, 1);
      float *to = t == 0 ? sp.c : sp.partials[t - 1];
      onednn::sparse_times(l, k0, k1, sp.b, sp.n, sp.n, nullptr, 0, to, sp.n, 0, sp.m);
    });
    for_chunks(threads, team, [&](int t) {
      const auto [i0, i1] = share(sp.m, t, threads, 1);
      onednn::add_rows(sp.c, sp.partials.data(), threads - 1, sp.n, sp.n, sp.bias, sp.post, i0, i1);
    });
    return;
  }
  // Otherwise even shares of c's rows, as the optimizer's (a weight
  // gradient's rows, which the same thread's share of the update reads
  // next).
  const int64_t indices = sp.by_rows ? d.cols : d.rows;
  for_chunks(threads, team, [&](int p) {
    const auto [i0, i1] = share(l.lists, p, threads, 1);
    onednn::sparse_times(l, 0, indices, sp.b, sp.n, sp.n, sp.bias, sp.post, sp.c, sp.n, i0, i1);
  });
}

}  // namespace vaec::rt
