// unary and unary_backward on oneDNN eltwise primitives; fill and arange as loops.
#include <fmt/format.h>

#include <cmath>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {
using alg = dnnl::algorithm;

// oneDNN's algorithm and (alpha, beta) for a unary op: eltwise computes f(x; alpha, beta).
struct Eltwise {
  alg a;
  float alpha, beta;
};

Eltwise forward_alg(UnaryOp op, double alpha, double beta) {
  switch (op) {
    case UnaryOp::Relu:
      return {alg::eltwise_relu, 0.f, 0.f};
    case UnaryOp::Sigmoid:
      return {alg::eltwise_logistic, 0.f, 0.f};
    case UnaryOp::Tanh:
      return {alg::eltwise_tanh, 0.f, 0.f};
    case UnaryOp::Exp:
      return {alg::eltwise_exp, 0.f, 0.f};
    case UnaryOp::Log:
      return {alg::eltwise_log, 0.f, 0.f};
    case UnaryOp::Sqrt:
      return {alg::eltwise_sqrt, 0.f, 0.f};
    case UnaryOp::Abs:
      return {alg::eltwise_abs, 0.f, 0.f};
    case UnaryOp::Linear:
      return {alg::eltwise_linear, float(alpha), float(beta)};
    case UnaryOp::Pow:
      return {alg::eltwise_pow, 1.f, float(alpha)};  // 1 * x^alpha
    case UnaryOp::Gelu:
      return {alg::eltwise_gelu_erf, 0.f, 0.f};
    case UnaryOp::GeluTanh:
      return {alg::eltwise_gelu_tanh, 0.f, 0.f};
    case UnaryOp::LeakyRelu:
      return {alg::eltwise_relu, float(alpha), 0.f};  // relu's alpha is the negative slope
    default:
      break;  // the math ops (UnaryOp::Log1p on) run as loops in kernels_math.cpp
  }
  throw Error(fmt::format("onednn unary: unknown op code {}", int64_t(op)));
}

// The backward reads the forward's output where that is cheaper (and what the core saves).
Eltwise backward_alg(UnaryOp op, double alpha) {
  switch (op) {
    case UnaryOp::Relu:
      return {alg::eltwise_relu_use_dst_for_bwd, 0.f, 0.f};
    case UnaryOp::Sigmoid:
      return {alg::eltwise_logistic_use_dst_for_bwd, 0.f, 0.f};
    case UnaryOp::Tanh:
      return {alg::eltwise_tanh_use_dst_for_bwd, 0.f, 0.f};
    case UnaryOp::Exp:
      return {alg::eltwise_exp_use_dst_for_bwd, 0.f, 0.f};
    case UnaryOp::Sqrt:
      return {alg::eltwise_sqrt_use_dst_for_bwd, 0.f, 0.f};
    default:
      return forward_alg(op, alpha, 0.0);
  }
}

struct FwdEntry {
  dnnl::eltwise_forward prim;
  dnnl::memory::desc md;
};
struct BwdEntry {
  dnnl::eltwise_backward prim;
  dnnl::memory::desc md;
};

void check_f32(const Tensor& t, const char* op) {
  if (t.dtype() != DType::F32)
    throw Error(fmt::format("onednn {}: only f32 is supported, got {}", op, dtype_name(t.dtype())));
}

// alpha*x + beta as a loop: its scale changes every step under an lr schedule, and a oneDNN
// primitive per value would grow the cache without bound.
void affine_loop(const Tensor& src, const Tensor& out, float alpha, float beta) {
  const Shape& os = out.strides();
  strided_loop<2>(out.shape(), {&os, &src.strides()}, [&](auto off, int64_t n, auto st) {
    float* o = out.data<float>() + off[0];
    const float* s = src.data<float>() + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = alpha * s[i] + beta;
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = alpha * s[i * st[1]] + beta;
    }
  });
}

// oneDNN's eltwise_log is off by up to ~1e-6 absolute near log(1) = 0 (a relative error of
// 1e-4 there); std::log is correctly rounded to within an ulp, as PyTorch's log is.
void log_loop(const Tensor& src, const Tensor& out) {
  const Shape& os = out.strides();
  strided_loop<2>(out.shape(), {&os, &src.strides()}, [&](auto off, int64_t n, auto st) {
    float* o = out.data<float>() + off[0];
    const float* s = src.data<float>() + off[1];
    for (int64_t i = 0; i < n; ++i) o[i * st[0]] = std::log(s[i * st[1]]);
  });
}

// Bit pattern of a float, for cache keys.
int64_t bits(float f) {
  int32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

void unary(const KernelCall& c) {
  const Tensor& out = c.out[0];
  check_f32(out, "unary");
  if (out.numel() == 0) return;
  const UnaryOp op = UnaryOp(c.attrs.i("op"));
  if (op >= UnaryOp::Log1p)
    return math_unary(op, c.attrs.f("alpha"), c.attrs.f("beta"), c.in[0], out);
  const Eltwise e = forward_alg(op, c.attrs.f("alpha"), c.attrs.f("beta"));
  if (op == UnaryOp::Linear) return affine_loop(c.in[0], out, e.alpha, e.beta);
  if (op == UnaryOp::Log) return log_loop(c.in[0], out);
  // Eltwise wants src and dst in one layout: a strided source is first copied into dst, and
  // the primitive then runs in place there.
  Tensor src = c.in[0];
  if (!src.is_contiguous()) {
    find_kernel("copy",
                DeviceType::CPU)(KernelCall{std::span<const Tensor>(&c.in[0], 1), c.out, c.attrs});
    src = out;
  }
  static PrimitiveCache<FwdEntry> cache;
  Key k;
  k.add(out.numel()).add(int64_t(e.a)).add(bits(e.alpha)).add(bits(e.beta));
  const auto& p = cache.get(k, [&] {
    dnnl::memory::desc md({out.numel()}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
    auto d =
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, e.a, md, e.alpha, e.beta);
    return FwdEntry{dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(d, engine())), md};
  });
  execute(p.prim, {{DNNL_ARG_SRC, p.md, src}, {DNNL_ARG_DST, p.md, out}});
}

void unary_backward(const KernelCall& c) {
  const Tensor& out = c.out[0];
  check_f32(out, "unary_backward");
  if (out.numel() == 0) return;
  const UnaryOp op = UnaryOp(c.attrs.i("op"));
  if (op >= UnaryOp::Log1p)
    return math_unary_backward(op, c.attrs.f("alpha"), c.attrs.f("beta"), c.in[0], c.in[1], out);
  const Eltwise e = backward_alg(op, c.attrs.f("alpha"));
  const Tensor g = dense(c.in[0]), saved = dense(c.in[1]);
  Key k;
  k.add(out.numel()).add(int64_t(e.a)).add(bits(e.alpha)).add(bits(e.beta));
  static PrimitiveCache<BwdEntry> cache;
  const auto& p = cache.get(k, [&] {
    dnnl::memory::desc md({out.numel()}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
    auto fd =
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, e.a, md, e.alpha, e.beta);
    auto fpd = dnnl::eltwise_forward::primitive_desc(fd, engine());
    auto bd = dnnl::eltwise_backward::desc(e.a, md, md, e.alpha, e.beta);
    return BwdEntry{
        dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(bd, engine(), fpd)), md};
  });
  const bool uses_dst = op == UnaryOp::Relu || op == UnaryOp::Sigmoid || op == UnaryOp::Tanh ||
                        op == UnaryOp::Exp || op == UnaryOp::Sqrt;
  execute(p.prim, {{DNNL_ARG_DIFF_DST, p.md, g},
                   {uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, p.md, saved},
                   {DNNL_ARG_DIFF_SRC, p.md, out}});
}

void fill(const KernelCall& c) {
  const Tensor& out = c.out[0];
  const double v = c.attrs.f("value");
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* p = static_cast<T*>(out.raw_data());
    const T x = static_cast<T>(v);
    const int64_t n = out.numel();
    parallel_for(n, n >= kParallelGrain, [&](int64_t i) { p[i] = x; });
  });
}

void arange(const KernelCall& c) {
  const Tensor& out = c.out[0];
  const double start = c.attrs.f("start"), step = c.attrs.f("step");
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* p = static_cast<T*>(out.raw_data());
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = static_cast<T>(start + step * double(i));
  });
}

}  // namespace

void register_elementwise(const std::string& provider) {
  register_cpu_kernel("unary", unary, provider);
  register_cpu_kernel("unary_backward", unary_backward, provider);
  register_cpu_kernel("fill", fill, provider);
  register_cpu_kernel("arange", arange, provider);
}

}  // namespace gom::onednn
