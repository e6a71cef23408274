// unary and unary_backward: every UnaryOp, f32, on strided operands (formulas in
// unary_math.cuh). In-place calls (out is in[0]) are safe: each element is read, then written,
// by the same thread.
#include <string>

#include "elementwise.cuh"
#include "unary_math.cuh"

namespace gom::cuda {
namespace {

struct UnaryFn {
  const float* in;
  float* out;
  Layout in_at, out_at;
  UnaryArgs args;
  __device__ void operator()(int64_t i) const {
    out[out_at.at(i)] = unary_math::forward(args, in[in_at.at(i)]);
  }
};

struct UnaryBackwardFn {
  const float* grad;
  const float* saved;
  float* out;
  Layout grad_at, saved_at, out_at;
  UnaryArgs args;
  __device__ void operator()(int64_t i) const {
    out[out_at.at(i)] = unary_math::backward(args, grad[grad_at.at(i)], saved[saved_at.at(i)]);
  }
};

void check_f32(const Tensor& t, const char* op) {
  if (t.dtype() != DType::F32)
    throw Error(std::string(op) + ": only f32 is supported, got " + dtype_name(t.dtype()));
}

UnaryOp op_code(const KernelCall& c, const char* op) {
  const int64_t code = c.attrs.i("op");
  if (code < 0 || code > int64_t(UnaryOp::Silu))
    throw Error(std::string(op) + ": unknown op code " + std::to_string(code));
  return UnaryOp(code);
}

void unary(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &in = c.in[0], &out = c.out[0];
  check_f32(out, "unary");
  if (out.numel() == 0) return;
  const UnaryOp op = op_code(c, "unary");
  const double alpha = c.attrs.f("alpha"), beta = c.attrs.f("beta");
  const UnaryArgs args{op, float(alpha), float(beta), alpha, beta};
  launch_each(out.numel(), s,
              UnaryFn{in.data<float>(), out.data<float>(), layout_as(in, out.shape()),
                      layout_of(out), args});
}

// Reads beta only for the math ops (Log1p on), as the CPU does: the core passes it to those.
void unary_backward(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &grad = c.in[0], &saved = c.in[1], &out = c.out[0];
  check_f32(out, "unary_backward");
  if (out.numel() == 0) return;
  const UnaryOp op = op_code(c, "unary_backward");
  const double alpha = c.attrs.f("alpha");
  const double beta = op >= UnaryOp::Log1p ? c.attrs.f("beta") : 0.0;
  const UnaryArgs args{op, float(alpha), float(beta), alpha, beta};
  launch_each(out.numel(), s,
              UnaryBackwardFn{grad.data<float>(), saved.data<float>(), out.data<float>(),
                              layout_as(grad, out.shape()), layout_as(saved, out.shape()),
                              layout_of(out), args});
}

void register_unary(const std::string& provider) {
  register_cuda_kernel("unary", unary, provider);
  register_cuda_kernel("unary_backward", unary_backward, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_unary);

}  // namespace gom::cuda
