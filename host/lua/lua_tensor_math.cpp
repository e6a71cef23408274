// More tensor math in Lua, with PyTorch's names: log1p, expm1, sign, clamp (alias clip), where,
// masked_fill, min and argmin, var and std, cumsum, the activations elu, selu, softplus, mish,
// hardswish and silu, and gom.svd / gom.pca_lowrank. Comparisons (t:gt(u), ...) give f32 0/1
// masks, which where and masked_fill take as conditions.
#include <optional>

#include "lua_util.h"

namespace gom::lua {
namespace {

template <Tensor (*F)(const Tensor&)>
int unary(lua_State* L) {
  push_tensor(L, F(check_tensor(L, 1)));
  return 1;
}

std::optional<double> opt_number(lua_State* L, int idx) {
  if (lua_isnoneornil(L, idx)) return std::nullopt;
  return luaL_checknumber(L, idx);
}

// t:clamp(min, max), either may be nil; also t:clip and gom.clamp / gom.clip.
int m_clamp(lua_State* L) {
  push_tensor(L, clamp(check_tensor(L, 1), opt_number(L, 2), opt_number(L, 3)));
  return 1;
}
// gom.where(cond, a, b): a and b may be numbers (0-d f32 tensors).
int l_where(lua_State* L) {
  push_tensor(L, where(check_tensor(L, 1), to_tensor(L, 2), to_tensor(L, 3)));
  return 1;
}
// t:where(cond, other) is where(cond, t, other), as torch.Tensor.where.
int m_where(lua_State* L) {
  push_tensor(L, where(check_tensor(L, 2), check_tensor(L, 1), to_tensor(L, 3)));
  return 1;
}
int m_masked_fill(lua_State* L) {
  push_tensor(L, masked_fill(check_tensor(L, 1), check_tensor(L, 2), luaL_checknumber(L, 3)));
  return 1;
}
// t:min(dim [, keepdim]) the values over dim; t:min() the smallest element.
int m_min(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2))
    push_tensor(L, min(t.reshape({-1}), 0));
  else
    push_tensor(L, min(t, check_dim(L, 2), lua_toboolean(L, 3)));
  return 1;
}
int m_argmin(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2))
    push_tensor(L, argmin(t.reshape({-1}), 0));
  else
    push_tensor(L, argmin(t, check_dim(L, 2), lua_toboolean(L, 3)));
  return 1;
}
// t:var([dims [, unbiased [, keepdim]]]): dims nil (all), an integer or a table of integers;
// unbiased defaults to true, as in torch.
template <bool Std>
int m_var(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  const bool unbiased = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
  Tensor v;
  if (lua_isnoneornil(L, 2)) {
    v = Std ? gom::std(t, unbiased) : var(t, unbiased);
  } else {
    const std::vector<int64_t> dims =
        lua_istable(L, 2) ? check_shape(L, 2) : std::vector<int64_t>{check_dim(L, 2)};
    const bool keepdim = lua_toboolean(L, 4);
    v = Std ? gom::std(t, dims, unbiased, keepdim) : var(t, dims, unbiased, keepdim);
  }
  push_tensor(L, v);
  return 1;
}
int m_cumsum(lua_State* L) {
  push_tensor(L, cumsum(check_tensor(L, 1), check_dim(L, 2)));
  return 1;
}
int m_elu(lua_State* L) {
  push_tensor(L, elu(check_tensor(L, 1), luaL_optnumber(L, 2, 1.0)));
  return 1;
}
int m_softplus(lua_State* L) {
  push_tensor(L,
              softplus(check_tensor(L, 1), luaL_optnumber(L, 2, 1.0), luaL_optnumber(L, 3, 20.0)));
  return 1;
}
// gom.svd(a [, full_matrices]) returns U, S, Vh (no gradient).
int l_svd(lua_State* L) {
  const Svd r = svd(check_tensor(L, 1), lua_toboolean(L, 2));
  push_tensor(L, r.U);
  push_tensor(L, r.S);
  push_tensor(L, r.Vh);
  return 3;
}
// gom.pca_lowrank(a [, q [, center]]) returns U, S, V (exact, not randomized).
int l_pca_lowrank(lua_State* L) {
  std::optional<int64_t> q;
  if (!lua_isnoneornil(L, 2)) q = luaL_checkinteger(L, 2);
  const PcaLowrank r =
      pca_lowrank(check_tensor(L, 1), q, lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3));
  push_tensor(L, r.U);
  push_tensor(L, r.S);
  push_tensor(L, r.V);
  return 3;
}

const luaL_Reg kMethods[] = {{"log1p", safe<unary<log1p>>},
                             {"expm1", safe<unary<expm1>>},
                             {"sign", safe<unary<sign>>},
                             {"clamp", safe<m_clamp>},
                             {"clip", safe<m_clamp>},
                             {"where", safe<m_where>},
                             {"masked_fill", safe<m_masked_fill>},
                             {"min", safe<m_min>},
                             {"argmin", safe<m_argmin>},
                             {"var", safe<m_var<false>>},
                             {"std", safe<m_var<true>>},
                             {"cumsum", safe<m_cumsum>},
                             {"elu", safe<m_elu>},
                             {"selu", safe<unary<selu>>},
                             {"softplus", safe<m_softplus>},
                             {"mish", safe<unary<mish>>},
                             {"hardswish", safe<unary<hardswish>>},
                             {"silu", safe<unary<silu>>},
                             {"svd", safe<l_svd>},
                             {nullptr, nullptr}};

// As functions, the same names (gom.log1p(t), ...), except where(cond, a, b), and one more.
const luaL_Reg kFunctionsOnly[] = {{"where", safe<l_where>},
                                   {"pca_lowrank", safe<l_pca_lowrank>},
                                   {nullptr, nullptr}};

}  // namespace

void open_tensor_math(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  luaL_setfuncs(L, kMethods, 0);
  lua_pop(L, 1);
  set_functions(L, kMethods);
  set_functions(L, kFunctionsOnly);  // after kMethods: gom.where is the 3-argument form
}

}  // namespace gom::lua
