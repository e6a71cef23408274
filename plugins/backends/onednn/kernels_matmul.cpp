// matmul on oneDNN's matmul primitive: transposed views go in as strided layouts (no copy),
// broadcast batch dims as dims of 1, and the optional bias is fused.
#include "dnnl_util.h"

namespace gom::onednn {
namespace {

// Strides of size-1 dims are meaningless to gom but checked by oneDNN: give them dense values.
Shape tidy_strides(const Shape& shape, Shape st) {
  for (size_t d = shape.size(); d-- > 0;)
    if (shape[d] == 1) st[d] = d + 1 < shape.size() ? st[d + 1] * shape[d + 1] : 1;
  return st;
}

// The gemm behind matmul needs a unit stride in one of the two matrix dims. An expanded operand
// (stride 0 on a dim larger than 1: the ones of sum's gradient) sends oneDNN to its reference
// kernel, 20-50x slower than copying it dense first.
bool gemm_layout(const Tensor& t) {
  if (!dnnl_layout_ok(t)) return false;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] > 1 && t.strides()[d] == 0) return false;
  const int64_t r = t.dim();
  const auto& s = tidy_strides(t.shape(), t.strides());
  return s[r - 1] == 1 || s[r - 2] == 1;
}

struct Entry {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, bias, out;
};

void matmul(const KernelCall& c) {
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Tensor a = gemm_layout(c.in[0]) ? c.in[0] : dense(c.in[0]);
  const Tensor b = gemm_layout(c.in[1]) ? c.in[1] : dense(c.in[1]);
  const Tensor bias = c.in.size() > 2 ? c.in[2] : Tensor();
  if (a.shape().back() == 0) {  // K == 0: the product is all zeros (plus bias)
    find_kernel("fill", DeviceType::CPU)(KernelCall{{}, c.out, Attrs{{"value", 0.0}}});
    return;
  }
  static PrimitiveCache<Entry> cache;
  Key k;
  k.add(a).add(b).add(out).add(bias.defined() ? bias.strides() : Shape{});
  const auto& p = cache.get(k, [&] {
    const int64_t r = out.dim();
    auto ma = md_with(a, a.shape(), tidy_strides(a.shape(), a.strides()));
    auto mb = md_with(b, b.shape(), tidy_strides(b.shape(), b.strides()));
    auto mo = md_of(out);
    dnnl::memory::desc mbias;
    if (bias.defined()) {
      Shape dims(r, 1);
      dims[r - 1] = out.shape()[r - 1];
      mbias = md_with(bias, dims, contiguous_strides(dims));
    }
    auto d =
        bias.defined() ? dnnl::matmul::desc(ma, mb, mbias, mo) : dnnl::matmul::desc(ma, mb, mo);
    return Entry{dnnl::matmul(dnnl::matmul::primitive_desc(d, engine())), ma, mb, mbias, mo};
  });
  if (bias.defined())
    execute(p.prim, {{DNNL_ARG_SRC, p.a, a},
                     {DNNL_ARG_WEIGHTS, p.b, b},
                     {DNNL_ARG_BIAS, p.bias, dense(bias)},
                     {DNNL_ARG_DST, p.out, out}});
  else
    execute(p.prim,
            {{DNNL_ARG_SRC, p.a, a}, {DNNL_ARG_WEIGHTS, p.b, b}, {DNNL_ARG_DST, p.out, out}});
}

}  // namespace

void register_matmul(const std::string& provider) {
  register_cpu_kernel("matmul", matmul, provider);
}

}  // namespace gom::onednn
