// The fused optimizer updates on CUDA: sgd_update, adam_update, adamw_update, rmsprop_update,
// adagrad_update. Contracts and math: plugins/optimizers/kernels.cpp (every tensor contiguous f32
// of one size, updated in place; one pass, one thread per element). Each operation is rounded as
// the CPU rounds it (the _rn intrinsics: no fused multiply-add, IEEE division and square root),
// so the updates match the CPU's bit for bit. Terms the CPU leaves out when an attribute is 0
// (weight decay, decoupled decay) are left out here too: g + 0 * p differs from g when p is inf.
#include <string>

#include "elementwise.cuh"

namespace gom::cuda {
namespace {

__device__ inline float mul(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline float add(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ inline float sub(float a, float b) {
  return __fsub_rn(a, b);
}
__device__ inline float div(float a, float b) {
  return __fdiv_rn(a, b);
}

void check_operands(const KernelCall& c, const char* op, size_t min_out, size_t max_out) {
  if (c.in.size() != 1 || c.out.size() < min_out || c.out.size() > max_out)
    throw Error(std::string(op) + ": expected 1 input and " + std::to_string(min_out) + " to " +
                std::to_string(max_out) + " outputs, got " + std::to_string(c.in.size()) + " and " +
                std::to_string(c.out.size()));
  const int64_t n = c.in[0].numel();
  auto ok = [&](const Tensor& t) {
    return t.dtype() == DType::F32 && t.is_contiguous() && t.numel() == n;
  };
  bool good = ok(c.in[0]);
  for (const Tensor& t : c.out) good = good && ok(t);
  if (!good) throw Error(std::string(op) + ": every tensor must be contiguous f32 of one size");
}

struct SgdFn {
  const float* g;
  float* p;
  float* buf;                     // null without momentum
  float lr, wd, momentum, damp1;  // damp1 = 1 - dampening
  bool decay, nesterov, init;
  __device__ void operator()(int64_t i) const {
    float d = decay ? add(g[i], mul(wd, p[i])) : g[i];
    if (buf) {
      const float b = init ? d : add(mul(buf[i], momentum), mul(damp1, d));
      buf[i] = b;
      d = nesterov ? add(d, mul(momentum, b)) : b;
    }
    p[i] = sub(p[i], mul(lr, d));
  }
};

void sgd_update(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  check_operands(c, "sgd_update", 1, 2);
  float* buf = c.out.size() > 1 ? c.out[1].data<float>() : nullptr;
  SgdFn f{c.in[0].data<float>(),
          c.out[0].data<float>(),
          buf,
          float(c.attrs.f("lr")),
          float(c.attrs.f("weight_decay")),
          float(c.attrs.f("momentum")),
          float(1.0 - c.attrs.f("dampening")),
          false,
          false,
          false};
  f.decay = f.wd != 0;
  f.nesterov = buf && c.attrs.i("nesterov") != 0;
  f.init = buf && c.attrs.i("init") != 0;
  launch_each(c.in[0].numel(), s, f);
}

// adam (L2 weight decay added to the gradient) and adamw (decoupled: p *= decay first).
struct AdamFn {
  const float* g;
  float* p;
  float *m, *v, *vmax;                                            // vmax: null without amsgrad
  float step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd, decay;  // omb = 1 - beta
  __device__ void operator()(int64_t i) const {
    const float pi = decay != 1.0f ? mul(p[i], decay) : p[i];
    const float gi = wd != 0.0f ? add(g[i], mul(wd, pi)) : g[i];
    const float mi = add(mul(m[i], b1), mul(omb1, gi));
    float vi = add(mul(v[i], b2), mul(mul(omb2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    if (vmax) {
      vi = vmax[i] < vi ? vi : vmax[i];  // std::max(vmax, vi)
      vmax[i] = vi;
    }
    const float denom = add(div(__fsqrt_rn(vi), bc2_sqrt), eps);
    p[i] = sub(pi, mul(step_size, div(mi, denom)));
  }
};

void adam_kernel(const KernelCall& c, const char* op, bool decoupled) {
  const cudaStream_t s = stream_of(c);
  check_operands(c, op, 3, 4);
  const Attrs& at = c.attrs;
  const AdamFn f{c.in[0].data<float>(),
                 c.out[0].data<float>(),
                 c.out[1].data<float>(),
                 c.out[2].data<float>(),
                 c.out.size() > 3 ? c.out[3].data<float>() : nullptr,
                 float(at.f("step_size")),
                 float(at.f("bias_correction2_sqrt")),
                 float(at.f("beta1")),
                 float(at.f("beta2")),
                 float(1.0 - at.f("beta1")),
                 float(1.0 - at.f("beta2")),
                 float(at.f("eps")),
                 decoupled ? 0.0f : float(at.f("weight_decay")),
                 decoupled ? float(at.f("decay")) : 1.0f};
  launch_each(c.in[0].numel(), s, f);
}

void adam_update(const KernelCall& c) {
  adam_kernel(c, "adam_update", false);
}
void adamw_update(const KernelCall& c) {
  adam_kernel(c, "adamw_update", true);
}

struct RmspropFn {
  const float* g;
  float* p;
  float* v;
  float* buf;                               // null without momentum
  float* gavg;                              // null unless centered
  float lr, alpha, oma, eps, wd, momentum;  // oma = 1 - alpha
  __device__ void operator()(int64_t i) const {
    const float gi = wd != 0.0f ? add(g[i], mul(wd, p[i])) : g[i];
    const float vi = add(mul(v[i], alpha), mul(mul(oma, gi), gi));
    v[i] = vi;
    float avg;
    if (gavg) {
      const float ai = add(mul(gavg[i], alpha), mul(oma, gi));
      gavg[i] = ai;
      avg = add(__fsqrt_rn(sub(vi, mul(ai, ai))), eps);
    } else {
      avg = add(__fsqrt_rn(vi), eps);
    }
    if (buf) {
      const float b = add(mul(buf[i], momentum), div(gi, avg));
      buf[i] = b;
      p[i] = sub(p[i], mul(lr, b));
    } else {
      p[i] = sub(p[i], mul(lr, div(gi, avg)));
    }
  }
};

void rmsprop_update(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  check_operands(c, "rmsprop_update", 2, 4);
  const Attrs& at = c.attrs;
  const bool momentum = at.f("momentum") > 0, centered = at.i("centered") != 0;
  const size_t want = 2 + size_t(momentum) + size_t(centered);
  if (c.out.size() != want)
    throw Error("rmsprop_update: expected " + std::to_string(want) + " outputs (momentum " +
                std::to_string(at.f("momentum")) + ", centered " + std::to_string(int(centered)) +
                "), got " + std::to_string(c.out.size()));
  const RmspropFn f{c.in[0].data<float>(),
                    c.out[0].data<float>(),
                    c.out[1].data<float>(),
                    momentum ? c.out[2].data<float>() : nullptr,
                    centered ? c.out[2 + size_t(momentum)].data<float>() : nullptr,
                    float(at.f("lr")),
                    float(at.f("alpha")),
                    float(1.0 - at.f("alpha")),
                    float(at.f("eps")),
                    float(at.f("weight_decay")),
                    float(at.f("momentum"))};
  launch_each(c.in[0].numel(), s, f);
}

struct AdagradFn {
  const float* g;
  float* p;
  float* sum;
  float clr, wd, eps;
  __device__ void operator()(int64_t i) const {
    const float gi = wd != 0.0f ? add(g[i], mul(wd, p[i])) : g[i];
    const float si = add(sum[i], mul(gi, gi));
    sum[i] = si;
    const float denom = add(__fsqrt_rn(si), eps);
    p[i] = sub(p[i], mul(clr, div(gi, denom)));
  }
};

void adagrad_update(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  check_operands(c, "adagrad_update", 2, 2);
  const AdagradFn f{
      c.in[0].data<float>(),   c.out[0].data<float>(),           c.out[1].data<float>(),
      float(c.attrs.f("clr")), float(c.attrs.f("weight_decay")), float(c.attrs.f("eps"))};
  launch_each(c.in[0].numel(), s, f);
}

void register_optim(const std::string& provider) {
  register_cuda_kernel("sgd_update", sgd_update, provider);
  register_cuda_kernel("adam_update", adam_update, provider);
  register_cuda_kernel("adamw_update", adamw_update, provider);
  register_cuda_kernel("rmsprop_update", rmsprop_update, provider);
  register_cuda_kernel("adagrad_update", adagrad_update, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_optim);

}  // namespace gom::cuda
