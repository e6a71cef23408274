// Helpers of the collaborative-filtering and tabular layers: categorical indices read from the
// columns of an input batch (checked, so a bad index names its column rather than failing deep in
// a kernel), fastai's embedding init and fastai's rule for an embedding's width.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gom/ops.h"

namespace gom_layers {

/// @brief One categorical column: what messages call it ("user", "categorical column 2"), how
/// they name its limit ("n_users = 943", "its cardinality 5") and the limit n (indices 0..n-1).
struct CategoricalColumn {
  std::string name, limit;
  int64_t n;
};

namespace categorical_detail {
template <class T>
std::vector<double> host_values(const gom::Tensor& t) {
  const std::vector<T> v = t.to_vector<T>();
  return std::vector<double>(v.begin(), v.end());
}
}  // namespace categorical_detail

/// @brief The first cols.size() columns of the 2-d input `x` (i64, or f32 holding whole numbers)
/// as one i64 index tensor [B] per column, on x's device. A value that is not a whole number or
/// falls outside 0..n-1 is a gom::Error naming `layer`, the column, the row and the limit.
inline std::vector<gom::Tensor> index_columns(const gom::Tensor& x,
                                              const std::vector<CategoricalColumn>& cols,
                                              const std::string& layer) {
  const int64_t rows = x.size(0), k = static_cast<int64_t>(cols.size());
  if (k == 0) return {};
  // The indices are read on the host once per batch: the check needs them there anyway.
  const gom::Tensor block = x.detach().slice(1, 0, k).contiguous();
  const std::vector<double> v = x.dtype() == gom::DType::I64
                                    ? categorical_detail::host_values<int64_t>(block)
                                    : categorical_detail::host_values<float>(block);
  std::vector<gom::Tensor> out;
  for (int64_t c = 0; c < k; ++c) {
    const CategoricalColumn& col = cols[static_cast<size_t>(c)];
    std::vector<int64_t> idx(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const double value = v[static_cast<size_t>(r * k + c)];
      if (!(value == std::floor(value)))
        throw gom::Error(fmt::format("layer '{}': {} has {} in row {}, not a whole-number index",
                                     layer, col.name, value, r));
      if (value < 0 || value >= double(col.n))
        throw gom::Error(
            fmt::format("layer '{}': {} has index {} in row {}, out of range for {} (0 to {} "
                        "accepted)",
                        layer, col.name, value, r, col.limit, col.n - 1));
      idx[static_cast<size_t>(r)] = static_cast<int64_t>(value);
    }
    out.push_back(gom::tensor_i64(idx, {rows}, x.device()));
  }
  return out;
}

/// @brief The choices of an embedding table's init: "default" is fastai's (trunc_normal_ with
/// std 0.01: N(0, 1) folded into (-2, 2) by fmod, times 0.01); "normal" is torch.nn.Embedding's
/// N(0, 1); "zeros".
inline const std::vector<std::string>& embedding_init_choices() {
  static const std::vector<std::string> c{"default", "normal", "zeros"};
  return c;
}

/// @brief A new [rows, cols] embedding table initialised by `how` (embedding_init_choices()).
inline gom::Tensor embedding_table(int64_t rows, int64_t cols, const std::string& how) {
  gom::Tensor w = gom::Tensor::empty({rows, cols});
  if (how == "zeros") return gom::zero_(w);
  gom::normal_(w, 0.0, 1.0);
  if (how == "normal") return w;
  std::vector<float> v = w.to_vector<float>();
  for (float& e : v) e = std::fmod(e, 2.0f) * 0.01f;
  return gom::tensor(v, {rows, cols});
}

/// @brief fastai's emb_sz_rule: the width of the embedding of a variable with n categories,
/// min(600, round(1.6 * n^0.56)) (Python's round: halves to even, as nearbyint does).
inline int64_t emb_sz_rule(int64_t n) {
  return std::min<int64_t>(600, static_cast<int64_t>(std::nearbyint(1.6 * std::pow(double(n), 0.56))));
}

}  // namespace gom_layers
