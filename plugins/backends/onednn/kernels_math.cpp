// Math kernels oneDNN has no primitive for, as loops: the unary ops from UnaryOp::Log1p on
// (log1p, expm1, sign, clamp and the activations elu, selu, softplus, mish, hardswish, silu)
// with their backward, where and cumsum. Formulas follow PyTorch's CPU kernels.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

// torch.nn.functional.selu's constants.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

double softplus_of(double x, double beta, double threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}

double forward_value(UnaryOp op, double x, double alpha, double beta) {
  switch (op) {
    case UnaryOp::Log1p:
      return std::log1p(x);
    case UnaryOp::Expm1:
      return std::expm1(x);
    case UnaryOp::Sign:
      return x > 0 ? 1.0 : x < 0 ? -1.0 : x;  // keeps 0, -0 and NaN as they are
    case UnaryOp::Clamp:
      // max first: min > max gives max everywhere, and NaN propagates (as torch.clamp).
      return std::min(std::max(x, alpha), beta);
    case UnaryOp::Elu:
      return x > 0 ? x : alpha * std::expm1(x);
    case UnaryOp::Selu:
      return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x));
    case UnaryOp::Softplus:
      return softplus_of(x, alpha, beta);
    case UnaryOp::Mish:
      return x * std::tanh(std::log1p(std::exp(x)));
    case UnaryOp::Hardswish:
      return x <= -3 ? 0.0 : x >= 3 ? x : x * (x + 3) / 6;
    case UnaryOp::Silu:
      return x / (1 + std::exp(-x));
    default:
      throw Error(fmt::format("onednn unary: unknown math op code {}", int64_t(op)));
  }
}

// d op / dx at input x.
double derivative(UnaryOp op, double x, double alpha, double beta) {
  switch (op) {
    case UnaryOp::Log1p:
      return 1 / (1 + x);
    case UnaryOp::Expm1:
      return std::exp(x);
    case UnaryOp::Sign:
      return 0;
    case UnaryOp::Clamp:
      return x >= alpha && x <= beta ? 1 : 0;  // torch passes the gradient at the bounds
    case UnaryOp::Elu:
      return x > 0 ? 1 : alpha * std::exp(x);
    case UnaryOp::Selu:
      return kSeluScale * (x > 0 ? 1 : kSeluAlpha * std::exp(x));
    case UnaryOp::Softplus: {
      if (x * alpha > beta) return 1;
      return 1 / (1 + std::exp(-x * alpha));
    }
    case UnaryOp::Mish: {
      const double sig = 1 / (1 + std::exp(-x));
      const double tsp = std::tanh(std::log1p(std::exp(x)));
      return tsp + x * sig * (1 - tsp * tsp);
    }
    case UnaryOp::Hardswish:
      return x < -3 ? 0 : x <= 3 ? x / 3 + 0.5 : 1;
    case UnaryOp::Silu: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 + x * (1 - s));
    }
    default:
      throw Error(fmt::format("onednn unary_backward: unknown math op code {}", int64_t(op)));
  }
}


void where(const KernelCall& c) {
  const Tensor &cond = c.in[0], &a = c.in[1], &b = c.in[2], &out = c.out[0];
  if (cond.dtype() != DType::F32)
    throw Error(
        fmt::format("onednn where: the condition must be f32, got {}", dtype_name(cond.dtype())));
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const float* pc = cond.data<float>();
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    strided_loop<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()},
                    [&](auto off, int64_t n, auto st) {
                      for (int64_t i = 0; i < n; ++i)
                        po[off[0] + i * st[0]] = pc[off[1] + i * st[1]] != 0
                                                     ? pa[off[2] + i * st[2]]
                                                     : pb[off[3] + i * st[3]];
                    });
  });
}

// Running sums along dim, accumulated in double (f32) or the integer type itself.
void cumsum(const KernelCall& c) {
  const Tensor src = dense(c.in[0]);
  const Tensor& out = c.out[0];
  const int64_t dim = c.attrs.i("dim");
  const bool reverse = c.attrs.i("reverse") != 0;
  const auto [outer, n, inner] = split(src.shape(), dim);
  visit_dtype(src.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    const T* p = static_cast<const T*>(src.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    parallel_for(outer * inner, outer * inner * n >= kParallelGrain, [&](int64_t oi) {
      const int64_t base = (oi / inner) * n * inner + oi % inner;
      Acc acc = 0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t at = base + (reverse ? n - 1 - k : k) * inner;
        acc += p[at];
        o[at] = static_cast<T>(acc);
      }
    });
  });
}

}  // namespace

void math_unary(UnaryOp op, double alpha, double beta, const Tensor& src, const Tensor& out) {
  float* po = out.data<float>();
  const float* ps = src.data<float>();
  strided_loop<2>(out.shape(), {&out.strides(), &src.strides()}, [&](auto off, int64_t n, auto st) {
    for (int64_t i = 0; i < n; ++i)
      po[off[0] + i * st[0]] =
          static_cast<float>(forward_value(op, ps[off[1] + i * st[1]], alpha, beta));
  });
}

void math_unary_backward(UnaryOp op, double alpha, double beta, const Tensor& grad, const Tensor& x,
                         const Tensor& out) {
  float* po = out.data<float>();
  const float* pg = grad.data<float>();
  const float* px = x.data<float>();
  strided_loop<3>(out.shape(), {&out.strides(), &grad.strides(), &x.strides()},
                  [&](auto off, int64_t n, auto st) {
                    for (int64_t i = 0; i < n; ++i) {
                      const double g = pg[off[1] + i * st[1]];
                      // A zero derivative gives 0 even where the gradient is inf or NaN.
                      const double d = derivative(op, px[off[2] + i * st[2]], alpha, beta);
                      po[off[0] + i * st[0]] = d == 0 ? 0.f : static_cast<float>(g * d);
                    }
                  });
}

void register_math(const std::string& provider) {
  register_cpu_kernel("where", where, provider);
  register_cpu_kernel("cumsum", cumsum, provider);
}

}  // namespace gom::onednn
