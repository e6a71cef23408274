// Reductions: sum, mean, max, argmax, and sum_to (the backward of broadcasting).
#include <fmt/format.h>

#include <algorithm>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// The keepdim shape and the sorted, de-duplicated dims of a reduction.
std::vector<int64_t> norm_dims(const Tensor& a, const std::vector<int64_t>& dims, const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, a.dim(), op));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Shape keep_shape(const Tensor& a, const std::vector<int64_t>& dims) {
  Shape s = a.shape();
  for (int64_t d : dims)
    if (d < a.dim()) s[d] = 1;
  return s;
}

Shape drop_shape(const Tensor& a, const std::vector<int64_t>& dims) {
  Shape s;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) s.push_back(a.shape()[d]);
  return s;
}

Tensor reduce_raw(const Tensor& a, const std::vector<int64_t>& dims, ReduceOp op) {
  // A reduced dim of stride 0 (a broadcast, such as the gradient of sum() spread back over its
  // input) holds one value repeated: it is summed as that value times its size, instead of
  // reading it size times through a strided path.
  Tensor src = a;
  int64_t repeats = 1;
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
    Shape sh = a.shape();
    for (int64_t d : dims)
      if (d < a.dim() && a.strides()[d] == 0 && sh[d] > 1) {
        repeats *= sh[d];
        sh[d] = 1;
      }
    if (repeats > 1) src = make_view(a, sh, a.strides(), a.offset());
  }
  Tensor out = empty_as(keep_shape(a, dims), a);
  run_kernel("reduce", {src}, {out}, {{"op", int64_t(op)}});
  if (op == ReduceOp::Sum && repeats > 1) mul_(out, double(repeats));
  return out;
}

// sum or mean; the backward broadcasts the gradient back (scaled by 1/n for the mean).
Tensor sum_or_mean(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim, bool mean) {
  const char* name = mean ? "mean" : "sum";
  check_float(a, name, "input");
  const auto dims = norm_dims(a, dims_in, name);
  Tensor out = reduce_raw(a, dims, mean ? ReduceOp::Mean : ReduceOp::Sum);
  if (!keepdim) {
    const Shape dropped = drop_shape(a, dims);
    out = make_view(out, dropped, contiguous_strides(dropped), 0);
  }
  if (needs_grad({&a})) {
    int64_t n = 1;
    for (int64_t d : dims) n *= a.shape()[d];
    record(name, {a}, {out},
           [s = a.shape(), ks = keep_shape(a, dims),
            scale = mean ? 1.0 / std::max<int64_t>(n, 1) : 1.0](const std::vector<Tensor>& g) {
             Tensor gk = reshape(g[0], ks);
             if (scale != 1.0) gk = mul(gk, scale);
             return std::vector<Tensor>{expand(gk, s)};
           });
  }
  return out;
}

std::vector<int64_t> all_dims(const Tensor& a) {
  std::vector<int64_t> d(a.dim());
  for (int64_t i = 0; i < a.dim(); ++i) d[i] = i;
  return d;
}

}  // namespace

Tensor sum(const Tensor& a) {
  return sum_or_mean(a, all_dims(a), false, false);
}
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(a, dims, keepdim, false);
}
Tensor mean(const Tensor& a) {
  return sum_or_mean(a, all_dims(a), false, true);
}
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(a, dims, keepdim, true);
}

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "argmax");
  if (a.dim() > 0 && a.shape()[dim] == 0) throw Error("argmax: cannot reduce an empty dimension");
  Tensor out = Tensor::empty(keep_shape(a, {dim}), {DType::I64, a.device()});
  run_kernel("argmax", {a}, {out}, {{"dim", dim}});
  return keepdim ? out : out.squeeze(dim);
}

// The value at the arg-max, so the gradient flows to that one element (as torch.max(dim)).
Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  check_float(a, "max", "input");
  const int64_t d = wrap_dim(dim, a.dim(), "max");
  Tensor v = gather(a, d, argmax(a, d, true));
  return keepdim ? v : v.squeeze(d);
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  const int64_t lead = a.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0)
    throw Error(fmt::format("sum_to: cannot sum shape {} to the larger {}", shape_str(a.shape()),
                            shape_str(shape)));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && a.shape()[d] != 1)) dims.push_back(d);
  Tensor s = dims.empty() ? a : sum(a, dims, true);
  return reshape(s, shape);
}

}  // namespace gom
