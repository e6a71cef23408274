// binary: every BinaryOp on f32, i32 and i64 operands of out's shape (broadcast dims have
// stride 0), as the CPU's loops compute them: comparisons write 1 or 0 in out's dtype (f32 for a
// comparison of integers), integer division by 0 gives 0, max and min are `u > v ? u : v` and
// `u < v ? u : v`. f32 arithmetic is one IEEE operation per element, so it matches the CPU
// bit for bit. In-place calls (out is a) are safe: each element is read, then written, by the
// same thread.
#include <string>
#include <type_traits>

#include "elementwise.cuh"

namespace gom::cuda {
namespace {

template <class T>
__device__ inline T apply(BinaryOp op, T u, T v) {
  switch (op) {
    case BinaryOp::Add:
      return u + v;
    case BinaryOp::Sub:
      return u - v;
    case BinaryOp::Mul:
      return u * v;
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<T>)
        return v == T(0) ? T(0) : T(u / v);  // no trap, as on the CPU
      else
        return u / v;
    case BinaryOp::Max:
      return u > v ? u : v;
    case BinaryOp::Min:
      return u < v ? u : v;
    case BinaryOp::Eq:
      return u == v ? T(1) : T(0);
    case BinaryOp::Ne:
      return u != v ? T(1) : T(0);
    case BinaryOp::Gt:
      return u > v ? T(1) : T(0);
    case BinaryOp::Ge:
      return u >= v ? T(1) : T(0);
    case BinaryOp::Lt:
      return u < v ? T(1) : T(0);
    case BinaryOp::Le:
      return u <= v ? T(1) : T(0);
  }
  return T(0);  // not reached: the host checks the op code
}

// T: the operands' type; O: out's (T, or f32 for a comparison of integers).
template <class T, class O>
struct BinaryFn {
  const T* a;
  const T* b;
  O* out;
  Layout a_at, b_at, out_at;
  BinaryOp op;
  __device__ void operator()(int64_t i) const {
    out[out_at.at(i)] = O(apply(op, a[a_at.at(i)], b[b_at.at(i)]));
  }
};

template <class T, class O>
void run(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, cudaStream_t s) {
  launch_each(
      out.numel(), s,
      BinaryFn<T, O>{static_cast<const T*>(a.raw_data()), static_cast<const T*>(b.raw_data()),
                     static_cast<O*>(out.raw_data()), layout_as(a, out.shape()),
                     layout_as(b, out.shape()), layout_of(out), op});
}

void binary(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &a = c.in[0], &b = c.in[1], &out = c.out[0];
  if (out.numel() == 0) return;
  const int64_t code = c.attrs.i("op");
  if (code < 0 || code > int64_t(BinaryOp::Le))
    throw Error("binary: unknown op code " + std::to_string(code));
  const BinaryOp op = BinaryOp(code);
  // The CPU assumes these (the core guarantees them); here they are checked, not assumed.
  if (b.dtype() != a.dtype() || (out.dtype() != a.dtype() && out.dtype() != DType::F32))
    throw Error(std::string("binary: operands ") + dtype_name(a.dtype()) + " and " +
                dtype_name(b.dtype()) + " cannot write " + dtype_name(out.dtype()));
  if (a.dtype() == DType::F32) return run<float, float>(op, a, b, out, s);
  if (out.dtype() == DType::F32) {  // a comparison of integers
    if (a.dtype() == DType::I64) return run<int64_t, float>(op, a, b, out, s);
    return run<int32_t, float>(op, a, b, out, s);
  }
  if (a.dtype() == DType::I64) return run<int64_t, int64_t>(op, a, b, out, s);
  run<int32_t, int32_t>(op, a, b, out, s);
}

void register_binary(const std::string& provider) {
  register_cuda_kernel("binary", binary, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_binary);

}  // namespace gom::cuda
