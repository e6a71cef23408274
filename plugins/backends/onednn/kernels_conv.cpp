// conv2d forward, backward-data and backward-weights on oneDNN's convolution primitives.
//
// gom's tensors are plain NCHW / OIHW. The primitives are created with format `any`, so oneDNN
// picks its fastest layout (blocked nChw16c on AVX-512) and the tensors are reordered into and
// out of it around each call; with plain layouts oneDNN falls back to a much slower gemm-based
// convolution. GOM_CONV_LAYOUT=plain forces plain layouts (for measuring the difference).
// Pooling runs as loops (kernels_pool.cpp).
#include <cstdlib>
#include <vector>

#include "dnnl_util.h"

namespace gom::onednn {

void register_pool_kernels(const std::string& provider);  // kernels_pool.cpp

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

bool plain_layouts() {
  static const bool plain = [] {
    const char* v = std::getenv("GOM_CONV_LAYOUT");
    return v && std::string(v) == "plain";
  }();
  return plain;
}

// The convolution's sizes in oneDNN's terms: weights of grouped convolutions as
// [g, O/g, C/g, kh, kw] (the same memory as gom's [O, C/g, kh, kw]), dilation counted from 0,
// right/bottom padding whatever makes the output size come out.
struct Geometry {
  memory::dims src, wei, bias, dst, strides, dilates, pad_l, pad_r;
};

Geometry geometry(const Shape& xs, const Shape& ws, const Shape& ys, const Attrs& a) {
  const auto &st = a.ints("stride"), &pad = a.ints("padding"), &dil = a.ints("dilation");
  const int64_t g = a.i("groups");
  Geometry r;
  r.src = xs;
  r.dst = ys;
  r.wei = g == 1 ? memory::dims(ws) : memory::dims{g, ws[0] / g, ws[1], ws[2], ws[3]};
  r.bias = {ys[1]};
  r.strides = {st[0], st[1]};
  r.dilates = {dil[0] - 1, dil[1] - 1};
  r.pad_l = {pad[0], pad[1]};
  for (int d = 0; d < 2; ++d) {
    // (in + pl + pr - ((k-1)*dil + 1)) / s + 1 == out, with pr as small as possible.
    const int64_t span = (ws[2 + d] - 1) * dil[d] + 1;
    r.pad_r.push_back((ys[2 + d] - 1) * st[d] + span - xs[2 + d] - pad[d]);
  }
  return r;
}

memory::desc plain(const memory::dims& d) {
  return memory::desc(d, f32, d.size() == 5 ? tag::goihw : d.size() == 4 ? tag::nchw : tag::a);
}
memory::desc chosen(const memory::dims& d) {
  return plain_layouts() ? plain(d) : memory::desc(d, f32, tag::any);
}

// One operand: gom's plain layout, the primitive's, and the reorder between them (null when
// they are the same). `in`: the reorder goes plain -> primitive, else back.
struct Port {
  memory::desc user, prim;
  dnnl::reorder reorder;
  bool direct() const { return user == prim; }
};

Port port(const memory::dims& dims, const memory::desc& prim, bool in) {
  Port p{plain(dims), prim, {}};
  if (!p.direct())
    p.reorder = in ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), p.user, engine(), prim))
                   : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), prim, engine(), p.user));
  return p;
}

// Scratch memory in the primitive's layout, from the caching allocator.
memory scratch(const memory::desc& md, std::vector<Tensor>& keep) {
  keep.push_back(Tensor::empty({static_cast<int64_t>((md.get_size() + 3) / 4)}));
  return memory(md, engine(), keep.back().raw_data());
}

// The operand as the primitive wants it: the tensor itself, or a reordered copy.
memory input(const Port& p, const Tensor& t, std::vector<Tensor>& keep) {
  memory m = mem_of(p.user, t);
  if (p.direct()) return m;
  memory r = scratch(p.prim, keep);
  execute(p.reorder, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, r}});
  return r;
}

// Where the primitive writes an output: the tensor itself, or scratch reordered into it after.
memory output(const Port& p, const Tensor& t, std::vector<Tensor>& keep) {
  return p.direct() ? mem_of(p.user, t) : scratch(p.prim, keep);
}
void finish(const Port& p, const memory& m, const Tensor& t) {
  if (!p.direct()) execute(p.reorder, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, mem_of(p.user, t)}});
}

Key conv_key(const Shape& xs, const Shape& ws, const Shape& ys, const Attrs& a, bool bias) {
  Key k;
  k.add(xs).add(ws).add(ys).add(int64_t(bias)).add(a.i("groups"));
  for (const char* n : {"stride", "padding", "dilation"}) k.add(Shape(a.ints(n)));
  return k;
}

dnnl::convolution_forward::desc fwd_desc(const Geometry& g, bool bias) {
  const auto prop = dnnl::prop_kind::forward_training;
  const auto alg = dnnl::algorithm::convolution_direct;
  if (bias)
    return {prop,          alg,       chosen(g.src), chosen(g.wei), plain(g.bias),
            chosen(g.dst), g.strides, g.dilates,     g.pad_l,       g.pad_r};
  return {prop,      alg,       chosen(g.src), chosen(g.wei), chosen(g.dst),
          g.strides, g.dilates, g.pad_l,       g.pad_r};
}

struct FwdEntry {
  dnnl::convolution_forward prim;
  Port src, wei, dst;
};

void conv2d(const KernelCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &y = c.out[0];
  const bool has_b = c.in.size() > 2;
  if (y.numel() == 0) return;
  static PrimitiveCache<FwdEntry> cache;
  const auto& e = cache.get(conv_key(x.shape(), w.shape(), y.shape(), c.attrs, has_b), [&] {
    const Geometry g = geometry(x.shape(), w.shape(), y.shape(), c.attrs);
    dnnl::convolution_forward::primitive_desc pd(fwd_desc(g, has_b), engine());
    return FwdEntry{dnnl::convolution_forward(pd), port(g.src, pd.src_desc(), true),
                    port(g.wei, pd.weights_desc(), true), port(g.dst, pd.dst_desc(), false)};
  });
  std::vector<Tensor> keep;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, input(e.src, x, keep)},
                                       {DNNL_ARG_WEIGHTS, input(e.wei, w, keep)},
                                       {DNNL_ARG_DST, output(e.dst, y, keep)}};
  if (has_b) args.emplace(DNNL_ARG_BIAS, mem_of(plain({y.shape()[1]}), c.in[2]));
  execute(e.prim, args);
  finish(e.dst, args.at(DNNL_ARG_DST), y);
}

struct BwdDataEntry {
  dnnl::convolution_backward_data prim;
  Port diff_dst, wei, diff_src;
};

// in {grad_out, w} -> out {grad_x}
void conv2d_backward_data(const KernelCall& c) {
  const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
  if (gx.numel() == 0) return;
  if (gy.numel() == 0) {
    find_kernel("fill", DeviceType::CPU)(KernelCall{{}, c.out, Attrs{{"value", 0.0}}});
    return;
  }
  static PrimitiveCache<BwdDataEntry> cache;
  const auto& e = cache.get(conv_key(gx.shape(), w.shape(), gy.shape(), c.attrs, false), [&] {
    const Geometry g = geometry(gx.shape(), w.shape(), gy.shape(), c.attrs);
    dnnl::convolution_forward::primitive_desc hint(fwd_desc(g, false), engine());
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, chosen(g.src),
                                            chosen(g.wei), chosen(g.dst), g.strides, g.dilates,
                                            g.pad_l, g.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(d, engine(), hint);
    return BwdDataEntry{dnnl::convolution_backward_data(pd), port(g.dst, pd.diff_dst_desc(), true),
                        port(g.wei, pd.weights_desc(), true),
                        port(g.src, pd.diff_src_desc(), false)};
  });
  std::vector<Tensor> keep;
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, input(e.diff_dst, gy, keep)},
                                       {DNNL_ARG_WEIGHTS, input(e.wei, w, keep)},
                                       {DNNL_ARG_DIFF_SRC, output(e.diff_src, gx, keep)}};
  execute(e.prim, args);
  finish(e.diff_src, args.at(DNNL_ARG_DIFF_SRC), gx);
}

struct BwdWeightsEntry {
  dnnl::convolution_backward_weights prim;
  Port diff_dst, src, diff_wei;
};

// in {grad_out, x} -> out {grad_w (, grad_b)}
void conv2d_backward_weights(const KernelCall& c) {
  const Tensor &gy = c.in[0], &x = c.in[1], &gw = c.out[0];
  const bool has_b = c.out.size() > 1;
  if (gy.numel() == 0) {  // an empty batch: no gradient
    for (const Tensor& t : c.out)
      find_kernel("fill", DeviceType::CPU)(KernelCall{{}, {&t, 1}, Attrs{{"value", 0.0}}});
    return;
  }
  static PrimitiveCache<BwdWeightsEntry> cache;
  const auto& e = cache.get(conv_key(x.shape(), gw.shape(), gy.shape(), c.attrs, has_b), [&] {
    const Geometry g = geometry(x.shape(), gw.shape(), gy.shape(), c.attrs);
    dnnl::convolution_forward::primitive_desc hint(fwd_desc(g, has_b), engine());
    const auto alg = dnnl::algorithm::convolution_direct;
    auto d = has_b ? dnnl::convolution_backward_weights::desc(
                         alg, chosen(g.src), chosen(g.wei), plain(g.bias), chosen(g.dst), g.strides,
                         g.dilates, g.pad_l, g.pad_r)
                   : dnnl::convolution_backward_weights::desc(alg, chosen(g.src), chosen(g.wei),
                                                              chosen(g.dst), g.strides, g.dilates,
                                                              g.pad_l, g.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), hint);
    return BwdWeightsEntry{dnnl::convolution_backward_weights(pd),
                           port(g.dst, pd.diff_dst_desc(), true), port(g.src, pd.src_desc(), true),
                           port(g.wei, pd.diff_weights_desc(), false)};
  });
  std::vector<Tensor> keep;
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, input(e.diff_dst, gy, keep)},
                                       {DNNL_ARG_SRC, input(e.src, x, keep)},
                                       {DNNL_ARG_DIFF_WEIGHTS, output(e.diff_wei, gw, keep)}};
  if (has_b) args.emplace(DNNL_ARG_DIFF_BIAS, mem_of(plain({gw.shape()[0]}), c.out[1]));
  execute(e.prim, args);
  finish(e.diff_wei, args.at(DNNL_ARG_DIFF_WEIGHTS), gw);
}

}  // namespace

void register_conv(const std::string& provider) {
  register_cpu_kernel("conv2d", conv2d, provider);
  register_cpu_kernel("conv2d_backward_data", conv2d_backward_data, provider);
  register_cpu_kernel("conv2d_backward_weights", conv2d_backward_weights, provider);
  register_pool_kernels(provider);
}

}  // namespace gom::onednn
