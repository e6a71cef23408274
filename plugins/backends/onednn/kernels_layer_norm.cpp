// layer_norm and layer_norm_backward on oneDNN's layer_normalization primitive. It normalises
// over the last dim, so x is seen as [M, D] with D the product of normalized_shape.
#include "dnnl_util.h"

namespace gom::onednn {
namespace {
using flags = dnnl::normalization_flags;
using dnnl::memory;

// The layouts every primitive here uses: data [M, D], statistics [M], weight and bias [D].
struct Descs {
  memory::desc data, stat, param;
  flags f;
};

Descs descs(int64_t m, int64_t d, bool w, bool b) {
  const auto f32 = memory::data_type::f32;
  flags f = flags::none;
  if (w) f = f | flags::use_scale;
  if (b) f = f | flags::use_shift;
  return {memory::desc({m, d}, f32, memory::format_tag::ab),
          memory::desc({m}, f32, memory::format_tag::a),
          memory::desc({d}, f32, memory::format_tag::a), f};
}

dnnl::layer_normalization_forward::primitive_desc fwd_pd(const Descs& ds, float eps) {
  auto d = dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, ds.data,
                                                   ds.stat, eps, ds.f);
  return dnnl::layer_normalization_forward::primitive_desc(d, engine());
}

struct FwdEntry {
  dnnl::layer_normalization_forward prim;
  Descs ds;
};
struct BwdEntry {
  dnnl::layer_normalization_backward prim;
  Descs ds;
};

Key key_of(int64_t m, int64_t d, bool w, bool b, double eps) {
  Key k;
  float e = float(eps);
  int32_t bits;
  std::memcpy(&bits, &e, 4);
  k.add(m).add(d).add(int64_t(w)).add(int64_t(b)).add(int64_t(bits));
  return k;
}

// in {x, weight?, bias?} -> out {y, mean, variance}
void layer_norm(const KernelCall& c) {
  const Tensor& y = c.out[0];
  const int64_t d = c.attrs.i("d"), m = c.out[1].numel();
  if (y.numel() == 0) return;
  const double eps = c.attrs.f("eps");
  const Tensor x = dense(c.in[0]);
  const bool w = c.in[1].defined(), b = c.in[2].defined();
  static PrimitiveCache<FwdEntry> cache;
  const auto& p = cache.get(key_of(m, d, w, b, eps), [&] {
    const Descs ds = descs(m, d, w, b);
    return FwdEntry{dnnl::layer_normalization_forward(fwd_pd(ds, float(eps))), ds};
  });
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem_of(p.ds.data, x)},
                                       {DNNL_ARG_DST, mem_of(p.ds.data, y)},
                                       {DNNL_ARG_MEAN, mem_of(p.ds.stat, c.out[1])},
                                       {DNNL_ARG_VARIANCE, mem_of(p.ds.stat, c.out[2])}};
  Tensor wt, bt;  // dense copies live until the primitive has run
  if (w) args.emplace(DNNL_ARG_SCALE, mem_of(p.ds.param, wt = dense(c.in[1])));
  if (b) args.emplace(DNNL_ARG_SHIFT, mem_of(p.ds.param, bt = dense(c.in[2])));
  execute(p.prim, args);
}

// in {grad_y, x, mean, variance, weight?} -> out {grad_x, grad_weight?, grad_bias?}
void layer_norm_backward(const KernelCall& c) {
  const Tensor& gx = c.out[0];
  const int64_t d = c.attrs.i("d"), m = c.in[2].numel();
  const bool w = c.in[4].defined(), b = c.out[2].defined();
  if (gx.numel() == 0) {  // no rows: the parameter gradients are sums over nothing
    for (int k = 1; k < 3; ++k)
      if (c.out[k].defined()) std::fill_n(c.out[k].data<float>(), c.out[k].numel(), 0.f);
    return;
  }
  const double eps = c.attrs.f("eps");
  const Tensor g = dense(c.in[0]), x = dense(c.in[1]);
  static PrimitiveCache<BwdEntry> cache;
  const auto& p = cache.get(key_of(m, d, w, b, eps), [&] {
    const Descs ds = descs(m, d, w, b);
    const auto kind =
        ds.f == flags::none ? dnnl::prop_kind::backward_data : dnnl::prop_kind::backward;
    auto bd =
        dnnl::layer_normalization_backward::desc(kind, ds.data, ds.data, ds.stat, float(eps), ds.f);
    return BwdEntry{
        dnnl::layer_normalization_backward(dnnl::layer_normalization_backward::primitive_desc(
            bd, engine(), fwd_pd(ds, float(eps)))),
        ds};
  });
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, mem_of(p.ds.data, g)},
                                       {DNNL_ARG_SRC, mem_of(p.ds.data, x)},
                                       {DNNL_ARG_MEAN, mem_of(p.ds.stat, c.in[2])},
                                       {DNNL_ARG_VARIANCE, mem_of(p.ds.stat, c.in[3])},
                                       {DNNL_ARG_DIFF_SRC, mem_of(p.ds.data, gx)}};
  Tensor wt;
  if (w) {
    args.emplace(DNNL_ARG_SCALE, mem_of(p.ds.param, wt = dense(c.in[4])));
    args.emplace(DNNL_ARG_DIFF_SCALE, mem_of(p.ds.param, c.out[1]));
  }
  Tensor unused_shift;  // oneDNN lists the shift as an input of the backward; it never reads it
  if (b) {
    unused_shift = Tensor::empty({d}, gx.options());
    std::fill_n(unused_shift.data<float>(), d, 0.f);
    args.emplace(DNNL_ARG_SHIFT, mem_of(p.ds.param, unused_shift));
    args.emplace(DNNL_ARG_DIFF_SHIFT, mem_of(p.ds.param, c.out[2]));
  }
  execute(p.prim, args);
}

}  // namespace

void register_layer_norm(const std::string& provider) {
  register_cpu_kernel("layer_norm", layer_norm, provider);
  register_cpu_kernel("layer_norm_backward", layer_norm_backward, provider);
}

}  // namespace gom::onednn
