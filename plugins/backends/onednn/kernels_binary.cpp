// binary: oneDNN's binary primitive for f32 (it broadcasts its second operand), vectorised
// loops for integer tensors and for a broadcast first operand of a non-commutative op (oneDNN
// 2.6 broadcasts src1 only).
#include <fmt/format.h>

#include <cmath>
#include <type_traits>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {
using alg = dnnl::algorithm;

alg binary_alg(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return alg::binary_add;
    case BinaryOp::Sub:
      return alg::binary_sub;
    case BinaryOp::Mul:
      return alg::binary_mul;
    case BinaryOp::Div:
      return alg::binary_div;
    case BinaryOp::Max:
      return alg::binary_max;
    case BinaryOp::Min:
      return alg::binary_min;
    case BinaryOp::Eq:
      return alg::binary_eq;
    case BinaryOp::Ne:
      return alg::binary_ne;
    case BinaryOp::Gt:
      return alg::binary_gt;
    case BinaryOp::Ge:
      return alg::binary_ge;
    case BinaryOp::Lt:
      return alg::binary_lt;
    case BinaryOp::Le:
      return alg::binary_le;
  }
  throw Error(fmt::format("onednn binary: unknown op code {}", int64_t(op)));
}

bool commutative(BinaryOp op) {
  return op == BinaryOp::Add || op == BinaryOp::Mul || op == BinaryOp::Max || op == BinaryOp::Min ||
         op == BinaryOp::Eq || op == BinaryOp::Ne;
}

bool has_broadcast(const Tensor& t) {
  for (size_t d = 0; d < t.shape().size(); ++d)
    if (t.strides()[d] == 0 && t.shape()[d] > 1) return true;
  return false;
}

// One op, known at compile time, over the innermost runs: the dense and broadcast-scalar runs
// get loops without strides, which the compiler vectorises.
template <class T, class O, class F>
void loop_with(F f, const Tensor& a, const Tensor& b, const Tensor& out) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  O* po = static_cast<O*>(out.raw_data());
  strided_loop<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                  [&](auto off, int64_t n, auto st) {
                    O* __restrict o = po + off[0];
                    const T* __restrict x = pa + off[1];
                    const T* __restrict y = pb + off[2];
                    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                      for (int64_t i = 0; i < n; ++i) o[i] = O(f(x[i], y[i]));
                    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
                      const T u = x[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = O(f(u, y[i]));
                    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
                      const T v = y[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = O(f(x[i], v));
                    } else {
                      for (int64_t i = 0; i < n; ++i)
                        o[i * st[0]] = O(f(x[i * st[1]], y[i * st[2]]));
                    }
                  });
}

template <class T, class O>
void loop_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::Add:
      return loop_with<T, O>([](T u, T v) { return u + v; }, a, b, out);
    case BinaryOp::Sub:
      return loop_with<T, O>([](T u, T v) { return u - v; }, a, b, out);
    case BinaryOp::Mul:
      return loop_with<T, O>([](T u, T v) { return u * v; }, a, b, out);
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<T>)  // integer division by 0 gives 0, not a trap
        return loop_with<T, O>([](T u, T v) { return v == T(0) ? T(0) : T(u / v); }, a, b, out);
      else
        return loop_with<T, O>([](T u, T v) { return u / v; }, a, b, out);
    case BinaryOp::Max:
      return loop_with<T, O>([](T u, T v) { return u > v ? u : v; }, a, b, out);
    case BinaryOp::Min:
      return loop_with<T, O>([](T u, T v) { return u < v ? u : v; }, a, b, out);
    case BinaryOp::Eq:
      return loop_with<T, O>([](T u, T v) { return u == v ? T(1) : T(0); }, a, b, out);
    case BinaryOp::Ne:
      return loop_with<T, O>([](T u, T v) { return u != v ? T(1) : T(0); }, a, b, out);
    case BinaryOp::Gt:
      return loop_with<T, O>([](T u, T v) { return u > v ? T(1) : T(0); }, a, b, out);
    case BinaryOp::Ge:
      return loop_with<T, O>([](T u, T v) { return u >= v ? T(1) : T(0); }, a, b, out);
    case BinaryOp::Lt:
      return loop_with<T, O>([](T u, T v) { return u < v ? T(1) : T(0); }, a, b, out);
    case BinaryOp::Le:
      return loop_with<T, O>([](T u, T v) { return u <= v ? T(1) : T(0); }, a, b, out);
  }
  throw Error(fmt::format("onednn binary: unknown op code {}", int64_t(op)));
}

void binary_loop(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (a.dtype() == DType::F32) return loop_typed<float, float>(op, a, b, out);
  if (out.dtype() == DType::F32) {  // comparison of integers
    if (a.dtype() == DType::I64) return loop_typed<int64_t, float>(op, a, b, out);
    return loop_typed<int32_t, float>(op, a, b, out);
  }
  if (a.dtype() == DType::I64) return loop_typed<int64_t, int64_t>(op, a, b, out);
  loop_typed<int32_t, int32_t>(op, a, b, out);
}

struct Entry {
  dnnl::binary prim;
  dnnl::memory::desc a, b, out;
};

// oneDNN expresses a broadcast operand by dims of 1, not by stride 0. The size-1 dims also get
// nested strides (as a dense tensor of those dims would have): with stride 0 left in, oneDNN
// sees no plain layout and falls back to its reference kernel, 100x slower.
dnnl::memory::desc broadcast_md(const Tensor& t) {
  Shape dims = t.shape(), st = t.strides();
  for (size_t d = dims.size(); d-- > 0;) {
    if (st[d] == 0) dims[d] = 1;
    if (dims[d] == 1) st[d] = d + 1 < dims.size() ? st[d + 1] * dims[d + 1] : 1;
  }
  return md_with(t, dims, st);
}

void binary(const KernelCall& c) {
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  BinaryOp op = BinaryOp(c.attrs.i("op"));
  Tensor a = c.in[0], b = c.in[1];
  if (has_broadcast(a) && commutative(op) && !has_broadcast(b)) std::swap(a, b);
  const bool in_place = a.raw_data() == out.raw_data();
  if (a.dtype() != DType::F32 || has_broadcast(a) || (in_place && a.strides() != out.strides()) ||
      !dnnl_layout_ok(a) || !dnnl_layout_ok(b) || !dnnl_layout_ok(out))
    return binary_loop(op, a, b, out);
  static PrimitiveCache<Entry> cache;
  Key k;
  k.add(a).add(b).add(out).add(int64_t(op));
  const auto& p = cache.get(k, [&] {
    auto ma = md_of(a), mb = broadcast_md(b), mo = md_of(out);
    auto d = dnnl::binary::desc(binary_alg(op), ma, mb, mo);
    return Entry{dnnl::binary(dnnl::binary::primitive_desc(d, engine())), ma, mb, mo};
  });
  execute(p.prim, {{DNNL_ARG_SRC_0, p.a, a},
                   {DNNL_ARG_SRC_1, p.b, b},
                   {DNNL_ARG_DST, p.out, out}});
}

}  // namespace

void register_binary(const std::string& provider) {
  register_cpu_kernel("binary", binary, provider);
}

}  // namespace gom::onednn
