// Tensors in Lua: creation (gom.tensor, gom.zeros, gom.randn, ...), properties (grad,
// requires_grad), shape methods, autograd (backward, detach) and conversion back to Lua tables.
// Dims are 0-based and may be negative, as in PyTorch; the math is in lua_tensor_ops.cpp.
#include <algorithm>
#include <string_view>

#include "lua_util.h"

namespace gom::lua {

Tensor& check_tensor(lua_State* L, int idx) {
  return check_object<Tensor>(L, idx, kTensor);
}

void push_tensor(lua_State* L, Tensor t) {
  if (!t.defined()) {
    lua_pushnil(L);
    return;
  }
  // The collector sees a tensor as a small userdata, so unaided it lets the garbage of a loop
  // (each `a + b` leaves a result behind) pile up: the caching allocator gets no block back and
  // every new result is fresh memory, whose page faults cost more than the op (a same-shape add
  // of 1M floats: 10 ms instead of 0.2 ms). Steps as if the tensor's bytes were Lua's own, in
  // batches of 1 MB so small tensors cost nothing extra.
  static thread_local size_t unaccounted = 0;
  unaccounted += static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  push_object(L, kTensor, std::move(t));
  if (unaccounted >= (size_t{1} << 20)) {
    const int kb = static_cast<int>(std::min<size_t>(unaccounted >> 10, 1 << 30));
    unaccounted = 0;
    lua_gc(L, LUA_GCSTEP, kb);
  }
}

Tensor to_tensor(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) return scalar(lua_tonumber(L, idx));
  return check_tensor(L, idx);
}

namespace {

DType check_dtype(lua_State* L, int idx, DType def) {
  if (lua_isnoneornil(L, idx)) return def;
  const std::string_view s = luaL_checkstring(L, idx);
  if (s == "f32" || s == "float32" || s == "float") return DType::F32;
  if (s == "i64" || s == "int64" || s == "long") return DType::I64;
  if (s == "i32" || s == "int32" || s == "int") return DType::I32;
  return DType(luaL_error(L, "unknown dtype '%s' (accepted: f32, i64, i32)", s.data()));
}

// Nested Lua tables of numbers -> shape and row-major values.
void flatten_table(lua_State* L, int idx, size_t depth, Shape& shape, std::vector<double>& out) {
  idx = lua_absindex(L, idx);
  const lua_Integer n = luaL_len(L, idx);
  if (depth == shape.size()) shape.push_back(n);
  else if (shape[depth] != n)
    luaL_error(L, "gom.tensor: ragged nested table (a row of %d where %d was expected)", int(n),
               int(shape[depth]));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, idx, i);
    if (lua_istable(L, -1)) {
      flatten_table(L, -1, depth + 1, shape, out);
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      out.push_back(lua_tonumber(L, -1));  // raggedness shows in the count, checked after
    } else {
      luaL_error(L, "gom.tensor: element is a %s, not a number", luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
}

// gom.tensor({{1, 2}, {3, 4}} [, dtype]) or gom.tensor(3.5)
int l_tensor(lua_State* L) {
  const DType dt = check_dtype(L, 2, DType::F32);
  if (lua_type(L, 1) == LUA_TNUMBER) {
    push_tensor(L, scalar(lua_tonumber(L, 1), {dt, kCPU}));
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  Shape shape;
  std::vector<double> values;
  flatten_table(L, 1, 0, shape, values);
  if (int64_t(values.size()) != shape_numel(shape))
    return luaL_error(L, "gom.tensor: ragged nested table (%d numbers for shape %s)",
                      int(values.size()), shape_str(shape).c_str());
  Tensor t = tensor(std::vector<float>(values.begin(), values.end()), shape);
  if (dt != DType::F32) {
    // Integers above 2^24 do not survive a float: build integer tensors from the doubles.
    std::vector<int64_t> iv(values.begin(), values.end());
    t = tensor_i64(iv, shape);
    if (dt == DType::I32) t = t.to(DType::I32);
  }
  push_tensor(L, t);
  return 1;
}

// gom.zeros({2, 3} [, dtype]) and friends take a shape table (or integers) and a dtype.
template <Tensor (*Make)(const Shape&, TensorOptions)>
int l_filled(lua_State* L) {
  if (lua_istable(L, 1)) {
    push_tensor(L, Make(check_shape(L, 1), {check_dtype(L, 2, DType::F32), kCPU}));
  } else {
    push_tensor(L, Make(check_shape(L, 1), {}));
  }
  return 1;
}

int l_full(lua_State* L) {
  push_tensor(L, full(check_shape(L, 1), luaL_checknumber(L, 2), {check_dtype(L, 3, DType::F32)}));
  return 1;
}

int l_arange(lua_State* L) {
  const double a = luaL_checknumber(L, 1);
  if (lua_isnoneornil(L, 2)) {
    push_tensor(L, arange(0, a));
  } else {
    push_tensor(L, arange(a, luaL_checknumber(L, 2), luaL_optnumber(L, 3, 1.0),
                          {check_dtype(L, 4, DType::F32)}));
  }
  return 1;
}

int l_rand(lua_State* L) {
  push_tensor(L, rand(check_shape(L, 1)));
  return 1;
}
int l_randn(lua_State* L) {
  push_tensor(L, randn(check_shape(L, 1)));
  return 1;
}
int l_randint(lua_State* L) {
  push_tensor(L, randint(luaL_checkinteger(L, 1), luaL_checkinteger(L, 2), check_shape(L, 3)));
  return 1;
}
int l_manual_seed(lua_State* L) {
  manual_seed(uint64_t(luaL_checkinteger(L, 1)));
  return 0;
}
int l_zeros_like(lua_State* L) {
  push_tensor(L, zeros_like(check_tensor(L, 1)));
  return 1;
}
int l_ones_like(lua_State* L) {
  push_tensor(L, ones_like(check_tensor(L, 1)));
  return 1;
}
int l_is_tensor(lua_State* L) {
  lua_pushboolean(L, test_object<Tensor>(L, 1, kTensor) != nullptr);
  return 1;
}

// gom.cat({a, b, ...}, dim)
int l_cat(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  std::vector<Tensor> ts;
  const lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, 1, i);
    ts.push_back(check_tensor(L, -1));
    lua_pop(L, 1);
  }
  push_tensor(L, cat(ts, luaL_optinteger(L, 2, 0)));
  return 1;
}

// ------------------------------------------------------------------------------ methods
void push_shape(lua_State* L, const Shape& s) {
  lua_createtable(L, int(s.size()), 0);
  for (size_t i = 0; i < s.size(); ++i) {
    lua_pushinteger(L, s[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
}

int m_shape(lua_State* L) {
  push_shape(L, check_tensor(L, 1).shape());
  return 1;
}
// t:size() is the shape; t:size(d) one dim.
int m_size(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) push_shape(L, t.shape());
  else lua_pushinteger(L, t.size(luaL_checkinteger(L, 2)));
  return 1;
}
int m_dim(lua_State* L) {
  lua_pushinteger(L, check_tensor(L, 1).dim());
  return 1;
}
int m_numel(lua_State* L) {
  lua_pushinteger(L, check_tensor(L, 1).numel());
  return 1;
}
int m_dtype(lua_State* L) {
  lua_pushstring(L, dtype_name(check_tensor(L, 1).dtype()));
  return 1;
}
int m_device(lua_State* L) {
  lua_pushstring(L, check_tensor(L, 1).device().str().c_str());
  return 1;
}
int m_item(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  if (t.dtype() == DType::F32) lua_pushnumber(L, t.item());
  else lua_pushinteger(L, lua_Integer(t.item()));
  return 1;
}

// Row-major values -> nested tables of the tensor's shape.
void push_nested(lua_State* L, const Shape& shape, size_t depth, const std::vector<double>& v,
                 size_t& pos, bool integral) {
  if (depth == shape.size()) {
    if (integral) lua_pushinteger(L, lua_Integer(v[pos++]));
    else lua_pushnumber(L, v[pos++]);
    return;
  }
  lua_createtable(L, int(shape[depth]), 0);
  for (int64_t i = 0; i < shape[depth]; ++i) {
    push_nested(L, shape, depth + 1, v, pos, integral);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
}
int m_totable(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  const Tensor c = t.to(kCPU).contiguous();
  std::vector<double> v;
  if (c.dtype() == DType::F32) {
    const auto f = c.to_vector<float>();
    v.assign(f.begin(), f.end());
  } else {
    const auto i = c.to(DType::I64).to_vector<int64_t>();
    v.assign(i.begin(), i.end());
  }
  size_t pos = 0;
  push_nested(L, c.shape(), 0, v, pos, c.dtype() != DType::F32);
  return 1;
}

int m_backward(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  Tensor g;
  if (!lua_isnoneornil(L, 2)) g = check_tensor(L, 2);
  t.backward(g, lua_toboolean(L, 3));
  return 0;
}
int m_zero_grad(lua_State* L) {
  check_tensor(L, 1).zero_grad();
  return 0;
}
int m_requires_grad_(lua_State* L) {
  Tensor& t = check_tensor(L, 1);
  t.requires_grad_(lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_is_leaf(lua_State* L) {
  lua_pushboolean(L, check_tensor(L, 1).is_leaf());
  return 1;
}
int m_detach(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).detach());
  return 1;
}
int m_clone(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).clone());
  return 1;
}
int m_contiguous(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).contiguous());
  return 1;
}
int m_to(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  const std::string_view s = luaL_checkstring(L, 2);
  if (s == "cpu" || s.substr(0, 4) == "cuda") push_tensor(L, t.to(Device::parse(std::string(s))));
  else push_tensor(L, t.to(check_dtype(L, 2, DType::F32)));
  return 1;
}
template <DType D>
int m_cast(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).to(D));
  return 1;
}
int m_reshape(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).reshape(check_shape(L, 2)));
  return 1;
}
int m_view(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).view(check_shape(L, 2)));
  return 1;
}
int m_flatten(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).flatten(luaL_optinteger(L, 2, 0), luaL_optinteger(L, 3, -1)));
  return 1;
}
int m_transpose(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).transpose(check_dim(L, 2), check_dim(L, 3)));
  return 1;
}
int m_t(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).t());
  return 1;
}
int m_unsqueeze(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).unsqueeze(check_dim(L, 2)));
  return 1;
}
int m_squeeze(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).squeeze(check_dim(L, 2)));
  return 1;
}
// t:slice(dim, start, stop [, step]): 0-based, stop exclusive (t[start:stop:step] on dim).
int m_slice(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).slice(check_dim(L, 2), luaL_checkinteger(L, 3),
                                          luaL_checkinteger(L, 4), luaL_optinteger(L, 5, 1)));
  return 1;
}
int m_expand(lua_State* L) {
  push_tensor(L, check_tensor(L, 1).expand(check_shape(L, 2)));
  return 1;
}

int t_tostring(lua_State* L) {
  const std::string s = check_tensor(L, 1).str();
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
int t_len(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  lua_pushinteger(L, t.dim() == 0 ? 0 : t.size(0));
  return 1;
}

// Properties first (t.grad, t.requires_grad, t.shape is a method), then the methods table;
// an integer key is t[i] as in PyTorch (lua_tensor_shape.cpp).
int t_index(lua_State* L) {
  if (lua_type(L, 2) == LUA_TNUMBER) return safe<tensor_select_key>(L);
  const Tensor& t = check_tensor(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const std::string_view k = lua_tostring(L, 2);
    if (k == "grad") {
      push_tensor(L, t.grad());
      return 1;
    }
    if (k == "requires_grad") {
      lua_pushboolean(L, t.requires_grad());
      return 1;
    }
    if (k == "retains_grad") {  // t:retain_grad() was called (lua_hooks.cpp)
      lua_pushboolean(L, t.retains_grad());
      return 1;
    }
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

int t_newindex(lua_State* L) {
  if (lua_type(L, 2) == LUA_TNUMBER) return tensor_assign_key(L);
  Tensor& t = check_tensor(L, 1);
  const std::string_view k = luaL_checkstring(L, 2);
  if (k == "grad") {
    t.set_grad(lua_isnil(L, 3) ? Tensor() : check_tensor(L, 3));
    return 0;
  }
  if (k == "requires_grad") {
    t.requires_grad_(lua_toboolean(L, 3));
    return 0;
  }
  return luaL_error(L,
                    "a tensor has no settable field '%s' (settable: grad, requires_grad, t[i])",
                    k.data());
}

const luaL_Reg kMethods[] = {{"shape", safe<m_shape>},
                             {"size", safe<m_size>},
                             {"dim", safe<m_dim>},
                             {"numel", safe<m_numel>},
                             {"dtype", safe<m_dtype>},
                             {"device", safe<m_device>},
                             {"item", safe<m_item>},
                             {"totable", safe<m_totable>},
                             {"backward", safe<m_backward>},
                             {"zero_grad", safe<m_zero_grad>},
                             {"requires_grad_", safe<m_requires_grad_>},
                             {"is_leaf", safe<m_is_leaf>},
                             {"detach", safe<m_detach>},
                             {"clone", safe<m_clone>},
                             {"contiguous", safe<m_contiguous>},
                             {"to", safe<m_to>},
                             {"float", safe<m_cast<DType::F32>>},
                             {"long", safe<m_cast<DType::I64>>},
                             {"int", safe<m_cast<DType::I32>>},
                             {"reshape", safe<m_reshape>},
                             {"view", safe<m_view>},
                             {"flatten", safe<m_flatten>},
                             {"transpose", safe<m_transpose>},
                             {"t", safe<m_t>},
                             {"unsqueeze", safe<m_unsqueeze>},
                             {"squeeze", safe<m_squeeze>},
                             {"slice", safe<m_slice>},
                             {"expand", safe<m_expand>},
                             {nullptr, nullptr}};

const luaL_Reg kMeta[] = {{"__tostring", safe<t_tostring>},
                          {"__len", safe<t_len>},
                          {"__index", t_index},
                          {"__newindex", safe<t_newindex>},
                          {nullptr, nullptr}};

const luaL_Reg kFunctions[] = {{"tensor", safe<l_tensor>},
                               {"zeros", safe<l_filled<zeros>>},
                               {"ones", safe<l_filled<ones>>},
                               {"full", safe<l_full>},
                               {"arange", safe<l_arange>},
                               {"rand", safe<l_rand>},
                               {"randn", safe<l_randn>},
                               {"randint", safe<l_randint>},
                               {"manual_seed", safe<l_manual_seed>},
                               {"zeros_like", safe<l_zeros_like>},
                               {"ones_like", safe<l_ones_like>},
                               {"is_tensor", l_is_tensor},
                               {"cat", safe<l_cat>},
                               {nullptr, nullptr}};

}  // namespace

void open_tensor(lua_State* L) {
  define_class<Tensor>(L, kTensor, nullptr, kMeta);
  // The methods live in the registry so lua_tensor_ops.cpp can add to them and __index finds
  // them after the properties.
  lua_newtable(L);
  luaL_setfuncs(L, kMethods, 0);
  lua_setfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
