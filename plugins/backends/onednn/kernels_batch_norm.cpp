// batch_norm_training / _inference / _backward (contracts in gom/ops_norm.h) as vectorised
// loops. oneDNN's batch_normalization was measured and not used: on gom's plain layouts it
// picks ncsp_bnorm (1.3 ms forward, 1.6 ms backward for [256, 512], one thread), falls back to
// its reference code once scale and shift are used, and its backward with separate scale and
// shift fails to execute (oneDNN 2.6). These loops do the same work in a few tens of µs.
//
// Data come dense as [N, C, S] (S = 1 for [N, C]). Two shapes of loop cover everything:
// per-channel sums (accumulated in double) and a per-channel affine map out = A*in + B*in2 + K.
#include <cmath>
#include <vector>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

struct Dims {
  int64_t n, c, s;
};

Dims dims_of(const Tensor& x) {
  return {x.shape()[0], x.shape()[1], x.dim() > 2 ? x.shape()[2] : 1};
}

// Channels per task in the [N, C] layout: a block is contiguous in each row, so the inner loop
// over it vectorises with one accumulator per channel (16 doubles: 8 SSE registers).
constexpr int64_t kChannelBlock = 16;

// A sum over [base, base + n) in kLanes independent partial sums: the fixed-width inner loop
// vectorises without reassociating anything (GCC does not vectorise `omp simd reduction` inside
// a parallel region).
constexpr int kLanes = 8;
template <class Term>
double run_sum(int64_t base, int64_t n, int64_t c, const Term& term) {
  double lanes[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= n; s += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] += term(base + s + j, c);
  double acc = 0;
  for (; s < n; ++s) acc += term(base + s, c);
  for (int j = 0; j < kLanes; ++j) acc += lanes[j];
  return acc;
}

// out[c] = sum over the channel's elements i of term(i, c), in double.
template <class Term>
void channel_sums(const Dims& d, double* out, const Term& term) {
  const bool par = d.n * d.c * d.s >= kParallelGrain;
  if (d.s > 1) {
    parallel_for(d.c, par, [&](int64_t c) {
      double acc = 0;
      for (int64_t n = 0; n < d.n; ++n) acc += run_sum((n * d.c + c) * d.s, d.s, c, term);
      out[c] = acc;
    });
    return;
  }
  const int64_t blocks = (d.c + kChannelBlock - 1) / kChannelBlock;
  parallel_for(blocks, par, [&](int64_t b) {
    const int64_t c0 = b * kChannelBlock, c1 = std::min(d.c, c0 + kChannelBlock);
    double acc[kChannelBlock] = {};
    if (c1 - c0 == kChannelBlock) {  // a fixed trip count keeps acc in registers
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t j = 0; j < kChannelBlock; ++j) acc[j] += term(n * d.c + c0 + j, c0 + j);
    } else {
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] += term(n * d.c + c, c);
    }
    for (int64_t c = c0; c < c1; ++c) out[c] = acc[c - c0];
  });
}

// out[i] = a[c] * in[i] + b[c] * in2[i] + k[c] (in2 and b may be null).
void channel_affine(const Dims& d, float* out, const float* in, const float* a, const float* in2,
                    const float* b, const float* k) {
  const bool par = d.n * d.c * d.s >= kParallelGrain;
  if (d.s > 1) {
    parallel_for(d.n * d.c, par, [&](int64_t nc) {
      const int64_t c = nc % d.c, base = nc * d.s;
      const float ac = a[c], bc = b ? b[c] : 0.f, kc = k[c];
      if (in2) {
#pragma omp simd
        for (int64_t s = 0; s < d.s; ++s)
          out[base + s] = ac * in[base + s] + bc * in2[base + s] + kc;
      } else {
#pragma omp simd
        for (int64_t s = 0; s < d.s; ++s) out[base + s] = ac * in[base + s] + kc;
      }
    });
    return;
  }
  parallel_for(d.n, par, [&](int64_t n) {
    const int64_t row = n * d.c;
    if (in2) {
#pragma omp simd
      for (int64_t c = 0; c < d.c; ++c)
        out[row + c] = a[c] * in[row + c] + b[c] * in2[row + c] + k[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < d.c; ++c) out[row + c] = a[c] * in[row + c] + k[c];
    }
  });
}

// The affine map of the forward: y = x * scale + shift with scale = w * rstd, shift = b -
// mean * scale (w = 1, b = 0 without affine).
void normalise(const KernelCall& c, const Dims& d, const float* mean, const float* var,
               const float* w, const float* b) {
  const double eps = c.attrs.f("eps");
  std::vector<float> scale(d.c), shift(d.c);
  for (int64_t ch = 0; ch < d.c; ++ch) {
    const double rstd = 1.0 / std::sqrt(double(var[ch]) + eps);
    const double sc = (w ? w[ch] : 1.0) * rstd;
    scale[ch] = float(sc);
    shift[ch] = float((b ? b[ch] : 0.0) - mean[ch] * sc);
  }
  channel_affine(d, c.out[0].data<float>(), c.in[0].data<float>(), scale.data(), nullptr, nullptr,
                 shift.data());
}

// in {x (, w, b)} -> out {y, mean, var}: two passes (mean, then squared deviations).
void training(const KernelCall& c) {
  const Tensor& x = c.in[0];
  const Dims d = dims_of(x);
  const float* px = x.data<float>();
  const double m = double(d.n * d.s);
  std::vector<double> sum(d.c), sq(d.c);
  channel_sums(d, sum.data(), [px](int64_t i, int64_t) { return double(px[i]); });
  float* mean = c.out[1].data<float>();
  for (int64_t ch = 0; ch < d.c; ++ch) sum[ch] /= m;
  const double* mu = sum.data();
  channel_sums(d, sq.data(), [px, mu](int64_t i, int64_t ch) {
    const double v = px[i] - mu[ch];
    return v * v;
  });
  float* var = c.out[2].data<float>();
  for (int64_t ch = 0; ch < d.c; ++ch) {
    mean[ch] = float(mu[ch]);
    var[ch] = float(sq[ch] / m);
  }
  const bool affine = c.attrs.i("affine") != 0;
  normalise(c, d, mean, var, affine ? c.in[1].data<float>() : nullptr,
            affine ? c.in[2].data<float>() : nullptr);
}

// in {x, mean, var (, w, b)} -> out {y}
void inference(const KernelCall& c) {
  const bool affine = c.attrs.i("affine") != 0;
  normalise(c, dims_of(c.in[0]), c.in[1].data<float>(), c.in[2].data<float>(),
            affine ? c.in[3].data<float>() : nullptr, affine ? c.in[4].data<float>() : nullptr);
}

// in {g, x, mean, var (, w)} -> out {gx (, gw, gb)}. With sg = sum g, sgx = sum g*(x-mean),
// m values per channel and rstd = 1/sqrt(var+eps):
//   batch statistics: gx = w*rstd * (g - sg/m - (x-mean) * rstd^2 * sgx/m)
//   constant ones:    gx = w*rstd * g
//   gw = sgx * rstd, gb = sg.
void backward(const KernelCall& c) {
  const Tensor &g = c.in[0], &x = c.in[1];
  const Dims d = dims_of(x);
  const bool affine = c.attrs.i("affine") != 0, global = c.attrs.i("global_stats") != 0;
  const double eps = c.attrs.f("eps"), m = double(d.n * d.s);
  const float *pg = g.data<float>(), *px = x.data<float>();
  const float *mean = c.in[2].data<float>(), *var = c.in[3].data<float>();
  const float* w = affine ? c.in[4].data<float>() : nullptr;
  std::vector<double> sg(d.c), sgx(d.c);
  channel_sums(d, sg.data(), [pg](int64_t i, int64_t) { return double(pg[i]); });
  channel_sums(d, sgx.data(), [pg, px, mean](int64_t i, int64_t ch) {
    return double(pg[i]) * (double(px[i]) - mean[ch]);
  });
  // gx = A*g + B*x + K per channel.
  std::vector<float> A(d.c), B(d.c), K(d.c);
  for (int64_t ch = 0; ch < d.c; ++ch) {
    const double rstd = 1.0 / std::sqrt(double(var[ch]) + eps);
    const double a = (w ? w[ch] : 1.0) * rstd;
    const double b = global ? 0.0 : -a * rstd * rstd * sgx[ch] / m;
    A[ch] = float(a);
    B[ch] = float(b);
    K[ch] = float(global ? 0.0 : -a * sg[ch] / m - b * mean[ch]);
    if (affine) {
      c.out[1].data<float>()[ch] = float(sgx[ch] * rstd);
      c.out[2].data<float>()[ch] = float(sg[ch]);
    }
  }
  channel_affine(d, c.out[0].data<float>(), pg, A.data(), global ? nullptr : px,
                 global ? nullptr : B.data(), K.data());
}

}  // namespace

void register_batch_norm(const std::string& provider) {
  register_cpu_kernel("batch_norm_training", training, provider);
  register_cpu_kernel("batch_norm_inference", inference, provider);
  register_cpu_kernel("batch_norm_backward", backward, provider);
}

}  // namespace gom::onednn
