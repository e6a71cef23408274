// Fused CPU kernels of the optimizer updates. Written with ops, an Adam step makes about ten
// passes over whole tensors and several temporaries; these make one pass and allocate nothing.
//
// Contracts (every tensor contiguous f32 with the same number of elements, updated in place;
// a backend may register the same op names for its device and the optimizers will use them):
//   sgd_update   in {grad} -> out {param (, momentum_buffer: only when momentum != 0)}
//                attrs lr, weight_decay, momentum, dampening (f); nesterov, init (i: 1 on the
//                buffer's first step, when it is set to the gradient instead of decayed)
//   adam_update  in {grad} -> out {param, exp_avg, exp_avg_sq (, max_exp_avg_sq: amsgrad)}
//                attrs step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t),
//                beta1, beta2, eps, weight_decay (f)
// The float arithmetic follows torch's single-tensor loops op by op (each in-place op of torch
// rounds to float once), so results agree with PyTorch to an ulp or so.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "optim.h"

namespace gom::optim {
namespace {

constexpr int64_t kParallelGrain = 32768;  // below this, threads cost more than they save

// Splits [0, n) into one contiguous block per thread; body(begin, end) is a plain loop the
// compiler can vectorise.
template <class F>
void parallel_blocks(int64_t n, const F& body) {
  if (n < kParallelGrain || omp_get_max_threads() == 1) return body(int64_t(0), n);
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = ((n + nt - 1) / nt + 15) / 16 * 16;  // whole cache lines per thread
    body(std::min(n, t * chunk), std::min(n, (t + 1) * chunk));
  }
}

void check_operands(const KernelCall& c, const char* op, size_t min_out, size_t max_out) {
  if (c.in.size() != 1 || c.out.size() < min_out || c.out.size() > max_out)
    throw Error(fmt::format("{}: expected 1 input and {} to {} outputs, got {} and {}", op, min_out,
                            max_out, c.in.size(), c.out.size()));
  const int64_t n = c.in[0].numel();
  auto ok = [&](const Tensor& t) {
    return t.dtype() == DType::F32 && t.is_contiguous() && t.numel() == n;
  };
  bool good = ok(c.in[0]);
  for (const Tensor& t : c.out) good = good && ok(t);
  if (!good) throw Error(fmt::format("{}: every tensor must be contiguous f32 of one size", op));
}

// Calls f(std::bool_constant<b>...) for the runtime flags b: the loops below are compiled once
// per combination, without branches inside, so each one vectorises.
template <class F>
void with_flags(const F& f) {
  f();
}
template <class F, class... Bools>
void with_flags(const F& f, bool first, Bools... rest) {
  if (first)
    with_flags([&](auto... k) { f(std::true_type{}, k...); }, rest...);
  else
    with_flags([&](auto... k) { f(std::false_type{}, k...); }, rest...);
}

struct SgdArgs {
  float lr, wd, momentum, damp1;  // damp1 = 1 - dampening
};

template <bool kDecay, bool kMomentum, bool kNesterov, bool kInit>
void sgd_block(int64_t begin, int64_t end, const float* __restrict g, float* __restrict p,
               float* __restrict buf, SgdArgs a) {
  for (int64_t i = begin; i < end; ++i) {
    float d = kDecay ? g[i] + a.wd * p[i] : g[i];
    if constexpr (kMomentum) {
      const float b = kInit ? d : buf[i] * a.momentum + a.damp1 * d;
      buf[i] = b;
      d = kNesterov ? d + a.momentum * b : b;
    }
    p[i] = p[i] - a.lr * d;
  }
}

void sgd_update(const KernelCall& c) {
  check_operands(c, "sgd_update", 1, 2);
  const float* g = c.in[0].data<float>();
  float* p = c.out[0].data<float>();
  float* buf = c.out.size() > 1 ? c.out[1].data<float>() : nullptr;
  const SgdArgs a{float(c.attrs.f("lr")), float(c.attrs.f("weight_decay")),
                  float(c.attrs.f("momentum")), float(1.0 - c.attrs.f("dampening"))};
  const bool nesterov = buf && c.attrs.i("nesterov") != 0, init = buf && c.attrs.i("init") != 0;
  with_flags(
      [&](auto decay, auto momentum, auto nest, auto first) {
        parallel_blocks(c.in[0].numel(), [&](int64_t begin, int64_t end) {
          sgd_block<decltype(decay)::value, decltype(momentum)::value, decltype(nest)::value,
                    decltype(first)::value>(begin, end, g, p, buf, a);
        });
      },
      a.wd != 0, buf != nullptr, nesterov, init);
}

struct AdamArgs {
  float step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd;  // omb = 1 - beta
};

template <bool kDecay, bool kAmsgrad>
void adam_block(int64_t begin, int64_t end, const float* __restrict g, float* __restrict p,
                float* __restrict m, float* __restrict v, float* __restrict vmax, AdamArgs a) {
  for (int64_t i = begin; i < end; ++i) {
    const float gi = kDecay ? g[i] + a.wd * p[i] : g[i];
    const float mi = m[i] * a.b1 + a.omb1 * gi;
    float vi = v[i] * a.b2 + a.omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if constexpr (kAmsgrad) {
      vi = std::max(vmax[i], vi);
      vmax[i] = vi;
    }
    const float denom = std::sqrt(vi) / a.bc2_sqrt + a.eps;
    p[i] = p[i] - a.step_size * (mi / denom);
  }
}

void adam_update(const KernelCall& c) {
  check_operands(c, "adam_update", 3, 4);
  const Attrs& at = c.attrs;
  const AdamArgs a{float(at.f("step_size")),   float(at.f("bias_correction2_sqrt")),
                   float(at.f("beta1")),       float(at.f("beta2")),
                   float(1.0 - at.f("beta1")), float(1.0 - at.f("beta2")),
                   float(at.f("eps")),         float(at.f("weight_decay"))};
  const float* g = c.in[0].data<float>();
  float* p = c.out[0].data<float>();
  float* m = c.out[1].data<float>();
  float* v = c.out[2].data<float>();
  float* vmax = c.out.size() > 3 ? c.out[3].data<float>() : nullptr;
  with_flags(
      [&](auto decay, auto amsgrad) {
        parallel_blocks(c.in[0].numel(), [&](int64_t begin, int64_t end) {
          adam_block<decltype(decay)::value, decltype(amsgrad)::value>(begin, end, g, p, m, v, vmax,
                                                                       a);
        });
      },
      a.wd != 0, vmax != nullptr);
}

}  // namespace

void register_kernels(const PluginContext& ctx) {
  register_kernel("sgd_update", DeviceType::CPU, sgd_update, ctx.name);
  register_kernel("adam_update", DeviceType::CPU, adam_update, ctx.name);
}

}  // namespace gom::optim
