// gom/ops_norm.h — normalisation ops: batch_norm (running statistics) and layer_norm.
#pragma once

#include "gom/tensor.h"

namespace gom {

// ---------------------------------------------------------------- batch_norm

/// @brief Batch normalisation of x [N, C, ...] over every dim but the channel dim 1, as
/// torch.nn.functional.batch_norm: y = (x - mean) / sqrt(var + eps) * weight + bias.
/// - training: mean and the biased variance come from the batch. When running_mean and
///   running_var are given they are updated in place (no graph): r = (1-momentum)*r +
///   momentum*stat, with the unbiased variance (n/(n-1), n = N * spatial size), as PyTorch does.
///   One value per channel (n == 1) is an error, as in PyTorch.
/// - not training: running_mean and running_var (both required) normalise.
/// weight and bias ([C]) are optional (affine = false). A [C]-tensor of the wrong shape is an
/// error naming both shapes. Backward reaches x, weight and bias: through the batch statistics
/// in training, through the affine map alone otherwise (the statistics are constants then).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);

// Kernel contracts of batch_norm (x comes as [N, C] or [N, C, S] with the dims after C merged,
// dense; grad_y likewise; [C]-tensors dense; outputs contiguous, allocated by the core; attrs
// eps(f), affine(i): 1 when weight and bias are passed (the core fills a missing one with ones
// or zeros), 0 for neither):
//   batch_norm_training   in {x (, weight, bias)} -> out {y, mean [C], var [C]}: the batch's mean
//                         and biased variance, and y normalised with them
//   batch_norm_inference  in {x, mean, var (, weight, bias)} -> out {y}
//   batch_norm_backward   in {grad_y, x, mean, var (, weight)} -> out {grad_x (, grad_weight,
//                         grad_bias)}; attr global_stats(i): 1 when mean and var were constants
//                         (inference), 0 when they were the batch's own (training)

// layer_norm: declared below by ops_layer_norm.cpp's author.
/// @brief Layer normalisation over the trailing dims `normalized_shape` of `x`
/// (torch.nn.functional.layer_norm): (x - mean) / sqrt(var + eps) * weight + bias, with the
/// biased variance. weight and bias (shape normalized_shape) are optional, each on its own.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

}  // namespace gom
