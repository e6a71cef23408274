// sort (also topk's partial sort) and triangle (tril/triu) as loops: oneDNN has no such
// primitives, and neither composes from other ops without a pass per row or NaN from 0 * inf.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

// NaN sorts as the largest value, as in PyTorch.
template <class T>
bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return !std::isnan(a) && (std::isnan(b) || a < b);
  else
    return a < b;
}

// x viewed as [outer, n, inner] around dim; the first k of each sorted line are written to
// values and indices ([outer, k, inner]). Ties break by position, so the order is total and the
// result deterministic (a stable sort in both directions).
template <class T>
void sort_typed(const Tensor& x, int64_t dim, bool descending, int64_t k, const Tensor& values,
                const Tensor& indices) {
  const Split s = split(x.shape(), dim);
  const T* px = static_cast<const T*>(x.raw_data());
  T* pv = static_cast<T*>(values.raw_data());
  int64_t* pi = indices.data<int64_t>();
  parallel_for(s.outer * s.inner, s.outer * s.n * s.inner >= kParallelGrain, [&](int64_t oi) {
    const int64_t o = oi / s.inner, i = oi % s.inner;
    const T* line = px + o * s.n * s.inner + i;
    std::vector<int64_t> order(size_t(s.n));
    std::iota(order.begin(), order.end(), 0);
    auto before = [&](int64_t a, int64_t b) {
      const T va = line[a * s.inner], vb = line[b * s.inner];
      const bool first = descending ? less_nan_last(vb, va) : less_nan_last(va, vb);
      const bool second = descending ? less_nan_last(va, vb) : less_nan_last(vb, va);
      return first || (!second && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t at = (o * k + j) * s.inner + i;
      pv[at] = line[order[size_t(j)] * s.inner];
      pi[at] = order[size_t(j)];
    }
  });
}

template <class T>
void triangle_typed(const Tensor& x, int64_t diagonal, bool upper, const Tensor& out) {
  const int64_t rows = x.shape()[x.dim() - 2], cols = x.shape()[x.dim() - 1];
  const int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  const T* px = static_cast<const T*>(x.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  parallel_for(mats * rows, x.numel() >= kParallelGrain, [&](int64_t mr) {
    const int64_t r = mr % rows;
    for (int64_t c = 0; c < cols; ++c) {
      const bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
      po[mr * cols + c] = keep ? px[mr * cols + c] : T(0);
    }
  });
}

void sort(const KernelCall& c) {
  const Tensor x = dense(c.in[0]);
  const int64_t dim = c.attrs.i("dim"), k = c.attrs.i("k");
  visit_dtype(x.dtype(), [&](auto* tag) {
    sort_typed<std::remove_pointer_t<decltype(tag)>>(x, dim, c.attrs.i("descending") != 0, k,
                                                     c.out[0], c.out[1]);
  });
}

void triangle(const KernelCall& c) {
  const Tensor x = dense(c.in[0]);
  visit_dtype(x.dtype(), [&](auto* tag) {
    triangle_typed<std::remove_pointer_t<decltype(tag)>>(x, c.attrs.i("diagonal"),
                                                         c.attrs.i("upper") != 0, c.out[0]);
  });
}

}  // namespace

void register_sort(const std::string& provider) {
  register_cpu_kernel("sort", sort, provider);
  register_cpu_kernel("triangle", triangle, provider);
}

}  // namespace gom::onednn
