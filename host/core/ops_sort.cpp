// Sorting ops: sort, argsort and topk (the backend's sort kernel; values differentiable by
// scattering their gradient back to where they came from) and unique (on the host: its size
// depends on the data).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

ValuesIndices sorted_prefix(const Tensor& a, int64_t dim, bool descending, int64_t k,
                            const char* op) {
  if (a.dim() == 0) {
    // A 0-d tensor is its own sort, as in PyTorch (a view, so its gradient passes).
    return {reshape(a, {}), zeros({}, {DType::I64, a.device()})};
  }
  dim = wrap_dim(dim, a.dim(), op);
  const int64_t n = a.shape()[dim];
  if (k < 0 || k > n)
    throw Error(fmt::format("{}: k = {} is out of range for dimension {} of size {} (shape {})", op,
                            k, dim, n, shape_str(a.shape())));
  Shape sh = a.shape();
  sh[dim] = k;
  Tensor values = empty_as(sh, a), indices = Tensor::empty(sh, {DType::I64, a.device()});
  run_kernel("sort", {a}, {values, indices},
             {{"dim", dim}, {"k", k}, {"descending", int64_t(descending)}});
  if (needs_grad({&a}))
    record(op, {a}, {values}, [s = a.shape(), dim, indices](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{scatter_add(zeros(s, g[0].options()), dim, indices, g[0])};
    });
  return {values, indices};
}

int64_t dim_size(const Tensor& a, int64_t dim, const char* op) {
  return a.dim() == 0 ? 1 : a.shape()[wrap_dim(dim, a.dim(), op)];
}

// unique's work on one host type: sorted distinct values, inverse positions and counts.
template <class T>
UniqueResult unique_typed(const Tensor& a, bool return_inverse, bool return_counts) {
  const std::vector<T> v = a.to(kCPU).contiguous().template to_vector<T>();
  std::map<T, int64_t> count;  // ordered: the keys come out sorted
  for (T x : v) {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(x))
        throw Error("unique: the tensor holds NaN, which has no place in an order");
    ++count[x];
  }
  std::vector<T> values;
  std::vector<int64_t> counts;
  for (const auto& [x, c] : count) {
    values.push_back(x);
    counts.push_back(c);
  }
  const int64_t n = int64_t(values.size());
  UniqueResult r;
  if constexpr (std::is_same_v<T, float>)
    r.values = tensor(values, {n});
  else
    r.values = tensor_i64(std::vector<int64_t>(values.begin(), values.end()), {n});
  r.values = r.values.to(a.dtype()).to(a.device());
  if (return_inverse) {
    std::vector<int64_t> inv;
    for (T x : v) inv.push_back(std::lower_bound(values.begin(), values.end(), x) - values.begin());
    r.inverse = tensor_i64(inv, a.shape()).to(a.device());
  }
  if (return_counts) r.counts = tensor_i64(counts, {n}).to(a.device());
  return r;
}

}  // namespace

ValuesIndices sort(const Tensor& a, int64_t dim, bool descending) {
  return sorted_prefix(a, dim, descending, dim_size(a, dim, "sort"), "sort");
}

Tensor argsort(const Tensor& a, int64_t dim, bool descending) {
  NoGrad ng;
  return sorted_prefix(a, dim, descending, dim_size(a, dim, "argsort"), "argsort").indices;
}

ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim, bool largest) {
  return sorted_prefix(a, dim, largest, k, "topk");
}

UniqueResult unique(const Tensor& a, bool return_inverse, bool return_counts) {
  switch (a.dtype()) {
    case DType::F32:
      return unique_typed<float>(a, return_inverse, return_counts);
    case DType::I64:
      return unique_typed<int64_t>(a, return_inverse, return_counts);
    case DType::I32:
      return unique_typed<int32_t>(a, return_inverse, return_counts);
  }
  throw Error("unique: unknown dtype");
}

}  // namespace gom
