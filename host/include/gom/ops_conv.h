// gom/ops_conv.h — convolution and pooling ops on NCHW tensors (torch.nn.functional's conv2d,
// max_pool2d, avg_pool2d, adaptive_avg_pool2d).
#pragma once

#include "gom/tensor.h"

namespace gom {}  // namespace gom
