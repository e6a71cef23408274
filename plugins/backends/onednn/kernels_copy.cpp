// copy: strided copies and casts. oneDNN's reorder for f32/i32 layouts, a loop for i64, for
// broadcast (stride-0) sources and for casts that reorder does not round like a C++ cast.
#include "dnnl_util.h"

namespace gom::onednn {
namespace {

template <class S, class D>
void copy_loop(const Tensor& src, const Tensor& dst) {
  const S* ps = static_cast<const S*>(src.raw_data());
  D* pd = static_cast<D*>(dst.raw_data());
  strided_loop<2>(dst.shape(), {&dst.strides(), &src.strides()}, [&](auto off, int64_t n, auto st) {
    D* o = pd + off[0];
    const S* s = ps + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(s[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = static_cast<D>(s[i * st[1]]);
    }
  });
}

struct Entry {
  dnnl::reorder prim;
  dnnl::memory::desc src, dst;
};

void copy(const KernelCall& c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  if (dst.numel() == 0) return;
  bool broadcast = false;
  for (size_t d = 0; d < src.strides().size(); ++d)
    broadcast = broadcast || (src.strides()[d] == 0 && src.shape()[d] > 1);
  // Reorder pays off for real layout changes (transposes); same-type dense copies are memcpy.
  if (!broadcast && src.dtype() == dst.dtype() && src.dtype() != DType::I64 &&
      !(src.is_contiguous() && dst.is_contiguous()) && dnnl_layout_ok(src) && dnnl_layout_ok(dst)) {
    static PrimitiveCache<Entry> cache;
    Key k;
    k.add(src).add(dst);
    const auto& p = cache.get(k, [&] {
      auto ms = md_of(src), md = md_of(dst);
      return Entry{dnnl::reorder(dnnl::reorder::primitive_desc(engine(), ms, engine(), md)), ms,
                   md};
    });
    execute(p.prim, {{DNNL_ARG_FROM, p.src, src}, {DNNL_ARG_TO, p.dst, dst}});
    return;
  }
  visit_dtype(src.dtype(), [&](auto* s) {
    visit_dtype(dst.dtype(), [&](auto* d) {
      copy_loop<std::remove_pointer_t<decltype(s)>, std::remove_pointer_t<decltype(d)>>(src, dst);
    });
  });
}

}  // namespace

void register_copy(const std::string& provider) {
  register_cpu_kernel("copy", copy, provider);
}

}  // namespace gom::onednn
