// rnn_backward on the GPU: backpropagation through time from the last step down, one pointwise
// kernel and one GEMM with w_hh per step, on the gates (and lstm cell states / gru hidden n parts)
// the training forward kept in the workspace (see kernels_rnn.h). The gradients w.r.t. the
// gates' pre-activations of every step are kept, so dx, dw_ih and dw_hh are one GEMM each at the
// end and the bias gradients their column sums. For rnn and lstm both biases get the same
// gradient; for gru the hidden n part differs (the reset gate multiplies W_hn h + b_hn).
#include "kernels_rnn.h"

namespace gom::cuda::rnn {
namespace {

// The pointers of one step t. Gradients coming in may be null (zeros).
struct BackStep {
  const float* gates;   // [B, G*H]: the activated gates of step t
  const float* extra;   // [B, H]: lstm c_t, gru W_hn h_{t-1} + b_hn
  const float* c_prev;  // lstm: [B, H] c_{t-1}
  const float* h_prev;  // gru: [B, H] h_{t-1}
  const float* dy;      // [B, H]: the output gradient of step t
  const float* dh;      // [B, H]: the gradient w.r.t. h_t from step t+1 (dh_n on the last)
  const float* dc;      // lstm: [B, H] the same for c_t (dc_n on the last)
  float* dc_prev;       // lstm: [B, H] out, w.r.t. c_{t-1} (may be dc: read before written)
  float* dh_prev;       // gru: [B, H] out, z * dh, the part of dh_{t-1} outside the GEMM
  float* dgx;           // [B, G*H] out: w.r.t. the gates' pre-activations, the input side
  float* dgh;           // [B, G*H] out: the same on the hidden side (gru only; else dgx)
};

__device__ inline float at(const float* p, int64_t i) {
  return p ? p[i] : 0.0f;
}

__global__ void rnn_step_back(BackStep p, int64_t B, int64_t H, bool use_relu) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float dh = at(p.dy, i) + at(p.dh, i);
    const float h = p.gates[i];  // G = 1: the gates are h_t itself
    p.dgx[i] = use_relu ? (h > 0.0f ? dh : 0.0f) : dh * (1.0f - h * h);
  }
}

__global__ void lstm_step_back(BackStep p, int64_t B, int64_t H) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / H, j = i % H, row = b * 4 * H;
    const float in = p.gates[row + j], forget = p.gates[row + H + j];
    const float cand = p.gates[row + 2 * H + j], out = p.gates[row + 3 * H + j];
    const float tc = tanhf(p.extra[i]);
    const float dh = at(p.dy, i) + at(p.dh, i);
    const float dc = at(p.dc, i) + dh * out * (1.0f - tc * tc);
    p.dgx[row + j] = dc * cand * in * (1.0f - in);
    p.dgx[row + H + j] = dc * p.c_prev[i] * forget * (1.0f - forget);
    p.dgx[row + 2 * H + j] = dc * in * (1.0f - cand * cand);
    p.dgx[row + 3 * H + j] = dh * tc * out * (1.0f - out);
    p.dc_prev[i] = dc * forget;
  }
}

__global__ void gru_step_back(BackStep p, int64_t B, int64_t H) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / H, j = i % H, row = b * 3 * H;
    const float r = p.gates[row + j], z = p.gates[row + H + j], n = p.gates[row + 2 * H + j];
    const float dh = at(p.dy, i) + at(p.dh, i);
    const float dn = dh * (1.0f - z) * (1.0f - n * n);
    const float dz = dh * (p.h_prev[i] - n) * z * (1.0f - z);
    const float dr = dn * p.extra[i] * r * (1.0f - r);
    p.dgx[row + j] = p.dgh[row + j] = dr;
    p.dgx[row + H + j] = p.dgh[row + H + j] = dz;
    p.dgx[row + 2 * H + j] = dn;
    p.dgh[row + 2 * H + j] = dn * r;
    p.dh_prev[i] = dh * z;
  }
}

void rnn_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Dims d = dims_of(c, required(c.in[0], "x"));
  const bool lstm = d.mode == RnnMode::Lstm, gru = d.mode == RnnMode::Gru;
  const int64_t GH = d.G * d.H, BH = d.B * d.H, TB = d.T * d.B;
  const DenseF32 x = dense_f32(c.in[0], c, s), h0 = dense_f32(required(c.in[1], "h0"), c, s);
  const DenseF32 c0 = lstm ? dense_f32(required(c.in[2], "c0"), c, s) : DenseF32{};
  const DenseF32 w_ih = dense_f32(required(c.in[3], "w_ih"), c, s);
  const DenseF32 w_hh = dense_f32(required(c.in[4], "w_hh"), c, s);
  const DenseF32 y = dense_f32(required(c.in[7], "y"), c, s);
  const Tensor& ws = c.in[10];
  check_workspace(ws, d);
  const float* gates = ws.data<float>();
  const float* extra = gates + TB * GH;
  const DenseF32 dy = dense_f32(c.in[11], c, s), dh_n = dense_f32(c.in[12], c, s);
  const DenseF32 dc_n = lstm ? dense_f32(c.in[13], c, s) : DenseF32{};
  float* dx = out_f32(c.out[0], "dx");
  float* dh0 = out_f32(c.out[1], "dh0");
  float* dc0 = lstm ? out_f32(c.out[2], "dc0") : nullptr;
  float *dw_ih = out_f32(c.out[3], "dw_ih"), *dw_hh = out_f32(c.out[4], "dw_hh");
  float *db_ih = out_f32(c.out[5], "db_ih"), *db_hh = out_f32(c.out[6], "db_hh");

  const size_t seq_bytes = static_cast<size_t>(TB * GH) * sizeof(float);
  const Tensor dgx_scratch = scratch(seq_bytes, c);
  const Tensor dgh_scratch = gru ? scratch(seq_bytes, c) : Tensor();
  float* dgx = dgx_scratch.data<float>();
  float* dgh = gru ? dgh_scratch.data<float>() : dgx;
  // dh_{t-1} alternates between two buffers (step t reads one and writes the other); dc is
  // updated in place.
  const Tensor dh_scratch = scratch(static_cast<size_t>(2 * BH) * sizeof(float), c);
  const Tensor dc_scratch = lstm ? scratch(static_cast<size_t>(BH) * sizeof(float), c) : Tensor();
  float* dh_buf = dh_scratch.data<float>();
  float* dc_buf = lstm ? dc_scratch.data<float>() : nullptr;

  for (int64_t t = d.T - 1; t >= 0; --t) {
    const bool last = t == d.T - 1;
    float* dh_out = t == 0 ? dh0 : dh_buf + (t % 2) * BH;
    BackStep p{};
    p.gates = gates + t * d.B * GH;
    p.dy = dy.p ? dy.p + t * BH : nullptr;
    p.dh = last ? dh_n.p : dh_buf + ((t + 1) % 2) * BH;
    p.dgx = dgx + t * d.B * GH;
    p.dgh = dgh + t * d.B * GH;
    if (lstm) {
      p.extra = extra + t * BH;
      p.c_prev = t == 0 ? c0.p : extra + (t - 1) * BH;
      p.dc = last ? dc_n.p : dc_buf;
      p.dc_prev = t == 0 ? dc0 : dc_buf;
      lstm_step_back<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H);
    } else if (gru) {
      p.extra = extra + t * BH;
      p.h_prev = t == 0 ? h0.p : y.p + (t - 1) * BH;
      p.dh_prev = dh_out;
      gru_step_back<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H);
    } else {
      rnn_step_back<<<grid_for(BH), kThreads, 0, s>>>(p, d.B, d.H, d.mode == RnnMode::Relu);
    }
    GOM_CUDA_CHECK(cudaGetLastError());
    // dh_{t-1} [B, H] (+)= dgh_t [B, G*H] · w_hh [G*H, H]; gru adds to its pointwise part.
    gemm(s, CUBLAS_OP_N, CUBLAS_OP_N, d.H, d.B, GH, w_hh.p, d.H, p.dgh, GH, gru ? 1.0f : 0.0f,
         dh_out, d.H);
  }

  // dx [T*B, I] = dgx · w_ih; dw_ih [G*H, I] = dgx^T · x.
  gemm(s, CUBLAS_OP_N, CUBLAS_OP_N, d.I, TB, GH, w_ih.p, d.I, dgx, GH, 0.0f, dx, d.I);
  gemm(s, CUBLAS_OP_N, CUBLAS_OP_T, d.I, GH, TB, x.p, d.I, dgx, GH, 0.0f, dw_ih, d.I);
  // dw_hh [G*H, H] = sum over t of dgh_t^T · h_{t-1}: h0 for the first step, y for the rest.
  gemm(s, CUBLAS_OP_N, CUBLAS_OP_T, d.H, GH, d.B, h0.p, d.H, dgh, GH, 0.0f, dw_hh, d.H);
  if (d.T > 1)
    gemm(s, CUBLAS_OP_N, CUBLAS_OP_T, d.H, GH, (d.T - 1) * d.B, y.p, d.H, dgh + d.B * GH, GH, 1.0f,
         dw_hh, d.H);
  column_sums(c, s, dgx, TB, GH, db_ih);
  column_sums(c, s, dgh, TB, GH, db_hh);
}

void register_rnn_backward(const std::string& provider) {
  register_cuda_kernel("rnn_backward", rnn_backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_rnn_backward);

}  // namespace gom::cuda::rnn
