// where, cumsum and triangle (tril/triu), following the CPU's loops in kernels_math.cpp and
// kernels_sort.cpp: any dtype, strided inputs.
#include <string>
#include <type_traits>

#include "elementwise.cuh"

namespace gom::cuda {
namespace {

template <class T>
struct WhereFn {
  const float* cond;
  const T* a;
  const T* b;
  T* out;
  Layout cond_at, a_at, b_at, out_at;
  __device__ void operator()(int64_t i) const {
    out[out_at.at(i)] = cond[cond_at.at(i)] != 0 ? a[a_at.at(i)] : b[b_at.at(i)];
  }
};

// in {cond f32, a, b} -> out: all of out's shape (broadcast dims have stride 0).
void where(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &cond = c.in[0], &a = c.in[1], &b = c.in[2], &out = c.out[0];
  if (cond.dtype() != DType::F32)
    throw Error(std::string("where: the condition must be f32, got ") + dtype_name(cond.dtype()));
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = tag_type<decltype(tag)>;
    launch_each(out.numel(), s,
                WhereFn<T>{cond.data<float>(), static_cast<const T*>(a.raw_data()),
                           static_cast<const T*>(b.raw_data()), static_cast<T*>(out.raw_data()),
                           layout_as(cond, out.shape()), layout_as(a, out.shape()),
                           layout_as(b, out.shape()), layout_of(out)});
  });
}

// One thread per line along dim (the tensor seen as [outer, n, inner]; line = o * inner + i):
// the running sum in the CPU's order and accumulator (double for f32, the type itself for
// integers), so the results are the CPU's bit for bit. Neighbouring threads read neighbouring
// elements when inner > 1.
template <class T>
struct CumsumFn {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  const T* in;
  T* out;
  Layout in_at, out_at;
  int64_t n, inner;
  bool reverse;
  __device__ void operator()(int64_t line) const {
    const int64_t base = (line / inner) * n * inner + line % inner;
    Acc acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + (reverse ? n - 1 - k : k) * inner;
      acc += in[in_at.at(at)];
      out[out_at.at(at)] = static_cast<T>(acc);
    }
  }
};

void cumsum(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &in = c.in[0], &out = c.out[0];
  const int64_t dim = c.attrs.i("dim");
  const bool reverse = c.attrs.i("reverse") != 0;
  // [outer, n, inner] around dim; all 1 for a 0-d tensor.
  int64_t outer = 1, n = 1, inner = 1;
  const Shape& shape = in.shape();
  if (!shape.empty()) {
    if (dim < 0 || dim >= int64_t(shape.size()))
      throw Error("cumsum: dim " + std::to_string(dim) + " is out of range for a " +
                  std::to_string(shape.size()) + "-d tensor");
    for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
    n = shape[size_t(dim)];
    for (size_t d = size_t(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
  }
  if (outer * n * inner == 0) return;
  visit_dtype(in.dtype(), [&](auto* tag) {
    using T = tag_type<decltype(tag)>;
    launch_each(outer * inner, s,
                CumsumFn<T>{static_cast<const T*>(in.raw_data()), static_cast<T*>(out.raw_data()),
                            layout_of(in), layout_as(out, shape), n, inner, reverse});
  });
}

// Element (.., row, col) kept where col - row >= diagonal (upper) or <= diagonal (lower), else 0.
template <class T>
struct TriangleFn {
  const T* in;
  T* out;
  Layout in_at, out_at;
  int64_t rows, cols, diagonal;
  bool upper;
  __device__ void operator()(int64_t i) const {
    const int64_t col = i % cols, row = (i / cols) % rows;
    const bool keep = upper ? col - row >= diagonal : col - row <= diagonal;
    out[out_at.at(i)] = keep ? in[in_at.at(i)] : T(0);
  }
};

// in[0] (>= 2-d) -> out[0] of its shape and dtype.
void triangle(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &in = c.in[0], &out = c.out[0];
  if (in.dim() < 2)
    throw Error("triangle: the tensor must have at least 2 dims, got " + std::to_string(in.dim()));
  const int64_t diagonal = c.attrs.i("diagonal");
  const bool upper = c.attrs.i("upper") != 0;
  if (in.numel() == 0) return;
  const int64_t rows = in.shape()[size_t(in.dim() - 2)], cols = in.shape()[size_t(in.dim() - 1)];
  visit_dtype(in.dtype(), [&](auto* tag) {
    using T = tag_type<decltype(tag)>;
    launch_each(
        in.numel(), s,
        TriangleFn<T>{static_cast<const T*>(in.raw_data()), static_cast<T*>(out.raw_data()),
                      layout_of(in), layout_as(out, in.shape()), rows, cols, diagonal, upper});
  });
}

void register_math(const std::string& provider) {
  register_cuda_kernel("where", where, provider);
  register_cuda_kernel("cumsum", cumsum, provider);
  register_cuda_kernel("triangle", triangle, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_math);

}  // namespace gom::cuda
