// gom/ops_norm.h — normalisation ops: batch_norm (running statistics) and layer_norm.
#pragma once

#include "gom/tensor.h"

namespace gom {

// batch_norm: declared below by ops_batch_norm.cpp's author.

// layer_norm: declared below by ops_layer_norm.cpp's author.

}  // namespace gom
