// The shared helpers of the CUDA kernels: errors, devices, streams, handles, scratch, layouts.
#include "cuda_util.h"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace gom::cuda {

void throw_cuda(const char* what, const char* expr, const char* file, int line) {
  throw Error(fmt::format("CUDA error: {} (in {} at {}:{})", what, expr, file, line));
}

void set_device(int index) {
  thread_local int current = -1;
  if (current == index) return;
  GOM_CUDA_CHECK(cudaSetDevice(index));
  current = index;
}

cudaStream_t default_stream(int index) {
  static std::array<cudaStream_t, kMaxDevices> streams{};
  static std::array<std::once_flag, kMaxDevices> made;
  std::call_once(made.at(static_cast<size_t>(index)), [&] {
    set_device(index);
    GOM_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[static_cast<size_t>(index)],
                                             cudaStreamNonBlocking));
  });
  return streams[static_cast<size_t>(index)];
}

cudaStream_t resolve(Stream s) {
  return s.handle ? static_cast<cudaStream_t>(s.handle) : default_stream(s.device.index);
}

cudaStream_t stream_of(const KernelCall& c) {
  if (c.stream.device.type == DeviceType::CUDA) {
    set_device(c.stream.device.index);
    return resolve(c.stream);
  }
  // A call made without a stream (a test calling find_kernel directly): the first CUDA tensor's
  // device, on its default stream.
  for (auto span : {c.out, c.in})
    for (const Tensor& t : span)
      if (t.defined() && t.device().type == DeviceType::CUDA) {
        set_device(t.device().index);
        return resolve(current_stream(t.device()));
      }
  throw Error("a CUDA kernel was called with no CUDA tensor");
}

namespace {
int current_device() {
  int d = 0;
  GOM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}
}  // namespace

bool allow_tf32() {
  static const bool on = [] {
    const char* v = std::getenv("GOM_CUDA_TF32");
    return v && std::string(v) == "1";
  }();
  return on;
}

cublasHandle_t cublas(cudaStream_t s) {
  thread_local std::array<cublasHandle_t, kMaxDevices> handles{};
  cublasHandle_t& h = handles.at(static_cast<size_t>(current_device()));
  if (!h) {
    GOM_CUBLAS_CHECK(cublasCreate(&h));
    GOM_CUBLAS_CHECK(
        cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  }
  GOM_CUBLAS_CHECK(cublasSetStream(h, s));
  return h;
}

cublasLtHandle_t cublas_lt() {
  thread_local std::array<cublasLtHandle_t, kMaxDevices> handles{};
  cublasLtHandle_t& h = handles.at(static_cast<size_t>(current_device()));
  if (!h) GOM_CUBLAS_CHECK(cublasLtCreate(&h));
  return h;
}

cudnnHandle_t cudnn(cudaStream_t s) {
  thread_local std::array<cudnnHandle_t, kMaxDevices> handles{};
  cudnnHandle_t& h = handles.at(static_cast<size_t>(current_device()));
  if (!h) GOM_CUDNN_CHECK(cudnnCreate(&h));
  GOM_CUDNN_CHECK(cudnnSetStream(h, s));
  return h;
}

Tensor scratch(size_t bytes, const KernelCall& c) {
  Device dev = c.stream.device;
  if (dev.type != DeviceType::CUDA)
    for (auto span : {c.out, c.in})
      for (const Tensor& t : span)
        if (t.defined() && t.device().type == DeviceType::CUDA) dev = t.device();
  StreamGuard on(c.stream.device.type == DeviceType::CUDA ? c.stream : current_stream(dev));
  return Tensor::empty({static_cast<int64_t>((bytes + 3) / 4)}, {DType::F32, dev});
}

Strided strided(const Tensor& t) {
  return strided_as(t, t.shape());
}

Strided strided_as(const Tensor& t, const Shape& shape) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw Error(fmt::format("cuda: tensors of more than {} dims are not supported (shape {})",
                            kMaxDims, shape_str(shape)));
  if (shape.size() != t.shape().size())
    throw Error(fmt::format("cuda: layout of shape {} asked as {}", shape_str(t.shape()),
                            shape_str(shape)));
  Strided s;
  s.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < s.ndim; ++d) {
    s.shape[d] = shape[static_cast<size_t>(d)];
    s.strides[d] = t.shape()[static_cast<size_t>(d)] == 1 && shape[static_cast<size_t>(d)] != 1
                       ? 0
                       : t.strides()[static_cast<size_t>(d)];
  }
  return s;
}

void register_cuda_kernel(std::string_view op, KernelFn fn, std::string_view provider) {
  register_kernel(
      op, DeviceType::CUDA,
      [fn = std::move(fn), name = std::string(op)](const KernelCall& c) {
        try {
          fn(c);
        } catch (const Error& e) {
          throw Error(fmt::format("cuda kernel '{}': {}", name, e.what()));
        }
      },
      provider);
}

namespace {
std::vector<RegisterFn>& families() {
  static std::vector<RegisterFn> list;
  return list;
}
}  // namespace

KernelFamily::KernelFamily(RegisterFn fn) {
  families().push_back(fn);
}

void register_families(const std::string& provider) {
  for (RegisterFn fn : families()) fn(provider);
}

}  // namespace gom::cuda
