// Linear algebra: svd (LAPACK's sgesdd in the backend) and an exact pca_lowrank on top of it.
#include <fmt/format.h>

#include <algorithm>

#include "ops_internal.h"

namespace gom {
using namespace detail;

Svd svd(const Tensor& a, bool full_matrices) {
  if (a.dim() < 2)
    throw Error(fmt::format("svd: expects a matrix or a batch of them [..., M, N], got shape {}",
                            shape_str(a.shape())));
  check_float(a, "svd", "input");
  NoGrad no_grad;  // not differentiable: the results never require grad
  const Shape& s = a.shape();
  const int64_t m = s[s.size() - 2], n = s[s.size() - 1], k = std::min(m, n);
  const Shape batch(s.begin(), s.end() - 2);
  int64_t b = 1;
  for (int64_t d : batch) b *= d;
  const Tensor flat = a.detach().contiguous().reshape({b, m, n}).contiguous();
  const int64_t ucols = full_matrices ? m : k, vrows = full_matrices ? n : k;
  Svd r{Tensor::empty({b, m, ucols}, a.options()), Tensor::empty({b, k}, a.options()),
        Tensor::empty({b, vrows, n}, a.options())};
  run_kernel("svd", {flat}, {r.U, r.S, r.Vh}, {{"full_matrices", int64_t(full_matrices)}});
  auto with_batch = [&](Shape tail) {
    Shape out = batch;
    out.insert(out.end(), tail.begin(), tail.end());
    return out;
  };
  return {r.U.reshape(with_batch({m, ucols})), r.S.reshape(with_batch({k})),
          r.Vh.reshape(with_batch({vrows, n}))};
}

PcaLowrank pca_lowrank(const Tensor& a, std::optional<int64_t> q, bool center) {
  if (a.dim() < 2)
    throw Error(
        fmt::format("pca_lowrank: expects a matrix or a batch of them [..., M, N], got shape {}",
                    shape_str(a.shape())));
  NoGrad no_grad;
  const int64_t m = a.shape()[a.dim() - 2], n = a.shape()[a.dim() - 1];
  const int64_t k = std::min(m, n), cut = q.value_or(std::min<int64_t>(6, k));
  if (cut < 0 || cut > k)
    throw Error(
        fmt::format("pca_lowrank: q = {} is out of range for a {}x{} matrix (expected 0 "
                    "to min(M, N) = {})",
                    cut, m, n, k));
  const Tensor x = center ? sub(a, mean(a, {-2}, true)) : a.detach();
  const Svd d = svd(x, false);
  return {d.U.slice(-1, 0, cut).contiguous(), d.S.slice(-1, 0, cut).contiguous(),
          d.Vh.slice(-2, 0, cut).transpose(-2, -1).contiguous()};
}

}  // namespace gom
