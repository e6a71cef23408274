// tests/gradcheck.h — a finite-difference gradient checker for gom ops (test-only).
//
// gradcheck(f, inputs) compares the gradients autograd computes for f at `inputs` with central
// differences. The scalar differentiated is sum(f(inputs) * W) for fixed random weights W, so
// every output element matters and no two of them can cancel by symmetry; the analytical side
// gets it as out.backward(W), which is the same gradient without recording extra ops.
//
// Inputs may be non-contiguous views (transposed, sliced with a step, expanded). The analytical
// side differentiates with respect to the view itself (a leaf with the view's layout); the
// numerical side perturbs one logical element of a contiguous copy, so an expanded input's shared
// storage does not move several elements at once. That is sound only if f gives the same result
// on a view and on its contiguous copy, which gradcheck checks too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace gom_test {

struct GradcheckOptions {
  double eps = 1e-2;   ///< central-difference step (float32 needs a large one)
  double atol = 2e-2;  ///< absolute tolerance
  double rtol = 2e-2;  ///< tolerance relative to the largest numerical gradient of the input
  uint64_t seed = 7;   ///< seed of the output weights W
  /// Which inputs to differentiate; empty means every f32 input.
  std::vector<bool> check;
  /// Tolerance of "a view gives the same forward as its contiguous copy".
  double layout_rtol = 1e-5, layout_atol = 1e-6;
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  ///< one line per problem; empty when ok
  int checked_elements = 0;
};

using GradFn = std::function<gom::Tensor(const std::vector<gom::Tensor>&)>;

namespace gradcheck_detail {

inline bool wants_grad(const std::vector<gom::Tensor>& inputs, const GradcheckOptions& o,
                       size_t i) {
  if (inputs[i].dtype() != gom::DType::F32) return false;
  return o.check.empty() || (i < o.check.size() && o.check[i]);
}

// The scalar sum(out * w), accumulated in double so float32 rounding stays out of the difference.
inline double weighted_sum(const gom::Tensor& out, const std::vector<float>& w) {
  const std::vector<float> v = out.to_vector<float>();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * w[i];
  return s;
}

// f at `inputs` with the logical element `j` of input `i` replaced by `value`, in a contiguous
// copy of that input.
inline double eval_perturbed(const GradFn& f, std::vector<gom::Tensor> inputs, size_t i,
                             std::vector<float> values, size_t j, float value,
                             const std::vector<float>& w) {
  values[j] = value;
  inputs[i] = gom::tensor(values, inputs[i].shape(), inputs[i].device());
  gom::NoGrad no_grad;
  return weighted_sum(f(inputs), w);
}

// Compares one input's analytical gradient with central differences; appends problems to `rep`.
inline void check_input(const GradFn& f, const std::vector<gom::Tensor>& inputs, size_t i,
                        const gom::Tensor& analytical, const std::vector<float>& w,
                        const GradcheckOptions& o, GradcheckResult& r, std::ostringstream& rep) {
  const gom::Tensor& x = inputs[i];
  std::vector<float> av(static_cast<size_t>(x.numel()), 0.0f);  // no gradient means zeros
  if (analytical.defined()) {
    if (analytical.shape() != x.shape()) {
      rep << "input " << i << ": gradient has shape " << gom::shape_str(analytical.shape())
          << ", input has " << gom::shape_str(x.shape()) << "\n";
      r.ok = false;
      return;
    }
    av = analytical.to_vector<float>();
  }
  const std::vector<float> base = x.to_vector<float>();
  std::vector<double> num(base.size());
  double max_mag = 0;
  for (size_t j = 0; j < base.size(); ++j) {
    const float hi = base[j] + static_cast<float>(o.eps), lo = base[j] - static_cast<float>(o.eps);
    const double fp = eval_perturbed(f, inputs, i, base, j, hi, w);
    const double fm = eval_perturbed(f, inputs, i, base, j, lo, w);
    num[j] = (fp - fm) / (static_cast<double>(hi) - static_cast<double>(lo));
    max_mag = std::max(max_mag, std::fabs(num[j]));
  }
  const double tol = o.atol + o.rtol * max_mag;
  int shown = 0;
  for (size_t j = 0; j < base.size(); ++j) {
    ++r.checked_elements;
    if (std::fabs(av[j] - num[j]) <= tol) continue;  // also false for NaN
    r.ok = false;
    if (shown++ < 6)
      rep << "input " << i << " " << gom::shape_str(x.shape()) << " element " << j
          << ": analytical " << av[j] << " numerical " << num[j] << " (tol " << tol << ")"
          << (analytical.defined() ? "" : " [no gradient reached the input]") << "\n";
  }
}

// A non-contiguous input must give the same forward as its contiguous copy.
inline void check_layouts(const GradFn& f, const std::vector<gom::Tensor>& inputs,
                          const gom::Tensor& out, const GradcheckOptions& o, GradcheckResult& r,
                          std::ostringstream& rep) {
  std::vector<gom::Tensor> dense;
  bool any_view = false;
  for (const gom::Tensor& x : inputs) {
    any_view = any_view || !x.is_contiguous();
    dense.push_back(x.contiguous().detach());
  }
  if (!any_view) return;
  gom::NoGrad no_grad;
  const gom::Tensor ref = f(dense);
  if (ref.shape() != out.shape()) {
    rep << "forward on contiguous copies has shape " << gom::shape_str(ref.shape())
        << ", on the views " << gom::shape_str(out.shape()) << "\n";
    r.ok = false;
    return;
  }
  const std::vector<float> a = out.to_vector<float>(), b = ref.to_vector<float>();
  for (size_t j = 0; j < a.size(); ++j)
    if (!(std::fabs(a[j] - b[j]) <= o.layout_atol + o.layout_rtol * std::fabs(b[j]))) {
      rep << "forward differs between the non-contiguous inputs and their contiguous copies at "
          << "element " << j << ": " << a[j] << " vs " << b[j] << "\n";
      r.ok = false;
      return;
    }
}

}  // namespace gradcheck_detail

/// @brief Checks autograd's gradients of `f` at `inputs` against central differences, and that
/// non-contiguous inputs give the same forward as contiguous copies. Never throws for a
/// mismatch: the result says what differed.
inline GradcheckResult gradcheck(const GradFn& f, const std::vector<gom::Tensor>& inputs,
                                 const GradcheckOptions& o = {}) {
  namespace d = gradcheck_detail;
  GradcheckResult r;
  std::ostringstream rep;
  // Leaves keep each input's layout, so a view's own backward path is what gets checked.
  std::vector<gom::Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    gom::Tensor leaf = inputs[i].detach();
    if (d::wants_grad(inputs, o, i)) leaf.requires_grad_(true);
    leaves.push_back(leaf);
  }
  const gom::Tensor out = f(leaves);
  if (out.dtype() != gom::DType::F32 || !out.requires_grad()) {
    r.ok = false;
    r.report = "the output is not a differentiable f32 tensor (requires_grad is false)";
    return r;
  }
  gom::Generator gen(o.seed);
  const gom::Tensor w = gom::randn(out.shape(), &gen);
  const std::vector<float> wv = w.to_vector<float>();
  d::check_layouts(f, inputs, out.detach(), o, r, rep);
  out.backward(w);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (d::wants_grad(inputs, o, i)) d::check_input(f, inputs, i, leaves[i].grad(), wv, o, r, rep);
  r.report = rep.str();
  return r;
}

}  // namespace gom_test
