// Tensor basics: dtypes, devices, shapes, layout queries and value access. The view methods
// forward to the differentiable ops in ops_shape.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <new>

#include "autograd_internal.h"
#include "gom/kernel.h"
#include "gom/ops.h"

namespace gom {

size_t dtype_size(DType t) {
  return t == DType::I64 ? 8 : 4;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::I32:
      return "i32";
    case DType::I64:
      return "i64";
  }
  return "?";
}

void check_dtype(const Tensor& t, DType want, const char* what) {
  if (t.dtype() != want)
    throw Error(fmt::format("{}: expected a {} tensor, got {}", what, dtype_name(want),
                            dtype_name(t.dtype())));
}

const char* device_type_name(DeviceType t) {
  return t == DeviceType::CPU ? "cpu" : "cuda";
}

std::string Device::str() const {
  return type == DeviceType::CPU ? "cpu" : fmt::format("{}:{}", device_type_name(type), index);
}

Device Device::parse(const std::string& text) {
  const std::string cuda = device_type_name(DeviceType::CUDA);
  if (text == device_type_name(DeviceType::CPU)) return kCPU;
  if (text == cuda) return {DeviceType::CUDA, 0};
  if (text.rfind(cuda + ":", 0) == 0) {
    const std::string n = text.substr(cuda.size() + 1);
    if (!n.empty() && n.size() <= 2 && n.find_first_not_of("0123456789") == std::string::npos &&
        std::stoi(n) < kMaxDevices)
      return {DeviceType::CUDA, std::stoi(n)};
  }
  throw Error(fmt::format("unknown device '{}': expected cpu, cuda or cuda:N (N below {})", text,
                          kMaxDevices));
}

namespace {
// The calling thread's current stream handle of each device (null: the default stream).
thread_local void* current_streams[kNumDeviceTypes][kMaxDevices] = {};
}  // namespace

Stream current_stream(Device device) {
  return {device, current_streams[static_cast<int>(device.type)][device.index]};
}

StreamGuard::StreamGuard(Stream s) : prev_(current_stream(s.device)) {
  current_streams[static_cast<int>(s.device.type)][s.device.index] = s.handle;
}

StreamGuard::~StreamGuard() {
  current_streams[static_cast<int>(prev_.device.type)][prev_.device.index] = prev_.handle;
}

void Storage::record_stream(Stream s) {
  if (s.handle == stream_) return;
  for (void* u : used_streams_)
    if (u == s.handle) return;
  used_streams_.push_back(s.handle);
}

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

// Sizes are checked where they are made: a product that wrapped would describe far more data
// than was allocated, and every later loop would run off the end of the storage.
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  bool zero = false;
  for (int64_t d : s) {
    if (d == 0) {
      zero = true;  // still check the others: the strides multiply them whatever the zero
      continue;
    }
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(fmt::format("shape {} is too large: its number of elements overflows 64 bits",
                              shape_str(s)));
  }
  return zero ? 0 : n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    if (i > 0 && __builtin_mul_overflow(acc, s[i], &acc))
      throw Error(fmt::format("shape {} is too large: its strides overflow 64 bits", shape_str(s)));
  }
  return st;
}

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

Tensor Tensor::empty(const Shape& shape, TensorOptions opts) {
  for (int64_t d : shape)
    if (d < 0) throw Error("Tensor::empty: negative dimension in shape " + shape_str(shape));
  const int64_t numel = shape_numel(shape);
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, int64_t(dtype_size(opts.dtype)), &nbytes))
    throw Error(fmt::format("shape {} is too large: {} elements × {} bytes ({}) overflows 64 bits",
                            shape_str(shape), numel, dtype_size(opts.dtype),
                            dtype_name(opts.dtype)));
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = Storage::allocate(size_t(nbytes), opts.device);
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("cannot allocate a tensor of shape {} ({}, {} bytes): out of memory",
                            shape_str(shape), dtype_name(opts.dtype), nbytes));
  } catch (const Error& e) {
    throw Error(fmt::format("cannot allocate a tensor of shape {} ({}, {} bytes): {}",
                            shape_str(shape), dtype_name(opts.dtype), nbytes, e.what()));
  }
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  return Tensor(std::move(impl));
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < -n || d >= n)
    throw Error(fmt::format("dimension {} out of range for a {}-d tensor of shape {}", d, n,
                            shape_str(shape())));
  return shape()[d < 0 ? d + n : d];
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expect = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;  // any stride is fine for a dimension of one
    if (st[i] != expect) return false;
    expect *= sh[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  auto& im = impl();
  return static_cast<char*>(im.storage->data()) + im.offset * dtype_size(im.dtype);
}

Tensor Tensor::reshape(const Shape& s) const {
  return gom::reshape(*this, s);
}
Tensor Tensor::view(const Shape& s) const {
  if (!is_contiguous())
    throw Error(
        fmt::format("view: tensor of shape {} with strides {} is not contiguous; use "
                    "reshape (which copies) instead",
                    shape_str(shape()), shape_str(strides())));
  return gom::reshape(*this, s);
}
Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  return gom::transpose(*this, d0, d1);
}
Tensor Tensor::t() const {
  if (dim() != 2) throw Error("t(): expected a 2-d tensor, got shape " + shape_str(shape()));
  return gom::transpose(*this, 0, 1);
}
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  return gom::slice(*this, d, start, end, step);
}
Tensor Tensor::flatten(int64_t s, int64_t e) const {
  return gom::flatten(*this, s, e);
}
Tensor Tensor::expand(const Shape& s) const {
  return gom::expand(*this, s);
}

Tensor Tensor::contiguous() const {
  return is_contiguous() ? *this : clone();
}

double Tensor::item() const {
  if (numel() != 1)
    throw Error("item(): expected a one-element tensor, got shape " + shape_str(shape()));
  Tensor c = device().type == DeviceType::CPU ? *this : to(kCPU);
  switch (c.dtype()) {
    case DType::F32:
      return *c.data<float>();
    case DType::I32:
      return *c.data<int32_t>();
    case DType::I64:
      return static_cast<double>(*c.data<int64_t>());
  }
  return 0;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(kCPU).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::string vals;
  if (numel() <= 64) {
    if (dtype() == DType::F32)
      vals = fmt::format("{:.6g}", fmt::join(to_vector<float>(), ", "));
    else
      vals = fmt::format("{}", fmt::join(to_vector<int64_t>(), ", "));
  } else {
    vals = "...";
  }
  return fmt::format("Tensor({}, shape={}, {}, {}{})", "[" + vals + "]", shape_str(shape()),
                     dtype_name(dtype()), device().str(), requires_grad() ? ", requires_grad" : "");
}

}  // namespace gom
