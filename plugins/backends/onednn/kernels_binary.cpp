// binary: oneDNN's binary primitive for f32 (it broadcasts its second operand), a vectorised
// loop for integer tensors and for a broadcast first operand of a non-commutative op.
#include <fmt/format.h>

#include <cmath>

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

template <class T>
T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return b == T(0) && std::is_integral_v<T> ? T(0) : a / b;
    case BinaryOp::Max:
      return a > b ? a : b;
    case BinaryOp::Min:
      return a < b ? a : b;
    default:
      return T(0);
  }
}

template <class T>
bool compare(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Eq:
      return a == b;
    case BinaryOp::Ne:
      return a != b;
    case BinaryOp::Gt:
      return a > b;
    case BinaryOp::Ge:
      return a >= b;
    case BinaryOp::Lt:
      return a < b;
    case BinaryOp::Le:
      return a <= b;
    default:
      return false;
  }
}

template <class T, class O>
void loop_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  O* po = static_cast<O*>(out.raw_data());
  const bool cmp = op >= BinaryOp::Eq;
  strided_loop<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                  [&](auto off, int64_t n, auto st) {
                    O* o = po + off[0];
                    const T* x = pa + off[1];
                    const T* y = pb + off[2];
                    for (int64_t i = 0; i < n; ++i) {
                      const T u = x[i * st[1]], v = y[i * st[2]];
                      o[i * st[0]] = cmp ? O(compare(op, u, v)) : O(apply(op, u, v));
                    }
                  });
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

// oneDNN expresses a broadcast operand by dims of 1, not by stride 0.
dnnl::memory::desc broadcast_md(const Tensor& t) {
  Shape dims = t.shape(), st = t.strides();
  for (size_t d = 0; d < dims.size(); ++d)
    if (st[d] == 0) dims[d] = 1;
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
  execute(p.prim, {{DNNL_ARG_SRC_0, mem_of(p.a, a)},
                   {DNNL_ARG_SRC_1, mem_of(p.b, b)},
                   {DNNL_ARG_DST, mem_of(p.out, out)}});
}

}  // namespace

void register_binary(const std::string& provider) {
  register_kernel("binary", DeviceType::CPU, binary, provider);
}

}  // namespace gom::onednn
