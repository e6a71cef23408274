// Shape, sorting and indexing ops in Lua: t[i] (0-based like PyTorch, negative from the end, a
// view), t[i] = v, t:index(mask or i64 rows), permute/flip/roll/tile/chunk/split/tril/triu,
// sort/argsort/topk/unique, and the functional gom.stack, gom.pad, gom.einsum, gom.one_hot,
// gom.eye, gom.linspace, gom.conv2d, gom.max_pool2d, gom.avg_pool2d, gom.adaptive_avg_pool2d
// and gom.batch_norm (torch.nn.functional's argument order).
#include <string_view>

#include "gom/ops_conv.h"
#include "gom/ops_norm.h"
#include "lua_util.h"

namespace gom::lua {

namespace {

// An integer key of t[i]; a fractional number is an error.
int64_t integer_key(lua_State* L, int idx) {
  int exact = 0;
  const lua_Integer i = lua_tointegerx(L, idx, &exact);
  if (!exact)
    throw Error(
        fmt::format("tensor index {} is not an integer (t[i] takes a 0-based integer, "
                    "negative from the end; methods are called as t:name())",
                    lua_tonumber(L, idx)));
  return i;
}

// One integer, or a table of integers, at idx.
std::vector<int64_t> int_list(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) return {luaL_checkinteger(L, idx)};
  luaL_checktype(L, idx, LUA_TTABLE);
  return check_shape(L, idx);
}

// A (height, width) pair: one number for both, or {h, w}; `def` when nil.
Pair pair_arg(lua_State* L, int idx, Pair def) {
  if (lua_isnoneornil(L, idx)) return def;
  const std::vector<int64_t> v = int_list(L, idx);
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() != 2)
    throw Error(fmt::format("expected a number or a {{h, w}} pair, got a table of {}", v.size()));
  return {v[0], v[1]};
}

Tensor opt_tensor(lua_State* L, int idx) {
  return lua_isnoneornil(L, idx) ? Tensor() : check_tensor(L, idx);
}

std::vector<Tensor> tensor_list(lua_State* L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  std::vector<Tensor> ts;
  const lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, idx, i);
    ts.push_back(check_tensor(L, -1));
    lua_pop(L, 1);
  }
  return ts;
}

void push_list(lua_State* L, const std::vector<Tensor>& ts) {
  lua_createtable(L, int(ts.size()), 0);
  for (size_t i = 0; i < ts.size(); ++i) {
    push_tensor(L, ts[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
}

int m_select(lua_State* L) {
  push_tensor(L, select(check_tensor(L, 1), check_dim(L, 2), luaL_checkinteger(L, 3)));
  return 1;
}
// t:permute(1, 0, 2) or t:permute({1, 0, 2})
int m_permute(lua_State* L) {
  push_tensor(L, permute(check_tensor(L, 1), check_shape(L, 2)));
  return 1;
}
int m_flip(lua_State* L) {
  push_tensor(L, flip(check_tensor(L, 1), check_shape(L, 2)));
  return 1;
}
// t:roll(shifts [, dims]): each a number or a table.
int m_roll(lua_State* L) {
  const std::vector<int64_t> dims = lua_isnoneornil(L, 3) ? std::vector<int64_t>{} : int_list(L, 3);
  push_tensor(L, roll(check_tensor(L, 1), int_list(L, 2), dims));
  return 1;
}
// t:tile(reps) is Tensor.repeat (repeat is a Lua keyword; t["repeat"](t, reps) works too), with
// torch.tile's leading 1s when reps is shorter than t's dims.
int m_tile(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  std::vector<int64_t> reps = check_shape(L, 2);
  if (int64_t(reps.size()) < t.dim()) reps.insert(reps.begin(), t.dim() - reps.size(), 1);
  push_tensor(L, repeat(t, reps));
  return 1;
}
int m_repeat(lua_State* L) {
  push_tensor(L, repeat(check_tensor(L, 1), check_shape(L, 2)));
  return 1;
}
int m_chunk(lua_State* L) {
  push_list(L, chunk(check_tensor(L, 1), luaL_checkinteger(L, 2), luaL_optinteger(L, 3, 0)));
  return 1;
}
// t:split(size [, dim]) or t:split({sizes} [, dim]) -> a table of views.
int m_split(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  const int64_t dim = luaL_optinteger(L, 3, 0);
  if (lua_istable(L, 2))
    push_list(L, split(t, check_shape(L, 2), dim));
  else
    push_list(L, split(t, int64_t(luaL_checkinteger(L, 2)), dim));
  return 1;
}
int m_tril(lua_State* L) {
  push_tensor(L, tril(check_tensor(L, 1), luaL_optinteger(L, 2, 0)));
  return 1;
}
int m_triu(lua_State* L) {
  push_tensor(L, triu(check_tensor(L, 1), luaL_optinteger(L, 2, 0)));
  return 1;
}
// values, indices = t:sort([dim [, descending]])
int m_sort(lua_State* L) {
  auto [v, i] = sort(check_tensor(L, 1), luaL_optinteger(L, 2, -1), lua_toboolean(L, 3));
  push_tensor(L, v);
  push_tensor(L, i);
  return 2;
}
int m_argsort(lua_State* L) {
  push_tensor(L, argsort(check_tensor(L, 1), luaL_optinteger(L, 2, -1), lua_toboolean(L, 3)));
  return 1;
}
// values, indices = t:topk(k [, dim [, largest]]); largest defaults to true.
int m_topk(lua_State* L) {
  auto [v, i] = topk(check_tensor(L, 1), luaL_checkinteger(L, 2), luaL_optinteger(L, 3, -1),
                     lua_isnoneornil(L, 4) ? true : lua_toboolean(L, 4));
  push_tensor(L, v);
  push_tensor(L, i);
  return 2;
}
// values [, inverse] [, counts] = t:unique([return_inverse [, return_counts]])
int m_unique(lua_State* L) {
  const bool inverse = lua_toboolean(L, 2), counts = lua_toboolean(L, 3);
  UniqueResult r = unique(check_tensor(L, 1), inverse, counts);
  push_tensor(L, r.values);
  if (inverse) push_tensor(L, r.inverse);
  if (counts) push_tensor(L, r.counts);
  return 1 + int(inverse) + int(counts);
}
// t:index(mask) with an f32 0/1 mask (t[mask]), t:index(rows) with an i64 index (dim 0).
int m_index(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  const Tensor& sel = check_tensor(L, 2);
  if (sel.dtype() == DType::F32)
    push_tensor(L, index_mask(t, sel));
  else
    push_tensor(L, index_select(t, 0, sel.dtype() == DType::I64 ? sel : sel.to(DType::I64)));
  return 1;
}

int l_stack(lua_State* L) {
  push_tensor(L, stack(tensor_list(L, 1), luaL_optinteger(L, 2, 0)));
  return 1;
}
// gom.pad(x, pads [, mode [, value]]): mode "constant" (default), "reflect", "replicate",
// "circular"; pads last dim first, as F.pad.
int l_pad(lua_State* L) {
  const std::string_view m = luaL_optstring(L, 3, "constant");
  PadMode mode = PadMode::Constant;
  if (m == "reflect")
    mode = PadMode::Reflect;
  else if (m == "replicate")
    mode = PadMode::Replicate;
  else if (m == "circular")
    mode = PadMode::Circular;
  else if (m != "constant")
    throw Error(
        fmt::format("pad: mode '{}' is not accepted (constant, reflect, replicate, "
                    "circular)",
                    m));
  push_tensor(L, pad(check_tensor(L, 1), check_shape(L, 2), mode, luaL_optnumber(L, 4, 0.0)));
  return 1;
}
// gom.einsum("ij,jk->ik", a, b) or gom.einsum("ij,jk->ik", {a, b})
int l_einsum(lua_State* L) {
  const std::string eq = luaL_checkstring(L, 1);
  std::vector<Tensor> ts;
  if (lua_istable(L, 2))
    ts = tensor_list(L, 2);
  else
    for (int i = 2; i <= lua_gettop(L); ++i) ts.push_back(check_tensor(L, i));
  push_tensor(L, einsum(eq, ts));
  return 1;
}
int l_one_hot(lua_State* L) {
  push_tensor(L, one_hot(check_tensor(L, 1), luaL_optinteger(L, 2, -1)));
  return 1;
}
int l_eye(lua_State* L) {
  push_tensor(L, eye(luaL_checkinteger(L, 1), luaL_optinteger(L, 2, -1)));
  return 1;
}
int l_linspace(lua_State* L) {
  push_tensor(L, linspace(luaL_checknumber(L, 1), luaL_checknumber(L, 2), luaL_checkinteger(L, 3)));
  return 1;
}
// gom.conv2d(x, w [, b [, stride [, padding [, dilation [, groups]]]]])
int l_conv2d(lua_State* L) {
  push_tensor(
      L, conv2d(check_tensor(L, 1), check_tensor(L, 2), opt_tensor(L, 3), pair_arg(L, 4, {1, 1}),
                pair_arg(L, 5, {0, 0}), pair_arg(L, 6, {1, 1}), luaL_optinteger(L, 7, 1)));
  return 1;
}
// gom.max_pool2d(x, kernel [, stride [, padding [, dilation [, ceil_mode]]]]); stride nil = kernel
int l_max_pool2d(lua_State* L) {
  push_tensor(L, max_pool2d(check_tensor(L, 1), pair_arg(L, 2, {0, 0}), pair_arg(L, 3, {0, 0}),
                            pair_arg(L, 4, {0, 0}), pair_arg(L, 5, {1, 1}), lua_toboolean(L, 6)));
  return 1;
}
// gom.avg_pool2d(x, kernel [, stride [, padding [, ceil_mode [, count_include_pad]]]])
int l_avg_pool2d(lua_State* L) {
  push_tensor(L, avg_pool2d(check_tensor(L, 1), pair_arg(L, 2, {0, 0}), pair_arg(L, 3, {0, 0}),
                            pair_arg(L, 4, {0, 0}), lua_toboolean(L, 5),
                            lua_isnoneornil(L, 6) ? true : lua_toboolean(L, 6)));
  return 1;
}
int l_adaptive_avg_pool2d(lua_State* L) {
  const Pair s = pair_arg(L, 2, {1, 1});
  push_tensor(L, adaptive_avg_pool2d(check_tensor(L, 1), s[0], s[1]));
  return 1;
}
// gom.batch_norm(x, running_mean, running_var [, weight [, bias [, training [, momentum
// [, eps]]]]]): F.batch_norm's order; training defaults to false.
int l_batch_norm(lua_State* L) {
  push_tensor(L, batch_norm(check_tensor(L, 1), opt_tensor(L, 4), opt_tensor(L, 5),
                            opt_tensor(L, 2), opt_tensor(L, 3), lua_toboolean(L, 6),
                            luaL_optnumber(L, 7, 0.1), luaL_optnumber(L, 8, 1e-5)));
  return 1;
}

const luaL_Reg kMethods[] = {
    {"select", safe<m_select>}, {"permute", safe<m_permute>}, {"flip", safe<m_flip>},
    {"roll", safe<m_roll>},     {"tile", safe<m_tile>},       {"repeat", safe<m_repeat>},
    {"chunk", safe<m_chunk>},   {"split", safe<m_split>},     {"tril", safe<m_tril>},
    {"triu", safe<m_triu>},     {"sort", safe<m_sort>},       {"argsort", safe<m_argsort>},
    {"topk", safe<m_topk>},     {"unique", safe<m_unique>},   {"index", safe<m_index>},
    {nullptr, nullptr}};

const luaL_Reg kFunctions[] = {{"stack", safe<l_stack>},
                               {"pad", safe<l_pad>},
                               {"einsum", safe<l_einsum>},
                               {"one_hot", safe<l_one_hot>},
                               {"eye", safe<l_eye>},
                               {"linspace", safe<l_linspace>},
                               {"permute", safe<m_permute>},
                               {"flip", safe<m_flip>},
                               {"roll", safe<m_roll>},
                               {"chunk", safe<m_chunk>},
                               {"split", safe<m_split>},
                               {"tril", safe<m_tril>},
                               {"triu", safe<m_triu>},
                               {"sort", safe<m_sort>},
                               {"argsort", safe<m_argsort>},
                               {"topk", safe<m_topk>},
                               {"unique", safe<m_unique>},
                               {"conv2d", safe<l_conv2d>},
                               {"max_pool2d", safe<l_max_pool2d>},
                               {"avg_pool2d", safe<l_avg_pool2d>},
                               {"adaptive_avg_pool2d", safe<l_adaptive_avg_pool2d>},
                               {"batch_norm", safe<l_batch_norm>},
                               {nullptr, nullptr}};

}  // namespace

int tensor_select_key(lua_State* L) {
  push_tensor(L, select(check_tensor(L, 1), 0, integer_key(L, 2)));
  return 1;
}

int tensor_assign_key(lua_State* L) {
  Tensor& t = check_tensor(L, 1);
  if (grad_enabled() && t.requires_grad())
    throw Error(
        "t[i] = v: the tensor requires grad, and an assignment is not recorded in the "
        "graph (assign inside gom.no_grad, or to a tensor that does not require grad)");
  Tensor part = select(t, 0, integer_key(L, 2));
  copy_(part, to_tensor(L, 3));
  return 0;
}

void open_tensor_shape(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  luaL_setfuncs(L, kMethods, 0);
  lua_pop(L, 1);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
