// reduce (sum, mean, max, min over any set of dims), argmax and argmin.
//
// The output's elements are groups: group g gathers the input elements whose kept coordinates
// are g's. A group is reduced by one thread when neighbouring groups are neighbours in memory
// (a column sum: the threads of a warp read adjacent addresses) and there are at least a warp's
// worth of groups, else by a warp or a block whose lanes stride along the group. A few large
// groups are cut into chunks reduced in parallel into partials, which a second pass combines in
// chunk order. Every value is combined in an order
// fixed by the shapes alone (no atomics), so repeated runs give identical results.
#include <cmath>

#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

// ---------------------------------------------------------------- the reductions
// Each op says how an element enters (lift), how two partial results combine, and what the
// group's result is (finish, given the group's size).

struct SumOp {
  using In = float;
  using Acc = float;
  using Out = float;
  bool mean;
  __device__ float identity() const { return 0.f; }
  __device__ float lift(float v, int64_t) const { return v; }
  __device__ float combine(float a, float b) const { return a + b; }
  // An empty mean is NaN (as on the CPU); the scale is the CPU's 1 / float(r).
  __device__ float finish(float a, int64_t r) const {
    return !mean ? a : r == 0 ? NAN : a * (1.0f / float(r));
  }
};

// max / min; NaN wins (it propagates), an empty group gives NaN as on the CPU.
template <bool kMin>
struct ExtremumOp {
  using In = float;
  using Acc = float;
  using Out = float;
  __device__ float identity() const { return kMin ? INFINITY : -INFINITY; }
  __device__ float lift(float v, int64_t) const { return v; }
  __device__ float combine(float a, float b) const {
    return (kMin ? b < a : b > a) || isnan(b) ? b : a;
  }
  __device__ float finish(float a, int64_t r) const { return r == 0 ? NAN : a; }
};

template <class T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return isnan(v);
  else
    return false;
}

// A candidate of argmax / argmin: its value and position (-1: no element seen yet).
template <class T>
struct ArgAcc {
  T v;
  int64_t i;
};

// The first extremum wins and NaN beats everything (the first NaN), as the CPU's scan. The
// rule is associative and commutative, so any tree gives the scan's answer.
template <class T, bool kMin>
struct ArgOp {
  using In = T;
  using Acc = ArgAcc<T>;
  using Out = int64_t;
  __device__ Acc identity() const { return {T(0), -1}; }
  __device__ Acc lift(T v, int64_t r) const { return {v, r}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an != bn) return an ? a : b;
    if (!an) {
      if (kMin ? b.v < a.v : b.v > a.v) return b;
      if (kMin ? a.v < b.v : a.v > b.v) return a;
    }
    return a.i < b.i ? a : b;
  }
  __device__ int64_t finish(Acc a, int64_t) const { return a.i < 0 ? 0 : a.i; }
};

// ---------------------------------------------------------------- where values come from / go

// Group g starts at offset_in(outer, g); its element r is offset_in(inner, r) further.
template <class Op>
struct InputLoad {
  const typename Op::In* x;
  Strided outer, inner;
  Op op;
  __device__ int64_t base(int64_t g) const { return offset_in(outer, g); }
  __device__ typename Op::Acc operator()(int64_t b, int64_t r) const {
    return op.lift(x[b + offset_in(inner, r)], r);
  }
};

// The partials of a first pass, read back as the elements of the second.
template <class Acc>
struct PartialLoad {
  const Acc* p;
  Strided outer, inner;
  __device__ int64_t base(int64_t g) const { return offset_in(outer, g); }
  __device__ Acc operator()(int64_t b, int64_t r) const { return p[b + offset_in(inner, r)]; }
};

template <class Op>
struct FinalStore {
  typename Op::Out* out;  // contiguous: group g is out[g]
  Op op;
  int64_t r_total;
  __device__ void operator()(int64_t g, int64_t, typename Op::Acc a) const {
    out[g] = op.finish(a, r_total);
  }
};

template <class Acc>
struct PartialStore {
  Acc* p;
  int64_t group_stride, chunk_stride;
  __device__ void operator()(int64_t g, int64_t ch, Acc a) const {
    p[g * group_stride + ch * chunk_stride] = a;
  }
};

// ---------------------------------------------------------------- kernels

// One thread per group; blockIdx.y is the chunk [r0, r1) of the group it reduces.
template <class Op, class Load, class Store>
__global__ void __launch_bounds__(kThreads)
    reduce_per_thread(Op op, Load load, Store store, int64_t groups, int64_t r_len,
                      int64_t chunk_len) {
  const int64_t ch = blockIdx.y, r0 = ch * chunk_len;
  const int64_t r1 = r0 + chunk_len < r_len ? r0 + chunk_len : r_len;
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = load.base(g);
    typename Op::Acc a = op.identity();
    for (int64_t r = r0; r < r1; ++r) a = op.combine(a, load(b, r));
    store(g, ch, a);
  }
}

// One team (a warp or the block) per (group, chunk) item; lane l takes elements r0 + l,
// r0 + l + Team, ... and the team combines the lanes' results.
template <int Team, class Op, class Load, class Store>
__global__ void __launch_bounds__(kThreads)
    reduce_per_team(Op op, Load load, Store store, int64_t groups, int64_t chunks, int64_t r_len,
                    int64_t chunk_len) {
  constexpr int kTeams = kThreads / Team;
  const int lane = threadIdx.x % Team;
  const int64_t items = groups * chunks;
  // w is the same for all threads of a team, so the team leaves the loop together.
  for (int64_t w = int64_t(blockIdx.x) * kTeams + threadIdx.x / Team; w < items;
       w += int64_t(gridDim.x) * kTeams) {
    const int64_t g = w / chunks, ch = w % chunks, r0 = ch * chunk_len;
    const int64_t r1 = r0 + chunk_len < r_len ? r0 + chunk_len : r_len;
    const int64_t b = load.base(g);
    typename Op::Acc a = op.identity();
    for (int64_t r = r0 + lane; r < r1; r += Team) a = op.combine(a, load(b, r));
    a = team_reduce<Team>(a, [&](auto x, auto y) { return op.combine(x, y); });
    if (lane == 0) store(g, ch, a);
  }
}

// ---------------------------------------------------------------- planning and launching

struct Plan {
  bool per_thread = true;
  int team = 32;
  int64_t chunks = 1, chunk_len = 0;
};

// `adjacent`: neighbouring groups are closer in memory than a group's neighbouring elements.
// `split`: whether a first pass may cut groups into chunks.
Plan plan_for(int64_t groups, int64_t r_len, bool adjacent, bool split) {
  Plan p;
  // Fewer groups than a warp's lanes (a bias gradient of 10 outputs: 10 columns of the batch):
  // a thread per group would leave the GPU idle and walk each column alone. Teams along each
  // group read strided but in parallel.
  if (adjacent && groups < 32 && r_len > 64) adjacent = false;
  split = split && groups * r_len >= (int64_t(1) << 16);  // small work: one pass is faster
  if (adjacent) {
    p.per_thread = true;
    if (split && r_len > 64 && groups < kBusyThreads) {
      const int64_t most = r_len / 32 < 1024 ? r_len / 32 : 1024;  // chunks of >= 32 elements
      const int64_t want = ceil_div(kBusyThreads, groups);
      p.chunks = want < most ? want : most;
    }
  } else {
    p.per_thread = false;
    p.team = r_len >= 4096 && groups < 4096 ? kThreads : 32;
    if (split && p.team == kThreads) {
      const int64_t want = ceil_div(512, groups), most = ceil_div(r_len, 8192);
      p.chunks = want < most ? want : most;
      p.chunks = p.chunks > 1024 ? 1024 : p.chunks;
    }
  }
  if (p.chunks < 1) p.chunks = 1;
  p.chunk_len = p.chunks == 1 ? r_len : ceil_div(r_len, p.chunks);
  if (p.chunks > 1) p.chunks = ceil_div(r_len, p.chunk_len);  // no empty chunk
  return p;
}

template <class Op, class Load, class Store>
void launch(const Plan& p, const Op& op, const Load& load, const Store& store, int64_t groups,
            int64_t r_len, cudaStream_t s) {
  if (p.per_thread) {
    const dim3 grid(grid_for(groups), static_cast<unsigned>(p.chunks));
    reduce_per_thread<<<grid, kThreads, 0, s>>>(op, load, store, groups, r_len, p.chunk_len);
  } else if (p.team == 32) {
    reduce_per_team<32><<<grid_for_teams(groups * p.chunks, 32), kThreads, 0, s>>>(
        op, load, store, groups, p.chunks, r_len, p.chunk_len);
  } else {
    reduce_per_team<kThreads><<<grid_for_teams(groups * p.chunks, kThreads), kThreads, 0, s>>>(
        op, load, store, groups, p.chunks, r_len, p.chunk_len);
  }
  GOM_CUDA_CHECK(cudaGetLastError());
}

Strided one_dim(int64_t n, int64_t stride) {
  Strided s;
  push_dim(s, n, stride);
  return s;
}

// Reduces `groups` groups of `r_len` elements read through `load` into out[0, groups).
template <class Op>
void reduce_groups(const KernelCall& c, cudaStream_t s, const Op& op, const InputLoad<Op>& load,
                   typename Op::Out* out, int64_t groups, int64_t r_len) {
  const bool adjacent = min_stride(load.outer) < min_stride(load.inner);
  const Plan p = plan_for(groups, r_len, adjacent, true);
  const FinalStore<Op> final_store{out, op, r_len};
  if (p.chunks == 1) {
    launch(p, op, load, final_store, groups, r_len, s);
    return;
  }
  // Two passes: partials [chunks, groups] from threads (adjacent threads write adjacent
  // groups), [groups, chunks] from teams; the second pass reads them in chunk order.
  using Acc = typename Op::Acc;
  const Tensor buf = scratch(sizeof(Acc) * static_cast<size_t>(groups * p.chunks), c);
  Acc* part = static_cast<Acc*>(buf.raw_data());
  PartialLoad<Acc> second{part, {}, {}};
  if (p.per_thread) {
    launch(p, op, load, PartialStore<Acc>{part, 1, groups}, groups, r_len, s);
    second.outer = one_dim(groups, 1);
    second.inner = one_dim(p.chunks, groups);
  } else {
    launch(p, op, load, PartialStore<Acc>{part, p.chunks, 1}, groups, r_len, s);
    second.outer = one_dim(groups, p.chunks);
    second.inner = one_dim(p.chunks, 1);
  }
  const bool adjacent2 = min_stride(second.outer) < min_stride(second.inner);
  launch(plan_for(groups, p.chunks, adjacent2, false), op, second, final_store, groups, p.chunks,
         s);
}

// The input's dims split into kept ones (outer, in the output's row-major order) and reduced
// ones (inner); returns the number of elements per group.
int64_t split_dims(const Tensor& in, const Shape& out_shape, Strided& outer, Strided& inner) {
  const Strided si = strided(in);  // throws beyond kMaxDims
  int64_t r_len = 1;
  for (int d = 0; d < si.ndim; ++d) {
    const bool reduced = out_shape[static_cast<size_t>(d)] != si.shape[d];
    push_dim(reduced ? inner : outer, si.shape[d], si.strides[d]);
    if (reduced) r_len *= si.shape[d];
  }
  return r_len;
}

void reduce(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& in = c.in[0];
  const Tensor& out = c.out[0];
  if (in.dtype() != DType::F32)
    throw Error(std::string("reduce: only f32 is supported, got ") + dtype_name(in.dtype()));
  const int64_t groups = out.numel();
  if (groups == 0) return;
  Strided outer, inner;
  const int64_t r_len = split_dims(in, out.shape(), outer, inner);
  const float* x = in.data<float>();
  float* y = out.data<float>();
  switch (ReduceOp(c.attrs.i("op"))) {
    case ReduceOp::Sum:
    case ReduceOp::Mean: {
      const SumOp op{ReduceOp(c.attrs.i("op")) == ReduceOp::Mean};
      reduce_groups(c, s, op, InputLoad<SumOp>{x, outer, inner, op}, y, groups, r_len);
      return;
    }
    case ReduceOp::Max:
      reduce_groups(c, s, ExtremumOp<false>{}, InputLoad<ExtremumOp<false>>{x, outer, inner, {}}, y,
                    groups, r_len);
      return;
    case ReduceOp::Min:
      reduce_groups(c, s, ExtremumOp<true>{}, InputLoad<ExtremumOp<true>>{x, outer, inner, {}}, y,
                    groups, r_len);
      return;
  }
  throw Error("reduce: unknown op code " + std::to_string(c.attrs.i("op")));
}

// argmax / argmin along attrs dim; any dtype; a 0-d input is one group of one element.
template <bool kMin>
void arg_kernel(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& in = c.in[0];
  const Tensor& out = c.out[0];
  const int64_t groups = out.numel();
  if (groups == 0) return;
  const int64_t dim = c.attrs.i("dim");
  const Strided si = strided(in);
  Strided outer, inner;
  for (int d = 0; d < si.ndim; ++d) push_dim(d == dim ? inner : outer, si.shape[d], si.strides[d]);
  const int64_t r_len = in.dim() == 0 ? 1 : in.shape()[static_cast<size_t>(dim)];
  visit_dtype(in.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const ArgOp<T, kMin> op{};
    const InputLoad<ArgOp<T, kMin>> load{static_cast<const T*>(in.raw_data()), outer, inner, op};
    reduce_groups(c, s, op, load, out.data<int64_t>(), groups, r_len);
  });
}

void register_reduce(const std::string& provider) {
  register_cuda_kernel("reduce", reduce, provider);
  register_cuda_kernel("argmax", arg_kernel<false>, provider);
  register_cuda_kernel("argmin", arg_kernel<true>, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_reduce);

}  // namespace gom::cuda
