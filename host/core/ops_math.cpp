// Math ops: log1p, expm1, sign, clamp, the activations elu, selu, softplus, mish, hardswish and
// silu, where and masked_fill, min and argmin, var and std, cumsum.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// A unary kernel op whose backward reads its input; alpha and beta are its parameters.
Tensor math_unary(const Tensor& a, UnaryOp op, const char* name, double alpha = 0,
                  double beta = 0) {
  check_float(a, name, "input");
  Tensor out = empty_as(a.shape(), a);
  const Attrs attrs{{"op", int64_t(op)}, {"alpha", alpha}, {"beta", beta}};
  run_kernel("unary", {a}, {out}, attrs);
  if (needs_grad({&a}))
    record(name, {a}, {out}, [a, attrs](const std::vector<Tensor>& g) {
      Tensor gx = empty_as(g[0].shape(), g[0]);
      run_kernel("unary_backward", {g[0], a}, {gx}, attrs);
      return std::vector<Tensor>{gx};
    });
  return out;
}

// The number of elements a reduction over `dims` folds into one.
int64_t reduced_count(const Tensor& a, const std::vector<int64_t>& dims, const char* op) {
  int64_t n = 1;
  std::vector<bool> seen(a.dim(), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, a.dim(), op);
    if (!seen[w]) n *= a.shape()[w];
    seen[w] = true;
  }
  return n;
}

std::vector<int64_t> every_dim(const Tensor& a) {
  std::vector<int64_t> d(a.dim());
  for (int64_t i = 0; i < a.dim(); ++i) d[i] = i;
  return d;
}

// cumsum from the start (reverse = false) or the end of dim; each is the other's backward.
Tensor cumsum_dir(const Tensor& a, int64_t dim, bool reverse) {
  Tensor out = empty_as(a.shape(), a);
  run_kernel("cumsum", {a}, {out}, {{"dim", dim}, {"reverse", int64_t(reverse)}});
  if (needs_grad({&a}))
    record("cumsum", {a}, {out}, [dim, reverse](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{cumsum_dir(g[0], dim, !reverse)};
    });
  return out;
}

}  // namespace

Tensor log1p(const Tensor& a) {
  return math_unary(a, UnaryOp::Log1p, "log1p");
}
Tensor expm1(const Tensor& a) {
  return math_unary(a, UnaryOp::Expm1, "expm1");
}
Tensor sign(const Tensor& a) {
  return math_unary(a, UnaryOp::Sign, "sign");
}
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  if (!min && !max) throw Error("clamp: at least one of min and max must be given");
  constexpr double inf = std::numeric_limits<double>::infinity();
  return math_unary(a, UnaryOp::Clamp, "clamp", min.value_or(-inf), max.value_or(inf));
}
Tensor elu(const Tensor& a, double alpha) {
  return math_unary(a, UnaryOp::Elu, "elu", alpha);
}
Tensor selu(const Tensor& a) {
  return math_unary(a, UnaryOp::Selu, "selu");
}
Tensor softplus(const Tensor& a, double beta, double threshold) {
  if (beta == 0) throw Error("softplus: beta must not be 0");
  return math_unary(a, UnaryOp::Softplus, "softplus", beta, threshold);
}
Tensor mish(const Tensor& a) {
  return math_unary(a, UnaryOp::Mish, "mish");
}
Tensor hardswish(const Tensor& a) {
  return math_unary(a, UnaryOp::Hardswish, "hardswish");
}
Tensor silu(const Tensor& a) {
  return math_unary(a, UnaryOp::Silu, "silu");
}

// ---------------------------------------------------------------- where, masked_fill

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device(cond, a, "where");
  check_same_device(a, b, "where");
  if (cond.dtype() != DType::F32)
    throw Error(
        fmt::format("where: the condition must be an f32 0/1 mask (a comparison's "
                    "result), got {}",
                    dtype_name(cond.dtype())));
  if (a.dtype() != b.dtype())
    throw Error(fmt::format("where: dtypes differ ({} and {}); convert one with .to()",
                            dtype_name(a.dtype()), dtype_name(b.dtype())));
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.options());
  run_kernel("where", {raw_expand(cond, shape), raw_expand(a, shape), raw_expand(b, shape)}, {out});
  if (needs_grad({&a, &b}))
    record("where", {a, b}, {out},
           [c = cond.detach(), sa = a.shape(), sb = b.shape(), ra = a.requires_grad(),
            rb = b.requires_grad()](const std::vector<Tensor>& g) {
             const Tensor zero = zeros({}, g[0].options());
             return std::vector<Tensor>{ra ? sum_to(where(c, g[0], zero), sa) : Tensor(),
                                        rb ? sum_to(where(c, zero, g[0]), sb) : Tensor()};
           });
  return out;
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, double value) {
  if (broadcast_shapes(t.shape(), mask.shape(), "masked_fill") != t.shape())
    throw Error(
        fmt::format("masked_fill: the mask of shape {} does not broadcast to the "
                    "tensor's shape {}",
                    shape_str(mask.shape()), shape_str(t.shape())));
  return where(mask, full({}, value, t.options()), t);
}

// ---------------------------------------------------------------- reductions

Tensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "argmin");
  if (a.dim() > 0 && a.shape()[dim] == 0) throw Error("argmin: cannot reduce an empty dimension");
  Shape ks = a.shape();
  if (a.dim() > 0) ks[dim] = 1;
  Tensor out = Tensor::empty(ks, {DType::I64, a.device()});
  run_kernel("argmin", {a}, {out}, {{"dim", dim}});
  return keepdim || a.dim() == 0 ? out : out.squeeze(dim);
}

// The value at the arg-min, so the gradient flows to that one element (as torch.min(dim)).
Tensor min(const Tensor& a, int64_t dim, bool keepdim) {
  check_float(a, "min", "input");
  const int64_t d = wrap_dim(dim, a.dim(), "min");
  Tensor v = gather(a, d, argmin(a, d, true));
  return keepdim ? v : v.squeeze(d);
}

// sum((a - mean)^2) / (n - 1 or n), composed of differentiable ops. n - 1 = 0 divides by zero
// and gives NaN or inf, as torch does.
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, bool unbiased, bool keepdim) {
  check_float(a, "var", "input");
  const int64_t n = reduced_count(a, dims, "var");
  const Tensor centred = sub(a, mean(a, dims, true));
  const Tensor ss = sum(mul(centred, centred), dims, keepdim);
  const double denom = static_cast<double>(n - (unbiased ? 1 : 0));
  return denom > 0 ? mul(ss, 1.0 / denom) : div(ss, zeros({}, ss.options()));
}
Tensor var(const Tensor& a, bool unbiased) {
  return var(a, every_dim(a), unbiased, false);
}
Tensor std(const Tensor& a, const std::vector<int64_t>& dims, bool unbiased, bool keepdim) {
  return sqrt(var(a, dims, unbiased, keepdim));
}
Tensor std(const Tensor& a, bool unbiased) {
  return sqrt(var(a, unbiased));
}

Tensor cumsum(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, std::max<int64_t>(a.dim(), 1), "cumsum");
  if (a.dim() == 0) return cumsum(a.reshape({1}), 0).reshape({});
  if (a.dtype() != DType::F32 && a.requires_grad())
    throw Error("cumsum: only f32 tensors can require grad");
  return cumsum_dir(a, d, false);
}

}  // namespace gom
