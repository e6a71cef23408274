// Weight initialisation shared by parametrised layers. "default" is PyTorch's choice for the
// layer (for Linear and Conv: kaiming_uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in),
// 1/sqrt(fan_in))); the others are torch.nn.init's functions with their default gains.
#pragma once

#include <cmath>
#include <string>

#include "gom/ops.h"
#include "gom/params.h"

namespace gom_layers {

inline const std::vector<std::string>& init_choices() {
  static const std::vector<std::string> c{"default",        "kaiming_uniform", "kaiming_normal",
                                          "xavier_uniform", "xavier_normal",   "zeros"};
  return c;
}

/// Fills `w` ([fan_out, fan_in, ...]) by `how`. kaiming_* use ReLU's gain sqrt(2) and fan_in.
inline void init_weight(gom::Tensor& w, const std::string& how, int64_t fan_in, int64_t fan_out) {
  using std::sqrt;
  const double fi = double(fan_in), fo = double(fan_out);
  if (how == "default") {
    gom::uniform_(w, -1.0 / sqrt(fi), 1.0 / sqrt(fi));
  } else if (how == "kaiming_uniform") {
    const double bound = sqrt(2.0) * sqrt(3.0 / fi);
    gom::uniform_(w, -bound, bound);
  } else if (how == "kaiming_normal") {
    gom::normal_(w, 0.0, sqrt(2.0) / sqrt(fi));
  } else if (how == "xavier_uniform") {
    const double bound = sqrt(6.0 / (fi + fo));
    gom::uniform_(w, -bound, bound);
  } else if (how == "xavier_normal") {
    gom::normal_(w, 0.0, sqrt(2.0 / (fi + fo)));
  } else {  // zeros
    gom::zero_(w);
  }
}

}  // namespace gom_layers
