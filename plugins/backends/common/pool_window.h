// common/pool_window.h — what both backends' pooling kernels read from a call: the planes
// (N*C) with the input and output plane sizes, and the window (kernel, stride, padding,
// dilation) from the attributes; and PyTorch's rules that both apply per output: a max window's
// winner, an average window's bounds and divisor, an adaptive window's bounds. Plain structs
// and functions that nvcc compiles for the device too, so the CPU and the GPU cannot drift.
#pragma once

#include <cstdint>
#include <limits>

#include "gom/kernel.h"

#ifdef __CUDACC__
#define GOM_POOL_HD __host__ __device__
#else
#define GOM_POOL_HD
#endif

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

GOM_POOL_HD inline int64_t min_of(int64_t a, int64_t b) {
  return a < b ? a : b;
}
GOM_POOL_HD inline int64_t max_of(int64_t a, int64_t b) {
  return a < b ? b : a;
}

/// @brief Whether v replaces the running maximum m: larger, or a NaN (which then stays), as in
/// PyTorch. Bitwise, without branches: on random data a branch mispredicts half the time.
GOM_POOL_HD inline bool beats(float v, float m) {
  return (v > m) | (v != v);
}

/// @brief The maximum of output (i, j)'s window over the plane `xp` and its place in the plane
/// (the first of equal values; -1 for a window wholly in the padding, whose value is -inf).
/// Taps outside the plane (padding) are skipped.
GOM_POOL_HD inline void max_window(const float* xp, const Planes& P, const Window& W, int64_t i,
                                   int64_t j, float& best, int64_t& at) {
  const int64_t h0 = i * W.sh - W.ph, w0 = j * W.sw - W.pw;
  best = -std::numeric_limits<float>::infinity();
  at = -1;
  for (int64_t a = 0; a < W.kh; ++a) {
    const int64_t h = h0 + a * W.dh;
    if (h < 0 || h >= P.h) continue;
    for (int64_t b = 0; b < W.kw; ++b) {
      const int64_t w = w0 + b * W.dw;
      if (w < 0 || w >= P.w) continue;
      const float v = xp[h * P.w + w];
      if (at < 0 || beats(v, best)) best = v, at = h * P.w + w;
    }
  }
}

/// @brief PyTorch's avg_pool2d window of output (i, j): [h0, h1) x [w0, w1) clipped to the
/// input, and 1 / its divisor (the padded window's size with count_include_pad, else the
/// clipped one's; 0 for an empty window).
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  float scale;
};
GOM_POOL_HD inline AvgWindow avg_window(const Planes& P, const Window& W, bool count_pad, int64_t i,
                                        int64_t j) {
  int64_t h0 = i * W.sh - W.ph, w0 = j * W.sw - W.pw;
  int64_t h1 = min_of(h0 + W.kh, P.h + W.ph), w1 = min_of(w0 + W.kw, P.w + W.pw);
  const int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = max_of(h0, 0);
  w0 = max_of(w0, 0);
  h1 = min_of(h1, P.h);
  w1 = min_of(w1, P.w);
  const int64_t div = count_pad ? padded : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div > 0 ? 1.0f / float(div) : 0.0f};
}

/// @brief adaptive_avg_pool2d's window of output i along a dim of `in` inputs and `out`
/// outputs: [start_of, end_of), floor and ceil as PyTorch.
GOM_POOL_HD inline int64_t start_of(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
GOM_POOL_HD inline int64_t end_of(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace gom::pool
