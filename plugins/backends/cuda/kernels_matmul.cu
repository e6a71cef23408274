// matmul (contract at the end of gom/kernel.h) on cuBLAS: a [.., M, K] x b [.., K, N] (+ bias
// [N]) -> out [.., M, N], batch dims of a and b equal to out's or 1.
//
// cuBLAS is column-major, gom row-major: a row-major [R, C] matrix is a column-major [C, R] one,
// so out^T = b^T a^T is computed (cuBLAS's A is b, its B is a, m = N, n = M, k = K). An operand
// whose last two dims are row-major goes in as it is (op N), a transposed view (column-major
// storage) with op T; either way with its own leading dimension, and its batch as one stride
// (0 for a broadcast operand). Other layouts (a stepped slice, an expanded matrix, batch dims
// that no single stride walks) are copied dense first by gather_dense.
//
// A single product with a bias (the linear layer) runs on cuBLASLt with the bias epilogue; the
// rest on cublasGemmStridedBatchedEx (a batched bias, or one cuBLASLt has no algorithm for, is
// written into out first and the product added with beta = 1). Compute type 32F (exact float32
// products), 32F_FAST_TF32 only when allow_tf32().
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

#include "cuda_util.h"

namespace gom::cuda {
namespace {

#define GRID_STRIDE(i, n)                                                   \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// dst (dense, layout.shape) = the elements of src under layout.
__global__ void gather_dense(const float* src, Strided layout, float* dst, int64_t n) {
  GRID_STRIDE(i, n) dst[i] = src[offset_of(layout, i)];
}

// out[r, j] = bias[j * stride] for each row r of a dense [rows, n] output (total elements).
__global__ void broadcast_rows(const float* bias, int64_t stride, float* out, int64_t n,
                               int64_t total) {
  GRID_STRIDE(i, total) out[i] = bias[(i % n) * stride];
}

#undef GRID_STRIDE

void fill_with_bias(const Tensor& bias, const Tensor& out, int64_t n, cudaStream_t s) {
  const int64_t total = out.numel();
  broadcast_rows<<<grid_for(total), kThreads, 0, s>>>(bias.data<float>(), bias.strides()[0],
                                                      out.data<float>(), n, total);
  GOM_CUDA_CHECK(cudaGetLastError());
}

// One operand as cuBLAS sees it.
struct Operand {
  const float* data = nullptr;
  bool transposed = false;  // stored column-major: op T
  int64_t ld = 0;
  int64_t batch_stride = 0;
  Tensor keep;  // the dense copy, when one was made
  cublasOperation_t op() const { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }
};

// A [rows, cols] matrix with strides (sr, sc): row-major (element (i, j) at i*ld + j) or
// column-major (at i + j*ld) with a leading dimension cuBLAS accepts; nullopt when neither.
// The stride of a dim of size 1 does not matter.
struct MatrixLayout {
  bool transposed;
  int64_t ld;
};
std::optional<MatrixLayout> matrix_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if (sc == 1 || cols == 1) {
    const int64_t ld = rows == 1 ? cols : sr;
    if (ld >= cols) return MatrixLayout{false, ld};
  }
  if (sr == 1 || rows == 1) {
    const int64_t ld = cols == 1 ? rows : sc;
    if (ld >= rows) return MatrixLayout{true, ld};
  }
  return std::nullopt;
}

// The one stride that steps an operand (shape, strides) through out's flattened batch, or
// nullopt when its batch dims are not laid out that way. Dims of 1 broadcast (stride 0).
std::optional<int64_t> batch_stride(const Shape& shape, const Shape& strides,
                                    const Shape& out_shape) {
  const size_t nb = out_shape.size() - 2;
  std::optional<int64_t> step;  // stride per flat batch index, from the innermost batch dim
  int64_t per = 1;              // flat batch indices per step of dim d
  for (size_t d = nb; d-- > 0;) {
    const int64_t n = out_shape[d];
    if (n == 1) continue;
    const int64_t st = shape[d] == 1 ? 0 : strides[d];
    if (!step) step = st;  // per == 1 here: the dims inside are all 1
    if (st != *step * per) return std::nullopt;
    per *= n;
  }
  return step.value_or(0);
}

std::optional<Operand> as_operand(const float* data, const Shape& shape, const Shape& strides,
                                  const Shape& out_shape) {
  const size_t r = shape.size();
  const auto m = matrix_layout(shape[r - 2], shape[r - 1], strides[r - 2], strides[r - 1]);
  const auto b = batch_stride(shape, strides, out_shape);
  if (!m || !b) return std::nullopt;
  Operand o;
  o.data = data;
  o.transposed = m->transposed;
  o.ld = m->ld;
  o.batch_stride = *b;
  return o;
}

// `x` as cuBLAS takes it: itself, or a dense copy of its own shape (broadcast dims stay 1), or
// one of out's batch shape when even the dense batch is not one stride (mixed broadcasting).
Operand operand(const Tensor& x, const Shape& out_shape, const KernelCall& c, cudaStream_t s) {
  if (auto o = as_operand(x.data<float>(), x.shape(), x.strides(), out_shape)) return *o;
  const size_t r = out_shape.size();
  Shape target = x.shape();
  if (!batch_stride(target, contiguous_strides(target), out_shape)) {
    target = out_shape;
    target[r - 2] = x.shape()[r - 2];
    target[r - 1] = x.shape()[r - 1];
  }
  const int64_t n = shape_numel(target);
  Tensor buf = scratch(size_t(n) * sizeof(float), c);
  gather_dense<<<grid_for(n), kThreads, 0, s>>>(x.data<float>(), strided_as(x, target),
                                                buf.data<float>(), n);
  GOM_CUDA_CHECK(cudaGetLastError());
  auto o = as_operand(buf.data<float>(), target, contiguous_strides(target), out_shape);
  if (!o) throw Error("matmul: a dense operand has no cuBLAS layout");  // cannot happen
  o->keep = std::move(buf);
  return *o;
}

cublasComputeType_t compute_type() {
  return allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

// The sizes of one product: out^T [N, M] = b^T [N, K] a^T [K, M], `batch` times.
struct Gemm {
  int64_t m, n, k, batch;
};

// ---------------------------------------------------------------- cuBLASLt, with the bias

template <class T, auto destroy>
using Handle =
    std::unique_ptr<std::remove_pointer_t<T>, std::integral_constant<decltype(destroy), destroy>>;

using MatmulDesc = Handle<cublasLtMatmulDesc_t, &cublasLtMatmulDescDestroy>;
using Layout = Handle<cublasLtMatrixLayout_t, &cublasLtMatrixLayoutDestroy>;
using Preference = Handle<cublasLtMatmulPreference_t, &cublasLtMatmulPreferenceDestroy>;

// Workspace the heuristics may plan with (NVIDIA's advice for Hopper); only what the chosen
// algorithm needs is taken.
constexpr size_t kLtWorkspace = size_t(32) << 20;

// The largest power of two up to 256 dividing the address: the alignment cuBLASLt may assume
// (its heuristics assume 256 unless told).
uint32_t alignment(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 4 && v % a) a /= 2;
  return a;
}

template <class T>
void set(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const T& v) {
  GOM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof(v)));
}

Layout layout(uint64_t rows, uint64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  GOM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, rows, cols, ld));
  return Layout(l);
}

// out = a b + bias (one product) with the bias epilogue; false when cuBLASLt offers no
// algorithm (the caller falls back to cuBLAS). `bias` is dense and 16-byte aligned.
bool lt_matmul(const Operand& oa, const Operand& ob, const float* bias, float* out, const Gemm& g,
               const KernelCall& c, cudaStream_t s) {
  cublasLtMatmulDesc_t raw = nullptr;
  GOM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&raw, compute_type(), CUDA_R_32F));
  const MatmulDesc desc(raw);
  set(raw, CUBLASLT_MATMUL_DESC_TRANSA, int32_t(ob.op()));
  set(raw, CUBLASLT_MATMUL_DESC_TRANSB, int32_t(oa.op()));
  set(raw, CUBLASLT_MATMUL_DESC_EPILOGUE, uint32_t(CUBLASLT_EPILOGUE_BIAS));
  set(raw, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);  // [N]: along the rows of out^T
  // cuBLAS's A is b ([N, K] after its op), B is a ([K, M]), C = D is out^T [N, M].
  const Layout la = ob.transposed ? layout(g.k, g.m, ob.ld) : layout(g.m, g.k, ob.ld);
  const Layout lb = oa.transposed ? layout(g.n, g.k, oa.ld) : layout(g.k, g.n, oa.ld);
  const Layout ld = layout(g.m, g.n, g.m);

  const std::array<uint32_t, 3> align{alignment(ob.data), alignment(oa.data), alignment(out)};
  int device = 0;
  GOM_CUDA_CHECK(cudaGetDevice(&device));
  const std::array<int64_t, 12> key{device,        g.m,           g.n,      g.k,
                                    ob.transposed, oa.transposed, ob.ld,    oa.ld,
                                    align[0],      align[1],      align[2], int64_t(allow_tf32())};
  static std::mutex mu;
  static std::map<std::array<int64_t, 12>, std::optional<cublasLtMatmulHeuristicResult_t>> cache;
  std::optional<cublasLtMatmulHeuristicResult_t> best;
  bool known = false;
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) best = it->second, known = true;
  }
  if (!known) {
    cublasLtMatmulPreference_t rp = nullptr;
    GOM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&rp));
    const Preference pref(rp);
    const uint64_t max_ws = kLtWorkspace;
    GOM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        rp, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof(max_ws)));
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; ++i)
      GOM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(rp, which[i], &align[i < 3 ? i : 2],
                                                            sizeof(uint32_t)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
        cublas_lt(), raw, la.get(), lb.get(), ld.get(), ld.get(), rp, 1, &result, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) best = result;
    std::lock_guard lock(mu);
    cache.emplace(key, best);
  }
  if (!best) return false;
  const Tensor ws = best->workspaceSize ? scratch(best->workspaceSize, c) : Tensor();
  const float one = 1.0f, zero = 0.0f;
  GOM_CUBLAS_CHECK(cublasLtMatmul(cublas_lt(), raw, &one, ob.data, la.get(), oa.data, lb.get(),
                                  &zero, out, ld.get(), out, ld.get(), &best->algo,
                                  ws.defined() ? ws.raw_data() : nullptr, best->workspaceSize, s));
  return true;
}

// The bias as cuBLASLt wants it: dense and 16-byte aligned (a copy otherwise).
const float* lt_bias(const Tensor& bias, int64_t n, Tensor& keep, const KernelCall& c,
                     cudaStream_t s) {
  const float* p = bias.data<float>();
  if ((n == 1 || bias.strides()[0] == 1) && reinterpret_cast<uintptr_t>(p) % 16 == 0) return p;
  keep = scratch(size_t(n) * sizeof(float), c);
  fill_with_bias(bias, keep, n, s);
  return keep.data<float>();
}

void matmul(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &a = c.in[0], &b = c.in[1], &out = c.out[0];
  const Tensor bias = c.in.size() > 2 ? c.in[2] : Tensor();
  if (out.numel() == 0) return;
  const int64_t r = out.dim();
  if (r < 2 || a.dim() != r || b.dim() != r)
    throw Error("matmul: operands " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                " for an output " + shape_str(out.shape()) + ": ranks must match");
  const int64_t M = out.shape()[r - 2], N = out.shape()[r - 1], K = a.shape()[r - 1];
  const Gemm g{N, M, K, out.numel() / (M * N)};
  if (K == 0) {  // an empty sum: zeros, plus the bias
    if (bias.defined())
      fill_with_bias(bias, out, N, s);
    else
      GOM_CUDA_CHECK(cudaMemsetAsync(out.data<float>(), 0, out.numel() * sizeof(float), s));
    return;
  }
  const Operand oa = operand(a, out.shape(), c, s), ob = operand(b, out.shape(), c, s);
  float beta = 0.0f;
  if (bias.defined()) {
    Tensor keep;
    if (g.batch == 1 && lt_matmul(oa, ob, lt_bias(bias, N, keep, c, s), out.data<float>(), g, c, s))
      return;
    fill_with_bias(bias, out, N, s);  // out = bias, then out += a b
    beta = 1.0f;
  }
  const float alpha = 1.0f;
  GOM_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
      cublas(s), ob.op(), oa.op(), g.m, g.n, g.k, &alpha, ob.data, CUDA_R_32F, ob.ld,
      ob.batch_stride, oa.data, CUDA_R_32F, oa.ld, oa.batch_stride, &beta, out.data<float>(),
      CUDA_R_32F, g.m, g.m * g.n, g.batch, compute_type(), CUBLAS_GEMM_DEFAULT));
}

void register_matmul(const std::string& provider) {
  register_cuda_kernel("matmul", matmul, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_matmul);

}  // namespace gom::cuda
