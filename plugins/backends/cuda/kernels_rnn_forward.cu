// rnn_workspace and rnn_forward on the GPU: one GEMM for every step's input projection, then per
// step one GEMM with w_hh and one pointwise kernel for the cell (see kernels_rnn.h). The same
// kernels run for inference and training; training also keeps the activated gates and the lstm
// cell states / gru hidden n parts in the workspace for rnn_backward.
#include "kernels_rnn.h"

namespace gom::cuda::rnn {
namespace {

__device__ inline float sigmoid(float v) {
  return 1.0f / (1.0f + expf(-v));
}
// relu that passes NaN on (v > 0 alone would turn it into 0).
__device__ inline float relu(float v) {
  return v > 0.0f || isnan(v) ? v : 0.0f;
}

// The pointers of one time step. Row b of a [B, G*H] buffer holds gate k of unit j at k*H + j.
struct Step {
  float* gates;                  // [B, G*H]: in, x_t·w_ih^T; out, the activated gates
  const float* hw;               // [B, G*H]: h_{t-1}·w_hh^T
  const float *b_ih, *b_hh;      // [G*H]
  const float *h_prev, *c_prev;  // [B, H] (c_prev: lstm only)
  float* y;                      // [B, H]: h_t, this step's output
  float* c;                      // lstm: [B, H] c_t
  float* hn;                     // gru, training: [B, H] W_hn h_{t-1} + b_hn; else null
  float *h_last, *c_last;        // the final states on the last step, else null
};

// Gate k's pre-activation for unit j of row `row`: (x w_ih + b_ih) + (h w_hh + b_hh).
__device__ inline float pre(const Step& p, int64_t row, int64_t k, int64_t H, int64_t j) {
  const int64_t o = row + k * H + j;
  return (p.gates[o] + p.b_ih[k * H + j]) + (p.hw[o] + p.b_hh[k * H + j]);
}

__global__ void rnn_step(Step p, int64_t B, int64_t H, bool use_relu) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / H, j = i % H, row = b * H;  // G = 1: rows of H
    const float v = pre(p, row, 0, H, j);
    const float h = use_relu ? relu(v) : tanhf(v);
    p.gates[row + j] = h;
    p.y[i] = h;
    if (p.h_last) p.h_last[i] = h;
  }
}

__global__ void lstm_step(Step p, int64_t B, int64_t H) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / H, j = i % H, row = b * 4 * H;
    const float in = sigmoid(pre(p, row, 0, H, j));
    const float forget = sigmoid(pre(p, row, 1, H, j));
    const float cand = tanhf(pre(p, row, 2, H, j));
    const float out = sigmoid(pre(p, row, 3, H, j));
    const float c = forget * p.c_prev[i] + in * cand;
    const float h = out * tanhf(c);
    p.gates[row + j] = in;
    p.gates[row + H + j] = forget;
    p.gates[row + 2 * H + j] = cand;
    p.gates[row + 3 * H + j] = out;
    p.c[i] = c;
    p.y[i] = h;
    if (p.h_last) {
      p.h_last[i] = h;
      p.c_last[i] = c;
    }
  }
}

__global__ void gru_step(Step p, int64_t B, int64_t H) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / H, j = i % H, row = b * 3 * H;
    const float r = sigmoid(pre(p, row, 0, H, j));
    const float z = sigmoid(pre(p, row, 1, H, j));
    const float hn = p.hw[row + 2 * H + j] + p.b_hh[2 * H + j];
    const float n = tanhf(p.gates[row + 2 * H + j] + p.b_ih[2 * H + j] + r * hn);
    const float h = (1.0f - z) * n + z * p.h_prev[i];
    p.gates[row + j] = r;
    p.gates[row + H + j] = z;
    p.gates[row + 2 * H + j] = n;
    if (p.hn) p.hn[i] = hn;
    p.y[i] = h;
    if (p.h_last) p.h_last[i] = h;
  }
}

__global__ void set_i64(int64_t* p, int64_t v) {
  *p = v;
}

void rnn_workspace(const KernelCall& c) {
  const Dims d = dims_of(c, c.in[0]);
  const int64_t n = workspace_floats(d);  // from the shapes alone: nothing to read back
  const Tensor& out = c.out[0];
  if (out.device().type != DeviceType::CUDA) {  // a host scalar: written directly
    *out.data<int64_t>() = n;
    return;
  }
  const cudaStream_t s = stream_of(c);
  set_i64<<<1, 1, 0, s>>>(out.data<int64_t>(), n);
  GOM_CUDA_CHECK(cudaGetLastError());
}

void rnn_forward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Dims d = dims_of(c, required(c.in[0], "x"));
  const bool lstm = d.mode == RnnMode::Lstm, gru = d.mode == RnnMode::Gru;
  const int64_t GH = d.G * d.H, BH = d.B * d.H, TB = d.T * d.B;
  const DenseF32 x = dense_f32(c.in[0], c, s), h0 = dense_f32(required(c.in[1], "h0"), c, s);
  const DenseF32 c0 = lstm ? dense_f32(required(c.in[2], "c0"), c, s) : DenseF32{};
  const DenseF32 w_ih = dense_f32(required(c.in[3], "w_ih"), c, s);
  const DenseF32 w_hh = dense_f32(required(c.in[4], "w_hh"), c, s);
  const DenseF32 b_ih = dense_f32(required(c.in[5], "b_ih"), c, s);
  const DenseF32 b_hh = dense_f32(required(c.in[6], "b_hh"), c, s);
  float* y = out_f32(c.out[0], "y");
  float* h_n = out_f32(c.out[1], "h_n");
  float* c_n = lstm ? out_f32(c.out[2], "c_n") : nullptr;
  const Tensor& ws = c.out[3];
  const bool training = ws.defined();

  // Where the gates and the extra part go: the workspace when training, else scratch (lstm then
  // keeps only two cell states, this step's and the last, alternating).
  Tensor gates_scratch, extra_scratch;
  float *gates = nullptr, *extra = nullptr;
  if (training) {
    check_workspace(ws, d);
    gates = ws.data<float>();
    extra = gates + TB * GH;
  } else {
    gates_scratch = scratch(static_cast<size_t>(TB * GH) * sizeof(float), c);
    gates = gates_scratch.data<float>();
    if (lstm) {
      extra_scratch = scratch(static_cast<size_t>(2 * BH) * sizeof(float), c);
      extra = extra_scratch.data<float>();
    }
  }
  const Tensor hw_scratch = scratch(static_cast<size_t>(d.B * GH) * sizeof(float), c);
  float* hw = hw_scratch.data<float>();

  // Every step's x_t·w_ih^T: [T*B, G*H] = x [T*B, I] · w_ih^T.
  gemm(s, CUBLAS_OP_T, CUBLAS_OP_N, GH, TB, d.I, w_ih.p, d.I, x.p, d.I, 0.0f, gates, GH);
  for (int64_t t = 0; t < d.T; ++t) {
    Step p{};
    p.gates = gates + t * d.B * GH;
    p.hw = hw;
    p.b_ih = b_ih.p;
    p.b_hh = b_hh.p;
    p.h_prev = t == 0 ? h0.p : y + (t - 1) * BH;
    p.y = y + t * BH;
    const bool last = t == d.T - 1;
    p.h_last = last ? h_n : nullptr;
    if (lstm) {
      p.c = training ? extra + t * BH : extra + (t % 2) * BH;
      p.c_prev = t == 0 ? c0.p : training ? extra + (t - 1) * BH : extra + ((t - 1) % 2) * BH;
      p.c_last = last ? c_n : nullptr;
    }
    if (gru && training) p.hn = extra + t * BH;
    // h_{t-1}·w_hh^T: [B, G*H] = h_prev [B, H] · w_hh^T.
    gemm(s, CUBLAS_OP_T, CUBLAS_OP_N, GH, d.B, d.H, w_hh.p, d.H, p.h_prev, d.H, 0.0f, hw, GH);
    if (lstm)
      lstm_step<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H);
    else if (gru)
      gru_step<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H);
    else
      rnn_step<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H, d.mode == RnnMode::Relu);
    GOM_CUDA_CHECK(cudaGetLastError());
  }
}

void register_rnn_forward(const std::string& provider) {
  register_cuda_kernel("rnn_workspace", rnn_workspace, provider);
  register_cuda_kernel("rnn_forward", rnn_forward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_rnn_forward);

}  // namespace gom::cuda::rnn
