// Pooling as loops over NCHW planes (one plane per OpenMP iteration), PyTorch's formulas:
// max_pool2d keeps the index of each window's first maximum for its backward (oneDNN's
// workspace has a layout of its own, and gom has no u8 tensors); avg_pool2d with PyTorch's
// divisor rules; adaptive_avg_pool2d with floor/ceil window bounds.
#include <cmath>

#include "common/pool_window.h"
#include "dnnl_util.h"

namespace gom::onednn {
namespace {

using pool::avg_window;
using pool::AvgWindow;
using pool::beats;
using pool::end_of;
using pool::Planes;
using pool::planes;
using pool::start_of;
using pool::Window;
using pool::window;

// Planes in parallel when there is enough work to share.
template <class Body>
void for_planes(int64_t n, int64_t work_per_plane, Body&& body) {
  parallel_for(n, n * work_per_plane >= kParallelGrain, [&](int64_t p) { body(p); });
}

// The common 2x2 window with stride 2 lying inside the plane: branch-free selects per output,
// which GCC vectorises.
void max_plane_2x2(const float* xp, float* yp, int32_t* ip, int64_t w, int64_t oh, int64_t ow) {
  const int32_t down = static_cast<int32_t>(w);
  for (int64_t i = 0; i < oh; ++i) {
    const float* r0 = xp + 2 * i * w;
    const float* r1 = r0 + w;
    const int32_t row = static_cast<int32_t>(2 * i * w);
    float* yr = yp + i * ow;
    int32_t* ir = ip + i * ow;
    for (int64_t j = 0; j < ow; ++j) {
      const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
      const bool tb = beats(b, a);
      const float m1 = tb ? b : a;
      const int32_t k1 = tb ? 1 : 0;
      const bool tc = beats(c, m1);
      const float m2 = tc ? c : m1;
      const int32_t k2 = tc ? down : k1;
      const bool td = beats(d, m2);
      yr[j] = td ? d : m2;
      ir[j] = row + 2 * static_cast<int32_t>(j) + (td ? down + 1 : k2);
    }
  }
}

// Any window; taps outside the plane (padding) are skipped.
void max_plane(const float* xp, float* yp, int32_t* ip, const Planes P, const Window W) {
  for (int64_t i = 0; i < P.oh; ++i)
    for (int64_t j = 0; j < P.ow; ++j) {
      float best;
      int64_t at;
      pool::max_window(xp, P, W, i, j, best, at);
      yp[i * P.ow + j] = best;
      ip[i * P.ow + j] = static_cast<int32_t>(at);
    }
}

void max_pool2d(const KernelCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0], &idx = c.out[1];
  const Planes P = planes(x, y);
  const Window W = window(c.attrs);
  const float* xs = x.data<float>();
  float* ys = y.data<float>();
  int32_t* is = idx.data<int32_t>();
  const bool two = W.kh == 2 && W.kw == 2 && W.sh == 2 && W.sw == 2 && W.ph == 0 && W.pw == 0 &&
                   W.dh == 1 && W.dw == 1 && 2 * P.oh <= P.h && 2 * P.ow <= P.w;
  for_planes(P.n, P.h * P.w, [=](int64_t p) {
    const float* xp = xs + p * P.h * P.w;
    float* yp = ys + p * P.oh * P.ow;
    int32_t* ip = is + p * P.oh * P.ow;
    if (two)
      max_plane_2x2(xp, yp, ip, P.w, P.oh, P.ow);
    else
      max_plane(xp, yp, ip, P, W);
  });
}

// in {grad_out, indices} -> out {grad_x}
void max_pool2d_backward(const KernelCall& c) {
  const Tensor &gy = c.in[0], &idx = c.in[1], &gx = c.out[0];
  const Planes P = planes(gx, gy);
  const float* gys = gy.data<float>();
  const int32_t* is = idx.data<int32_t>();
  float* gxs = gx.data<float>();
  for_planes(P.n, P.h * P.w, [&](int64_t p) {
    float* gp = gxs + p * P.h * P.w;
    std::fill(gp, gp + P.h * P.w, 0.0f);
    const float* g = gys + p * P.oh * P.ow;
    const int32_t* ip = is + p * P.oh * P.ow;
    for (int64_t k = 0; k < P.oh * P.ow; ++k) gp[ip[k]] += g[k];
  });
}

void avg_pool2d(const KernelCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const Planes P = planes(x, y);
  const Window W = window(c.attrs);
  const bool count_pad = c.attrs.i("count_include_pad") != 0;
  const float* xs = x.data<float>();
  float* ys = y.data<float>();
  for_planes(P.n, P.h * P.w, [&](int64_t p) {
    const float* xp = xs + p * P.h * P.w;
    float* yp = ys + p * P.oh * P.ow;
    for (int64_t i = 0; i < P.oh; ++i)
      for (int64_t j = 0; j < P.ow; ++j) {
        const AvgWindow a = avg_window(P, W, count_pad, i, j);
        float s = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * P.w + w];
        yp[i * P.ow + j] = s * a.scale;
      }
  });
}

// in {grad_out} -> out {grad_x}
void avg_pool2d_backward(const KernelCall& c) {
  const Tensor &gy = c.in[0], &gx = c.out[0];
  const Planes P = planes(gx, gy);
  const Window W = window(c.attrs);
  const bool count_pad = c.attrs.i("count_include_pad") != 0;
  const float* gys = gy.data<float>();
  float* gxs = gx.data<float>();
  for_planes(P.n, P.h * P.w, [&](int64_t p) {
    float* gp = gxs + p * P.h * P.w;
    std::fill(gp, gp + P.h * P.w, 0.0f);
    const float* g = gys + p * P.oh * P.ow;
    for (int64_t i = 0; i < P.oh; ++i)
      for (int64_t j = 0; j < P.ow; ++j) {
        const AvgWindow a = avg_window(P, W, count_pad, i, j);
        const float v = g[i * P.ow + j] * a.scale;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) gp[h * P.w + w] += v;
      }
  });
}

// Adaptive windows: output i covers [floor(i*in/out), ceil((i+1)*in/out)) (pool::start_of, end_of).
void adaptive_avg_pool2d(const KernelCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const Planes P = planes(x, y);
  const float* xs = x.data<float>();
  float* ys = y.data<float>();
  if (P.oh == 1 && P.ow == 1) {  // global average pooling: one contiguous sum per plane
    const int64_t m = P.h * P.w;
    for_planes(P.n, m, [&](int64_t p) {
      const float* xp = xs + p * m;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < m; ++k) s += xp[k];
      ys[p] = s / float(m);
    });
    return;
  }
  for_planes(P.n, P.h * P.w, [&](int64_t p) {
    const float* xp = xs + p * P.h * P.w;
    float* yp = ys + p * P.oh * P.ow;
    for (int64_t i = 0; i < P.oh; ++i) {
      const int64_t h0 = start_of(i, P.h, P.oh), h1 = end_of(i, P.h, P.oh);
      for (int64_t j = 0; j < P.ow; ++j) {
        const int64_t w0 = start_of(j, P.w, P.ow), w1 = end_of(j, P.w, P.ow);
        float s = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += xp[h * P.w + w];
        yp[i * P.ow + j] = s / float((h1 - h0) * (w1 - w0));
      }
    }
  });
}

// in {grad_out} -> out {grad_x}
void adaptive_avg_pool2d_backward(const KernelCall& c) {
  const Tensor &gy = c.in[0], &gx = c.out[0];
  const Planes P = planes(gx, gy);
  const float* gys = gy.data<float>();
  float* gxs = gx.data<float>();
  for_planes(P.n, P.h * P.w, [&](int64_t p) {
    float* gp = gxs + p * P.h * P.w;
    std::fill(gp, gp + P.h * P.w, 0.0f);
    const float* g = gys + p * P.oh * P.ow;
    for (int64_t i = 0; i < P.oh; ++i) {
      const int64_t h0 = start_of(i, P.h, P.oh), h1 = end_of(i, P.h, P.oh);
      for (int64_t j = 0; j < P.ow; ++j) {
        const int64_t w0 = start_of(j, P.w, P.ow), w1 = end_of(j, P.w, P.ow);
        const float v = g[i * P.ow + j] / float((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) gp[h * P.w + w] += v;
      }
    }
  });
}

}  // namespace

void register_pool_kernels(const std::string& provider) {
  register_cpu_kernel("max_pool2d", max_pool2d, provider);
  register_cpu_kernel("max_pool2d_backward", max_pool2d_backward, provider);
  register_cpu_kernel("avg_pool2d", avg_pool2d, provider);
  register_cpu_kernel("avg_pool2d_backward", avg_pool2d_backward, provider);
  register_cpu_kernel("adaptive_avg_pool2d", adaptive_avg_pool2d, provider);
  register_cpu_kernel("adaptive_avg_pool2d_backward", adaptive_avg_pool2d_backward, provider);
}

}  // namespace gom::onednn
