// Creating tensors, random fills, copies, casts and moves between devices.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "ops_internal.h"

namespace gom {
using namespace detail;

Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) {
  default_generator().manual_seed(seed);
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  Tensor t = Tensor::empty(shape, opts);
  run_kernel("fill", {}, {t}, {{"value", value}});
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) {
  return full(shape, 0.0, opts);
}
Tensor ones(const Shape& shape, TensorOptions opts) {
  return full(shape, 1.0, opts);
}
Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), t.options());
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), t.options());
}
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, t.options());
}
Tensor scalar(double value, TensorOptions opts) {
  return full({}, value, opts);
}

template <class T>
static Tensor from_values(const std::vector<T>& values, const Shape& shape, Device device) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw Error(fmt::format("tensor: {} values do not fill shape {} ({} elements)", values.size(),
                            shape_str(shape), shape_numel(shape)));
  Tensor t = Tensor::empty(shape, {dtype_of<T>(), kCPU});
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t.to(device);
}
Tensor tensor(const std::vector<float>& v, const Shape& s, Device d) {
  return from_values(v, s, d);
}
Tensor tensor_i64(const std::vector<int64_t>& v, const Shape& s, Device d) {
  return from_values(v, s, d);
}
Tensor tensor_i32(const std::vector<int32_t>& v, const Shape& s, Device d) {
  return from_values(v, s, d);
}

Tensor arange(double start, double end, double step, TensorOptions opts) {
  if (step == 0 || (end - start) / step < 0)
    throw Error(fmt::format("arange: no values from {} to {} in steps of {}", start, end, step));
  const double count = std::ceil((end - start) / step);
  if (!(count < 9.2e18))  // also NaN: the cast to int64 would be undefined
    throw Error(fmt::format("arange: {} values from {} to {} in steps of {} are too many", count,
                            start, end, step));
  const auto n = static_cast<int64_t>(count);
  Tensor t = Tensor::empty({n}, opts);
  run_kernel("arange", {}, {t}, {{"start", start}, {"step", step}});
  return t;
}

// ---------------------------------------------------------------- random

enum Dist : int64_t { kUniform = 0, kNormal = 1, kBernoulli = 2, kRandint = 3 };

static void fill_random(Tensor& t, Dist dist, double a, double b, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.take(static_cast<uint64_t>(t.numel()));
  if (!t.is_contiguous()) throw Error("random fills need a contiguous tensor");
  run_kernel("random", {}, {t},
             {{"dist", int64_t(dist)},
              {"a", a},
              {"b", b},
              {"seed", static_cast<int64_t>(g.seed())},
              {"offset", static_cast<int64_t>(offset)}});
}

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen) {
  check_float(t, "uniform_", "tensor");
  fill_random(t, kUniform, low, high, gen);
  return t;
}
Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  check_float(t, "normal_", "tensor");
  fill_random(t, kNormal, mean, std, gen);
  return t;
}
Tensor& bernoulli_(Tensor& t, double p, Generator* gen) {
  check_float(t, "bernoulli_", "tensor");
  if (p < 0 || p > 1) throw Error(fmt::format("bernoulli_: probability {} is not in [0, 1]", p));
  fill_random(t, kBernoulli, p, 0.0, gen);
  return t;
}
Tensor rand(const Shape& shape, Generator* gen, TensorOptions opts) {
  Tensor t = Tensor::empty(shape, opts);
  return uniform_(t, 0.0, 1.0, gen);
}
Tensor randn(const Shape& shape, Generator* gen, TensorOptions opts) {
  Tensor t = Tensor::empty(shape, opts);
  return normal_(t, 0.0, 1.0, gen);
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen) {
  if (high <= low) throw Error(fmt::format("randint: empty range [{}, {})", low, high));
  Tensor t = Tensor::empty(shape, {DType::I64, kCPU});
  fill_random(t, kRandint, static_cast<double>(low), static_cast<double>(high), gen);
  return t;
}

// ---------------------------------------------------------------- fills and copies

Tensor& fill_(Tensor& t, double value) {
  if (t.is_contiguous()) {
    run_kernel("fill", {}, {t}, {{"value", value}});
  } else {
    Tensor v = full({}, value, t.options());
    copy_(t, v);
  }
  return t;
}
Tensor& zero_(Tensor& t) {
  return fill_(t, 0.0);
}

Tensor& copy_(Tensor& dst, const Tensor& src) {
  if (broadcast_shapes(dst.shape(), src.shape(), "copy_") != dst.shape())
    throw Error(fmt::format("copy_: a tensor of shape {} cannot be copied into one of shape {}",
                            shape_str(src.shape()), shape_str(dst.shape())));
  const Tensor s = raw_expand(src, dst.shape());
  // The kernel of the non-CPU side does host<->device transfers.
  const Device dev = src.device().type != DeviceType::CPU ? src.device() : dst.device();
  static const OpId copy = op_id("copy");
  find_kernel(copy, dev.type)(KernelCall{std::span<const Tensor>(&s, 1),
                                         std::span<const Tensor>(&dst, 1), Attrs{},
                                         dev.type == DeviceType::CPU ? Stream{}
                                                                     : current_stream(dev)});
  return dst;
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), options());
  copy_(out, *this);
  if (needs_grad({this}))
    record("clone", {*this}, {out}, [](const std::vector<Tensor>& g) { return g; });
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor out = Tensor::empty(shape(), {dtype, device()});
  copy_(out, *this);
  return out;  // a cast to or from integers carries no gradient
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor out = Tensor::empty(shape(), {dtype(), device});
  copy_(out, *this);
  if (needs_grad({this}))
    record("to_device", {*this}, {out}, [from = this->device()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(from)};
    });
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  for (size_t i = 0; i < va.size(); ++i)
    if (!(std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i]))) return false;
  return true;
}

}  // namespace gom
