// gom/tensor.h — n-d tensors with refcounted storage and views.
//
// A Tensor is a cheap handle (one shared_ptr) to a TensorImpl: shape, strides in elements, an
// offset into a Storage, a dtype and, when autograd is involved, its autograd metadata. Views
// (reshape of contiguous data, transpose, slice, expand) share the Storage of their base.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom/hooks.h"

namespace gom {

/// @brief Element types. f32 for data and parameters, i32/i64 for indices and labels.
enum class DType : uint8_t { F32, I32, I64 };

/// @brief Size in bytes of one element of `t`.
size_t dtype_size(DType t);
/// @brief "f32", "i32" or "i64".
const char* dtype_name(DType t);

/// @brief Kinds of device. A backend plugin registers kernels for one of these.
enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
inline constexpr int kNumDeviceTypes = 2;

/// @brief A device: its type and ordinal ("cpu", "cuda:0").
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;
  /// @brief Parses "cpu", "cuda", "cuda:1"; throws gom::Error naming what is accepted.
  static Device parse(const std::string& text);
};
inline const Device kCPU{DeviceType::CPU, 0};
/// @brief "cpu" or "cuda": the one place device types are named.
const char* device_type_name(DeviceType t);
/// @brief The most devices of one type the host tracks (cuda:0 .. cuda:15).
inline constexpr int kMaxDevices = 16;

/// @brief A device's queue of work. On CUDA `handle` is a cudaStream_t, and null means the
/// backend's default stream of that device; the CPU runs everything in order and has none.
struct Stream {
  Device device{};
  void* handle = nullptr;
  bool operator==(const Stream&) const = default;
};
/// @brief The stream that ops on `device` are queued to from the calling thread (the default
/// stream unless a StreamGuard says otherwise).
Stream current_stream(Device device);
/// @brief Makes `s` the calling thread's current stream of its device while it lives (the
/// loader's prefetch thread copies batches on a stream of its own).
class StreamGuard {
 public:
  explicit StreamGuard(Stream s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream prev_;
};

using Shape = std::vector<int64_t>;
/// @brief "[2, 3, 4]".
std::string shape_str(const Shape& s);
/// @brief Product of the dimensions (1 for a 0-d shape).
int64_t shape_numel(const Shape& s);
/// @brief Row-major (C-contiguous) strides of `s`.
Shape contiguous_strides(const Shape& s);

/// @brief Memory owned by a device allocator; freed (returned to the cache) with its last user.
class Storage {
 public:
  /// @brief `block`: the size of the caching allocator's block that holds `data` (what
  /// allocate() passes; freeing hands the block back). 0: memory the allocator does not own.
  /// `stream`: the stream it was allocated for; once freed, only that stream's later work
  /// reuses it.
  Storage(void* data, size_t nbytes, Device device, size_t block = 0, void* stream = nullptr)
      : data_(data), nbytes_(nbytes), block_(block), stream_(stream), device_(device) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  void* stream() const { return stream_; }
  /// @brief Allocates `nbytes` on `device` through the caching allocator, for the calling
  /// thread's current stream of that device.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  /// @brief Notes that work queued on `s` (a stream other than its own) uses this memory: when
  /// it is freed, its own stream waits for that work before reusing it (PyTorch's record_stream).
  void record_stream(Stream s);
  const std::vector<void*>& used_streams() const { return used_streams_; }

 private:
  void* data_;
  size_t nbytes_;
  size_t block_;
  void* stream_;
  Device device_;
  std::vector<void*> used_streams_;
};

struct AutogradMeta;
class Node;

/// @brief What a Tensor points to. Plugin code uses Tensor, not this.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  std::unique_ptr<AutogradMeta> autograd;  // null until autograd needs it
  TensorImpl();
  ~TensorImpl();
};

/// @brief Options for creating tensors.
struct TensorOptions {
  DType dtype = DType::F32;
  Device device = kCPU;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// @brief Allocates an uninitialised tensor.
  static Tensor empty(const Shape& shape, TensorOptions opts = {});

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  /// @brief Size of dimension `d`; negative `d` counts from the end.
  int64_t size(int64_t d) const;
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  TensorOptions options() const { return {dtype(), device()}; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  /// @brief Pointer to the first element (offset applied). Checks that T matches the dtype.
  template <class T>
  T* data() const;
  void* raw_data() const;

  // ---- views and layout (differentiable; the op versions live in ops.h) ----
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;  ///< like reshape, but throws instead of copying
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  ///< transpose of a 2-d tensor
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  ///< broadcast view with stride 0
  Tensor contiguous() const;                ///< itself when contiguous, else a copy
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // ---- autograd ----
  bool requires_grad() const;
  /// @brief Marks a leaf as needing gradients; returns itself for chaining.
  Tensor& requires_grad_(bool on = true);
  /// @brief The accumulated gradient of a leaf (undefined before the first backward).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  /// @brief Drops the gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad() const;
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  /// @brief Reverse-mode differentiation from this tensor. A scalar needs no `grad`.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;
  /// @brief Same data, cut from the graph.
  Tensor detach() const;
  /// @brief A non-leaf keeps the gradient w.r.t. it in .grad after backward (summed over
  /// backwards, as a leaf's); on a leaf it does nothing (leaves keep theirs).
  void retain_grad() const;
  bool retains_grad() const;
  /// @brief Calls fn(grad) each time the gradient w.r.t. this tensor has been computed (summed
  /// over its uses) in a backward; a defined return replaces it, in what flows on and in .grad.
  /// The tensor must require grad.
  HookHandle register_hook(GradHook fn) const;

  // ---- values ----
  /// @brief The value of a one-element tensor, as double.
  double item() const;
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  /// @brief All values, row-major, copied to the host.
  template <class T>
  std::vector<T> to_vector() const;
  std::string str() const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::I32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}

/// @brief Throws unless `t`'s dtype is `want`, naming `what` in the message.
void check_dtype(const Tensor& t, DType want, const char* what);

template <class T>
T* Tensor::data() const {
  check_dtype(*this, dtype_of<T>(), "Tensor::data<T>()");
  return static_cast<T*>(raw_data());
}

}  // namespace gom
