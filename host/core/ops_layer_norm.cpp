// layer_norm: argument checks, the forward kernel, and a backward node that calls
// layer_norm_backward with the saved mean and variance (no second pass over the statistics).
#include <fmt/format.h>

#include "gom/ops_norm.h"
#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// weight or bias, when given, has exactly normalized_shape.
void check_affine(const Tensor& t, const Shape& ns, const Tensor& x, const char* what) {
  if (!t.defined()) return;
  check_float(t, "layer_norm", what);
  check_same_device(x, t, "layer_norm");
  if (t.shape() != ns)
    throw Error(fmt::format("layer_norm: {} of shape {} does not match normalized_shape {}", what,
                            shape_str(t.shape()), shape_str(ns)));
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& ns, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_float(x, "layer_norm", "input");
  if (ns.empty()) throw Error("layer_norm: normalized_shape is empty; give at least one dim");
  const int64_t k = static_cast<int64_t>(ns.size());
  if (x.dim() < k || !std::equal(ns.begin(), ns.end(), x.shape().end() - k))
    throw Error(fmt::format(
        "layer_norm: input of shape {} does not end with normalized_shape {} (expected [..., {}])",
        shape_str(x.shape()), shape_str(ns), fmt::join(ns, ", ")));
  if (!(eps > 0)) throw Error(fmt::format("layer_norm: eps = {} must be positive", eps));
  check_affine(weight, ns, x, "weight");
  check_affine(bias, ns, x, "bias");
  const int64_t d = shape_numel(ns), m = d == 0 ? 0 : x.numel() / d;
  Tensor y = empty_as(x.shape(), x);
  Tensor mean = empty_as({m}, x), var = empty_as({m}, x);
  const Attrs attrs{{"d", d}, {"eps", eps}};
  run_kernel("layer_norm", {x, weight, bias}, {y, mean, var}, attrs);
  if (needs_grad({&x, &weight, &bias}))
    record("layer_norm", {x, weight, bias}, {y},
           [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, var, attrs,
            has_b = bias.defined(), ns](const std::vector<Tensor>& g) {
             Tensor gx = empty_as(x.shape(), x);
             Tensor gw = w.defined() ? empty_as(ns, x) : Tensor();
             Tensor gb = has_b ? empty_as(ns, x) : Tensor();
             run_kernel("layer_norm_backward", {g[0], x, mean, var, w}, {gx, gw, gb}, attrs);
             return std::vector<Tensor>{gx, gw, gb};
           });
  return y;
}

}  // namespace gom
