// gom/ops_conv.h — convolution and pooling ops on NCHW tensors (torch.nn.functional's conv2d,
// max_pool2d, avg_pool2d, adaptive_avg_pool2d).
//
// Sizes along (height, width) come as pairs. Output sizes follow PyTorch:
//   out = floor((in + 2*padding - dilation*(kernel-1) - 1) / stride) + 1
// (pooling with ceil_mode rounds up instead, but a window may not start inside the right or
// bottom padding). An argument that does not fit is a gom::Error naming the op, the shapes and
// what is accepted. Each op records its backward, for every input that requires grad.
#pragma once

#include <array>
#include <cstdint>

#include "gom/tensor.h"

namespace gom {

/// @brief A (height, width) pair: kernel size, stride, padding or dilation.
using Pair = std::array<int64_t, 2>;

/// @brief 2-d convolution (cross-correlation) of x [N, C, H, W] with w [O, C/groups, kh, kw]
/// and an optional bias b [O]: out [N, O, OH, OW]. Channels split into `groups` independent
/// groups (groups == C == O/k is depthwise). torch.nn.functional.conv2d.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, int64_t groups = 1);

/// @brief The maximum over each window of x [N, C, H, W] (padding counts as -inf).
/// stride {0, 0} means stride = kernel (PyTorch's default). The gradient goes to the first
/// maximum of each window. torch.nn.functional.max_pool2d.
Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0},
                  Pair dilation = {1, 1}, bool ceil_mode = false);

/// @brief The mean over each window of x [N, C, H, W]. The divisor counts the zero padding
/// when count_include_pad (not the part of a ceil_mode window past the padding), else only the
/// input elements. stride {0, 0} means stride = kernel. torch.nn.functional.avg_pool2d.
Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);

/// @brief The mean of x [N, C, H, W] over an out_h x out_w grid of windows: output row i
/// averages input rows floor(i*H/out_h) .. ceil((i+1)*H/out_h)-1 (windows may overlap when the
/// sizes do not divide), likewise for columns. 1 x 1 is global average pooling.
/// torch.nn.functional.adaptive_avg_pool2d.
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

// Kernel contracts (x, w, grad_out dense; outputs contiguous, allocated by the core; attrs
// stride, padding, dilation, kernel are 2-element ints):
//   conv2d                   in {x, w (, b)} -> out {y}        attrs stride, padding, dilation,
//                            groups(i)
//   conv2d_backward_data     in {grad_out, w} -> out {grad_x}  attrs as conv2d
//   conv2d_backward_weights  in {grad_out, x} -> out {grad_w (, grad_b)}  attrs as conv2d
//   max_pool2d               in {x} -> out {y, indices i32 (y's shape: h*W+w of each window's
//                            first maximum in its input plane)}  attrs kernel, stride, padding,
//                            dilation
//   max_pool2d_backward      in {grad_out, indices} -> out {grad_x} (the kernel zeroes it)
//   avg_pool2d               in {x} -> out {y}    attrs kernel, stride, padding,
//                            count_include_pad(i)
//   avg_pool2d_backward      in {grad_out} -> out {grad_x}   attrs as avg_pool2d
//   adaptive_avg_pool2d      in {x} -> out {y [N, C, OH, OW]}
//   adaptive_avg_pool2d_backward  in {grad_out} -> out {grad_x}

}  // namespace gom
