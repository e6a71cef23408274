// Convolution and pooling ops: argument checks, output sizes (PyTorch's formulas), kernel
// dispatch and the recorded backward (see gom/ops_conv.h for the kernel contracts).
#include "gom/ops_conv.h"

#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

std::string pair_str(Pair p) {
  return fmt::format("[{}, {}]", p[0], p[1]);
}
std::vector<int64_t> ints(Pair p) {
  return {p[0], p[1]};
}

// The graph is off in the ops' internals: kernels get dense inputs cut from the graph.
Tensor dense_input(const Tensor& t) {
  NoGrad ng;
  return t.detach().contiguous();
}

void check_input4d(const Tensor& x, const char* op) {
  check_float(x, op, "input");
  if (x.dim() != 4)
    throw Error(
        fmt::format("{}: input must be 4-d [N, C, H, W], got {}", op, shape_str(x.shape())));
}

void check_at_least(Pair p, int64_t lo, const char* op, const char* what) {
  if (p[0] < lo || p[1] < lo)
    throw Error(fmt::format("{}: {} must be >= {}, got {}", op, what, lo, pair_str(p)));
}

// Output size along one dim; `ceil` is pooling's ceil_mode (a window may not start in the
// right/bottom padding).
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  if (span < 0) return 1 - (-span + s - 1) / s;  // floor(span / s) + 1 <= 0: an error
  int64_t o = (span + (ceil ? s - 1 : 0)) / s + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

void check_output(int64_t oh, int64_t ow, const Tensor& x, Pair k, Pair s, Pair p, Pair d,
                  const char* op) {
  if (oh >= 1 && ow >= 1) return;
  throw Error(fmt::format(
      "{}: the output would be {} x {}: input {} with padding {} is smaller than the kernel {} "
      "(dilation {}, stride {}); the padded input must be at least "
      "dilation*(kernel-1)+1 in each of height and width",
      op, oh, ow, shape_str(x.shape()), pair_str(p), pair_str(k), pair_str(d), pair_str(s)));
}

Attrs conv_attrs(Pair s, Pair p, Pair d, int64_t groups) {
  return Attrs{
      {"stride", ints(s)}, {"padding", ints(p)}, {"dilation", ints(d)}, {"groups", groups}};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Pair stride, Pair padding,
              Pair dilation, int64_t groups) {
  const char* op = "conv2d";
  check_input4d(x, op);
  check_float(w, op, "weight");
  check_same_device(x, w, op);
  if (w.dim() != 4)
    throw Error(fmt::format("conv2d: weight must be 4-d [out, in/groups, kh, kw], got {}",
                            shape_str(w.shape())));
  check_at_least(stride, 1, op, "stride");
  check_at_least(dilation, 1, op, "dilation");
  check_at_least(padding, 0, op, "padding");
  const int64_t C = x.shape()[1], O = w.shape()[0];
  if (groups < 1 || C % groups || O % groups)
    throw Error(fmt::format(
        "conv2d: groups = {} must be >= 1 and divide both the input channels ({}) and the "
        "output channels ({})",
        groups, C, O));
  if (w.shape()[1] * groups != C)
    throw Error(fmt::format(
        "conv2d: input has {} channels but the weight expects {} (weight {}, groups {})", C,
        w.shape()[1] * groups, shape_str(w.shape()), groups));
  if (b.defined()) {
    check_float(b, op, "bias");
    check_same_device(x, b, op);
    if (b.dim() != 1 || b.shape()[0] != O)
      throw Error(
          fmt::format("conv2d: bias of shape {} does not match {} output channels "
                      "(expected [{}])",
                      shape_str(b.shape()), O, O));
  }
  const Pair k{w.shape()[2], w.shape()[3]};
  const int64_t oh = out_size(x.shape()[2], k[0], stride[0], padding[0], dilation[0], false);
  const int64_t ow = out_size(x.shape()[3], k[1], stride[1], padding[1], dilation[1], false);
  check_output(oh, ow, x, k, stride, padding, dilation, op);

  const Tensor xd = dense_input(x), wd = dense_input(w), bd = b.defined() ? dense_input(b) : b;
  Tensor out = empty_as({x.shape()[0], O, oh, ow}, x);
  const Attrs attrs = conv_attrs(stride, padding, dilation, groups);
  if (bd.defined())
    run_kernel("conv2d", {xd, wd, bd}, {out}, attrs);
  else
    run_kernel("conv2d", {xd, wd}, {out}, attrs);

  const bool rx = x.requires_grad(), rw = w.requires_grad(), rb = b.defined() && b.requires_grad();
  if (needs_grad({&x, &w, &b}))
    record("conv2d", {x, w, b}, {out},
           [xd = rw ? xd : Tensor(), wd = rx ? wd : Tensor(), xs = x.shape(), ws = w.shape(), attrs,
            rx, rw, rb, has_b = b.defined()](const std::vector<Tensor>& g) {
             const Tensor go = dense_input(g[0]);
             Tensor gx, gw, gb;
             if (rx) {
               gx = empty_as(xs, go);
               run_kernel("conv2d_backward_data", {go, wd}, {gx}, attrs);
             }
             if (rw) {
               gw = empty_as(ws, go);
               if (has_b) gb = empty_as({ws[0]}, go);
               if (has_b)
                 run_kernel("conv2d_backward_weights", {go, xd}, {gw, gb}, attrs);
               else
                 run_kernel("conv2d_backward_weights", {go, xd}, {gw}, attrs);
             } else if (rb) {
               gb = sum(go, {0, 2, 3});
             }
             return std::vector<Tensor>{gx, gw, rb ? gb : Tensor()};
           });
  return out;
}

namespace {

struct PoolGeometry {
  Pair stride;
  int64_t oh, ow;
};

PoolGeometry pool_geometry(const Tensor& x, Pair kernel, Pair stride, Pair padding, Pair dilation,
                           bool ceil_mode, const char* op) {
  check_input4d(x, op);
  check_at_least(kernel, 1, op, "kernel");
  if (stride == Pair{0, 0}) stride = kernel;
  check_at_least(stride, 1, op, "stride");
  check_at_least(dilation, 1, op, "dilation");
  check_at_least(padding, 0, op, "padding");
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2)
    throw Error(fmt::format("{}: padding {} must be at most half the kernel {}", op,
                            pair_str(padding), pair_str(kernel)));
  PoolGeometry g{stride, 0, 0};
  g.oh = out_size(x.shape()[2], kernel[0], stride[0], padding[0], dilation[0], ceil_mode);
  g.ow = out_size(x.shape()[3], kernel[1], stride[1], padding[1], dilation[1], ceil_mode);
  check_output(g.oh, g.ow, x, kernel, stride, padding, dilation, op);
  return g;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding, Pair dilation,
                  bool ceil_mode) {
  const auto g = pool_geometry(x, kernel, stride, padding, dilation, ceil_mode, "max_pool2d");
  const Tensor xd = dense_input(x);
  const Shape os{x.shape()[0], x.shape()[1], g.oh, g.ow};
  Tensor out = empty_as(os, x);
  Tensor idx = Tensor::empty(os, {DType::I32, x.device()});
  const Attrs attrs{{"kernel", ints(kernel)},
                    {"stride", ints(g.stride)},
                    {"padding", ints(padding)},
                    {"dilation", ints(dilation)}};
  run_kernel("max_pool2d", {xd}, {out, idx}, attrs);
  if (needs_grad({&x}))
    record("max_pool2d", {x}, {out}, [idx, xs = x.shape()](const std::vector<Tensor>& gr) {
      Tensor gx = empty_as(xs, gr[0]);
      run_kernel("max_pool2d_backward", {dense_input(gr[0]), idx}, {gx});
      return std::vector<Tensor>{gx};
    });
  return out;
}

Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                  bool count_include_pad) {
  const auto g = pool_geometry(x, kernel, stride, padding, {1, 1}, ceil_mode, "avg_pool2d");
  const Tensor xd = dense_input(x);
  Tensor out = empty_as({x.shape()[0], x.shape()[1], g.oh, g.ow}, x);
  const Attrs attrs{{"kernel", ints(kernel)},
                    {"stride", ints(g.stride)},
                    {"padding", ints(padding)},
                    {"count_include_pad", int64_t(count_include_pad)}};
  run_kernel("avg_pool2d", {xd}, {out}, attrs);
  if (needs_grad({&x}))
    record("avg_pool2d", {x}, {out}, [attrs, xs = x.shape()](const std::vector<Tensor>& gr) {
      Tensor gx = empty_as(xs, gr[0]);
      run_kernel("avg_pool2d_backward", {dense_input(gr[0])}, {gx}, attrs);
      return std::vector<Tensor>{gx};
    });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_input4d(x, "adaptive_avg_pool2d");
  if (out_h < 1 || out_w < 1)
    throw Error(
        fmt::format("adaptive_avg_pool2d: output size {} x {} must be at least 1 x 1 "
                    "(input {})",
                    out_h, out_w, shape_str(x.shape())));
  if (x.shape()[2] < 1 || x.shape()[3] < 1)
    throw Error(
        fmt::format("adaptive_avg_pool2d: input {} has an empty plane", shape_str(x.shape())));
  const Tensor xd = dense_input(x);
  Tensor out = empty_as({x.shape()[0], x.shape()[1], out_h, out_w}, x);
  run_kernel("adaptive_avg_pool2d", {xd}, {out});
  if (needs_grad({&x}))
    record("adaptive_avg_pool2d", {x}, {out}, [xs = x.shape()](const std::vector<Tensor>& gr) {
      Tensor gx = empty_as(xs, gr[0]);
      run_kernel("adaptive_avg_pool2d_backward", {dense_input(gr[0])}, {gx});
      return std::vector<Tensor>{gx};
    });
  return out;
}

}  // namespace gom
