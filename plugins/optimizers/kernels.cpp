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
//   adamw_update as adam_update, with attr decay = 1 - lr * weight_decay (f) in place of
//                weight_decay: param *= decay first, and the gradient is used as it is
//   rmsprop_update  in {grad} -> out {param, square_avg (, momentum_buffer: momentum > 0)
//                (, grad_avg: centered)}; attrs lr, alpha, eps, weight_decay, momentum (f),
//                centered (i)
//   adagrad_update  in {grad} -> out {param, sum}; attrs clr = lr / (1 + (t - 1) * lr_decay),
//                weight_decay, eps (f)
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
  float step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd, decay;  // omb = 1 - beta
};

// kDecay: L2 (adam's weight_decay); kDecoupled: p *= decay first (adamw).
template <bool kDecay, bool kDecoupled, bool kAmsgrad>
void adam_block(int64_t begin, int64_t end, const float* __restrict g, float* __restrict p,
                float* __restrict m, float* __restrict v, float* __restrict vmax, AdamArgs a) {
  for (int64_t i = begin; i < end; ++i) {
    const float pi = kDecoupled ? p[i] * a.decay : p[i];
    const float gi = kDecay ? g[i] + a.wd * pi : g[i];
    const float mi = m[i] * a.b1 + a.omb1 * gi;
    float vi = v[i] * a.b2 + a.omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if constexpr (kAmsgrad) {
      vi = std::max(vmax[i], vi);
      vmax[i] = vi;
    }
    const float denom = std::sqrt(vi) / a.bc2_sqrt + a.eps;
    p[i] = pi - a.step_size * (mi / denom);
  }
}

void adam_kernel(const KernelCall& c, const char* op, bool decoupled) {
  check_operands(c, op, 3, 4);
  const Attrs& at = c.attrs;
  const AdamArgs a{float(at.f("step_size")),
                   float(at.f("bias_correction2_sqrt")),
                   float(at.f("beta1")),
                   float(at.f("beta2")),
                   float(1.0 - at.f("beta1")),
                   float(1.0 - at.f("beta2")),
                   float(at.f("eps")),
                   decoupled ? 0.0f : float(at.f("weight_decay")),
                   decoupled ? float(at.f("decay")) : 1.0f};
  const float* g = c.in[0].data<float>();
  float* p = c.out[0].data<float>();
  float* m = c.out[1].data<float>();
  float* v = c.out[2].data<float>();
  float* vmax = c.out.size() > 3 ? c.out[3].data<float>() : nullptr;
  with_flags(
      [&](auto decay, auto decoupled_decay, auto amsgrad) {
        parallel_blocks(c.in[0].numel(), [&](int64_t begin, int64_t end) {
          adam_block<decltype(decay)::value, decltype(decoupled_decay)::value,
                     decltype(amsgrad)::value>(begin, end, g, p, m, v, vmax, a);
        });
      },
      a.wd != 0, a.decay != 1, vmax != nullptr);
}

void adam_update(const KernelCall& c) {
  adam_kernel(c, "adam_update", false);
}
void adamw_update(const KernelCall& c) {
  adam_kernel(c, "adamw_update", true);
}

struct RmspropArgs {
  float lr, alpha, oma, eps, wd, momentum;  // oma = 1 - alpha
};

template <bool kDecay, bool kCentered, bool kMomentum>
void rmsprop_block(int64_t begin, int64_t end, const float* __restrict g, float* __restrict p,
                   float* __restrict v, float* __restrict buf, float* __restrict gavg,
                   RmspropArgs a) {
  for (int64_t i = begin; i < end; ++i) {
    const float gi = kDecay ? g[i] + a.wd * p[i] : g[i];
    const float vi = v[i] * a.alpha + a.oma * gi * gi;
    v[i] = vi;
    float avg;
    if constexpr (kCentered) {
      const float ai = gavg[i] * a.alpha + a.oma * gi;
      gavg[i] = ai;
      avg = std::sqrt(vi - ai * ai) + a.eps;
    } else {
      avg = std::sqrt(vi) + a.eps;
    }
    if constexpr (kMomentum) {
      const float b = buf[i] * a.momentum + gi / avg;
      buf[i] = b;
      p[i] = p[i] - a.lr * b;
    } else {
      p[i] = p[i] - a.lr * (gi / avg);
    }
  }
}

void rmsprop_update(const KernelCall& c) {
  check_operands(c, "rmsprop_update", 2, 4);
  const Attrs& at = c.attrs;
  const RmspropArgs a{float(at.f("lr")),  float(at.f("alpha")),        float(1.0 - at.f("alpha")),
                      float(at.f("eps")), float(at.f("weight_decay")), float(at.f("momentum"))};
  const bool momentum = at.f("momentum") > 0, centered = at.i("centered") != 0;
  if (c.out.size() != 2 + size_t(momentum) + size_t(centered))
    throw Error(fmt::format(
        "rmsprop_update: expected {} outputs (momentum {}, centered {}), got {}",
        2 + int(momentum) + int(centered), at.f("momentum"), int(centered), c.out.size()));
  const float* g = c.in[0].data<float>();
  float* p = c.out[0].data<float>();
  float* v = c.out[1].data<float>();
  float* buf = momentum ? c.out[2].data<float>() : nullptr;
  float* gavg = centered ? c.out[2 + size_t(momentum)].data<float>() : nullptr;
  with_flags(
      [&](auto decay, auto cent, auto mom) {
        parallel_blocks(c.in[0].numel(), [&](int64_t begin, int64_t end) {
          rmsprop_block<decltype(decay)::value, decltype(cent)::value, decltype(mom)::value>(
              begin, end, g, p, v, buf, gavg, a);
        });
      },
      a.wd != 0, centered, momentum);
}

struct AdagradArgs {
  float clr, wd, eps;
};

template <bool kDecay>
void adagrad_block(int64_t begin, int64_t end, const float* __restrict g, float* __restrict p,
                   float* __restrict sum, AdagradArgs a) {
  for (int64_t i = begin; i < end; ++i) {
    const float gi = kDecay ? g[i] + a.wd * p[i] : g[i];
    const float si = sum[i] + gi * gi;
    sum[i] = si;
    const float denom = std::sqrt(si) + a.eps;
    p[i] = p[i] - a.clr * (gi / denom);
  }
}

void adagrad_update(const KernelCall& c) {
  check_operands(c, "adagrad_update", 2, 2);
  const AdagradArgs a{float(c.attrs.f("clr")), float(c.attrs.f("weight_decay")),
                      float(c.attrs.f("eps"))};
  const float* g = c.in[0].data<float>();
  float* p = c.out[0].data<float>();
  float* sum = c.out[1].data<float>();
  with_flags(
      [&](auto decay) {
        parallel_blocks(c.in[0].numel(), [&](int64_t begin, int64_t end) {
          adagrad_block<decltype(decay)::value>(begin, end, g, p, sum, a);
        });
      },
      a.wd != 0);
}

}  // namespace

void register_kernels(const PluginContext& ctx) {
  register_kernel("sgd_update", DeviceType::CPU, sgd_update, ctx.name);
  register_kernel("adam_update", DeviceType::CPU, adam_update, ctx.name);
  register_kernel("adamw_update", DeviceType::CPU, adamw_update, ctx.name);
  register_kernel("rmsprop_update", DeviceType::CPU, rmsprop_update, ctx.name);
  register_kernel("adagrad_update", DeviceType::CPU, adagrad_update, ctx.name);
}

}  // namespace gom::optim
