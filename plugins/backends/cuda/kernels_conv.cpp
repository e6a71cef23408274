// conv2d, conv2d_backward_data and conv2d_backward_weights (contracts in gom/ops_conv.h) on
// cuDNN's legacy convolution API: plain NCHW / OIHW float descriptors, groups, stride, padding
// and dilation as the attributes say (the output sizes are the floor formula, so the padding is
// symmetric, as the CPU's). The bias is added with cudnnAddTensor and its gradient taken with
// cudnnConvolutionBackwardBias.
//
// Algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7), chosen once per shape and
// attributes and cached: the first that works within kMaxWorkspace, deterministic ones first
// (runs are reproducible, as on the CPU). Math: CUDNN_FMA_MATH keeps float32 products exact;
// CUDNN_DEFAULT_MATH (which lets cuDNN use TF32 tensor cores) only when allow_tf32().
#include <fmt/format.h>

#include <climits>
#include <map>
#include <mutex>
#include <vector>

#include "cuda_util.h"

namespace gom::cuda {
namespace {

// Above this, an algorithm's workspace is not worth it: the next one is taken.
constexpr size_t kMaxWorkspace = size_t(1) << 30;

int to_int(int64_t v, const Shape& shape) {
  if (v > INT_MAX)
    throw Error(fmt::format("conv2d: shape {} exceeds cuDNN's 32-bit sizes", shape_str(shape)));
  return static_cast<int>(v);
}

// RAII descriptors.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  explicit TensorDesc(const Shape& s) {
    GOM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    GOM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                               to_int(s[0], s), to_int(s[1], s), to_int(s[2], s),
                                               to_int(s[3], s)));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  explicit FilterDesc(const Shape& s) {
    GOM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    GOM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                               to_int(s[0], s), to_int(s[1], s), to_int(s[2], s),
                                               to_int(s[3], s)));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

cudnnMathType_t requested_math() {
  return allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  explicit ConvDesc(const Attrs& a) {
    const auto &st = a.ints("stride"), &pad = a.ints("padding"), &dil = a.ints("dilation");
    const Shape all{st[0], st[1], pad[0], pad[1], dil[0], dil[1], a.i("groups")};
    GOM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    GOM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        d, to_int(pad[0], all), to_int(pad[1], all), to_int(st[0], all), to_int(st[1], all),
        to_int(dil[0], all), to_int(dil[1], all), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    GOM_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, to_int(a.i("groups"), all)));
    GOM_CUDNN_CHECK(cudnnSetConvolutionMathType(d, requested_math()));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// Every descriptor of one convolution: input x, weights w, output y.
struct Conv {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  Conv(const Shape& xs, const Shape& ws, const Shape& ys, const Attrs& a)
      : x(xs), y(ys), w(ws), conv(a) {}
};

enum class Pass : int64_t { Forward, BackwardData, BackwardFilter };

// The algorithm chosen for one (pass, shapes, attributes) and what it needs.
struct Choice {
  int algo;
  cudnnMathType_t math;
  size_t workspace;
};

// The first usable heuristic result: one that ran its checks, within kMaxWorkspace, in FMA
// math unless TF32 is allowed; deterministic ones win over the others.
template <class Perf>
const Perf* pick(const std::vector<Perf>& perfs) {
  const Perf* any = nullptr;
  for (const Perf& p : perfs) {
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspace) continue;
    const bool tensor_ops =
        p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (tensor_ops && !allow_tf32()) continue;
    if (p.determinism == CUDNN_DETERMINISTIC) return &p;
    if (!any) any = &p;
  }
  return any;
}

// The math type to run a chosen result with: FMA when TF32 is off (whatever the result says,
// since DEFAULT may mean TF32), else the result's own.
cudnnMathType_t run_math(cudnnMathType_t chosen) {
  return allow_tf32() ? chosen : CUDNN_FMA_MATH;
}

[[noreturn]] void no_algorithm(const char* pass, const Shape& xs, const Shape& ws) {
  throw Error(fmt::format("cuDNN has no {} algorithm for input {} and weight {}", pass,
                          shape_str(xs), shape_str(ws)));
}

Choice choose(Pass pass, cudnnHandle_t h, const Conv& d, const Shape& xs, const Shape& ws) {
  int n = 0, got = 0;
  size_t bytes = 0;
  switch (pass) {
    case Pass::Forward: {
      GOM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perfs(static_cast<size_t>(n));
      GOM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d, n,
                                                             &got, perfs.data()));
      perfs.resize(static_cast<size_t>(got));
      const auto* p = pick(perfs);
      if (!p) no_algorithm("forward convolution", xs, ws);
      GOM_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, run_math(p->mathType)));
      GOM_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                              p->algo, &bytes));
      return {static_cast<int>(p->algo), run_math(p->mathType), bytes};
    }
    case Pass::BackwardData: {
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perfs(static_cast<size_t>(n));
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                                  n, &got, perfs.data()));
      perfs.resize(static_cast<size_t>(got));
      const auto* p = pick(perfs);
      if (!p) no_algorithm("backward-data convolution", xs, ws);
      GOM_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, run_math(p->mathType)));
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                                   p->algo, &bytes));
      return {static_cast<int>(p->algo), run_math(p->mathType), bytes};
    }
    case Pass::BackwardFilter: {
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(n));
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d,
                                                                    d.w.d, n, &got, perfs.data()));
      perfs.resize(static_cast<size_t>(got));
      const auto* p = pick(perfs);
      if (!p) no_algorithm("backward-filter convolution", xs, ws);
      GOM_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, run_math(p->mathType)));
      GOM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv.d,
                                                                     d.w.d, p->algo, &bytes));
      return {static_cast<int>(p->algo), run_math(p->mathType), bytes};
    }
  }
  throw Error("conv2d: unknown pass");
}

// The cached choice for this call (made on a miss), with d's math type set to it.
Choice cached_choice(Pass pass, cudnnHandle_t h, const Conv& d, const Shape& xs, const Shape& ws,
                     const Shape& ys, const Attrs& a) {
  int device = 0;
  GOM_CUDA_CHECK(cudaGetDevice(&device));
  std::vector<int64_t> key{int64_t(pass), device, int64_t(allow_tf32()), a.i("groups")};
  for (const Shape* s : {&xs, &ws, &ys}) key.insert(key.end(), s->begin(), s->end());
  for (const char* n : {"stride", "padding", "dilation"}) {
    const auto& v = a.ints(n);
    key.insert(key.end(), v.begin(), v.end());
  }
  static std::mutex mu;
  static std::map<std::vector<int64_t>, Choice> cache;
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) {
      GOM_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, it->second.math));
      return it->second;
    }
  }
  if (pass == Pass::Forward) {  // the core's output size must be cuDNN's
    int n = 0, c = 0, hh = 0, ww = 0;
    GOM_CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(d.conv.d, d.x.d, d.w.d, &n, &c, &hh, &ww));
    if (Shape{n, c, hh, ww} != ys)
      throw Error(fmt::format("conv2d: cuDNN's output {} differs from the expected {}",
                              shape_str(Shape{n, c, hh, ww}), shape_str(ys)));
  }
  const Choice ch = choose(pass, h, d, xs, ws);
  std::lock_guard lock(mu);
  cache.emplace(std::move(key), ch);
  return ch;
}

// Workspace for a choice (an empty tensor when it needs none; it must outlive the call).
Tensor workspace(const Choice& ch, const KernelCall& c) {
  return ch.workspace ? scratch(ch.workspace, c) : Tensor();
}
void* data_of(const Tensor& t) {
  return t.defined() ? t.raw_data() : nullptr;
}

void zero(const Tensor& t, cudaStream_t s) {
  if (t.numel() > 0) GOM_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.numel() * 4, s));
}

// y += b per output channel.
void add_bias(cudnnHandle_t h, const Tensor& b, const TensorDesc& yd, const Tensor& y) {
  const TensorDesc bd(Shape{1, y.shape()[1], 1, 1});
  const float one = 1.0f;
  GOM_CUDNN_CHECK(cudnnAddTensor(h, &one, bd.d, b.data<float>(), &one, yd.d, y.data<float>()));
}

const float kOne = 1.0f, kZero = 0.0f;

// in {x, w (, b)} -> out {y}
void conv2d(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &x = c.in[0], &w = c.in[1], &y = c.out[0];
  const bool has_b = c.in.size() > 2;
  if (y.numel() == 0) return;
  const cudnnHandle_t h = cudnn(s);
  if (x.numel() == 0 || w.numel() == 0) {  // an empty sum: the bias alone (cuDNN wants sizes)
    zero(y, s);
    if (has_b) add_bias(h, c.in[2], TensorDesc(y.shape()), y);
    return;
  }
  const Conv d(x.shape(), w.shape(), y.shape(), c.attrs);
  const Choice ch = cached_choice(Pass::Forward, h, d, x.shape(), w.shape(), y.shape(), c.attrs);
  const Tensor ws = workspace(ch, c);
  GOM_CUDNN_CHECK(cudnnConvolutionForward(h, &kOne, d.x.d, x.data<float>(), d.w.d, w.data<float>(),
                                          d.conv.d, static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo),
                                          data_of(ws), ch.workspace, &kZero, d.y.d,
                                          y.data<float>()));
  if (has_b) add_bias(h, c.in[2], d.y, y);
}

// in {grad_out, w} -> out {grad_x}
void conv2d_backward_data(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
  if (gx.numel() == 0) return;
  if (gy.numel() == 0 || w.numel() == 0) return zero(gx, s);
  const cudnnHandle_t h = cudnn(s);
  const Conv d(gx.shape(), w.shape(), gy.shape(), c.attrs);
  const Choice ch =
      cached_choice(Pass::BackwardData, h, d, gx.shape(), w.shape(), gy.shape(), c.attrs);
  const Tensor ws = workspace(ch, c);
  GOM_CUDNN_CHECK(
      cudnnConvolutionBackwardData(h, &kOne, d.w.d, w.data<float>(), d.y.d, gy.data<float>(),
                                   d.conv.d, static_cast<cudnnConvolutionBwdDataAlgo_t>(ch.algo),
                                   data_of(ws), ch.workspace, &kZero, d.x.d, gx.data<float>()));
}

// in {grad_out, x} -> out {grad_w (, grad_b)}
void conv2d_backward_weights(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor &gy = c.in[0], &x = c.in[1], &gw = c.out[0];
  const bool has_b = c.out.size() > 1;
  if (gy.numel() == 0) {  // an empty batch: no gradient
    for (const Tensor& t : c.out) zero(t, s);
    return;
  }
  const cudnnHandle_t h = cudnn(s);
  if (has_b) {
    const TensorDesc gyd(gy.shape()), gbd(Shape{1, gy.shape()[1], 1, 1});
    GOM_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &kOne, gyd.d, gy.data<float>(), &kZero, gbd.d,
                                                 c.out[1].data<float>()));
  }
  if (x.numel() == 0 || gw.numel() == 0) return zero(gw, s);
  const Conv d(x.shape(), gw.shape(), gy.shape(), c.attrs);
  const Choice ch =
      cached_choice(Pass::BackwardFilter, h, d, x.shape(), gw.shape(), gy.shape(), c.attrs);
  const Tensor ws = workspace(ch, c);
  GOM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      h, &kOne, d.x.d, x.data<float>(), d.y.d, gy.data<float>(), d.conv.d,
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(ch.algo), data_of(ws), ch.workspace, &kZero,
      d.w.d, gw.data<float>()));
}

void register_conv(const std::string& provider) {
  register_cuda_kernel("conv2d", conv2d, provider);
  register_cuda_kernel("conv2d_backward_data", conv2d_backward_data, provider);
  register_cuda_kernel("conv2d_backward_weights", conv2d_backward_weights, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_conv);

}  // namespace gom::cuda
