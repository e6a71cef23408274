// batch_norm_training / _inference / _backward (contracts in gom/ops_norm.h) as own kernels
// that do what the CPU kernels do (onednn's kernels_batch_norm.cpp), step for step: per-channel
// sums in double, the saved mean and *biased* variance (not cuDNN's inverse std; the core
// updates the running statistics itself), and the per-channel coefficients computed in double
// and rounded to float before the float affine map. The explicit __dmul_rn / __fmul_rn keep
// nvcc from fusing products into adds, which the CPU does not do either.
//
// Data come dense as [N, C, S] (S = 1 for [N, C]). One block of 32 x 8 threads owns whole
// channels, so a channel's statistics, coefficients and outputs come from one launch:
//  - S > 1: a block per channel, its 256 threads striding over the N*S elements (runs of S are
//    contiguous, so reads coalesce);
//  - S = 1: a block per 32 channels, threadIdx.x the channel (a row's 32 channels coalesce),
//    threadIdx.y striding over the N rows.
#include "cuda_util.h"

namespace gom::cuda {
namespace {

constexpr int kLanes = 32, kRows = 8;  // the block: kLanes x kRows threads

struct Dims {
  int64_t n, c, s;
};
Dims dims_of(const Tensor& x) {
  return {x.shape()[0], x.shape()[1], x.dim() > 2 ? x.shape()[2] : 1};
}

// The elements of its channel a thread visits: positions start, start + step, ... < count.
struct Walk {
  int64_t c;  // the channel (count is 0 on the idle lanes past the last channel)
  int64_t start, step, count;
  bool lead;  // the one thread of the channel that writes its per-channel outputs
  __device__ int64_t index(const Dims& d, int64_t k) const {
    if (d.s == 1) return k * d.c + c;
    const int64_t n = k / d.s;
    return (n * d.c + c) * d.s + (k - n * d.s);
  }
};

__device__ Walk walk(const Dims& d) {
  Walk w;
  if (d.s > 1) {
    w.c = blockIdx.x;
    w.start = threadIdx.y * kLanes + threadIdx.x;
    w.step = kLanes * kRows;
    w.count = d.n * d.s;
    w.lead = threadIdx.x == 0 && threadIdx.y == 0;
  } else {
    w.c = int64_t(blockIdx.x) * kLanes + threadIdx.x;
    w.start = threadIdx.y;
    w.step = kRows;
    w.count = w.c < d.c ? d.n : 0;
    w.lead = threadIdx.y == 0;
  }
  return w;
}

dim3 grid_of(const Dims& d) {
  return dim3(static_cast<unsigned>(d.s > 1 ? d.c : (d.c + kLanes - 1) / kLanes));
}

struct Sums {
  double a = 0, b = 0;
};

// The channel's totals of the threads' partial sums, returned to every thread of the channel.
// Called by all threads of the block (it synchronises). Each warp is one row of the block: the
// column sums cover the rows, and for S > 1 a butterfly over the lanes covers the columns
// (a + b == b + a exactly, so every lane ends with the same bits).
__device__ Sums channel_totals(Sums v, const Dims& d) {
  __shared__ double ra[kRows][kLanes], rb[kRows][kLanes];
  ra[threadIdx.y][threadIdx.x] = v.a;
  rb[threadIdx.y][threadIdx.x] = v.b;
  __syncthreads();
  Sums t;
  for (int y = 0; y < kRows; ++y) {
    t.a += ra[y][threadIdx.x];
    t.b += rb[y][threadIdx.x];
  }
  if (d.s > 1)
    for (int m = kLanes / 2; m > 0; m /= 2) {
      t.a += __shfl_xor_sync(0xffffffffu, t.a, m);
      t.b += __shfl_xor_sync(0xffffffffu, t.b, m);
    }
  __syncthreads();  // the arrays are reused by the next call
  return t;
}

// y = x * scale + shift with scale = w * rstd, shift = b - mean * scale, as the CPU's
// normalise(): double arithmetic on the float statistics, rounded to float at the end.
struct Affine {
  float scale, shift;
};
__device__ Affine forward_affine(float mean, float var, double w, double b, double eps) {
  const double rstd = 1.0 / sqrt(double(var) + eps);
  const double sc = __dmul_rn(w, rstd);
  return {float(sc), float(__dsub_rn(b, __dmul_rn(double(mean), sc)))};
}

__device__ inline float affine(float a, float x, float k) {
  return __fadd_rn(__fmul_rn(a, x), k);
}

// in {x (, w, b)} -> out {y, mean, var}: two passes (mean, then squared deviations).
__global__ void __launch_bounds__(kLanes* kRows)
    training_kernel(const float* x, const float* w, const float* b, float* y, float* mean,
                    float* var, Dims d, double eps) {
  const Walk wk = walk(d);
  const double m = double(d.n * d.s);
  Sums acc;
  for (int64_t k = wk.start; k < wk.count; k += wk.step) acc.a += double(x[wk.index(d, k)]);
  const double mu = channel_totals(acc, d).a / m;
  acc = Sums{};
  for (int64_t k = wk.start; k < wk.count; k += wk.step) {
    const double v = double(x[wk.index(d, k)]) - mu;
    acc.a = __dadd_rn(acc.a, __dmul_rn(v, v));
  }
  const double sq = channel_totals(acc, d).a;
  if (wk.c >= d.c) return;  // an idle lane (after the last synchronisation)
  const float mean_c = float(mu), var_c = float(sq / m);
  if (wk.lead) {
    mean[wk.c] = mean_c;
    var[wk.c] = var_c;
  }
  const Affine f =
      forward_affine(mean_c, var_c, w ? double(w[wk.c]) : 1.0, b ? double(b[wk.c]) : 0.0, eps);
  for (int64_t k = wk.start; k < wk.count; k += wk.step) {
    const int64_t i = wk.index(d, k);
    y[i] = affine(f.scale, x[i], f.shift);
  }
}

// in {x, mean, var (, w, b)} -> out {y}
__global__ void __launch_bounds__(kLanes* kRows)
    inference_kernel(const float* x, const float* mean, const float* var, const float* w,
                     const float* b, float* y, Dims d, double eps) {
  const Walk wk = walk(d);
  if (wk.c >= d.c) return;
  const Affine f = forward_affine(mean[wk.c], var[wk.c], w ? double(w[wk.c]) : 1.0,
                                  b ? double(b[wk.c]) : 0.0, eps);
  for (int64_t k = wk.start; k < wk.count; k += wk.step) {
    const int64_t i = wk.index(d, k);
    y[i] = affine(f.scale, x[i], f.shift);
  }
}

// in {g, x, mean, var (, w)} -> out {gx (, gw, gb)}. With sg = sum g, sgx = sum g*(x-mean),
// m values per channel and rstd = 1/sqrt(var+eps), as the CPU:
//   batch statistics: gx = A*g + B*x + K with A = w*rstd, B = -A*rstd^2*sgx/m,
//                     K = -A*sg/m - B*mean
//   constant ones:    gx = A*g
//   gw = sgx * rstd, gb = sg.
__global__ void __launch_bounds__(kLanes* kRows)
    backward_kernel(const float* g, const float* x, const float* mean, const float* var,
                    const float* w, float* gx, float* gw, float* gb, Dims d, double eps,
                    bool global) {
  const Walk wk = walk(d);
  const double m = double(d.n * d.s);
  const double mc = wk.c < d.c ? double(mean[wk.c]) : 0.0;
  Sums acc;
  for (int64_t k = wk.start; k < wk.count; k += wk.step) {
    const int64_t i = wk.index(d, k);
    const double gi = double(g[i]);
    acc.a += gi;
    acc.b = __dadd_rn(acc.b, __dmul_rn(gi, double(x[i]) - mc));
  }
  const Sums t = channel_totals(acc, d);
  if (wk.c >= d.c) return;  // an idle lane (after the synchronisation)
  const double sg = t.a, sgx = t.b;
  const double rstd = 1.0 / sqrt(double(var[wk.c]) + eps);
  const double a = __dmul_rn(w ? double(w[wk.c]) : 1.0, rstd);
  const double bc = global ? 0.0 : __dmul_rn(__dmul_rn(__dmul_rn(-a, rstd), rstd), sgx) / m;
  const double kc = global ? 0.0 : __dsub_rn(__dmul_rn(-a, sg) / m, __dmul_rn(bc, mc));
  if (gw && wk.lead) {
    gw[wk.c] = float(__dmul_rn(sgx, rstd));
    gb[wk.c] = float(sg);
  }
  const float A = float(a), B = float(bc), K = float(kc);
  for (int64_t k = wk.start; k < wk.count; k += wk.step) {
    const int64_t i = wk.index(d, k);
    gx[i] = global ? affine(A, g[i], K)
                   : __fadd_rn(__fadd_rn(__fmul_rn(A, g[i]), __fmul_rn(B, x[i])), K);
  }
}

const float* optional_input(const KernelCall& c, size_t i, bool present) {
  return present ? c.in[i].data<float>() : nullptr;
}

void training(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& x = c.in[0];
  const Dims d = dims_of(x);
  if (x.numel() == 0) return;  // the core does not call it for an empty batch
  const bool affine = c.attrs.i("affine") != 0;
  training_kernel<<<grid_of(d), dim3(kLanes, kRows), 0, s>>>(
      x.data<float>(), optional_input(c, 1, affine), optional_input(c, 2, affine),
      c.out[0].data<float>(), c.out[1].data<float>(), c.out[2].data<float>(), d, c.attrs.f("eps"));
  GOM_CUDA_CHECK(cudaGetLastError());
}

void inference(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& x = c.in[0];
  const Dims d = dims_of(x);
  if (x.numel() == 0) return;
  const bool affine = c.attrs.i("affine") != 0;
  inference_kernel<<<grid_of(d), dim3(kLanes, kRows), 0, s>>>(
      x.data<float>(), c.in[1].data<float>(), c.in[2].data<float>(), optional_input(c, 3, affine),
      optional_input(c, 4, affine), c.out[0].data<float>(), d, c.attrs.f("eps"));
  GOM_CUDA_CHECK(cudaGetLastError());
}

void backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &g = c.in[0], &x = c.in[1];
  const Dims d = dims_of(x);
  if (x.numel() == 0) return;  // the core zeroes grad_weight and grad_bias itself then
  const bool affine = c.attrs.i("affine") != 0, global = c.attrs.i("global_stats") != 0;
  backward_kernel<<<grid_of(d), dim3(kLanes, kRows), 0, s>>>(
      g.data<float>(), x.data<float>(), c.in[2].data<float>(), c.in[3].data<float>(),
      optional_input(c, 4, affine), c.out[0].data<float>(),
      affine ? c.out[1].data<float>() : nullptr, affine ? c.out[2].data<float>() : nullptr, d,
      c.attrs.f("eps"), global);
  GOM_CUDA_CHECK(cudaGetLastError());
}

void register_batch_norm(const std::string& provider) {
  register_cuda_kernel("batch_norm_training", training, provider);
  register_cuda_kernel("batch_norm_inference", inference, provider);
  register_cuda_kernel("batch_norm_backward", backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_batch_norm);

}  // namespace gom::cuda
