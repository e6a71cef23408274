// sort (also argsort's and topk's): the first k of each line along dim, with their positions.
//
// Each line becomes a segment of unsigned radix keys whose ascending order is the sort's order
// (NaN largest, -0 equal to +0, inverted for descending), paired with the element's position,
// and CUB's segmented radix sort orders the segments (a few long lines: a device-wide radix
// sort per line). Radix sort is stable, so equal keys keep their positions' order: ties break by
// position in both directions, as on the CPU. The values are then read back from the input at
// the sorted positions (NaN payloads and -0 kept).
#include <climits>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

template <class T>
struct RadixKey;
template <>
struct RadixKey<float> {
  using type = uint32_t;
  __device__ static uint32_t of(float v) {
    if (isnan(v)) return 0xffffffffu;  // above +inf's key (0xff800000)
    uint32_t b = __float_as_uint(v);
    if ((b << 1) == 0) b = 0;  // -0 is +0
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  }
};
template <>
struct RadixKey<int32_t> {
  using type = uint32_t;
  __device__ static uint32_t of(int32_t v) { return static_cast<uint32_t>(v) ^ 0x80000000u; }
};
template <>
struct RadixKey<int64_t> {
  using type = uint64_t;
  __device__ static uint64_t of(int64_t v) {
    return static_cast<uint64_t>(v) ^ 0x8000000000000000ull;
  }
};

// keys[l * n + j] and pos[...] = j for element j of line l (the line starts at
// offset_in(lines, l), its elements `step` apart).
template <class T>
__global__ void __launch_bounds__(kThreads)
    make_keys(const T* x, Strided lines, int64_t step, int64_t n, int64_t total, bool descending,
              typename RadixKey<T>::type* keys, int32_t* pos) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t l = e / n, j = e % n;
    const auto k = RadixKey<T>::of(x[offset_in(lines, l) + j * step]);
    keys[e] = descending ? ~k : k;
    pos[e] = static_cast<int32_t>(j);
  }
}

__global__ void segment_offsets(int* offsets, int64_t lines, int64_t n) {
  for (int64_t l = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; l <= lines;
       l += int64_t(gridDim.x) * blockDim.x)
    offsets[l] = static_cast<int>(l * n);
}

// Output element e of [outer, k, inner] is the j-th of line l = o * inner + i.
template <class T>
__global__ void __launch_bounds__(kThreads)
    write_sorted(const T* x, Strided lines, int64_t step, int64_t n, const int32_t* order,
                 int64_t k, int64_t inner, T* values, int64_t* indices, int64_t total) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e % inner, j = e / inner % k, o = e / inner / k;
    const int64_t l = o * inner + i;
    const int32_t p = order[l * n + j];
    values[e] = x[offset_in(lines, l) + p * step];
    indices[e] = p;
  }
}

template <class T>
void sort_typed(const KernelCall& c, cudaStream_t s, int64_t dim, int64_t k, bool descending) {
  using Key = typename RadixKey<T>::type;
  const Tensor& x = c.in[0];
  const Strided st = strided(x);  // throws beyond kMaxDims
  Strided lines;
  for (int d = 0; d < st.ndim; ++d)
    if (d != dim) push_dim(lines, st.shape[d], st.strides[d]);
  const int64_t n = x.dim() == 0 ? 1 : st.shape[dim], step = x.dim() == 0 ? 0 : st.strides[dim];
  const int64_t total = x.numel(), n_lines = total / n;
  int64_t inner = 1;
  for (int d = static_cast<int>(dim) + 1; d < st.ndim; ++d) inner *= st.shape[d];
  if (total > INT_MAX)
    throw Error("sort: " + std::to_string(total) +
                " elements; the CUDA sort takes at most 2^31 - 1 at once");

  const Tensor keys_in = scratch(sizeof(Key) * total, c),
               keys_out = scratch(sizeof(Key) * total, c);
  const Tensor pos_in = scratch(sizeof(int32_t) * total, c);
  const Tensor pos_out = scratch(sizeof(int32_t) * total, c);
  auto* kin = static_cast<Key*>(keys_in.raw_data());
  auto* kout = static_cast<Key*>(keys_out.raw_data());
  auto* pin = static_cast<int32_t*>(pos_in.raw_data());
  auto* pout = static_cast<int32_t*>(pos_out.raw_data());

  make_keys<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(x.raw_data()), lines,
                                                    step, n, total, descending, kin, pin);
  GOM_CUDA_CHECK(cudaGetLastError());
  const int bits = int(sizeof(Key) * 8);
  // (The first call of each pair only sizes CUB's temporary storage; it queues no work.)
  size_t temp_bytes = 0;
  if (n_lines <= 64 && n >= 65536) {
    // A few long lines: the segmented sort gives each line one block, while a device-wide sort
    // per line uses the whole GPU.
    GOM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, kin, kout, pin, pout,
                                                   static_cast<int>(n), 0, bits, s));
    const Tensor temp = scratch(temp_bytes > 0 ? temp_bytes : 1, c);
    for (int64_t l = 0; l < n_lines; ++l)
      GOM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw_data(), temp_bytes, kin + l * n,
                                                     kout + l * n, pin + l * n, pout + l * n,
                                                     static_cast<int>(n), 0, bits, s));
  } else {
    const Tensor offsets = scratch(sizeof(int) * (n_lines + 1), c);
    auto* offs = static_cast<int*>(offsets.raw_data());
    segment_offsets<<<grid_for(n_lines + 1), kThreads, 0, s>>>(offs, n_lines, n);
    GOM_CUDA_CHECK(cudaGetLastError());
    GOM_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        nullptr, temp_bytes, kin, kout, pin, pout, static_cast<int>(total),
        static_cast<int>(n_lines), offs, offs + 1, 0, bits, s));
    const Tensor temp = scratch(temp_bytes > 0 ? temp_bytes : 1, c);
    GOM_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        temp.raw_data(), temp_bytes, kin, kout, pin, pout, static_cast<int>(total),
        static_cast<int>(n_lines), offs, offs + 1, 0, bits, s));
  }

  const int64_t out_total = n_lines * k;  // [outer, k, inner]
  write_sorted<T><<<grid_for(out_total), kThreads, 0, s>>>(
      static_cast<const T*>(x.raw_data()), lines, step, n, pout, k, inner,
      static_cast<T*>(c.out[0].raw_data()), c.out[1].data<int64_t>(), out_total);
  GOM_CUDA_CHECK(cudaGetLastError());
}

// in[0] -> out {values, indices i64}; attrs dim, k, descending.
void sort(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  if (c.out[0].numel() == 0) return;  // k == 0 or an empty line set
  const int64_t dim = c.attrs.i("dim"), k = c.attrs.i("k");
  const bool descending = c.attrs.i("descending") != 0;
  visit_dtype(c.in[0].dtype(), [&](auto* tag) {
    sort_typed<std::remove_pointer_t<decltype(tag)>>(c, s, dim, k, descending);
  });
}

void register_sort(const std::string& provider) {
  register_cuda_kernel("sort", sort, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_sort);

}  // namespace gom::cuda
