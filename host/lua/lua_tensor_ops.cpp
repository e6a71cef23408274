// Tensor math in Lua: operators (+ - * / ^ and unary -) with tensors or numbers, elementwise and
// reduction methods, in-place updates for hand-written optimizers, and the functional ops
// (gom.matmul, gom.mse_loss, gom.cross_entropy, ...). All of it goes through the SDK's ops, so
// autograd records it.
#include <string_view>

#include "lua_util.h"

namespace gom::lua {
namespace {

// a OP b where either side may be a number: numbers fold into one affine kernel.
template <char Op>
int arith(lua_State* L) {
  const bool a_num = lua_type(L, 1) == LUA_TNUMBER, b_num = lua_type(L, 2) == LUA_TNUMBER;
  if (a_num && !b_num) {
    const double a = lua_tonumber(L, 1);
    const Tensor& b = check_tensor(L, 2);
    switch (Op) {
      case '+': push_tensor(L, a + b); return 1;
      case '-': push_tensor(L, a - b); return 1;
      case '*': push_tensor(L, a * b); return 1;
      default: push_tensor(L, div(full_like(b, a), b)); return 1;
    }
  }
  if (b_num) {
    const Tensor& a = check_tensor(L, 1);
    const double b = lua_tonumber(L, 2);
    switch (Op) {
      case '+': push_tensor(L, a + b); return 1;
      case '-': push_tensor(L, a - b); return 1;
      case '*': push_tensor(L, a * b); return 1;
      default: push_tensor(L, a / b); return 1;
    }
  }
  const Tensor& a = check_tensor(L, 1);
  const Tensor& b = check_tensor(L, 2);
  switch (Op) {
    case '+': push_tensor(L, add(a, b)); return 1;
    case '-': push_tensor(L, sub(a, b)); return 1;
    case '*': push_tensor(L, mul(a, b)); return 1;
    default: push_tensor(L, div(a, b)); return 1;
  }
}

int t_unm(lua_State* L) {
  push_tensor(L, neg(check_tensor(L, 1)));
  return 1;
}
int t_pow(lua_State* L) {
  if (lua_type(L, 2) != LUA_TNUMBER)
    return luaL_error(L, "tensor ^ x: the exponent must be a number, not a %s",
                      luaL_typename(L, 2));
  push_tensor(L, pow(check_tensor(L, 1), lua_tonumber(L, 2)));
  return 1;
}

template <Tensor (*F)(const Tensor&)>
int unary(lua_State* L) {
  push_tensor(L, F(check_tensor(L, 1)));
  return 1;
}
template <Tensor (*F)(const Tensor&, const Tensor&)>
int binary(lua_State* L) {
  push_tensor(L, F(to_tensor(L, 1), to_tensor(L, 2)));
  return 1;
}

// Dims argument of a reduction: none (all), one integer, or a table of integers.
std::vector<int64_t> opt_dims(lua_State* L, int idx, bool& all) {
  all = lua_isnoneornil(L, idx);
  if (all) return {};
  if (lua_istable(L, idx)) return check_shape(L, idx);
  return {luaL_checkinteger(L, idx)};
}

int m_sum(lua_State* L) {
  bool all = false;
  const auto dims = opt_dims(L, 2, all);
  const Tensor& t = check_tensor(L, 1);
  push_tensor(L, all ? sum(t) : sum(t, dims, lua_toboolean(L, 3)));
  return 1;
}
int m_mean(lua_State* L) {
  bool all = false;
  const auto dims = opt_dims(L, 2, all);
  const Tensor& t = check_tensor(L, 1);
  push_tensor(L, all ? mean(t) : mean(t, dims, lua_toboolean(L, 3)));
  return 1;
}
// t:max(dim [, keepdim]) the values over dim; t:max() the largest element.
int m_max(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) push_tensor(L, max(t.reshape({-1}), 0));
  else push_tensor(L, max(t, check_dim(L, 2), lua_toboolean(L, 3)));
  return 1;
}
int m_argmax(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) push_tensor(L, argmax(t.reshape({-1}), 0));
  else push_tensor(L, argmax(t, check_dim(L, 2), lua_toboolean(L, 3)));
  return 1;
}
int m_pow(lua_State* L) {
  push_tensor(L, pow(check_tensor(L, 1), luaL_checknumber(L, 2)));
  return 1;
}
// t:gelu([approximate]) with approximate "tanh" or "none" (the default); t:leaky_relu([slope]).
int m_gelu(lua_State* L) {
  const std::string_view how = luaL_optstring(L, 2, "none");
  if (how != "none" && how != "tanh")
    throw Error(
        fmt::format("gelu: approximate = '{}' is not accepted; expected 'none' or 'tanh'", how));
  push_tensor(L, gelu(check_tensor(L, 1), how == "tanh"));
  return 1;
}
int m_leaky_relu(lua_State* L) {
  push_tensor(L, leaky_relu(check_tensor(L, 1), luaL_optnumber(L, 2, 0.01)));
  return 1;
}
int m_softmax(lua_State* L) {
  push_tensor(L, softmax(check_tensor(L, 1), luaL_optinteger(L, 2, -1)));
  return 1;
}
int m_log_softmax(lua_State* L) {
  push_tensor(L, log_softmax(check_tensor(L, 1), luaL_optinteger(L, 2, -1)));
  return 1;
}

// In-place updates (no graph): p:add_(other [, alpha]), p:mul_(s), p:fill_(v), p:zero_(),
// p:copy_(src), p:uniform_(a, b), p:normal_(mean, std). They return the tensor itself.
int m_add_(lua_State* L) {
  Tensor& t = check_tensor(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    Tensor s = t + lua_tonumber(L, 2);
    copy_(t, s);
  } else {
    add_(t, check_tensor(L, 2), luaL_optnumber(L, 3, 1.0));
  }
  lua_settop(L, 1);
  return 1;
}
int m_mul_(lua_State* L) {
  Tensor& t = check_tensor(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) mul_(t, lua_tonumber(L, 2));
  else mul_(t, check_tensor(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_fill_(lua_State* L) {
  fill_(check_tensor(L, 1), luaL_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_zero_(lua_State* L) {
  zero_(check_tensor(L, 1));
  lua_settop(L, 1);
  return 1;
}
int m_copy_(lua_State* L) {
  copy_(check_tensor(L, 1), to_tensor(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_uniform_(lua_State* L) {
  uniform_(check_tensor(L, 1), luaL_optnumber(L, 2, 0.0), luaL_optnumber(L, 3, 1.0));
  lua_settop(L, 1);
  return 1;
}
int m_normal_(lua_State* L) {
  normal_(check_tensor(L, 1), luaL_optnumber(L, 2, 0.0), luaL_optnumber(L, 3, 1.0));
  lua_settop(L, 1);
  return 1;
}

Reduction check_reduction(lua_State* L, int idx) {
  const std::string_view r = luaL_optstring(L, idx, "mean");
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  return Reduction(luaL_error(L, "unknown reduction '%s' (accepted: mean, sum, none)", r.data()));
}

int l_linear(lua_State* L) {
  Tensor b;
  if (!lua_isnoneornil(L, 3)) b = check_tensor(L, 3);
  push_tensor(L, linear(check_tensor(L, 1), check_tensor(L, 2), b));
  return 1;
}
// gom.mse_loss(pred, target [, reduction]) and the other losses of (input, target, reduction).
Tensor ce_loss(const Tensor& a, const Tensor& b, Reduction r) {
  return cross_entropy(a, b, r);
}
Tensor nll(const Tensor& a, const Tensor& b, Reduction r) {
  return nll_loss(a, b, r);
}
template <Tensor (*F)(const Tensor&, const Tensor&, Reduction)>
int loss(lua_State* L) {
  push_tensor(L, F(check_tensor(L, 1), check_tensor(L, 2), check_reduction(L, 3)));
  return 1;
}
// gom.layer_norm(x, normalized_shape [, weight [, bias [, eps]]]); the shape is an integer or
// a table of integers, weight and bias may be nil.
int l_layer_norm(lua_State* L) {
  const Shape ns =
      lua_type(L, 2) == LUA_TNUMBER ? Shape{luaL_checkinteger(L, 2)} : check_shape(L, 2);
  Tensor w, b;
  if (!lua_isnoneornil(L, 3)) w = check_tensor(L, 3);
  if (!lua_isnoneornil(L, 4)) b = check_tensor(L, 4);
  push_tensor(L, layer_norm(check_tensor(L, 1), ns, w, b, luaL_optnumber(L, 5, 1e-5)));
  return 1;
}
int l_dropout(lua_State* L) {
  push_tensor(L, dropout(check_tensor(L, 1), luaL_checknumber(L, 2),
                         lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3)));
  return 1;
}
int l_gather(lua_State* L) {
  push_tensor(L, gather(check_tensor(L, 1), check_dim(L, 2), check_tensor(L, 3)));
  return 1;
}
int l_index_select(lua_State* L) {
  push_tensor(L, index_select(check_tensor(L, 1), check_dim(L, 2), check_tensor(L, 3)));
  return 1;
}
int l_allclose(lua_State* L) {
  lua_pushboolean(L, allclose(check_tensor(L, 1), check_tensor(L, 2), luaL_optnumber(L, 3, 1e-5),
                              luaL_optnumber(L, 4, 1e-8)));
  return 1;
}

const luaL_Reg kMethods[] = {{"add", safe<binary<add>>},
                             {"sub", safe<binary<sub>>},
                             {"mul", safe<binary<mul>>},
                             {"div", safe<binary<div>>},
                             {"maximum", safe<binary<maximum>>},
                             {"minimum", safe<binary<minimum>>},
                             {"matmul", safe<binary<matmul>>},
                             {"eq", safe<binary<eq>>},
                             {"ne", safe<binary<ne>>},
                             {"gt", safe<binary<gt>>},
                             {"ge", safe<binary<ge>>},
                             {"lt", safe<binary<lt>>},
                             {"le", safe<binary<le>>},
                             {"neg", safe<unary<neg>>},
                             {"relu", safe<unary<relu>>},
                             {"sigmoid", safe<unary<sigmoid>>},
                             {"tanh", safe<unary<tanh>>},
                             {"exp", safe<unary<exp>>},
                             {"log", safe<unary<log>>},
                             {"sqrt", safe<unary<sqrt>>},
                             {"abs", safe<unary<abs>>},
                             {"pow", safe<m_pow>},
                             {"sum", safe<m_sum>},
                             {"mean", safe<m_mean>},
                             {"max", safe<m_max>},
                             {"argmax", safe<m_argmax>},
                             {"softmax", safe<m_softmax>},
                             {"log_softmax", safe<m_log_softmax>},
                             {"gelu", safe<m_gelu>},
                             {"leaky_relu", safe<m_leaky_relu>},
                             {"add_", safe<m_add_>},
                             {"mul_", safe<m_mul_>},
                             {"fill_", safe<m_fill_>},
                             {"zero_", safe<m_zero_>},
                             {"copy_", safe<m_copy_>},
                             {"uniform_", safe<m_uniform_>},
                             {"normal_", safe<m_normal_>},
                             {nullptr, nullptr}};

const luaL_Reg kMeta[] = {{"__add", safe<arith<'+'>>}, {"__sub", safe<arith<'-'>>},
                          {"__mul", safe<arith<'*'>>}, {"__div", safe<arith<'/'>>},
                          {"__unm", safe<t_unm>},      {"__pow", safe<t_pow>},
                          {nullptr, nullptr}};

const luaL_Reg kFunctions[] = {{"matmul", safe<binary<matmul>>},
                               {"maximum", safe<binary<maximum>>},
                               {"minimum", safe<binary<minimum>>},
                               {"relu", safe<unary<relu>>},
                               {"sigmoid", safe<unary<sigmoid>>},
                               {"tanh", safe<unary<tanh>>},
                               {"exp", safe<unary<exp>>},
                               {"log", safe<unary<log>>},
                               {"softmax", safe<m_softmax>},
                               {"log_softmax", safe<m_log_softmax>},
                               {"gelu", safe<m_gelu>},
                               {"leaky_relu", safe<m_leaky_relu>},
                               {"layer_norm", safe<l_layer_norm>},
                               {"linear", safe<l_linear>},
                               {"mse_loss", safe<loss<mse_loss>>},
                               {"l1_loss", safe<loss<l1_loss>>},
                               {"cross_entropy", safe<loss<ce_loss>>},
                               {"nll_loss", safe<loss<nll>>},
                               {"bce_with_logits", safe<loss<bce_with_logits>>},
                               {"dropout", safe<l_dropout>},
                               {"gather", safe<l_gather>},
                               {"index_select", safe<l_index_select>},
                               {"allclose", safe<l_allclose>},
                               {nullptr, nullptr}};

}  // namespace

void open_tensor_ops(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  luaL_setfuncs(L, kMethods, 0);
  lua_pop(L, 1);
  luaL_getmetatable(L, kTensor);
  luaL_setfuncs(L, kMeta, 0);
  lua_pop(L, 1);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
