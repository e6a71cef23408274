// gom/grad_clip.h — gradient clipping, PyTorch's torch.nn.utils.clip_grad_norm_ and
// clip_grad_value_: for a hand-written loop (gom.clip_grad_norm from Lua) and for the
// gradient_clipping callback, which share this code.
#pragma once

#include <vector>

#include "gom/tensor.h"

namespace gom {

/// @brief The total norm of the gradients of `params` (those whose .grad() is set), as if they
/// were one vector: (sum |g|^p)^(1/p) for norm_type p > 0, the largest |g| for p = infinity
/// (std::numeric_limits<double>::infinity()). The 2-norm is the square root of the sum of
/// squares, summed on the device and read once. 0 when no parameter has a gradient; gom::Error
/// for p <= 0 or NaN.
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2);

/// @brief torch.nn.utils.clip_grad_norm_: computes grad_norm(params, norm_type) and, when it
/// exceeds max_norm, multiplies every gradient in place by max_norm / (norm + 1e-6). Returns the
/// norm before clipping. A NaN norm makes every gradient NaN, as torch's
/// (error_if_nonfinite=False) does. gom::Error for max_norm < 0.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2);

/// @brief clip_grad_norm_ without a read back: the norm is a 0-d f32 tensor on the gradients'
/// device, and the scaling by min(1, max_norm / (norm + 1e-6)) is computed there too, so the host
/// does not wait for the device (fit's gradient_clipping on CUDA). Undefined when no parameter
/// has a gradient.
Tensor clip_grad_norm_device_(const std::vector<Tensor>& params, double max_norm,
                              double norm_type = 2);

/// @brief torch.nn.utils.clip_grad_value_: clamps each element of every gradient of `params`
/// to [-clip_value, clip_value] in place. gom::Error for clip_value < 0.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace gom
