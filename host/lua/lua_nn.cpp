// Modules in Lua: gom.layer(name, {params}) makes any registered layer or loss, gom.sequential
// chains them, and a module is called like a function: model(x), loss(pred, target).
#include "lua_util.h"

namespace gom::lua {

std::shared_ptr<Module>& check_module(lua_State* L, int idx) {
  return check_object<std::shared_ptr<Module>>(L, idx, kModule);
}

void push_module(lua_State* L, std::shared_ptr<Module> m) {
  push_object(L, kModule, std::move(m));
}

std::vector<Tensor> check_parameters(lua_State* L, int idx) {
  if (auto* m = test_object<std::shared_ptr<Module>>(L, idx, kModule)) return (*m)->parameters();
  if (!lua_istable(L, idx))
    luaL_error(L, "expected a module or a list of tensors, got a %s", luaL_typename(L, idx));
  std::vector<Tensor> params;
  const lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, idx, i);
    if (!test_object<Tensor>(L, -1, kTensor))
      luaL_error(L, "parameter list: element %d is a %s, not a tensor", int(i),
                 luaL_typename(L, -1));
    params.push_back(check_tensor(L, -1));
    lua_pop(L, 1);
  }
  return params;
}

namespace {

std::shared_ptr<Container> as_container(lua_State* L, int idx, const char* what) {
  auto c = std::dynamic_pointer_cast<Container>(check_module(L, idx));
  if (!c)
    luaL_error(L, "%s: '%s' is not a container (sequential, residual, parallel, concat are)",
               what, check_module(L, idx)->type().c_str());
  return c;
}

// Adds the modules of the table at `idx` to `c` in order.
void add_children(lua_State* L, int idx, Container& c, const std::string& what) {
  luaL_checktype(L, idx, LUA_TTABLE);
  const lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, idx, i);
    if (!test_object<std::shared_ptr<Module>>(L, -1, kModule))
      luaL_error(L, "%s: element %d is a %s, not a module", what.c_str(), int(i),
                 luaL_typename(L, -1));
    c.add_child(check_module(L, -1));
    lua_pop(L, 1);
  }
  c.check_children();
}

// gom.layer("linear", {["in"] = 784, out = 256}); a container takes its children third:
// gom.layer("residual", {}, {body, shortcut})
int l_layer(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  auto m = create_layer(name, to_config(L, 2, "layer '" + name + "'"));
  if (!lua_isnoneornil(L, 3)) {
    auto c = std::dynamic_pointer_cast<Container>(m);
    if (!c)
      return luaL_error(L, "gom.layer: '%s' is not a container and takes no children",
                        name.c_str());
    add_children(L, 3, *c, "gom.layer('" + name + "')");
  }
  push_module(L, m);
  return 1;
}

// gom.sequential{m1, m2, ...} or gom.sequential() then :add(m)
int l_sequential(lua_State* L) {
  auto seq = std::dynamic_pointer_cast<Sequential>(create_layer("sequential"));
  if (!seq) return luaL_error(L, "the 'sequential' layer is not a gom::Sequential");
  if (!lua_isnoneornil(L, 1)) add_children(L, 1, *seq, "gom.sequential");
  push_module(L, seq);
  return 1;
}

int m_forward(lua_State* L) {
  const auto& m = check_module(L, 1);
  // A Lua module without hooks runs its Lua forward straight away (returning whatever it
  // returns); otherwise through call(), so that hooks fire for m(x) and m:forward(x) alike.
  if (!m->has_hooks())
    if (const int results = call_lua_module(L); results >= 0) return results;
  const int nargs = lua_gettop(L) - 1;
  std::vector<Tensor> inputs;
  for (int i = 2; i <= nargs + 1; ++i) inputs.push_back(check_tensor(L, i));
  if (nargs == 1)
    push_tensor(L, m->call(inputs[0]));
  else if (nargs == 2)
    push_tensor(L, m->call(inputs[0], inputs[1]));
  else
    push_tensor(L, m->call(inputs));
  return 1;
}
int m_call(lua_State* L) {
  return m_forward(L);
}
// out, state = lstm:forward_state(x [, state]): state is a list of tensors ({h} for rnn and
// gru, {h, c} for lstm, each [layers, B, hidden]); nil or {} starts from zeros.
int m_forward_state(lua_State* L) {
  auto rec = std::dynamic_pointer_cast<Recurrent>(check_module(L, 1));
  if (!rec)
    return luaL_error(L, "forward_state: '%s' is not a recurrent layer (rnn, lstm, gru are)",
                      check_module(L, 1)->type().c_str());
  std::vector<Tensor> state;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    for (lua_Integer i = 1; i <= luaL_len(L, 3); ++i) {
      lua_geti(L, 3, i);
      state.push_back(check_tensor(L, -1));
      lua_pop(L, 1);
    }
  }
  auto [out, final_state] = rec->forward_state(check_tensor(L, 2), state);
  push_tensor(L, out);
  lua_createtable(L, int(final_state.size()), 0);
  for (size_t i = 0; i < final_state.size(); ++i) {
    push_tensor(L, final_state[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 2;
}
int m_reset_state(lua_State* L) {
  check_module(L, 1)->reset_state();
  lua_settop(L, 1);
  return 1;
}
int m_add(lua_State* L) {
  as_container(L, 1, "add")->add_child(check_module(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_parameters(lua_State* L) {
  const auto ps = check_module(L, 1)->parameters();
  lua_createtable(L, int(ps.size()), 0);
  for (size_t i = 0; i < ps.size(); ++i) {
    push_tensor(L, ps[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}
// for name, p in model:named_parameters() do ... end (in registration order)
int named_iter(lua_State* L) {
  const lua_Integer i = lua_tointeger(L, lua_upvalueindex(2)) + 1;
  lua_pushinteger(L, i);
  lua_replace(L, lua_upvalueindex(2));
  lua_geti(L, lua_upvalueindex(1), i);
  if (lua_isnil(L, -1)) return 1;
  lua_geti(L, -1, 1);
  lua_geti(L, -2, 2);
  return 2;
}
int m_named_parameters(lua_State* L) {
  const auto ps = check_module(L, 1)->named_parameters();
  lua_createtable(L, int(ps.size()), 0);
  for (size_t i = 0; i < ps.size(); ++i) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, ps[i].first.c_str());
    lua_seti(L, -2, 1);
    push_tensor(L, ps[i].second);
    lua_seti(L, -2, 2);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, named_iter, 2);
  return 1;
}
int m_num_parameters(lua_State* L) {
  int64_t n = 0;
  for (const auto& p : check_module(L, 1)->parameters()) n += p.numel();
  lua_pushinteger(L, n);
  return 1;
}
int m_children(lua_State* L) {
  const auto& cs = check_module(L, 1)->children();
  lua_createtable(L, int(cs.size()), 0);
  for (size_t i = 0; i < cs.size(); ++i) {
    push_module(L, cs[i].second);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}
int m_train(lua_State* L) {
  check_module(L, 1)->train(lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_eval(lua_State* L) {
  check_module(L, 1)->eval();
  lua_settop(L, 1);
  return 1;
}
// m:to("cuda") / m:to("cuda:1") / m:to("cpu"), m:cuda(), m:cpu(): the parameters and buffers
// move in place (PyTorch's Module.to); returns the module, for chaining.
int move_to(lua_State* L, const Device& device) {
  check_module(L, 1)->to(device);
  lua_settop(L, 1);
  return 1;
}
int m_to(lua_State* L) {
  return move_to(L, Device::parse(luaL_checkstring(L, 2)));
}
int m_cuda(lua_State* L) {
  return move_to(L, Device{DeviceType::CUDA, int(luaL_optinteger(L, 2, 0))});
}
int m_cpu(lua_State* L) {
  return move_to(L, kCPU);
}
int m_device(lua_State* L) {
  lua_pushstring(L, check_module(L, 1)->device().str().c_str());
  return 1;
}
int m_training(lua_State* L) {
  lua_pushboolean(L, check_module(L, 1)->is_training());
  return 1;
}
int m_type(lua_State* L) {
  lua_pushstring(L, check_module(L, 1)->type().c_str());
  return 1;
}
int m_params(lua_State* L) {
  const auto& values = check_module(L, 1)->params().values();
  lua_createtable(L, 0, int(values.size()));
  for (const auto& [k, v] : values) {
    push_value(L, v);
    lua_setfield(L, -2, k.c_str());
  }
  return 1;
}
int m_tostring(lua_State* L) {
  const std::string s = check_module(L, 1)->repr();
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
int m_len(lua_State* L) {
  lua_pushinteger(L, lua_Integer(check_module(L, 1)->children().size()));
  return 1;
}

const luaL_Reg kMethods[] = {{"forward", safe<m_forward>},
                             {"forward_state", safe<m_forward_state>},
                             {"reset_state", safe<m_reset_state>},
                             {"add", safe<m_add>},
                             {"parameters", safe<m_parameters>},
                             {"named_parameters", safe<m_named_parameters>},
                             {"num_parameters", safe<m_num_parameters>},
                             {"children", safe<m_children>},
                             {"train", safe<m_train>},
                             {"eval", safe<m_eval>},
                             {"training", safe<m_training>},
                             {"to", safe<m_to>},
                             {"cuda", safe<m_cuda>},
                             {"cpu", safe<m_cpu>},
                             {"device", safe<m_device>},
                             {"type", safe<m_type>},
                             {"params", safe<m_params>},
                             {nullptr, nullptr}};
const luaL_Reg kMeta[] = {{"__call", safe<m_call>},
                          {"__tostring", safe<m_tostring>},
                          {"__len", safe<m_len>},
                          {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {
    {"layer", safe<l_layer>}, {"sequential", safe<l_sequential>}, {nullptr, nullptr}};

}  // namespace

void open_nn(lua_State* L) {
  define_class<std::shared_ptr<Module>>(L, kModule, kMethods, kMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
