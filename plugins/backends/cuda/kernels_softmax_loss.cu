// softmax, log_softmax and their backwards along any dim; nll_loss and its backward.
//
// A softmax line (the elements along dim at fixed other coordinates) is handled by one team: a
// thread when the lines are interleaved in memory (dim not last: neighbouring threads read
// neighbouring lines), else a warp, or the block for long lines. The team takes the line's max,
// then the sum of exp(x - max) (numerically stable, as the CPU), then writes the line.
#include <cmath>

#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

// The lines of a tensor along a dim: line l (row-major over the shape without dim) starts at
// offset_in(outer, l), and its element k is k * step further.
struct Lines {
  Strided outer;
  int64_t step = 0;
};

Lines lines_of(const Tensor& t, int64_t dim) {
  const Strided st = strided(t);  // throws beyond kMaxDims
  Lines l;
  for (int d = 0; d < st.ndim; ++d)
    if (d != dim) push_dim(l.outer, st.shape[d], st.strides[d]);
  l.step = t.dim() == 0 ? 0 : st.strides[dim];
  return l;
}

// The shape of a softmax call: lines of n elements; `inner` is the product of the dims after
// dim (the distance between a line's elements in the contiguous output).
struct LineShape {
  int64_t lines = 0, n = 1, inner = 1;
};

LineShape line_shape(const Tensor& out, int64_t dim) {
  LineShape ls;
  if (out.dim() > 0) {
    ls.n = out.shape()[static_cast<size_t>(dim)];
    for (int64_t d = dim + 1; d < out.dim(); ++d) ls.inner *= out.shape()[static_cast<size_t>(d)];
  }
  ls.lines = ls.n == 0 ? 0 : out.numel() / ls.n;
  return ls;
}

// One thread per line when lines interleave (and are not too long to walk alone), a block for
// a few long lines, else a warp.
int team_for(const LineShape& ls) {
  if (ls.inner >= 32 && ls.n <= 4096) return 1;
  if (ls.n > 1024 && ls.lines < 2048) return kThreads;
  return 32;
}

struct Plus {
  __device__ float operator()(float a, float b) const { return a + b; }
};
// std::max(a, b) as the CPU's loop: a NaN never becomes the max (it shows up in the sum).
struct Larger {
  __device__ float operator()(float a, float b) const { return a < b ? b : a; }
};

template <int Team, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_fwd(const float* x, Lines lx, float* y, Lines ly, int64_t lines, int64_t n) {
  constexpr int kTeams = kThreads / Team;
  const int lane = threadIdx.x % Team;
  for (int64_t l = int64_t(blockIdx.x) * kTeams + threadIdx.x / Team; l < lines;
       l += int64_t(gridDim.x) * kTeams) {
    const float* xl = x + offset_in(lx.outer, l);
    float* yl = y + offset_in(ly.outer, l);
    float mx = -INFINITY;
    for (int64_t k = lane; k < n; k += Team) mx = Larger{}(mx, xl[k * lx.step]);
    mx = team_reduce<Team>(mx, Larger{});
    float sum = 0.f;
    for (int64_t k = lane; k < n; k += Team) sum += expf(xl[k * lx.step] - mx);
    sum = team_reduce<Team>(sum, Plus{});
    if constexpr (kLog) {
      const float lse = mx + logf(sum);
      for (int64_t k = lane; k < n; k += Team) yl[k * ly.step] = xl[k * lx.step] - lse;
    } else {
      for (int64_t k = lane; k < n; k += Team) yl[k * ly.step] = expf(xl[k * lx.step] - mx) / sum;
    }
  }
}

// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g) (y: the forward's
// output).
template <int Team, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_bwd(const float* g, Lines lg, const float* y, Lines ly, float* gx, Lines lo,
                int64_t lines, int64_t n) {
  constexpr int kTeams = kThreads / Team;
  const int lane = threadIdx.x % Team;
  for (int64_t l = int64_t(blockIdx.x) * kTeams + threadIdx.x / Team; l < lines;
       l += int64_t(gridDim.x) * kTeams) {
    const float* gl = g + offset_in(lg.outer, l);
    const float* yl = y + offset_in(ly.outer, l);
    float* ol = gx + offset_in(lo.outer, l);
    float sum = 0.f;
    for (int64_t k = lane; k < n; k += Team)
      sum += kLog ? gl[k * lg.step] : gl[k * lg.step] * yl[k * ly.step];
    sum = team_reduce<Team>(sum, Plus{});
    for (int64_t k = lane; k < n; k += Team) {
      const float gk = gl[k * lg.step], yk = yl[k * ly.step];
      ol[k * lo.step] = kLog ? gk - expf(yk) * sum : yk * (gk - sum);
    }
  }
}

template <bool kLog>
void softmax_forward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const int64_t dim = c.attrs.i("dim");
  const LineShape ls = line_shape(out, dim);
  const Lines lx = lines_of(c.in[0], dim), ly = lines_of(out, dim);
  const float* x = c.in[0].data<float>();
  float* y = out.data<float>();
  const int team = team_for(ls);
  const unsigned blocks = grid_for_teams(ls.lines, team);
  if (team == 1)
    softmax_fwd<1, kLog><<<blocks, kThreads, 0, s>>>(x, lx, y, ly, ls.lines, ls.n);
  else if (team == 32)
    softmax_fwd<32, kLog><<<blocks, kThreads, 0, s>>>(x, lx, y, ly, ls.lines, ls.n);
  else
    softmax_fwd<kThreads, kLog><<<blocks, kThreads, 0, s>>>(x, lx, y, ly, ls.lines, ls.n);
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in {grad_out, out} -> out[0]
template <bool kLog>
void softmax_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const int64_t dim = c.attrs.i("dim");
  const LineShape ls = line_shape(out, dim);
  const Lines lg = lines_of(c.in[0], dim), ly = lines_of(c.in[1], dim), lo = lines_of(out, dim);
  const float* g = c.in[0].data<float>();
  const float* y = c.in[1].data<float>();
  float* gx = out.data<float>();
  const int team = team_for(ls);
  const unsigned blocks = grid_for_teams(ls.lines, team);
  if (team == 1)
    softmax_bwd<1, kLog><<<blocks, kThreads, 0, s>>>(g, lg, y, ly, gx, lo, ls.lines, ls.n);
  else if (team == 32)
    softmax_bwd<32, kLog><<<blocks, kThreads, 0, s>>>(g, lg, y, ly, gx, lo, ls.lines, ls.n);
  else
    softmax_bwd<kThreads, kLog><<<blocks, kThreads, 0, s>>>(g, lg, y, ly, gx, lo, ls.lines, ls.n);
  GOM_CUDA_CHECK(cudaGetLastError());
}

// ---------------------------------------------------------------- nll_loss
// The CPU raises an error for a target outside [0, C) that is not ignore_index; here the host
// never reads the targets (that would wait for the device), so such a target gives a NaN loss
// (counted as used, so a mean over the batch is NaN too) and a zero gradient row.

// loss[i] = -logp[i, t[i]], 0 where t[i] is ignore_index; `count` gets the number of targets
// not ignored (integer atomics: exact in any order).
__global__ void __launch_bounds__(kThreads)
    nll_loss_fwd(const float* logp, int64_t row_stride, int64_t col_stride, const int64_t* target,
                 int64_t t_stride, int64_t n, int64_t classes, int64_t ignore, float* loss,
                 unsigned long long* count) {
  unsigned long long used = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = target[i * t_stride];
    if (t == ignore) {
      loss[i] = 0.f;
      continue;
    }
    ++used;
    loss[i] = t >= 0 && t < classes ? -logp[i * row_stride + t * col_stride] : NAN;
  }
  used =
      team_reduce<kThreads>(used, [](unsigned long long a, unsigned long long b) { return a + b; });
  if (threadIdx.x == 0 && used > 0) atomicAdd(count, used);
}

__global__ void count_to_float(const unsigned long long* count, float* out) {
  *out = static_cast<float>(static_cast<int64_t>(*count));
}

// in {logp [N, C], target i64 [N]} -> out {loss [N], count (0-d)}
void nll_loss(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& logp = c.in[0];
  const Tensor& target = c.in[1];
  const int64_t n = logp.shape()[0], classes = logp.shape()[1];
  const Tensor counter = scratch(sizeof(unsigned long long), c);
  auto* count = static_cast<unsigned long long*>(counter.raw_data());
  GOM_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(unsigned long long), s));
  nll_loss_fwd<<<grid_for(n), kThreads, 0, s>>>(
      logp.data<float>(), logp.strides()[0], logp.strides()[1], target.data<int64_t>(),
      target.strides()[0], n, classes, c.attrs.i("ignore_index"), c.out[0].data<float>(), count);
  GOM_CUDA_CHECK(cudaGetLastError());
  count_to_float<<<1, 1, 0, s>>>(count, c.out[1].data<float>());
  GOM_CUDA_CHECK(cudaGetLastError());
}

// out[i, c] = -grad[i] where c == t[i] (not ignored), else 0.
__global__ void __launch_bounds__(kThreads)
    nll_loss_bwd(const float* grad, int64_t g_stride, const int64_t* target, int64_t t_stride,
                 int64_t n, int64_t classes, int64_t ignore, float* out) {
  const int64_t total = n * classes;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / classes, t = target[i * t_stride];
    out[e] = t == e % classes && t != ignore ? -grad[i * g_stride] : 0.f;
  }
}

// in {grad [N], target [N]} -> out[0] [N, C]
void nll_loss_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  const int64_t n = out.shape()[0], classes = out.shape()[1];
  if (n * classes == 0) return;
  nll_loss_bwd<<<grid_for(n * classes), kThreads, 0, s>>>(
      c.in[0].data<float>(), c.in[0].strides()[0], c.in[1].data<int64_t>(), c.in[1].strides()[0], n,
      classes, c.attrs.i("ignore_index"), out.data<float>());
  GOM_CUDA_CHECK(cudaGetLastError());
}

void register_softmax_loss(const std::string& provider) {
  register_cuda_kernel("softmax", softmax_forward<false>, provider);
  register_cuda_kernel("log_softmax", softmax_forward<true>, provider);
  register_cuda_kernel("softmax_backward", softmax_backward<false>, provider);
  register_cuda_kernel("log_softmax_backward", softmax_backward<true>, provider);
  register_cuda_kernel("nll_loss", nll_loss, provider);
  register_cuda_kernel("nll_loss_backward", nll_loss_backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_softmax_loss);

}  // namespace gom::cuda
