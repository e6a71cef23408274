// tests/gpu/gpu_test.h — what the GPU tests share: the device, and comparisons of tensors that
// say what differs.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "gom/gom.h"

namespace gom_gpu_test {

inline const gom::Device kCuda{gom::DeviceType::CUDA, 0};

/// @brief Whether GOM_CUDA_TF32=1 lets matmuls and convolutions use TensorFloat-32.
inline bool tf32() {
  const char* v = std::getenv("GOM_CUDA_TF32");
  return v && std::string(v) == "1";
}

/// @brief "" when `got` (any device) has `want`'s shape and dtype and its values within
/// atol + rtol * |want| (integers: exactly), else what differs.
inline std::string differs(const gom::Tensor& want, const gom::Tensor& got, double rtol = 0,
                           double atol = 0) {
  if (want.shape() != got.shape() || want.dtype() != got.dtype())
    return fmt::format("want {} {}, got {} {}", gom::dtype_name(want.dtype()),
                       gom::shape_str(want.shape()), gom::dtype_name(got.dtype()),
                       gom::shape_str(got.shape()));
  if (want.dtype() != gom::DType::F32) {
    const auto w = want.to_vector<int64_t>(), g = got.to_vector<int64_t>();
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] != g[i]) return fmt::format("element {}: want {}, got {}", i, w[i], g[i]);
    return "";
  }
  const auto w = want.to_vector<float>(), g = got.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i) {
    const bool same = w[i] == g[i] || (std::isnan(w[i]) && std::isnan(g[i]));
    if (!same && !(std::abs(double(w[i]) - g[i]) <= atol + rtol * std::abs(double(w[i]))))
      return fmt::format("element {}: want {:.9g}, got {:.9g}", i, w[i], g[i]);
  }
  return "";
}

}  // namespace gom_gpu_test
