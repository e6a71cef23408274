// reduce on oneDNN's reduction primitive; argmax and argmin as loops (oneDNN has no
// arg-reductions).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {
using alg = dnnl::algorithm;

struct Entry {
  dnnl::reduction prim;
  dnnl::memory::desc src, dst;
};

alg reduce_alg(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return alg::reduction_sum;
    case ReduceOp::Mean:
      return alg::reduction_mean;
    case ReduceOp::Max:
      return alg::reduction_max;
    case ReduceOp::Min:
      return alg::reduction_min;
  }
  throw Error(fmt::format("onednn reduce: unknown op code {}", int64_t(op)));
}

// When the reduced dims of a dense source form one block, the source is [outer, R, inner] and
// the reduction a tight loop: for the bias gradient (sum over the batch of [128, 256]) oneDNN's
// reduction took ~290 us where this takes a few. Row sums (inner == 1) accumulate in double.
bool reduce_block(const Tensor& src, const Tensor& out, ReduceOp op) {
  if (!src.is_contiguous()) return false;
  const Shape& s = src.shape();
  const Shape& o = out.shape();
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < src.dim(); ++d)
    if (s[d] != o[d]) {
      if (first < 0) first = d;
      if (last >= 0 && last != d - 1) {
        // a gap of dims of size 1 does not break the block
        bool ones = true;
        for (int64_t k = last + 1; k < d; ++k) ones = ones && s[k] == 1;
        if (!ones) return false;
      }
      last = d;
    }
  if (first < 0) return false;
  int64_t outer = 1, r = 1, inner = 1;
  for (int64_t d = 0; d < first; ++d) outer *= s[d];
  for (int64_t d = first; d <= last; ++d) r *= s[d];
  for (int64_t d = last + 1; d < src.dim(); ++d) inner *= s[d];
  const float* x = src.data<float>();
  float* y = out.data<float>();
  const bool is_max = op == ReduceOp::Max, is_min = op == ReduceOp::Min;
  const float scale = op == ReduceOp::Mean ? 1.0f / float(r) : 1.0f;
  if (inner == 1) {
    parallel_for(outer, outer * r >= kParallelGrain, [&](int64_t i) {
      const float* row = x + i * r;
      if (is_max || is_min) {
        float m = row[0];
        for (int64_t k = 1; k < r; ++k)
          m = is_max ? (row[k] > m || row[k] != row[k] ? row[k] : m)
                     : (row[k] < m || row[k] != row[k] ? row[k] : m);
        y[i] = m;
      } else {
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < r; ++k) acc += row[k];
        y[i] = float(acc) * scale;
      }
    });
    return true;
  }
  // Column reductions: walk the rows, each a contiguous run of `inner` accumulators. The rows
  // go in fixed chunks, each summed into a partial row, and the partials are then combined in
  // chunk order: a bias gradient (outer 1, the sum over a batch) runs on every thread, each
  // thread reads the rows it most likely wrote in the op before, and the result is the same
  // whatever the number of threads.
  const int64_t chunk = 128;
  const int64_t chunks = (r + chunk - 1) / chunk;
  auto combine = [&](float* acc, const float* row, int64_t m) {
    if (is_max)
      for (int64_t j = 0; j < m; ++j)
        acc[j] = row[j] > acc[j] || row[j] != row[j] ? row[j] : acc[j];
    else if (is_min)
      for (int64_t j = 0; j < m; ++j)
        acc[j] = row[j] < acc[j] || row[j] != row[j] ? row[j] : acc[j];
    else
      for (int64_t j = 0; j < m; ++j) acc[j] += row[j];
  };
  // With one chunk a row's partial is its result: no buffer and no combining pass, as a small
  // batch's bias gradient needs at every step.
  std::vector<float> partial;
  float* parts = y;
  if (chunks > 1) {
    partial.resize(static_cast<size_t>(outer * chunks * inner));
    parts = partial.data();
  }
  parallel_for(outer * chunks, outer * r * inner >= kParallelGrain && outer * chunks > 1, [&](int64_t piece) {
    const int64_t i = piece / chunks, k0 = piece % chunks * chunk;
    const int64_t k1 = std::min(r, k0 + chunk);
    float* acc = parts + piece * inner;
    const float* base = x + i * r * inner;
    std::copy_n(base + k0 * inner, inner, acc);
    for (int64_t k = k0 + 1; k < k1; ++k) combine(acc, base + k * inner, inner);
  });
  for (int64_t i = 0; i < outer; ++i) {
    float* out_row = y + i * inner;
    if (chunks > 1) {
      const float* first = parts + i * chunks * inner;
      std::copy_n(first, inner, out_row);
      for (int64_t c = 1; c < chunks; ++c) combine(out_row, first + c * inner, inner);
    }
    if (scale != 1.0f)
      for (int64_t j = 0; j < inner; ++j) out_row[j] *= scale;
  }
  return true;
}

void reduce(const KernelCall& c) {
  const Tensor src = dnnl_layout_ok(c.in[0]) ? c.in[0] : dense(c.in[0]);
  const Tensor& out = c.out[0];
  if (src.dtype() != DType::F32)
    throw Error(
        fmt::format("onednn reduce: only f32 is supported, got {}", dtype_name(src.dtype())));
  if (out.numel() == 0) return;
  const ReduceOp op = ReduceOp(c.attrs.i("op"));
  if (src.numel() == 0) {  // an empty sum is 0, an empty mean NaN (as in PyTorch)
    const double v = op == ReduceOp::Sum ? 0.0 : std::nan("");
    find_kernel("fill", DeviceType::CPU)(KernelCall{{}, c.out, Attrs{{"value", v}}});
    return;
  }
  if (src.shape() == out.shape()) {  // nothing to reduce: oneDNN refuses that, so copy
    find_kernel("copy",
                DeviceType::CPU)(KernelCall{std::span<const Tensor>(&src, 1), c.out, c.attrs});
    return;
  }
  if (reduce_block(src, out, op)) return;
  static PrimitiveCache<Entry> cache;
  Key k;
  k.add(src).add(out.shape()).add(int64_t(op));
  const auto& p = cache.get(k, [&] {
    auto ms = md_of(src), mo = md_of(out);
    auto d = dnnl::reduction::desc(reduce_alg(op), ms, mo, 0.f, 0.f);
    return Entry{dnnl::reduction(dnnl::reduction::primitive_desc(d, engine())), ms, mo};
  });
  execute(p.prim, {{DNNL_ARG_SRC, p.src, src}, {DNNL_ARG_DST, p.dst, out}});
}

// The first extremum of each line along `dim` wins; NaN beats everything (PyTorch).
template <class T, bool kMin>
void arg_extremum(const Tensor& src, int64_t dim, const Tensor& out) {
  const auto [outer, n, inner] = split(src.shape(), dim);
  const T* p = static_cast<const T*>(src.raw_data());
  int64_t* o = out.data<int64_t>();
  parallel_for(outer * inner, outer * inner * n >= kParallelGrain, [&](int64_t oi) {
    const int64_t i = oi / inner, j = oi % inner;
    const T* row = p + i * n * inner + j;
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k) {
      const T v = row[k * inner], b = row[best * inner];
      if ((kMin ? v < b : v > b) || (v != v && b == b)) best = k;
    }
    o[oi] = best;
  });
}

template <bool kMin>
void arg_kernel(const KernelCall& c) {
  const Tensor src = dense(c.in[0]);
  const int64_t dim = c.attrs.i("dim");
  visit_dtype(src.dtype(), [&](auto* tag) {
    arg_extremum<std::remove_pointer_t<decltype(tag)>, kMin>(src, dim, c.out[0]);
  });
}

}  // namespace

void register_reduce(const std::string& provider) {
  register_cpu_kernel("reduce", reduce, provider);
  register_cpu_kernel("argmax", arg_kernel<false>, provider);
  register_cpu_kernel("argmin", arg_kernel<true>, provider);
}

}  // namespace gom::onednn
