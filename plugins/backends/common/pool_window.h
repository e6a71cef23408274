// common/pool_window.h — what both backends' pooling kernels read from a call: the planes
// (N*C) with the input and output plane sizes, and the window (kernel, stride, padding,
// dilation) from the attributes. Plain structs, so the CUDA kernels take them by value.
#pragma once

#include <cstdint>

#include "gom/kernel.h"

namespace gom::pool {

struct Planes {
  int64_t n, h, w, oh, ow;
};
inline Planes planes(const Tensor& in, const Tensor& out) {
  return {in.size(0) * in.size(1), in.size(2), in.size(3), out.size(2), out.size(3)};
}

struct Window {
  int64_t kh, kw, sh, sw, ph, pw, dh = 1, dw = 1;
};
inline Window window(const Attrs& a) {
  const auto &k = a.ints("kernel"), &s = a.ints("stride"), &p = a.ints("padding");
  Window r{k[0], k[1], s[0], s[1], p[0], p[1]};
  if (a.has("dilation")) {
    r.dh = a.ints("dilation")[0];
    r.dw = a.ints("dilation")[1];
  }
  return r;
}

}  // namespace gom::pool
