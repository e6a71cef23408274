// Indexing ops: gather/scatter_add and index_select/index_add (embedding lookups and their
// backward), each the other's gradient.
#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

void check_index(const Tensor& index, const Tensor& src, const char* op) {
  check_same_device(src, index, op);
  if (index.dtype() != DType::I64)
    throw Error(fmt::format("{}: index must be i64, got {}", op, dtype_name(index.dtype())));
}

// gather/scatter_add: index has src's rank and is no larger in any dim but `dim`.
void check_gather_shape(const Tensor& src, int64_t dim, const Tensor& index, const char* op) {
  bool ok = index.dim() == src.dim();
  for (int64_t d = 0; ok && d < src.dim(); ++d) ok = d == dim || index.shape()[d] <= src.shape()[d];
  if (!ok)
    throw Error(
        fmt::format("{}: index of shape {} does not fit a tensor of shape {} along "
                    "dimension {} (same rank, no larger outside that dimension)",
                    op, shape_str(index.shape()), shape_str(src.shape()), dim));
}

}  // namespace

Tensor gather(const Tensor& src, int64_t dim, const Tensor& index) {
  check_index(index, src, "gather");
  dim = wrap_dim(dim, src.dim(), "gather");
  check_gather_shape(src, dim, index, "gather");
  Tensor out = Tensor::empty(index.shape(), src.options());
  run_kernel("gather", {src, index}, {out}, {{"dim", dim}});
  if (needs_grad({&src}))
    record("gather", {src}, {out}, [s = src.shape(), dim, index](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{scatter_add(zeros(s, g[0].options()), dim, index, g[0])};
    });
  return out;
}

Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index(index, t, "scatter_add");
  dim = wrap_dim(dim, t.dim(), "scatter_add");
  check_gather_shape(t, dim, index, "scatter_add");
  if (src.shape() != index.shape() || src.dtype() != t.dtype())
    throw Error(
        fmt::format("scatter_add: src must have the index's shape {} and the tensor's "
                    "dtype {}, got {} {}",
                    shape_str(index.shape()), dtype_name(t.dtype()), shape_str(src.shape()),
                    dtype_name(src.dtype())));
  Tensor out = t.detach().clone();
  run_kernel("scatter_add", {index, src}, {out}, {{"dim", dim}});
  if (needs_grad({&t, &src}))
    record("scatter_add", {t, src}, {out}, [dim, index](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], gather(g[0], dim, index)};
    });
  return out;
}

Tensor index_select(const Tensor& src, int64_t dim, const Tensor& index) {
  check_index(index, src, "index_select");
  dim = wrap_dim(dim, src.dim(), "index_select");
  if (index.dim() != 1)
    throw Error("index_select: index must be 1-d, got shape " + shape_str(index.shape()));
  Shape s = src.shape();
  s[dim] = index.shape()[0];
  Tensor out = Tensor::empty(s, src.options());
  run_kernel("index_select", {src, index}, {out}, {{"dim", dim}});
  if (needs_grad({&src}))
    record("index_select", {src}, {out},
           [s0 = src.shape(), dim, index](const std::vector<Tensor>& g) {
             return std::vector<Tensor>{index_add(zeros(s0, g[0].options()), dim, index, g[0])};
           });
  return out;
}

Tensor index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index(index, t, "index_add");
  dim = wrap_dim(dim, t.dim(), "index_add");
  Shape want = t.shape();
  if (index.dim() == 1) want[dim] = index.shape()[0];
  if (index.dim() != 1 || src.shape() != want || src.dtype() != t.dtype())
    throw Error(
        fmt::format("index_add: expected a 1-d index and src of shape {} ({}), got index "
                    "{} and src {} ({})",
                    shape_str(want), dtype_name(t.dtype()), shape_str(index.shape()),
                    shape_str(src.shape()), dtype_name(src.dtype())));
  Tensor out = t.detach().clone();
  run_kernel("index_add", {index, src}, {out}, {{"dim", dim}});
  if (needs_grad({&t, &src}))
    record("index_add", {t, src}, {out}, [dim, index](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], index_select(g[0], dim, index)};
    });
  return out;
}

}  // namespace gom
