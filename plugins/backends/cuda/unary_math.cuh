// unary_math.cuh — the formulas of the `unary` op codes on the device, forward and backward,
// shared by unary and unary_backward (kernels_unary.cu). They mirror the CPU backend: oneDNN's
// eltwise formulas for Relu .. LeakyRelu (kernels_elementwise.cpp) and the loops of
// kernels_math.cpp (torch's formulas) for Log1p .. Silu.
//
// Precision: the CPU computes the math ops in double and rounds once; here they use the float
// functions (expf, log1pf, tanhf, ...: within 1-2 ulp of the CPU's result) except sign, clamp
// and hardswish, which need no transcendental function and are computed in double as on the
// CPU, so they agree exactly (clamp's bounds in particular). Linear (alpha * x + beta, also what
// mul_ runs) is rounded as the CPU rounds it, without a fused multiply-add.
#pragma once

#include "cuda_util.h"

namespace gom::cuda {

/// @brief An op code and its attributes: as float where the formula computes in float, as
/// given where the CPU compares or computes in double.
struct UnaryArgs {
  UnaryOp op;
  float alpha, beta;
  double alpha_d, beta_d;
};

namespace unary_math {

inline constexpr float kSqrtHalf = 0.707106769084930419921875f;      // float(1 / sqrt(2))
inline constexpr float kTwoOverSqrtPi = 1.12837922573089599609375f;  // float(2 / sqrt(pi))
inline constexpr float kSqrtTwoOverPi = 0.79788458347320556640625f;  // float(sqrt(2 / pi))
inline constexpr float kGeluTanhCubic = 0.044715f;
inline constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;  // torch's selu
inline constexpr float kSeluScale = 1.0507009873554804934193349852946f;

// oneDNN's logistic: 0 where exp(-x) would overflow, without dividing by infinity.
__device__ inline float sigmoid(float x) {
  return -x < 88.72283172607421875f ? 1.f / (1.f + expf(-x)) : 0.f;
}

// softplus with beta and threshold: x itself where x * beta exceeds the threshold.
__device__ inline float softplus(float x, float beta, float threshold) {
  return x * beta > threshold ? x : log1pf(expf(x * beta)) / beta;
}

// g * d, and 0 where the derivative d is 0, even for an infinite or NaN gradient (the CPU's rule
// for the math ops).
__device__ inline float times(float g, float d) {
  return d == 0.f ? 0.f : g * d;
}

__device__ inline float forward(const UnaryArgs& a, float x) {
  switch (a.op) {
    case UnaryOp::Relu:
      return x > 0.f ? x : 0.f;
    case UnaryOp::Sigmoid:
      return sigmoid(x);
    case UnaryOp::Tanh:
      return tanhf(x);
    case UnaryOp::Exp:
      return expf(x);
    case UnaryOp::Log:
      return logf(x);
    case UnaryOp::Sqrt:
      return sqrtf(x);
    case UnaryOp::Abs:
      return fabsf(x);
    case UnaryOp::Linear:
      return __fadd_rn(__fmul_rn(a.alpha, x), a.beta);
    case UnaryOp::Pow:
      return powf(x, a.alpha);
    case UnaryOp::Gelu:
      return 0.5f * x * (1.f + erff(x * kSqrtHalf));
    case UnaryOp::GeluTanh:
      return 0.5f * x * (1.f + tanhf(kSqrtTwoOverPi * x * (1.f + kGeluTanhCubic * x * x)));
    case UnaryOp::LeakyRelu:
      return x > 0.f ? x : x * a.alpha;
    case UnaryOp::Log1p:
      return log1pf(x);
    case UnaryOp::Expm1:
      return expm1f(x);
    case UnaryOp::Sign:
      return x > 0.f ? 1.f : x < 0.f ? -1.f : x;  // keeps 0, -0 and NaN as they are
    case UnaryOp::Clamp: {
      // std::min(std::max(x, min), max) in double: min > max gives max, NaN stays NaN.
      const double lo = double(x) < a.alpha_d ? a.alpha_d : double(x);
      return float(a.beta_d < lo ? a.beta_d : lo);
    }
    case UnaryOp::Elu:
      return x > 0.f ? x : a.alpha * expm1f(x);
    case UnaryOp::Selu:
      return kSeluScale * (x > 0.f ? x : kSeluAlpha * expm1f(x));
    case UnaryOp::Softplus:
      return softplus(x, a.alpha, a.beta);
    case UnaryOp::Mish:
      return x * tanhf(log1pf(expf(x)));
    case UnaryOp::Hardswish: {
      const double d = x;
      return float(d <= -3 ? 0.0 : d >= 3 ? d : d * (d + 3) / 6);
    }
    case UnaryOp::Silu:
      return x / (1.f + expf(-x));
  }
  return x;  // not reached: the host checks the op code
}

// The math ops' backward (Log1p on); x is the forward's input.
__device__ inline float math_backward(const UnaryArgs& a, float g, float x) {
  switch (a.op) {
    case UnaryOp::Log1p:
      return times(g, 1.f / (1.f + x));
    case UnaryOp::Expm1:
      return times(g, expf(x));
    case UnaryOp::Sign:
      return 0.f;
    case UnaryOp::Clamp:  // torch passes the gradient at the bounds; the derivative is 1 or 0
      return double(x) >= a.alpha_d && double(x) <= a.beta_d ? g : 0.f;
    case UnaryOp::Elu:
      return times(g, x > 0.f ? 1.f : a.alpha * expf(x));
    case UnaryOp::Selu:
      return times(g, kSeluScale * (x > 0.f ? 1.f : kSeluAlpha * expf(x)));
    case UnaryOp::Softplus:
      return times(g, x * a.alpha > a.beta ? 1.f : 1.f / (1.f + expf(-x * a.alpha)));
    case UnaryOp::Mish: {
      const float sig = 1.f / (1.f + expf(-x));
      const float tsp = tanhf(log1pf(expf(x)));
      return times(g, tsp + x * sig * (1.f - tsp * tsp));
    }
    case UnaryOp::Hardswish: {
      const double d = x;
      const double slope = d < -3 ? 0.0 : d <= 3 ? d / 3 + 0.5 : 1.0;
      return slope == 0 ? 0.f : float(double(g) * slope);
    }
    case UnaryOp::Silu: {
      const float s = 1.f / (1.f + expf(-x));
      return times(g, s * (1.f + x * (1.f - s)));
    }
    default:
      return 0.f;  // not reached: the eltwise ops are handled by backward()
  }
}

// grad_in from grad g and `saved`: the forward's output for relu, sigmoid, tanh, exp and sqrt,
// its input for the others (oneDNN's *_use_dst_for_bwd and plain backward formulas).
__device__ inline float backward(const UnaryArgs& a, float g, float saved) {
  switch (a.op) {
    case UnaryOp::Relu:
      return saved > 0.f ? g : g * 0.f;
    case UnaryOp::Sigmoid:
      return g * saved * (1.f - saved);
    case UnaryOp::Tanh:
      return g * (1.f - saved) * (1.f + saved);
    case UnaryOp::Exp:
      return g * saved;
    case UnaryOp::Sqrt:
      return g / (2.f * saved);
    case UnaryOp::Log:
      return g * (1.f / saved);
    case UnaryOp::Abs:
      return saved > 0.f ? g : saved < 0.f ? -g : 0.f;
    case UnaryOp::Linear:
      return g * a.alpha;
    case UnaryOp::Pow:  // d/dx x^p = p * x^(p - 1); oneDNN gives 0 for p = 0
      return a.alpha == 0.f ? 0.f : g * (a.alpha * powf(saved, a.alpha - 1.f));
    case UnaryOp::Gelu: {
      const float v = saved * kSqrtHalf;
      return g * 0.5f * (1.f + erff(v) + v * kTwoOverSqrtPi * expf(-v * v));
    }
    case UnaryOp::GeluTanh: {
      const float x2 = saved * saved;
      const float inner = saved * kSqrtTwoOverPi * (1.f + kGeluTanhCubic * x2);
      const float d_inner = kSqrtTwoOverPi * (1.f + 3.f * kGeluTanhCubic * x2);
      const float t = tanhf(inner);
      return g * 0.5f * (1.f + t) * (1.f + saved * (1.f - t) * d_inner);
    }
    case UnaryOp::LeakyRelu:
      return saved > 0.f ? g : g * a.alpha;
    default:
      return math_backward(a, g, saved);
  }
}

}  // namespace unary_math
}  // namespace gom::cuda
