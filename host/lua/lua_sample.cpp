// Sampling in Lua: gom.multinomial(probs [, n]) draws indices from the rows of a tensor of
// non-negative weights (torch.multinomial with replacement), from the run's seeded generator,
// so a generated text is reproducible with --seed.
#include <fmt/format.h>

#include <cmath>

#include "lua_util.h"

namespace gom::lua {
namespace {

// probs [C] → i64 [n]; probs [B, C] → i64 [B, n]
int l_multinomial(lua_State* L) {
  const Tensor& probs = check_tensor(L, 1);
  const lua_Integer n = luaL_optinteger(L, 2, 1);
  if (n < 1) return luaL_error(L, "gom.multinomial: n must be at least 1, got %d", int(n));
  if (probs.dim() < 1 || probs.dim() > 2)
    throw Error(fmt::format("gom.multinomial: probs must be [C] or [B, C], got {}",
                            shape_str(probs.shape())));
  const int64_t rows = probs.dim() == 2 ? probs.size(0) : 1, classes = probs.size(-1);
  const std::vector<float> w = probs.to(DType::F32).to_vector<float>();
  const std::vector<float> u = rand({rows, int64_t(n)}).to_vector<float>();
  std::vector<int64_t> out(size_t(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w.data() + r * classes;
    double total = 0;
    for (int64_t c = 0; c < classes; ++c) {
      if (!(row[c] >= 0) || !std::isfinite(row[c]))
        throw Error(fmt::format("gom.multinomial: row {} has the weight {} at index {}; weights "
                                "must be finite and non-negative",
                                r + 1, row[c], c));
      total += row[c];
    }
    if (total <= 0) throw Error(fmt::format("gom.multinomial: row {} sums to 0", r + 1));
    for (int64_t k = 0; k < n; ++k) {
      const double target = double(u[size_t(r * n + k)]) * total;
      double acc = 0;
      int64_t pick = classes - 1;
      for (int64_t c = 0; c < classes; ++c) {
        acc += row[c];
        if (target < acc && row[c] > 0) {
          pick = c;
          break;
        }
      }
      while (row[pick] <= 0) --pick;  // rounding past the end lands on the last non-zero
      out[size_t(r * n + k)] = pick;
    }
  }
  // On the device of probs, as torch.multinomial: a sampling loop stays on its model's device.
  push_tensor(L, tensor_i64(out, probs.dim() == 2 ? Shape{rows, int64_t(n)} : Shape{int64_t(n)})
                     .to(probs.device()));
  return 1;
}

const luaL_Reg kFunctions[] = {{"multinomial", safe<l_multinomial>}, {nullptr, nullptr}};

}  // namespace

void open_sample(lua_State* L) {
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
