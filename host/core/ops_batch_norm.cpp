// batch_norm: argument checks, the running-statistics update and the recorded backward. The
// normalisation itself runs in the backend's batch_norm_* kernels (contracts in ops_norm.h).
#include <fmt/format.h>

#include "gom/ops_norm.h"
#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// A per-channel tensor must be [C]; the message names the argument and both shapes.
void check_channels(const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  check_float(t, "batch_norm", what);
  check_same_device(t, x, "batch_norm");
  const int64_t c = x.shape()[1];
  if (t.dim() != 1 || t.shape()[0] != c)
    throw Error(fmt::format(
        "batch_norm: {} of shape {} does not match the input of shape {} (expected [{}]: one "
        "value per channel, the input's dim 1)",
        what, shape_str(t.shape()), shape_str(x.shape()), c));
}

// The shape the kernels see: [N, C] stays, [N, C, d2, d3, ...] becomes [N, C, d2*d3*...].
Shape kernel_shape(const Shape& s) {
  if (s.size() == 2) return s;
  int64_t spatial = 1;
  for (size_t d = 2; d < s.size(); ++d) spatial *= s[d];
  return {s[0], s[1], spatial};
}

// r = (1 - momentum) * r + momentum * stat, in place and off the graph.
void update_running(Tensor r, const Tensor& stat, double momentum) {
  NoGrad ng;
  mul_(r, 1.0 - momentum);
  add_(r, stat, momentum);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  check_float(x, "batch_norm", "input");
  if (x.dim() < 2)
    throw Error(fmt::format(
        "batch_norm: input of shape {} has no channel dim (expected [N, C], [N, C, L] or "
        "[N, C, H, W])",
        shape_str(x.shape())));
  check_channels(weight, "weight", x);
  check_channels(bias, "bias", x);
  check_channels(running_mean, "running_mean", x);
  check_channels(running_var, "running_var", x);
  if (running_mean.defined() != running_var.defined())
    throw Error("batch_norm: running_mean and running_var go together: give both or neither");
  if (!training && !running_mean.defined())
    throw Error(
        "batch_norm: outside training the running statistics normalise, and none were given "
        "(without running_mean and running_var, pass training = true to use the batch's)");
  if (eps < 0) throw Error(fmt::format("batch_norm: eps = {} must be >= 0", eps));
  const int64_t c = x.shape()[1];
  const int64_t per_channel = c == 0 ? 0 : x.numel() / c;
  if (training && per_channel == 1)
    throw Error(fmt::format(
        "batch_norm: expected more than 1 value per channel when training, got input of shape {}",
        shape_str(x.shape())));

  const bool affine = weight.defined() || bias.defined();
  const Shape ks = kernel_shape(x.shape());
  Tensor y = empty_as(ks, x), mean, var;
  const Attrs attrs{{"eps", eps}, {"affine", int64_t(affine)}};
  Tensor xk, w, b;  // the kernels' operands, cut from the graph (record() below adds the node)
  {
    NoGrad ng;
    xk = reshape(x.detach().contiguous(), ks);
    if (affine) {
      w = weight.defined() ? weight.detach().contiguous() : ones({c}, x.options());
      b = bias.defined() ? bias.detach().contiguous() : zeros({c}, x.options());
    }
    if (training) {
      mean = empty_as({c}, x);
      var = empty_as({c}, x);
      // An empty batch has no statistics: nothing runs and the running ones stay.
      if (x.numel() > 0 && affine)
        run_kernel("batch_norm_training", {xk, w, b}, {y, mean, var}, attrs);
      else if (x.numel() > 0)
        run_kernel("batch_norm_training", {xk}, {y, mean, var}, attrs);
      if (running_mean.defined() && x.numel() > 0) {
        update_running(running_mean, mean, momentum);
        const double n = double(per_channel);
        update_running(running_var, mul(var, n / (n - 1)), momentum);  // unbiased, as PyTorch
      }
    } else {
      // Copies: the running statistics may change in place before the backward runs.
      mean = running_mean.clone();
      var = running_var.clone();
      if (x.numel() > 0 && affine)
        run_kernel("batch_norm_inference", {xk, mean, var, w, b}, {y}, attrs);
      else if (x.numel() > 0)
        run_kernel("batch_norm_inference", {xk, mean, var}, {y}, attrs);
    }
  }
  Tensor out = make_view(y, x.shape(), contiguous_strides(x.shape()), 0);
  if (needs_grad({&x, &weight, &bias}))
    record("batch_norm", {x, weight, bias}, {out},
           [xk, w, mean, var, ks, xs = x.shape(), eps, affine, training, rx = x.requires_grad(),
            rw = weight.defined() && weight.requires_grad(),
            rb = bias.defined() && bias.requires_grad()](const std::vector<Tensor>& g) {
             const int64_t c = xs[1];
             NoGrad ng;  // the backward is one kernel: not differentiable twice
             Tensor gy = reshape(g[0].contiguous(), ks);
             Tensor gx = empty_as(ks, gy), gw, gb;
             const Attrs a{
                 {"eps", eps}, {"affine", int64_t(affine)}, {"global_stats", int64_t(!training)}};
             if (affine) {
               gw = empty_as({c}, gy);
               gb = empty_as({c}, gy);
               if (gy.numel() > 0)
                 run_kernel("batch_norm_backward", {gy, xk, mean, var, w}, {gx, gw, gb}, a);
               else
                 zero_(gw), zero_(gb);  // an empty batch contributes nothing
             } else if (gy.numel() > 0) {
               run_kernel("batch_norm_backward", {gy, xk, mean, var}, {gx}, a);
             }
             return std::vector<Tensor>{
                 rx ? make_view(gx, xs, contiguous_strides(xs), 0) : Tensor(), rw ? gw : Tensor(),
                 rb ? gb : Tensor()};
           });
  return out;
}

}  // namespace gom
