// Pooling on NCHW planes as own kernels, the CPU backend's formulas exactly (kernels_pool.cpp
// of onednn): max_pool2d keeps the index of each window's first maximum (NaN wins, as in
// PyTorch), avg_pool2d uses PyTorch's divisor rules, adaptive_avg_pool2d floor/ceil windows.
// Forward: one thread per output. The average backwards: one thread per input element,
// gathering from the outputs whose windows hold it in the CPU's order (output rows, then
// columns); max_pool2d_backward: one warp per plane (see there). Either way every sum is the
// CPU's own, bit for bit, with no atomics. __fmul_rn keeps nvcc from fusing a product into the
// following add (the CPU rounds the product first).
#include <utility>

#include "common/pool_window.h"
#include "cuda_util.h"

namespace gom::cuda {
namespace {

using pool::avg_window;
using pool::AvgWindow;
using pool::end_of;
using pool::Planes;
using pool::planes;
using pool::start_of;
using pool::Window;
using pool::window;

#define GRID_STRIDE(i, n)                                                   \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// The first and last output (along one dim) whose window [o*s - p, o*s - p + span) can hold
// input position x; span = (k-1)*d + 1. Clipped to [0, out); empty when first > last.
__device__ inline void outputs_covering(int64_t x, int64_t span, int64_t s, int64_t p, int64_t out,
                                        int64_t& first, int64_t& last) {
  const int64_t lo = x + p - span + 1;  // o*s >= lo
  first = lo <= 0 ? 0 : (lo + s - 1) / s;
  last = (x + p) / s;  // o*s <= x + p
  if (last > out - 1) last = out - 1;
}

__global__ void max_pool_kernel(const float* x, float* y, int32_t* idx, Planes P, Window W) {
  GRID_STRIDE(o, P.n * P.oh * P.ow) {
    const int64_t j = o % P.ow, i = o / P.ow % P.oh, p = o / (P.ow * P.oh);
    float best;
    int64_t at;  // -1 only for a window wholly in the padding
    pool::max_window(x + p * P.h * P.w, P, W, i, j, best, at);
    y[o] = best;
    idx[o] = static_cast<int32_t>(at);
  }
}

// max_pool2d_backward gets no attributes (the window is gone), so it scatters as the CPU does:
// grad_x[idx[k]] += grad_out[k] for the outputs k of a plane in order, one warp per plane. A
// chunk of 32 outputs goes at a time; lanes with the same index find each other
// (__match_any_sync) and the lowest of them adds the group's values in lane order, so every
// element sums its gradients in the CPU's order, with no atomics and the same result each run.
constexpr int kWarp = 32;
__global__ void max_pool_backward_kernel(const float* gy, const int32_t* idx, float* gx, Planes P) {
  __shared__ float chunk[kThreads / kWarp][kWarp];
  float* vals = chunk[threadIdx.x / kWarp];
  const int lane = threadIdx.x % kWarp;
  const int64_t plane = P.h * P.w, outs = P.oh * P.ow;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / kWarp;
  for (int64_t p = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; p < P.n;
       p += warps) {  // the same p across the warp
    float* gp = gx + p * plane;
    const float* g = gy + p * outs;
    const int32_t* ip = idx + p * outs;
    for (int64_t e = lane; e < plane; e += kWarp) gp[e] = 0.0f;
    __syncwarp();
    for (int64_t k0 = 0; k0 < outs; k0 += kWarp) {
      const int64_t k = k0 + lane;
      const bool live = k < outs;
      const int32_t t = live ? ip[k] : -1;
      vals[lane] = live ? g[k] : 0.0f;
      const unsigned peers = __match_any_sync(0xffffffffu, t);
      __syncwarp();
      if (t >= 0 && t < plane && lane == __ffs(peers) - 1) {
        float acc = gp[t];
        for (unsigned m = peers; m; m &= m - 1) acc += vals[__ffs(m) - 1];
        gp[t] = acc;
      }
      __syncwarp();  // the next chunk reuses vals and may add to the same elements
    }
  }
}

__global__ void avg_pool_kernel(const float* x, float* y, Planes P, Window W, bool count_pad) {
  GRID_STRIDE(o, P.n * P.oh * P.ow) {
    const int64_t j = o % P.ow, i = o / P.ow % P.oh, p = o / (P.ow * P.oh);
    const float* xp = x + p * P.h * P.w;
    const AvgWindow a = avg_window(P, W, count_pad, i, j);
    float s = 0.0f;
    for (int64_t h = a.h0; h < a.h1; ++h)
      for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * P.w + w];
    y[o] = s * a.scale;
  }
}

__global__ void avg_pool_backward_kernel(const float* gy, float* gx, Planes P, Window W,
                                         bool count_pad) {
  GRID_STRIDE(e, P.n * P.h * P.w) {
    const int64_t w = e % P.w, h = e / P.w % P.h, p = e / (P.w * P.h);
    const float* g = gy + p * P.oh * P.ow;
    int64_t i0, i1, j0, j1;
    outputs_covering(h, W.kh, W.sh, W.ph, P.oh, i0, i1);
    outputs_covering(w, W.kw, W.sw, W.pw, P.ow, j0, j1);
    float acc = 0.0f;
    for (int64_t i = i0; i <= i1; ++i)
      for (int64_t j = j0; j <= j1; ++j) {
        const AvgWindow a = avg_window(P, W, count_pad, i, j);
        if (h >= a.h0 && h < a.h1 && w >= a.w0 && w < a.w1)
          acc += __fmul_rn(g[i * P.ow + j], a.scale);
      }
    gx[e] = acc;
  }
}

// Adaptive windows: output i covers [floor(i*in/out), ceil((i+1)*in/out)).
__global__ void adaptive_avg_kernel(const float* x, float* y, Planes P) {
  GRID_STRIDE(o, P.n * P.oh * P.ow) {
    const int64_t j = o % P.ow, i = o / P.ow % P.oh, p = o / (P.ow * P.oh);
    const float* xp = x + p * P.h * P.w;
    const int64_t h0 = start_of(i, P.h, P.oh), h1 = end_of(i, P.h, P.oh);
    const int64_t w0 = start_of(j, P.w, P.ow), w1 = end_of(j, P.w, P.ow);
    float s = 0.0f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * P.w + w];
    y[o] = s / float((h1 - h0) * (w1 - w0));
  }
}

// The outputs whose adaptive windows hold input position x: floor(x*out/in) ..
// ceil((x+1)*out/in) - 1 (each checked against its window all the same).
__global__ void adaptive_avg_backward_kernel(const float* gy, float* gx, Planes P) {
  GRID_STRIDE(e, P.n * P.h * P.w) {
    const int64_t w = e % P.w, h = e / P.w % P.h, p = e / (P.w * P.h);
    const float* g = gy + p * P.oh * P.ow;
    const int64_t i0 = h * P.oh / P.h, i1 = min(((h + 1) * P.oh + P.h - 1) / P.h, P.oh) - 1;
    const int64_t j0 = w * P.ow / P.w, j1 = min(((w + 1) * P.ow + P.w - 1) / P.w, P.ow) - 1;
    float acc = 0.0f;
    for (int64_t i = i0; i <= i1; ++i) {
      const int64_t h0 = start_of(i, P.h, P.oh), h1 = end_of(i, P.h, P.oh);
      if (h < h0 || h >= h1) continue;
      for (int64_t j = j0; j <= j1; ++j) {
        const int64_t w0 = start_of(j, P.w, P.ow), w1 = end_of(j, P.w, P.ow);
        if (w < w0 || w >= w1) continue;
        acc += g[i * P.ow + j] / float((h1 - h0) * (w1 - w0));
      }
    }
    gx[e] = acc;
  }
}

#undef GRID_STRIDE

// Launches `kernel` over n items on the call's stream (nothing for n == 0).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), int64_t n, cudaStream_t s, Args&&... args) {
  if (n == 0) return;
  kernel<<<grid_for(n), kThreads, 0, s>>>(std::forward<Args>(args)...);
  GOM_CUDA_CHECK(cudaGetLastError());
}

void max_pool2d(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &x = c.in[0], &y = c.out[0], &idx = c.out[1];
  const Planes P = planes(x, y);
  launch(max_pool_kernel, y.numel(), s, x.data<float>(), y.data<float>(), idx.data<int32_t>(), P,
         window(c.attrs));
}

// in {grad_out, indices} -> out {grad_x}; the kernel zeroes grad_x itself.
void max_pool2d_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &gy = c.in[0], &idx = c.in[1], &gx = c.out[0];
  const Planes P = planes(gx, gy);
  launch(max_pool_backward_kernel, gx.numel() == 0 ? 0 : P.n * kWarp, s, gy.data<float>(),
         idx.data<int32_t>(), gx.data<float>(), P);
}

void avg_pool2d(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &x = c.in[0], &y = c.out[0];
  launch(avg_pool_kernel, y.numel(), s, x.data<float>(), y.data<float>(), planes(x, y),
         window(c.attrs), c.attrs.i("count_include_pad") != 0);
}

void avg_pool2d_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &gy = c.in[0], &gx = c.out[0];
  launch(avg_pool_backward_kernel, gx.numel(), s, gy.data<float>(), gx.data<float>(),
         planes(gx, gy), window(c.attrs), c.attrs.i("count_include_pad") != 0);
}

void adaptive_avg_pool2d(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &x = c.in[0], &y = c.out[0];
  launch(adaptive_avg_kernel, y.numel(), s, x.data<float>(), y.data<float>(), planes(x, y));
}

void adaptive_avg_pool2d_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &gy = c.in[0], &gx = c.out[0];
  launch(adaptive_avg_backward_kernel, gx.numel(), s, gy.data<float>(), gx.data<float>(),
         planes(gx, gy));
}

void register_pool(const std::string& provider) {
  register_cuda_kernel("max_pool2d", max_pool2d, provider);
  register_cuda_kernel("max_pool2d_backward", max_pool2d_backward, provider);
  register_cuda_kernel("avg_pool2d", avg_pool2d, provider);
  register_cuda_kernel("avg_pool2d_backward", avg_pool2d_backward, provider);
  register_cuda_kernel("adaptive_avg_pool2d", adaptive_avg_pool2d, provider);
  register_cuda_kernel("adaptive_avg_pool2d_backward", adaptive_avg_pool2d_backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_pool);

}  // namespace gom::cuda
