// gather / scatter_add / index_select / index_add as loops (oneDNN has no such primitives).
// Tensors are viewed as [outer, n, inner] around `dim`; indices are checked as they are read.
#include <fmt/format.h>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

int64_t checked(int64_t i, int64_t n, const char* op, int64_t dim) {
  if (i < 0 || i >= n)
    throw Error(
        fmt::format("{}: index {} is out of range for dimension {} of size {}", op, i, dim, n));
  return i;
}

// Strided element offset of a row-major linear position within `shape`, for the gathered
// tensor whose other dims may be larger than the index's.
template <class T, class F>
void for_index(const Tensor& index, F&& f) {
  const Shape& s = index.shape();
  const int64_t* pi = index.data<int64_t>();
  std::vector<int64_t> pos(s.size(), 0);
  for (int64_t lin = 0; lin < index.numel(); ++lin) {
    f(pos, pi[lin], lin);
    for (size_t d = s.size(); d-- > 0;) {
      if (++pos[d] < s[d]) break;
      pos[d] = 0;
    }
  }
}

template <class T>
void gather_typed(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out) {
  const T* ps = static_cast<const T*>(src.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const Shape st = contiguous_strides(src.shape());
  for_index<T>(index, [&](const std::vector<int64_t>& pos, int64_t i, int64_t lin) {
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d)
      off += (int64_t(d) == dim ? checked(i, src.shape()[d], "gather", dim) : pos[d]) * st[d];
    po[lin] = ps[off];
  });
}

template <class T>
void scatter_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const T* ps = static_cast<const T*>(src.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const Shape st = contiguous_strides(out.shape());
  for_index<T>(index, [&](const std::vector<int64_t>& pos, int64_t i, int64_t lin) {
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d)
      off += (int64_t(d) == dim ? checked(i, out.shape()[d], "scatter_add", dim) : pos[d]) * st[d];
    po[off] += ps[lin];
  });
}

template <class T>
void index_select_typed(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out) {
  const Split s = split(src.shape(), dim);
  const int64_t m = index.numel();
  const int64_t* pi = index.data<int64_t>();
  for (int64_t j = 0; j < m; ++j) checked(pi[j], s.n, "index_select", dim);
  const T* ps = static_cast<const T*>(src.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  parallel_for(s.outer * m, s.outer * m * s.inner >= kParallelGrain, [&](int64_t oj) {
    const int64_t o = oj / m, j = oj % m;
    std::copy_n(ps + (o * s.n + pi[j]) * s.inner, s.inner, po + (o * m + j) * s.inner);
  });
}

// Parallel over (outer, inner) positions with the index walked in order inside, so no two
// threads ever add into the same element and the sum order is fixed.
template <class T>
void index_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split s = split(out.shape(), dim);
  const int64_t m = index.numel();
  const int64_t* pi = index.data<int64_t>();
  for (int64_t j = 0; j < m; ++j) checked(pi[j], s.n, "index_add", dim);
  const T* ps = static_cast<const T*>(src.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  parallel_for(s.outer * s.inner, s.outer * m * s.inner >= kParallelGrain, [&](int64_t oi) {
    const int64_t o = oi / s.inner, i = oi % s.inner;
    for (int64_t j = 0; j < m; ++j)
      po[(o * s.n + pi[j]) * s.inner + i] += ps[(o * m + j) * s.inner + i];
  });
}

#define GOM_VISIT(t, fn, ...) \
  visit_dtype(t, [&](auto* tag) { fn<std::remove_pointer_t<decltype(tag)>>(__VA_ARGS__); })

void gather(const KernelCall& c) {
  const Tensor src = dense(c.in[0]), index = dense(c.in[1]);
  GOM_VISIT(src.dtype(), gather_typed, src, c.attrs.i("dim"), index, c.out[0]);
}
void scatter_add(const KernelCall& c) {
  const Tensor index = dense(c.in[0]), src = dense(c.in[1]);
  GOM_VISIT(src.dtype(), scatter_add_typed, c.out[0], c.attrs.i("dim"), index, src);
}
void index_select(const KernelCall& c) {
  const Tensor src = dense(c.in[0]), index = dense(c.in[1]);
  GOM_VISIT(src.dtype(), index_select_typed, src, c.attrs.i("dim"), index, c.out[0]);
}
void index_add(const KernelCall& c) {
  const Tensor index = dense(c.in[0]), src = dense(c.in[1]);
  GOM_VISIT(src.dtype(), index_add_typed, c.out[0], c.attrs.i("dim"), index, src);
}

}  // namespace

void register_index(const std::string& provider) {
  register_cpu_kernel("gather", gather, provider);
  register_cpu_kernel("scatter_add", scatter_add, provider);
  register_cpu_kernel("index_select", index_select, provider);
  register_cpu_kernel("index_add", index_add, provider);
}

}  // namespace gom::onednn
