// Gradient clipping by total norm or by value (gom/grad_clip.h), as torch.nn.utils does it.
#include "gom/grad_clip.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "gom/autograd.h"
#include "gom/error.h"
#include "gom/ops.h"

namespace gom {
namespace {

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

double norm_of(const std::vector<Tensor>& grads, double p) {
  if (!(p > 0))
    throw Error(
        fmt::format("grad_norm: norm_type must be > 0 (2 for the L2 norm, inf for the "
                    "largest element), got {}",
                    p));
  if (grads.empty()) return 0;
  NoGrad ng;
  if (std::isinf(p)) {
    double largest = 0;
    for (const Tensor& g : grads)
      if (g.numel() > 0) {
        const double m = max(reshape(abs(g), {-1}), 0).item();
        if (std::isnan(m) || m > largest) largest = m;
        if (std::isnan(largest)) break;
      }
    return largest;
  }
  Tensor acc;  // the sum of |g|^p on the device, then one scalar read
  for (const Tensor& g : grads) {
    const Tensor part = p == 2 ? sum(mul(g, g)) : sum(pow(abs(g), p));
    acc = acc.defined() ? add(acc, part) : part;
  }
  const double total = acc.item();
  return p == 2 ? std::sqrt(total) : p == 1 ? total : std::pow(total, 1.0 / p);
}

// The norm as a 0-d tensor on the gradients' device (p > 0 checked by the caller).
Tensor norm_tensor(const std::vector<Tensor>& grads, double p) {
  NoGrad ng;
  Tensor acc;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    const Tensor part = std::isinf(p) ? max(reshape(abs(g), {-1}), 0)
                        : p == 2      ? sum(mul(g, g))
                                      : sum(pow(abs(g), p));
    acc = !acc.defined() ? part : std::isinf(p) ? maximum(acc, part) : add(acc, part);
  }
  if (!acc.defined()) return zeros({}, grads.front().options());
  return std::isinf(p) ? acc : p == 2 ? sqrt(acc) : p == 1 ? acc : pow(acc, 1.0 / p);
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  return norm_of(grads_of(params), norm_type);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  if (!(max_norm >= 0))
    throw Error(fmt::format("clip_grad_norm: max_norm must be >= 0, got {}", max_norm));
  std::vector<Tensor> grads = grads_of(params);
  const double total = norm_of(grads, norm_type);
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1)) {  // NaN included: every gradient becomes NaN
    NoGrad ng;
    for (Tensor& g : grads) mul_(g, coef);
  }
  return total;
}

Tensor clip_grad_norm_device_(const std::vector<Tensor>& params, double max_norm,
                              double norm_type) {
  if (!(max_norm >= 0))
    throw Error(fmt::format("clip_grad_norm: max_norm must be >= 0, got {}", max_norm));
  if (!(norm_type > 0))
    throw Error(fmt::format("grad_norm: norm_type must be > 0, got {}", norm_type));
  std::vector<Tensor> grads = grads_of(params);
  if (grads.empty()) return {};
  const Tensor total = norm_tensor(grads, norm_type);
  NoGrad ng;
  const TensorOptions o = total.options();
  // min(1, max_norm / (total + eps)): gradients below the limit are multiplied by exactly 1.
  const Tensor coef =
      minimum(div(scalar(max_norm, o), add(total, scalar(1e-6, o))), scalar(1.0, o));
  for (Tensor& g : grads) mul_(g, coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0))
    throw Error(fmt::format("clip_grad_value: clip_value must be >= 0, got {}", clip_value));
  std::vector<Tensor> grads = grads_of(params);
  if (grads.empty()) return;
  NoGrad ng;
  for (Tensor& g : grads) {
    const Tensor hi = scalar(clip_value, {g.dtype(), g.device()});
    const Tensor lo = scalar(-clip_value, {g.dtype(), g.device()});
    copy_(g, maximum(minimum(g, hi), lo));
  }
}

}  // namespace gom
