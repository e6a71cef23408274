// layer_norm and layer_norm_backward, x seen as [M, D] (D the product of normalized_shape).
//
// Forward: a team (a warp, or the block for wide rows) per row takes the mean, then the biased
// variance from the deviations (two passes, stable), and writes y = (x - mean) / sqrt(var + eps)
// * weight + bias; mean and variance [M] are kept for the backward, as the CPU's.
// Backward: a team per row writes grad_x; the parameter gradients (sums over the rows) are taken
// per column over chunks of rows, then the chunks' partials summed in order (no atomics, so the
// results are the same on every run).
#include <cmath>

#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

// Element e of a tensor read in row-major order (x as [M, D] at m * D + j, a parameter at j).
struct Flat {
  const float* p = nullptr;  // null: an undefined tensor
  Strided at;
  __device__ float operator[](int64_t e) const { return p[offset_in(at, e)]; }
};

Flat flat(const Tensor& t) {
  if (!t.defined()) return {};
  return {t.data<float>(), compact(t.shape(), t.strides())};
}

struct Plus {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Sums {
  float a, b;
};
struct PlusSums {
  __device__ Sums operator()(Sums x, Sums y) const { return {x.a + y.a, x.b + y.b}; }
};

int team_for(int64_t d) {
  return d > 1024 ? kThreads : 32;
}

template <int Team>
__global__ void __launch_bounds__(kThreads)
    layer_norm_fwd(Flat x, Flat w, Flat b, float* y, float* mean, float* var, int64_t m, int64_t d,
                   float eps) {
  constexpr int kTeams = kThreads / Team;
  const int lane = threadIdx.x % Team;
  for (int64_t r = int64_t(blockIdx.x) * kTeams + threadIdx.x / Team; r < m;
       r += int64_t(gridDim.x) * kTeams) {
    const int64_t row = r * d;
    float sum = 0.f;
    for (int64_t j = lane; j < d; j += Team) sum += x[row + j];
    const float mu = team_reduce<Team>(sum, Plus{}) / float(d);
    float sq = 0.f;
    for (int64_t j = lane; j < d; j += Team) {
      const float dev = x[row + j] - mu;
      sq += dev * dev;
    }
    const float v = team_reduce<Team>(sq, Plus{}) / float(d);
    const float inv = 1.0f / sqrtf(v + eps);
    if (lane == 0) {
      mean[r] = mu;
      var[r] = v;
    }
    for (int64_t j = lane; j < d; j += Team) {
      float t = (x[row + j] - mu) * inv;
      if (w.p) t *= w[j];
      if (b.p) t += b[j];
      y[row + j] = t;
    }
  }
}

// With xhat = (x - mean) * inv and dxhat = grad_y * weight (weight 1 when undefined):
// grad_x = inv * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat)).
template <int Team>
__global__ void __launch_bounds__(kThreads)
    layer_norm_bwd_x(Flat gy, Flat x, Flat mean, Flat var, Flat w, float* gx, int64_t m, int64_t d,
                     float eps) {
  constexpr int kTeams = kThreads / Team;
  const int lane = threadIdx.x % Team;
  for (int64_t r = int64_t(blockIdx.x) * kTeams + threadIdx.x / Team; r < m;
       r += int64_t(gridDim.x) * kTeams) {
    const int64_t row = r * d;
    const float mu = mean[r], inv = 1.0f / sqrtf(var[r] + eps);
    Sums s{0.f, 0.f};
    for (int64_t j = lane; j < d; j += Team) {
      const float dxhat = w.p ? gy[row + j] * w[j] : gy[row + j];
      s.a += dxhat;
      s.b += dxhat * (x[row + j] - mu) * inv;
    }
    s = team_reduce<Team>(s, PlusSums{});
    const float mean_dxhat = s.a / float(d), mean_dxhat_xhat = s.b / float(d);
    for (int64_t j = lane; j < d; j += Team) {
      const float dxhat = w.p ? gy[row + j] * w[j] : gy[row + j];
      const float xhat = (x[row + j] - mu) * inv;
      gx[row + j] = inv * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

// Column j's sums over rows [r0, r1) of chunk blockIdx.y: grad_weight's sum(grad_y * xhat) and
// grad_bias's sum(grad_y), into gw[chunk * d + j] and gb[chunk * d + j] (either may be null).
__global__ void __launch_bounds__(kThreads)
    layer_norm_bwd_params(Flat gy, Flat x, Flat mean, Flat var, int64_t m, int64_t d,
                          int64_t rows_per_chunk, float eps, float* gw, float* gb) {
  const int64_t ch = blockIdx.y, r0 = ch * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < m ? r0 + rows_per_chunk : m;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < d;
       j += int64_t(gridDim.x) * blockDim.x) {
    float sw = 0.f, sb = 0.f;
    for (int64_t r = r0; r < r1; ++r) {
      const float g = gy[r * d + j];
      if (gw) sw += g * ((x[r * d + j] - mean[r]) * (1.0f / sqrtf(var[r] + eps)));
      sb += g;
    }
    if (gw) gw[ch * d + j] = sw;
    if (gb) gb[ch * d + j] = sb;
  }
}

// out[j] = sum over chunks of part[chunk * d + j], in chunk order.
__global__ void __launch_bounds__(kThreads)
    sum_chunks(const float* part, int64_t chunks, int64_t d, float* out) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < d;
       j += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int64_t ch = 0; ch < chunks; ++ch) s += part[ch * d + j];
    out[j] = s;
  }
}

// in {x, weight | undefined, bias | undefined} -> out {y, mean [M], variance [M]}
void layer_norm(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& y = c.out[0];
  if (y.numel() == 0) return;
  const int64_t d = c.attrs.i("d"), m = c.out[1].numel();
  const float eps = static_cast<float>(c.attrs.f("eps"));
  const Flat x = flat(c.in[0]), w = flat(c.in[1]), b = flat(c.in[2]);
  float *py = y.data<float>(), *pm = c.out[1].data<float>(), *pv = c.out[2].data<float>();
  const int team = team_for(d);
  if (team == 32)
    layer_norm_fwd<32><<<grid_for_teams(m, 32), kThreads, 0, s>>>(x, w, b, py, pm, pv, m, d, eps);
  else
    layer_norm_fwd<kThreads>
        <<<grid_for_teams(m, kThreads), kThreads, 0, s>>>(x, w, b, py, pm, pv, m, d, eps);
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in {grad_y, x, mean, variance, weight | undefined} ->
// out {grad_x, grad_weight | undefined, grad_bias | undefined}
void layer_norm_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& gx = c.out[0];
  const Tensor &gw = c.out[1], &gb = c.out[2];
  const int64_t d = c.attrs.i("d"), m = c.in[2].numel();
  if (gx.numel() == 0) {  // no rows: the parameter gradients are sums over nothing
    for (const Tensor* t : {&gw, &gb})
      if (t->defined() && t->numel() > 0)
        GOM_CUDA_CHECK(cudaMemsetAsync(t->raw_data(), 0, sizeof(float) * t->numel(), s));
    return;
  }
  const float eps = static_cast<float>(c.attrs.f("eps"));
  const Flat gy = flat(c.in[0]), x = flat(c.in[1]), mean = flat(c.in[2]), var = flat(c.in[3]);
  const Flat w = flat(c.in[4]);
  const int team = team_for(d);
  if (team == 32)
    layer_norm_bwd_x<32><<<grid_for_teams(m, 32), kThreads, 0, s>>>(gy, x, mean, var, w,
                                                                    gx.data<float>(), m, d, eps);
  else
    layer_norm_bwd_x<kThreads><<<grid_for_teams(m, kThreads), kThreads, 0, s>>>(
        gy, x, mean, var, w, gx.data<float>(), m, d, eps);
  GOM_CUDA_CHECK(cudaGetLastError());
  if (!gw.defined() && !gb.defined()) return;

  // Chunks of rows so that enough threads work when D is small; each chunk >= 32 rows.
  int64_t chunks = ceil_div(kBusyThreads, d);
  chunks = chunks < ceil_div(m, 32) ? chunks : ceil_div(m, 32);
  chunks = chunks < 1 ? 1 : chunks > 1024 ? 1024 : chunks;
  const int64_t rows_per_chunk = ceil_div(m, chunks);
  chunks = ceil_div(m, rows_per_chunk);
  Tensor gw_part, gb_part;  // partials [chunks, D], when there is more than one chunk
  float* pw = gw.defined() ? gw.data<float>() : nullptr;
  float* pb = gb.defined() ? gb.data<float>() : nullptr;
  if (chunks > 1) {
    if (pw) pw = static_cast<float*>((gw_part = scratch(sizeof(float) * chunks * d, c)).raw_data());
    if (pb) pb = static_cast<float*>((gb_part = scratch(sizeof(float) * chunks * d, c)).raw_data());
  }
  const dim3 grid(grid_for(d), static_cast<unsigned>(chunks));
  layer_norm_bwd_params<<<grid, kThreads, 0, s>>>(gy, x, mean, var, m, d, rows_per_chunk, eps, pw,
                                                  pb);
  GOM_CUDA_CHECK(cudaGetLastError());
  if (chunks == 1) return;
  if (pw) sum_chunks<<<grid_for(d), kThreads, 0, s>>>(pw, chunks, d, gw.data<float>());
  if (pb) sum_chunks<<<grid_for(d), kThreads, 0, s>>>(pb, chunks, d, gb.data<float>());
  GOM_CUDA_CHECK(cudaGetLastError());
}

void register_layer_norm(const std::string& provider) {
  register_cuda_kernel("layer_norm", layer_norm, provider);
  register_cuda_kernel("layer_norm_backward", layer_norm_backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_layer_norm);

}  // namespace gom::cuda
