// Size parameters of the convolution and pooling layers: an integer for both dims or a
// [height, width] list, as torch.nn.Conv2d's kernel_size, stride, padding and dilation.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "gom/ops_conv.h"
#include "gom/params.h"

namespace gom_layers {

/// Reads `key` of `layer`'s params as a (height, width) pair; the schema has checked the type
/// and the range, this checks the count and that the numbers are whole.
inline gom::Pair pair_param(const gom::Params& p, const std::string& key, const char* layer) {
  const gom::Value& v = p.get(key);
  gom::Value::List items = v.is_list() ? v.as_list() : gom::Value::List{v};
  if (items.size() == 1) items.push_back(items[0]);
  if (items.size() != 2)
    throw gom::Error(
        fmt::format("layer '{}': parameter '{}' = {} needs one number or two "
                    "([height, width])",
                    layer, key, v.str()));
  gom::Pair r{};
  for (size_t d = 0; d < 2; ++d) {
    const double x = items[d].as_number();
    if (x != std::floor(x))
      throw gom::Error(fmt::format("layer '{}': parameter '{}' = {} must be whole numbers", layer,
                                   key, v.str()));
    r[d] = static_cast<int64_t>(x);
  }
  return r;
}

}  // namespace gom_layers
