// softmax / log_softmax and their backward on oneDNN's softmax_v2; nll_loss as loops.
#include <fmt/format.h>

#include <cmath>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {
using alg = dnnl::algorithm;

struct FwdEntry {
  dnnl::softmax_v2_forward prim;
  dnnl::memory::desc md;
};
struct BwdEntry {
  dnnl::softmax_v2_backward prim;
  dnnl::memory::desc md;
};

dnnl::softmax_v2_forward::primitive_desc fwd_pd(alg a, const dnnl::memory::desc& md, int axis) {
  auto d = dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, a, md, md, axis);
  return dnnl::softmax_v2_forward::primitive_desc(d, engine());
}

void softmax_fwd(const KernelCall& c, alg a) {
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Tensor src = dense(c.in[0]);
  const int axis = static_cast<int>(c.attrs.i("dim"));
  static PrimitiveCache<FwdEntry> cache;
  Key k;
  k.add(out.shape()).add(axis).add(int64_t(a));
  const auto& p = cache.get(k, [&] {
    auto md = md_of(out);
    return FwdEntry{dnnl::softmax_v2_forward(fwd_pd(a, md, axis)), md};
  });
  execute(p.prim, {{DNNL_ARG_SRC, p.md, src}, {DNNL_ARG_DST, p.md, out}});
}

// log_softmax's forward as a loop: oneDNN's softmax_log computes log(sum(exp)) with a log that
// is off by ~1e-6 near 0, enough to give the dominant class a log-probability above 0 (and a
// negative cross entropy). Here: x - max - log(sum(exp(x - max))) with the sum in double.
void log_softmax_fwd(const KernelCall& c) {
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Tensor src = dense(c.in[0]);
  const int64_t dim = c.attrs.i("dim");
  const auto [outer, n, inner] = split(src.shape(), dim);
  const float* x = src.data<float>();
  float* y = out.data<float>();
  parallel_for(outer * inner, out.numel() >= kParallelGrain, [&](int64_t oi) {
    const int64_t base = (oi / inner) * n * inner + oi % inner;
    float mx = -INFINITY;
    for (int64_t k = 0; k < n; ++k) mx = std::max(mx, x[base + k * inner]);
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += std::exp(double(x[base + k * inner] - mx));
    const float lse = mx + float(std::log(s));
    for (int64_t k = 0; k < n; ++k) y[base + k * inner] = x[base + k * inner] - lse;
  });
}

void softmax_bwd(const KernelCall& c, alg a) {
  const Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Tensor g = dense(c.in[0]), y = dense(c.in[1]);
  const int axis = static_cast<int>(c.attrs.i("dim"));
  static PrimitiveCache<BwdEntry> cache;
  Key k;
  k.add(out.shape()).add(axis).add(int64_t(a));
  const auto& p = cache.get(k, [&] {
    auto md = md_of(out);
    auto d = dnnl::softmax_v2_backward::desc(a, md, md, md, axis);
    return BwdEntry{dnnl::softmax_v2_backward(dnnl::softmax_v2_backward::primitive_desc(
                        d, engine(), fwd_pd(a, md, axis))),
                    md};
  });
  execute(p.prim, {{DNNL_ARG_DIFF_DST, p.md, g},
                   {DNNL_ARG_DST, p.md, y},
                   {DNNL_ARG_DIFF_SRC, p.md, out}});
}

void check_target(int64_t t, int64_t i, int64_t classes, int64_t ignore) {
  if (t != ignore && (t < 0 || t >= classes))
    throw Error(
        fmt::format("nll_loss: target {} at position {} is out of range [0, {})", t, i, classes));
}

// out[0][i] = -logp[i, target[i]] (0 where ignored); out[1] = number of targets not ignored.
void nll_loss(const KernelCall& c) {
  const Tensor logp = dense(c.in[0]), target = dense(c.in[1]);
  const int64_t n = logp.shape()[0], classes = logp.shape()[1];
  const int64_t ignore = c.attrs.i("ignore_index");
  const float* lp = logp.data<float>();
  const int64_t* t = target.data<int64_t>();
  float* loss = c.out[0].data<float>();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    check_target(t[i], i, classes, ignore);
    const bool use = t[i] != ignore;
    loss[i] = use ? -lp[i * classes + t[i]] : 0.f;
    count += use;
  }
  *c.out[1].data<float>() = static_cast<float>(count);
}

void nll_loss_backward(const KernelCall& c) {
  const Tensor g = dense(c.in[0]), target = dense(c.in[1]);
  const Tensor& out = c.out[0];
  const int64_t n = out.shape()[0], classes = out.shape()[1];
  const int64_t ignore = c.attrs.i("ignore_index");
  const float* pg = g.data<float>();
  const int64_t* t = target.data<int64_t>();
  float* o = out.data<float>();
  std::fill(o, o + n * classes, 0.f);
  for (int64_t i = 0; i < n; ++i) {
    check_target(t[i], i, classes, ignore);
    if (t[i] != ignore) o[i * classes + t[i]] = -pg[i];
  }
}

}  // namespace

void register_softmax_loss(const std::string& provider) {
  register_cpu_kernel(
      "softmax",
      [](const KernelCall& c) { softmax_fwd(c, alg::softmax_accurate); }, provider);
  register_cpu_kernel("log_softmax", log_softmax_fwd, provider);
  register_cpu_kernel(
      "softmax_backward",
      [](const KernelCall& c) { softmax_bwd(c, alg::softmax_accurate); }, provider);
  register_cpu_kernel(
      "log_softmax_backward",
      [](const KernelCall& c) { softmax_bwd(c, alg::softmax_log); }, provider);
  register_cpu_kernel("nll_loss", nll_loss, provider);
  register_cpu_kernel("nll_loss_backward", nll_loss_backward, provider);
}

}  // namespace gom::onednn
