// gather / scatter_add / index_select / index_add: one thread per element of the index's
// (gather, scatter_add) or the source's (index_select, index_add) shape, any dtype, strided
// inputs.
//
// Out-of-range indices: the CPU raises an error naming the index. The host here never reads the
// indices (that would wait for the device), so a CUDA kernel skips them instead: gather and
// index_select write 0 for such an element, scatter_add and index_add add nothing. The core
// checks what it can without reading data (index dtype and rank, shapes, dim).
//
// scatter_add and index_add accumulate with atomicAdd: for f32, the order of the additions into
// one element then varies from run to run, and so can the last bits of its sum (integer sums are
// exact in any order).
#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

// Element e (row-major over `shape`) of a tensor laid out with `strides`; the coordinate along
// `dim` is replaced by an index by adding (index - coordinate) * strides[dim].
struct Along {
  Strided at;              // `shape` laid out with the tensor's strides
  int64_t dim_stride = 0;  // the tensor's stride along dim
  int64_t dim_size = 1;    // the tensor's size along dim: valid indices are [0, dim_size)
  int64_t inner = 1;       // product of `shape`'s dims after dim
  int64_t shape_dim = 1;   // `shape`'s size along dim
  __device__ int64_t coordinate(int64_t e) const { return e / inner % shape_dim; }
};

Along along(const Tensor& t, const Shape& shape, int64_t dim) {
  if (shape.size() != t.shape().size())
    throw Error("cuda index kernel: operands of different ranks");
  Along a;
  a.at = compact(shape, t.strides());
  if (t.dim() > 0) {
    const auto d = static_cast<size_t>(dim);
    a.dim_stride = t.strides()[d];
    a.dim_size = t.shape()[d];
    a.shape_dim = shape[d];
    for (size_t k = d + 1; k < shape.size(); ++k) a.inner *= shape[k];
  }
  return a;
}

template <class T>
__device__ void atomic_add(T* p, T v) {
  if constexpr (sizeof(T) == 8)  // int64: two's complement addition is the same on unsigned
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  else
    atomicAdd(p, v);
}

__device__ bool in_range(int64_t i, int64_t n) {
  return i >= 0 && i < n;
}

// out[e] = src[e's coordinates with index[e] along dim]
template <class T>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(const T* src, Along s, const int64_t* index, Strided idx, T* out, int64_t n) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = index[offset_in(idx, e)];
    out[e] = in_range(i, s.dim_size)
                 ? src[offset_in(s.at, e) + (i - s.coordinate(e)) * s.dim_stride]
                 : T(0);
  }
}

// out[e's coordinates with index[e] along dim] += src[e]
template <class T>
__global__ void __launch_bounds__(kThreads)
    scatter_add_kernel(T* out, Along o, const int64_t* index, Strided idx, const T* src,
                       Strided sat, int64_t n) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = index[offset_in(idx, e)];
    if (in_range(i, o.dim_size))
      atomic_add(out + offset_in(o.at, e) + (i - o.coordinate(e)) * o.dim_stride,
                 src[offset_in(sat, e)]);
  }
}

// out[e] = src[e's coordinates with index[j] along dim], j = e's coordinate along dim
template <class T>
__global__ void __launch_bounds__(kThreads)
    index_select_kernel(const T* src, Along s, const int64_t* index, int64_t idx_stride, T* out,
                        int64_t n) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = s.coordinate(e), i = index[j * idx_stride];
    out[e] = in_range(i, s.dim_size) ? src[offset_in(s.at, e) + (i - j) * s.dim_stride] : T(0);
  }
}

// out[e's coordinates with index[j] along dim] += src[e], j = e's coordinate along dim
template <class T>
__global__ void __launch_bounds__(kThreads)
    index_add_kernel(T* out, Along o, const int64_t* index, int64_t idx_stride, const T* src,
                     Strided sat, int64_t n) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = o.coordinate(e), i = index[j * idx_stride];
    if (in_range(i, o.dim_size))
      atomic_add(out + offset_in(o.at, e) + (i - j) * o.dim_stride, src[offset_in(sat, e)]);
  }
}

// in {src, index i64} -> out[0] (index's shape)
void gather(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &src = c.in[0], &index = c.in[1], &out = c.out[0];
  const int64_t n = index.numel();
  if (n == 0) return;
  const Along a = along(src, index.shape(), c.attrs.i("dim"));
  const Strided idx = compact(index.shape(), index.strides());
  visit_dtype(src.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    gather_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(src.raw_data()), a,
                                                      index.data<int64_t>(), idx,
                                                      static_cast<T*>(out.raw_data()), n);
  });
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in {index i64, src} -> out[0] (updated in place)
void scatter_add(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &index = c.in[0], &src = c.in[1], &out = c.out[0];
  const int64_t n = index.numel();
  if (n == 0) return;
  const Along a = along(out, index.shape(), c.attrs.i("dim"));
  const Strided idx = compact(index.shape(), index.strides());
  const Strided sat = compact(src.shape(), src.strides());  // src has the index's shape
  visit_dtype(src.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    scatter_add_kernel<T>
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(out.raw_data()), a, index.data<int64_t>(),
                                          idx, static_cast<const T*>(src.raw_data()), sat, n);
  });
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in {src, index i64 1-d} -> out[0] (src's shape with the index's length along dim)
void index_select(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &src = c.in[0], &index = c.in[1], &out = c.out[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const Along a = along(src, out.shape(), c.attrs.i("dim"));
  visit_dtype(src.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    index_select_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
        static_cast<const T*>(src.raw_data()), a, index.data<int64_t>(), index.strides()[0],
        static_cast<T*>(out.raw_data()), n);
  });
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in {index i64 1-d, src} -> out[0] (updated in place)
void index_add(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &index = c.in[0], &src = c.in[1], &out = c.out[0];
  const int64_t n = src.numel();
  if (n == 0) return;
  const Along a = along(out, src.shape(), c.attrs.i("dim"));
  const Strided sat = compact(src.shape(), src.strides());
  visit_dtype(src.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    index_add_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
        static_cast<T*>(out.raw_data()), a, index.data<int64_t>(), index.strides()[0],
        static_cast<const T*>(src.raw_data()), sat, n);
  });
  GOM_CUDA_CHECK(cudaGetLastError());
}

void register_index(const std::string& provider) {
  register_cuda_kernel("gather", gather, provider);
  register_cuda_kernel("scatter_add", scatter_add, provider);
  register_cuda_kernel("index_select", index_select, provider);
  register_cuda_kernel("index_add", index_add, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_index);

}  // namespace gom::cuda
